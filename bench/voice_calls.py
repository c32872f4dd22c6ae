"""Voice channel latency: N concurrent calls, each a gateway conversation of M questions.

Measures the time from posting an activity to the gateway's answer, separately for knowledge
questions (through the action server) and the call start (greeting), and prints p50/p95/p99.
The target for knowledge answers is p95 <= 500 ms at 20 concurrent calls.

Two paces: by default each caller waits only 50-200 ms between questions (a stress test: 20
calls then send far more than 20 real callers would); with ``--listen-rate 4.5`` each caller
first listens to the answer at 4.5 spoken characters a second and then talks for 1-3 s, as on a
real line (add ``--ramp 15`` so that the 20 calls do not all ring in the same second). The
machine's load average is printed with the figures: on a shared 2-core machine other work
moves them.

Against a running assistant (scripts/run, with VOICE_BOT_TOKEN set):

    VOICE_BOT_TOKEN=... .venv/actions/bin/python bench/voice_calls.py --calls 20 --turns 10

or on a stack of its own on free ports (needs RASA_BIN and RASA_MODEL, as scripts/test sets):

    source scripts/lib/env.sh && ensure_env actions && ensure_model && \
        $ACTIONS_PY bench/voice_calls.py --spawn --calls 20 --turns 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "养老助残卡丢了怎么补办",
    "居住证到期了怎么续签",
    "异地就医怎么备案",
    "公园年票怎么买",
    "高龄津贴怎么申请",
    "社保卡怎么激活",
    "12345接诉即办是什么",
    "家庭医生怎么签约",
]
TARGET_P95_MS = 500


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


async def one_call(
    session: aiohttp.ClientSession, bot_url: str, token: str, turns: int,
    results: dict[str, list[float]], errors: list[str], rng: random.Random,
    listen_rate: float = 0.0,
    delay: float = 0.0,
) -> None:
    await asyncio.sleep(delay)  # calls do not all ring at the same instant
    headers = {"Authorization": f"Bearer {token}"}
    conversation = f"bench-{uuid.uuid4()}"

    async def post(url: str, body: dict, kind: str | None) -> dict | None:
        began = time.perf_counter()
        try:
            async with session.post(url, json=body, headers=headers) as reply:
                payload = await reply.json(content_type=None)
                if reply.status != 200:
                    errors.append(f"{reply.status} {payload!r:.100}")
                    return None
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            errors.append(repr(error))
            return None
        if kind:
            results[kind].append((time.perf_counter() - began) * 1000)
        return payload

    urls = await post(bot_url, {"conversation": conversation}, None)
    if not urls:
        return
    activities = urljoin(bot_url, urls["activitiesURL"])
    start = {"id": "s", "type": "event", "name": "start", "parameters": {"caller": "13800000000"}}
    await post(activities, {"conversation": conversation, "activities": [start]}, "start")
    for turn in range(turns):
        question = rng.choice(QUESTIONS)
        activity = {"id": f"q{turn}", "type": "message", "text": question,
                    "parameters": {"confidence": 0.9}}
        reply = await post(activities, {"conversation": conversation, "activities": [activity]},
                           "knowledge")
        if reply is not None and not reply.get("activities"):
            errors.append(f"empty answer to {question}")
        if listen_rate > 0:  # the caller hears the answer out, then speaks the next question
            spoken = sum(len(a.get("text", "")) for a in (reply or {}).get("activities", []))
            await asyncio.sleep(spoken / listen_rate + rng.uniform(1.0, 3.0))
        else:
            await asyncio.sleep(rng.uniform(0.05, 0.2))
    await post(urljoin(bot_url, urls["disconnectURL"]), {"conversation": conversation}, None)


async def run(
    bot_url: str, token: str, calls: int, turns: int, seed: int, listen_rate: float = 0.0,
    ramp: float = 0.0,
) -> bool:
    rng = random.Random(seed)
    results: dict[str, list[float]] = {"start": [], "knowledge": []}
    errors: list[str] = []
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=calls * 2)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        # one warm-up call so that first-request costs (model load, index load) do not count
        await one_call(session, bot_url, token, 2, {"start": [], "knowledge": []}, [], rng)
        began = time.perf_counter()
        await asyncio.gather(
            *(one_call(session, bot_url, token, turns, results, errors, rng, listen_rate,
                       delay=rng.uniform(0, ramp))
              for _ in range(calls))
        )
        elapsed = time.perf_counter() - began
    total = sum(len(v) for v in results.values())
    pace = (f"callers listen at {listen_rate} chars/s" if listen_rate > 0
            else "stress: 50-200 ms between questions")
    pace += f", calls start within {ramp:.0f} s" if ramp else ", calls start together"
    print(f"{calls} concurrent calls x {turns} questions against {bot_url} ({pace})")
    print("load average (1, 5, 15 min): " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
    print(f"{'activity -> answer':<28}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}"
          f"{'mean ms':>9}")
    for kind, label in (("start", "call start (greeting)"), ("knowledge", "knowledge question")):
        values = results[kind]
        print(
            f"{label:<28}{len(values):>6}{percentile(values, 50):>9.0f}"
            f"{percentile(values, 95):>9.0f}{percentile(values, 99):>9.0f}"
            f"{(statistics.fmean(values) if values else float('nan')):>9.0f}"
        )
    print(f"throughput: {total / elapsed:.1f} activities/s over {elapsed:.1f} s; "
          f"errors: {len(errors)}")
    for error in errors[:5]:
        print(f"  error: {error}")
    p95 = percentile(results["knowledge"], 95)
    ok = bool(results["knowledge"]) and p95 <= TARGET_P95_MS and not errors
    print(f"target p95 <= {TARGET_P95_MS} ms for knowledge answers: "
          f"{'met' if ok else 'NOT met'} ({p95:.0f} ms)")
    return ok


@contextlib.contextmanager
def spawned_stack(token: str) -> Iterator[str]:
    """Sandbox backends, action server and Rasa on free ports, with the voice token set."""
    sys.path.insert(0, str(ROOT))
    from stack.assistant import Ports, StackConfig, build_services
    from stack.processes import free_port
    from stack.redis_choice import LOCAL_REDIS_URL, RedisTarget

    rasa_bin, model = os.environ.get("RASA_BIN"), os.environ.get("RASA_MODEL")
    if not rasa_bin or not model:
        raise SystemExit("--spawn needs RASA_BIN and RASA_MODEL (source scripts/lib/env.sh; "
                         "ensure_model)")
    prefix = "benchvoice" + secrets.token_hex(4)
    redis_url = os.environ.get("REDIS_URL", LOCAL_REDIS_URL)
    with tempfile.TemporaryDirectory(prefix="voice-bench-") as var_dir:
        config = StackConfig(
            rasa_bin=rasa_bin, actions_python=sys.executable, model=model,
            ports=Ports(rasa=free_port(), actions=free_port(), backends=free_port()),
            redis=RedisTarget.from_url(redis_url), redis_key_prefix=prefix,
            var_dir=Path(var_dir), extra_env={"VOICE_BOT_TOKEN": token},
        )
        started = []
        try:
            for service in build_services(config):
                service.start()
                started.append(service)
                service.wait_healthy(300)
            yield f"http://127.0.0.1:{config.ports.rasa}/webhooks/voice/CreateConversation"
        finally:
            for service in reversed(started):
                service.stop()
            import redis

            client = redis.Redis.from_url(redis_url)
            try:
                for key in client.scan_iter(f"{prefix}:*"):
                    client.delete(key)
            finally:
                client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:5005/webhooks/voice/CreateConversation",
                        help="the bot URL (CreateConversation)")
    parser.add_argument("--token", default=os.environ.get("VOICE_BOT_TOKEN", ""))
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--listen-rate", type=float, default=0.0,
                        help="spoken chars/s the caller listens at (0: stress pace)")
    parser.add_argument("--ramp", type=float, default=0.0,
                        help="calls start at random within this many seconds (0: together)")
    parser.add_argument("--spawn", action="store_true", help="start a stack of its own")
    args = parser.parse_args()
    if args.spawn:
        token = args.token or secrets.token_hex(16)
        with spawned_stack(token) as url:
            ok = asyncio.run(
                run(url, token, args.calls, args.turns, args.seed, args.listen_rate, args.ramp)
            )
    else:
        if not args.token:
            raise SystemExit("set VOICE_BOT_TOKEN (or --token) to the assistant's voice token")
        ok = asyncio.run(
            run(args.url, args.token, args.calls, args.turns, args.seed, args.listen_rate,
                args.ramp)
        )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
