"""Turn latency over REST: N concurrent simulated residents send M turns each.

Prints p50/p95/p99 latency and turns per second, separately for turns that Rasa answers alone
(greeting, menu, thanks) and turns that call the action server (knowledge questions).
Run it against a running assistant (scripts/run):

    .venv/actions/bin/python bench/turns.py --users 20 --turns 10
    .venv/actions/bin/python bench/turns.py --users 20 --turns 10 --think 2

Without ``--think`` every resident sends its next message the moment the answer arrives: 20
requests are always in flight, a saturation test whose latency is mostly queueing. With
``--think S`` a resident reads and types for S seconds on average (uniform 0.5–1.5 S) between
turns, as a person does: 20 concurrent *conversations*, which is what the target is about.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid

import aiohttp

RASA_ONLY = ["你好", "你能帮我做什么", "谢谢", '/choose_area{"area": "养老"}', "你是机器人吗"]
WITH_ACTION = [
    "养老助残卡丢了怎么补办",
    "居住证到期了怎么续签",
    "异地就医怎么备案",
    "公园年票怎么买",
    "高龄津贴怎么申请",
    "社保卡怎么激活",
]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


async def resident(
    session: aiohttp.ClientSession, url: str, turns: int, results: dict[str, list[float]],
    errors: list[str], rng: random.Random, think: float = 0.0,
) -> None:
    sender = f"bench-{uuid.uuid4().hex[:10]}"
    if think:
        await asyncio.sleep(rng.uniform(0, think))  # residents do not all start at once
    for turn in range(turns):
        if think and turn:
            await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))
        kind = "action" if turn % 2 else "rasa"
        text = rng.choice(WITH_ACTION if kind == "action" else RASA_ONLY)
        began = time.perf_counter()
        try:
            async with session.post(url, json={"sender": sender, "message": text}) as reply:
                body = await reply.json(content_type=None)
                if reply.status != 200 or not body:
                    errors.append(f"{reply.status} {body!r:.80}")
                    continue
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            errors.append(repr(error))
            continue
        results[kind].append((time.perf_counter() - began) * 1000)


async def run(url: str, users: int, turns: int, seed: int, think: float = 0.0) -> None:
    rng = random.Random(seed)
    results: dict[str, list[float]] = {"rasa": [], "action": []}
    errors: list[str] = []
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=users)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        # one warm-up turn so first-request costs do not count
        async with session.post(url, json={"sender": "bench-warmup", "message": WITH_ACTION[0]}):
            pass
        began = time.perf_counter()
        await asyncio.gather(
            *(resident(session, url, turns, results, errors, rng, think)
              for _ in range(users))
        )
        elapsed = time.perf_counter() - began
    total = sum(len(v) for v in results.values())
    pacing = f", {think:g} s thinking between turns" if think else ", back to back"
    print(f"{users} concurrent residents x {turns} turns against {url}{pacing}")
    print(f"{'turns':<28}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'mean ms':>9}")
    labels = (("rasa", "answered by Rasa alone"), ("action", "calling the action server"))
    for kind, label in labels:
        values = results[kind]
        print(
            f"{label:<28}{len(values):>6}{percentile(values, 50):>9.0f}"
            f"{percentile(values, 95):>9.0f}{percentile(values, 99):>9.0f}"
            f"{(statistics.fmean(values) if values else float('nan')):>9.0f}"
        )
    print(f"throughput: {total / elapsed:.1f} turns/s over {elapsed:.1f} s; errors: {len(errors)}")
    for error in errors[:5]:
        print(f"  error: {error}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5005/webhooks/rest/webhook")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean seconds a resident pauses between turns (0: back to back)")
    args = parser.parse_args()
    asyncio.run(run(args.url, args.users, args.turns, args.seed, args.think))


if __name__ == "__main__":
    main()
