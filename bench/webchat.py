"""Web chat widget benchmark: what a resident's browser waits for, measured against a running
assistant (``scripts/run``), without a browser.

    .venv/actions/bin/python bench/webchat.py --users 20 --turns 5

Prints:
- ``widget.js``: size raw, gzipped and as sent to a browser (what the portal page downloads
  once), and the latency of a full GET and of a revalidation (``If-None-Match`` → 304);
- socket.io: time from opening the websocket to ``session_confirm`` (the widget is ready), and
  from ``user_uttered`` to the first ``bot_uttered`` (the typing indicator's wait), p50/p95/p99,
  with ``--users`` residents chatting at once, and the turns per second;
- feedback: latency of ``POST /webhooks/webchat/feedback``, p50/p95.

Targets (2-core laptop, local stack): widget.js ≤ 40 KB gzipped; session ready p95 ≤ 300 ms;
feedback p95 ≤ 50 ms. The first answer's latency is Rasa's and the knowledge engine's, reported
here as the resident sees it through the widget.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import itertools
import json
import secrets
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from web.sioclient import SocketIOClient

QUESTIONS = [
    "你好", "社保卡丢了，怎么先挂失？", "养老助残卡去哪里办？", "高龄津贴怎么申请？",
    "居住证怎么办理？", "故宫", "医保报销", "谢谢",
]


def percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)

    def pick(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return (f"p50 {pick(50) * 1000:7.1f} ms   p95 {pick(95) * 1000:7.1f} ms   "
            f"p99 {pick(99) * 1000:7.1f} ms   (n={len(values)})")


async def bench_widget(http: aiohttp.ClientSession, base: str, rounds: int) -> None:
    url = f"{base}/webhooks/webchat/widget.js"
    full, revalidate = [], []
    etag = ""
    body = b""
    for _ in range(rounds):
        start = time.perf_counter()
        async with http.get(url) as reply:
            body = await reply.read()
            etag = reply.headers.get("ETag", "")
            assert reply.status == 200, reply.status
        full.append(time.perf_counter() - start)
        start = time.perf_counter()
        async with http.get(url, headers={"If-None-Match": etag}) as reply:
            await reply.read()
            assert reply.status == 304, reply.status
        revalidate.append(time.perf_counter() - start)
    async with http.get(url, auto_decompress=False,
                        headers={"Accept-Encoding": "gzip, deflate, br"}) as reply:
        served = await reply.read()
        encoding = reply.headers.get("Content-Encoding", "identity")
    print(f"widget.js         {len(body) / 1024:6.1f} KB raw, "
          f"{len(gzip.compress(body, 9)) / 1024:5.1f} KB gzipped, "
          f"{len(served) / 1024:5.1f} KB sent to a browser ({encoding})")
    print(f"  GET             {percentiles(full)}")
    print(f"  GET 304         {percentiles(revalidate)}")


async def resident(base: str, turns: int, ready: list[float], first: list[float],
                   errors: list[str], questions: itertools.cycle) -> int:
    client = SocketIOClient(base)
    start = time.perf_counter()
    done = 0
    try:
        await client.connect()
        await client.start_session("bench-" + secrets.token_hex(8))
        ready.append(time.perf_counter() - start)
        for _ in range(turns):
            sent = time.perf_counter()
            await client.emit("user_uttered", {"message": next(questions)})
            reply = await client.wait_for("bot_uttered", 60)
            first.append(time.perf_counter() - sent)
            if isinstance(reply, dict) and reply.get("metadata", {}).get("error"):
                errors.append(reply["metadata"]["error"])
            await asyncio.sleep(0.3)  # let the other messages of this turn arrive
            while not client.events.empty():
                client.events.get_nowait()
            done += 1
    except Exception as error:  # a benchmark reports failures, it does not stop on them
        errors.append(f"{error.__class__.__name__}: {error}")
    finally:
        await client.close()
    return done


async def bench_socket(base: str, users: int, turns: int) -> None:
    ready: list[float] = []
    first: list[float] = []
    errors: list[str] = []
    questions = itertools.cycle(QUESTIONS)
    start = time.perf_counter()
    done = await asyncio.gather(*(resident(base, turns, ready, first, errors, questions)
                                  for _ in range(users)))
    elapsed = time.perf_counter() - start
    print(f"socket.io         {users} residents x {turns} turns, "
          f"{sum(done) / elapsed:5.2f} turns/s")
    print(f"  session ready   {percentiles(ready)}")
    print(f"  first answer    {percentiles(first)}")
    print(f"  errors          {len(errors)}" + (f"  e.g. {errors[0]}" if errors else ""))


async def bench_feedback(http: aiohttp.ClientSession, base: str, rounds: int) -> None:
    url = f"{base}/webhooks/webchat/feedback"
    latencies = []
    statuses: dict[int, int] = {}
    for n in range(rounds):
        vote = {"sender": f"bench-fb-{n % 25}", "message_id": f"bench{secrets.token_hex(6)}",
                "rating": "up" if n % 3 else "down", "kb_id": "bench-entry"}
        start = time.perf_counter()
        async with http.post(url, data=json.dumps(vote),
                             headers={"Content-Type": "application/json"}) as reply:
            await reply.read()
            statuses[reply.status] = statuses.get(reply.status, 0) + 1
        latencies.append(time.perf_counter() - start)
    print(f"feedback POST     {percentiles(latencies)}   statuses {statuses}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:5005", help="the Rasa server")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=50, help="widget.js and feedback requests")
    args = parser.parse_args()
    base = args.url.rstrip("/")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        await bench_widget(http, base, args.rounds)
        await bench_socket(base, args.users, args.turns)
        await bench_feedback(http, base, args.rounds)


if __name__ == "__main__":
    asyncio.run(main())
