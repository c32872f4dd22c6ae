"""Turn latency of the task forms at N concurrent conversations, over REST.

Each simulated resident runs whole task dialogues in a loop (a 12345 ticket up to the
confirmation and the submission, a 高龄津贴 check, an attraction question with a follow-up, a
办件进度 look-up), every turn timed. Prints p50/p95/p99 per kind of turn and overall, and turns per
second. Run it against a running assistant (scripts/run):

    .venv/actions/bin/python bench/form_turns.py --users 20 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
import uuid
from collections import defaultdict

import aiohttp

# (kind, text) turns of one round; "{phone}" is a fresh number per resident.
DIALOGUES: list[list[tuple[str, str]]] = [
    [("ticket start", "我要反映个问题，楼下饭馆油烟太大了，晚上呛得开不了窗"),
     ("ticket slot", "明德街道明德里小区5号楼"),
     ("ticket slot", "{phone}"),
     ("ticket submit", "确认")],
    [("allowance start", "我妈今年九十二了能领高龄津贴吗"),
     ("allowance slot", "是北京户口")],
    [("attraction start", "我想了解一下颐和园"),
     ("attraction follow-up", "那它几点关门？"),
     ("attraction follow-up", "门票多少钱")],
    [("application start", "帮我查一下办件进度"),
     ("application slot", "SQ209901010001")],
    [("station start", "附近有养老驿站吗"),
     ("station slot", "和畅园社区")],
]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


async def resident(session: aiohttp.ClientSession, url: str, rounds: int, rng: random.Random,
                   times: dict[str, list[float]], errors: list[str]) -> None:
    phone = f"139{rng.randrange(10**8):08d}"
    for _ in range(rounds):
        dialogues = DIALOGUES[:]
        rng.shuffle(dialogues)
        for dialogue in dialogues:
            sender = f"bench-form-{uuid.uuid4().hex[:12]}"
            for kind, text in dialogue:
                started = time.monotonic()
                try:
                    async with session.post(url, json={"sender": sender,
                                                       "message": text.format(phone=phone)}) as r:
                        await r.read()
                        if r.status != 200:
                            errors.append(f"{kind}: HTTP {r.status}")
                except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                    errors.append(f"{kind}: {type(error).__name__}")
                times[kind].append(time.monotonic() - started)


async def run(url: str, users: int, rounds: int, seed: int) -> int:
    times: dict[str, list[float]] = defaultdict(list)
    errors: list[str] = []
    rng = random.Random(seed)
    connector = aiohttp.TCPConnector(limit=users * 2)
    timeout = aiohttp.ClientTimeout(total=60)
    started = time.monotonic()
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(
            resident(session, url, rounds, random.Random(rng.random()), times, errors)
            for _ in range(users)
        ))
    elapsed = time.monotonic() - started
    every = [t for values in times.values() for t in values]
    print(f"{users} concurrent conversations, {len(every)} form turns in {elapsed:.1f} s "
          f"({len(every) / elapsed:.1f} turns/s), {len(errors)} errors")
    print(f"{'turn':<22}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for kind in sorted(times):
        values = times[kind]
        print(f"{kind:<22}{len(values):>6}{percentile(values, 50) * 1000:>9.0f}"
              f"{percentile(values, 95) * 1000:>9.0f}{percentile(values, 99) * 1000:>9.0f}")
    print(f"{'all form turns':<22}{len(every):>6}{percentile(every, 50) * 1000:>9.0f}"
          f"{percentile(every, 95) * 1000:>9.0f}{percentile(every, 99) * 1000:>9.0f}")
    for error in errors[:10]:
        print("error:", error)
    return 1 if errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("RASA_URL", "http://127.0.0.1:5005"))
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    url = args.url.rstrip("/") + "/webhooks/rest/webhook"
    return asyncio.run(run(url, args.users, args.rounds, args.seed))


if __name__ == "__main__":
    sys.exit(main())
