"""Replays real conversational questions about attractions through a running assistant and
prints the share of replies that contain the gold value, per attribute and overall.

Each question of ``attraction_questions_dev.jsonl`` (../shared/data/tourism, 540 questions from
the KdConv travel dev split; a held-out split of the same kind is used for evaluation) is one
new conversation: first "我想了解一下<entity>", then the real question, which mostly does not
name the attraction ("那它的门票呢？"). The reply to the question counts when it contains the
gold value. Target: ≥ 0.85 overall.

    .venv/actions/bin/python bench/attraction_questions.py                      # scripts/run
    .venv/actions/bin/python bench/attraction_questions.py --url http://127.0.0.1:5005 \\
        --file ../shared/data/tourism/attraction_questions_dev.jsonl --concurrency 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = "tourism/attraction_questions_dev.jsonl"
TARGET = 0.85


@dataclass
class Outcome:
    row: dict[str, Any]
    reply: str
    hit: bool
    seconds: float


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def share(self) -> float:
        return sum(o.hit for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0

    def by_attribute(self) -> dict[str, tuple[int, int]]:
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for outcome in self.outcomes:
            counts[outcome.row["attribute"]][0] += outcome.hit
            counts[outcome.row["attribute"]][1] += 1
        return {name: (hits, total) for name, (hits, total) in sorted(counts.items())}


def default_path() -> Path:
    shared = os.environ.get("SHARED_DATA_DIR") or str(ROOT.parent / "shared" / "data")
    return Path(shared) / DEFAULT_FILE


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def contains_gold(reply: str, gold: str) -> bool:
    squeeze = str.maketrans("", "", " \u3000")
    return gold in reply or gold.strip().translate(squeeze) in reply.translate(squeeze)


async def _say(session: aiohttp.ClientSession, url: str, sender: str, text: str) -> str:
    async with session.post(url, json={"sender": sender, "message": text}) as response:
        if response.status != 200:
            return ""
        messages = await response.json()
    return "\n".join(m.get("text", "") for m in messages if m.get("text"))


async def ask(session: aiohttp.ClientSession, url: str, row: dict[str, Any]) -> Outcome:
    sender = f"bench-attr-{uuid.uuid4().hex[:12]}"
    await _say(session, url, sender, f"我想了解一下{row['entity']}")
    started = time.monotonic()
    reply = await _say(session, url, sender, row["question"])
    return Outcome(row, reply, contains_gold(reply, row["gold_value"]),
                   time.monotonic() - started)


async def evaluate(rest_url: str, rows: Sequence[dict[str, Any]], concurrency: int = 8
                   ) -> Report:
    """Replays ``rows`` against the REST webhook at ``rest_url``."""
    report = Report()
    gate = asyncio.Semaphore(concurrency)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one(row: dict[str, Any]) -> Outcome:
            async with gate:
                return await ask(session, rest_url, row)

        report.outcomes = list(await asyncio.gather(*(one(row) for row in rows)))
    return report


def print_report(report: Report, misses: int = 0) -> None:
    print(f"{'attribute':<14}{'hits':>6}{'total':>7}{'share':>8}")
    for attribute, (hits, total) in report.by_attribute().items():
        print(f"{attribute:<14}{hits:>6}{total:>7}{hits / total:>8.3f}")
    total = len(report.outcomes)
    hits = sum(o.hit for o in report.outcomes)
    print(f"{'overall':<14}{hits:>6}{total:>7}{report.share:>8.3f}   target {TARGET:.2f}")
    latencies = sorted(o.seconds for o in report.outcomes)
    if latencies:
        p95 = latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]
        print(f"question turn latency: median {latencies[len(latencies) // 2] * 1000:.0f} ms, "
              f"p95 {p95 * 1000:.0f} ms")
    for outcome in [o for o in report.outcomes if not o.hit][:misses]:
        row = outcome.row
        print(f"- MISS [{row['attribute']}] {row['entity']} | {row['question']} | gold "
              f"{row['gold_value'][:40]} | reply {outcome.reply[:80]!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("RASA_URL", "http://127.0.0.1:5005"),
                        help="the Rasa server (its REST webhook is used)")
    parser.add_argument("--file", type=Path, default=None, help="questions (JSON lines)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--show-misses", type=int, default=20)
    args = parser.parse_args()
    rows = load(args.file or default_path())
    if args.limit:
        rows = rows[: args.limit]
    url = args.url.rstrip("/") + "/webhooks/rest/webhook"
    started = time.monotonic()
    report = asyncio.run(evaluate(url, rows, args.concurrency))
    print(f"{len(rows)} questions in {time.monotonic() - started:.0f} s against {url}")
    print_report(report, args.show_misses)
    return 0 if report.share >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
