"""WeChat retries: N deliveries from S concurrent residents, each retried the way WeChat retries.

Every delivery is sent up to three times with the same MsgId, as WeChat does when it does not
get an answer: the answers of the first two attempts are treated as lost, and the next attempt
goes out ``--retry-after`` seconds after the previous one (5 s is WeChat's timeout; a shorter
value makes retries arrive while the first attempt is still being processed). A fraction of the
residents get a slow bot (their action calls are delayed), so their answers go out as 客服消息.

Each resident waits until a delivery is settled (the channel's record of the message in Redis
says how it was answered, and any 客服消息 arrived) before the next, so every answer is
attributed to its own message. Counted: answers shown (the last attempt's passive reply, or the
客服消息), duplicate replies (both, or more than one 客服消息 per message part, including any that
arrive after the run), extra Rasa runs (the trackers in Redis: one user turn per message, so the
action that would file a ticket runs once), and missing answers by cause. Printed with the
passive reply time (first attempt, answered passively) p50/p95/max.

It starts its own stack (WeChat API sandbox, sandbox backends, action server, Rasa) on free ports
and needs the Rasa environment (wechatpy signs and encrypts the deliveries):

    source scripts/lib/env.sh && ensure_env actions && ensure_model
    $RASA_PY bench/wechat_retries.py --deliveries 500 --senders 50
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backends.wechat_api import push
from backends.wechat_api.harness import (
    ACCOUNT,
    WeChatStack,
    start_stack,
    stop_stack,
    tracker_user_texts,
)
from channels.wechat.protocol import parse_inbound

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
QUESTIONS = ["养老助残卡丢了怎么补办", "居住证到期了怎么续签", "异地就医怎么备案", "公园年票怎么买"]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


ACTION_STEPS = frozenset({2, 7})  # knowledge questions: Rasa calls the action server


def script(openid: str, index: int) -> tuple[str, str]:
    """The index-th delivery of a resident: (xml, what Rasa should hear)."""
    step = index % 10
    if step == 0:
        return push.text(ACCOUNT, openid, "你好"), "你好"
    if step == 1:
        return push.text(ACCOUNT, openid, "2"), '/choose_area{"area": "养老"}'
    if step == 2:
        question = QUESTIONS[index % len(QUESTIONS)]
        return push.text(ACCOUNT, openid, question), question
    if step == 3:
        return push.event(ACCOUNT, openid, "subscribe"), "/wechat_subscribe"
    if step == 4:
        return push.voice(ACCOUNT, openid, "你能帮我做什么"), "你能帮我做什么"
    if step == 5:
        return (push.location(ACCOUNT, openid, 39.93, 116.41, "东城区东四街道"),
                '/share_location{"latitude": 39.93, "longitude": 116.41, '
                '"location_label": "东城区东四街道"}')
    if step == 6:
        return push.image(ACCOUNT, openid), "/wechat_unsupported"
    if step == 7:
        question = QUESTIONS[(index + 1) % len(QUESTIONS)]
        return push.text(ACCOUNT, openid, question), question
    if step == 8:
        return push.event(ACCOUNT, openid, "CLICK", "MENU_YILIAO"), '/choose_area{"area": "医疗"}'
    return push.text(ACCOUNT, openid, "谢谢"), "谢谢"


@dataclass
class Tally:
    deliveries: int = 0
    passive: int = 0  # answered by the passive reply WeChat was waiting for
    customer_service: int = 0  # answered by 客服消息
    no_answer: int = 0  # Rasa had nothing to say (not expected in this script)
    duplicates: int = 0  # a passive reply and 客服消息, or more 客服消息 than the answer had
    lost_passive: int = 0  # answered passively, but after WeChat had stopped waiting
    not_delivered: int = 0  # 客服消息 expected, never arrived
    not_processed: int = 0  # no attempt reached the channel in time: never claimed
    passive_seconds: list[float] = field(default_factory=list)
    passive_by_kind: dict[str, list[float]] = field(
        default_factory=lambda: {"Rasa alone": [], "with the action server": []}
    )
    first_answer_seconds: list[float] = field(default_factory=list)
    expected_heard: dict[str, list[str]] = field(default_factory=dict)
    expected_cs: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


async def cs_count(session: aiohttp.ClientSession, stack: WeChatStack, openid: str) -> int:
    async with session.get(f"{stack.api_url}/_sandbox/messages",
                           params={"touser": openid}) as answer:
        return len((await answer.json())["messages"])


async def server_record(
    client: Any, stack: WeChatStack, dedup_id: str, timeout: float
) -> dict[str, str]:
    """The channel's own record of a message (its Redis hash), once its delivery mode is set."""
    key = f"{stack.prefix}:wechat:msg:{dedup_id}"
    deadline = time.monotonic() + timeout
    while True:
        record = await client.hgetall(key)
        if "delivery" in record or time.monotonic() > deadline:
            return record
        await asyncio.sleep(0.1)


async def resident(
    stack: WeChatStack, number: int, deliveries: int, args: argparse.Namespace, tally: Tally
) -> None:
    """One resident: each delivery is retried like WeChat, then settled (its answer known)
    before the next, so every answer is attributed to its own message."""
    import redis.asyncio as redis

    openid = f"oBench{number:03d}_{os.urandom(4).hex()}"
    if number < round(args.senders * args.slow_fraction):
        stack.proxy.delays[openid] = args.slow_seconds
    wechat = push.WeChatPush(stack.webhook_url, ACCOUNT, encrypted=bool(number % 2))
    tally.expected_heard[openid] = []
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True, socket_timeout=5)
    timeout = aiohttp.ClientTimeout(total=60)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for index in range(deliveries):
                xml, heard = script(openid, index)
                dedup_id = parse_inbound(xml).dedup_id
                tally.expected_heard[openid].append(heard)
                before = await cs_count(session, stack, openid)
                report = await wechat.deliver(
                    session, xml, attempts=3, lose_answers=args.lose_answers,
                    retry_after=args.retry_after,
                )
                tally.deliveries += 1
                first = report.attempts[0]
                if first.status == 200:
                    tally.first_answer_seconds.append(first.elapsed)
                    if wechat.read_answer(first.body) is not None:
                        tally.passive_seconds.append(first.elapsed)
                        kind = ("with the action server" if index % 10 in ACTION_STEPS
                                else "Rasa alone")
                        tally.passive_by_kind[kind].append(first.elapsed)
                record = await server_record(client, stack, dedup_id, args.slow_seconds + 60)
                mode = record.get("delivery")
                chunks = len(json.loads(record.get("result") or "[]"))
                if mode == "cs":
                    tally.expected_cs[openid] += chunks
                    deadline = time.monotonic() + 30
                    while time.monotonic() < deadline:
                        if await cs_count(session, stack, openid) - before >= chunks:
                            break
                        await asyncio.sleep(0.1)
                arrived = await cs_count(session, stack, openid) - before
                shown = report.reply is not None
                problem = None
                if (shown and arrived) or arrived > (chunks if mode == "cs" else 0):
                    tally.duplicates += 1
                    problem = "duplicate"
                elif shown:
                    tally.passive += 1
                elif mode == "cs" and arrived == chunks:
                    tally.customer_service += 1
                elif mode == "passive":
                    tally.lost_passive += 1
                    problem = "passive reply after WeChat stopped waiting"
                elif mode == "cs":
                    tally.not_delivered += 1
                    problem = "客服消息 not delivered"
                elif mode == "none":
                    tally.no_answer += 1
                else:
                    tally.not_processed += 1
                    problem = "never claimed (no attempt reached the channel in time)"
                if problem:
                    attempts = ", ".join(
                        f"{a.status or 'dropped'}{' lost' if a.lost else ''} {a.elapsed:.1f}s"
                        for a in report.attempts
                    )
                    tally.problems.append(f"{problem}: {openid} #{index} ({attempts})")
    finally:
        await client.close()


async def run(args: argparse.Namespace, stack: WeChatStack) -> Tally:
    tally = Tally()
    per_sender = [args.deliveries // args.senders] * args.senders
    for i in range(args.deliveries % args.senders):
        per_sender[i] += 1
    started = time.perf_counter()
    await asyncio.gather(
        *(resident(stack, n, count, args, tally) for n, count in enumerate(per_sender))
    )
    elapsed = time.perf_counter() - started
    print(f"sent {tally.deliveries} deliveries in {elapsed:.1f} s", flush=True)
    await asyncio.sleep(6.0)  # anything still on its way would be a second answer
    async with aiohttp.ClientSession() as session:
        for openid in tally.expected_heard:
            final = await cs_count(session, stack, openid)
            tally.duplicates += max(final - tally.expected_cs[openid], 0)
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(prog="bench/wechat_retries.py")
    parser.add_argument("--deliveries", type=int, default=500)
    parser.add_argument("--senders", type=int, default=50)
    parser.add_argument("--retry-after", type=float, default=5.0,
                        help="seconds between attempts (WeChat: 5)")
    parser.add_argument("--lose-answers", type=int, default=2,
                        help="attempts whose answers are lost (2: every delivery is retried "
                             "twice)")
    parser.add_argument("--slow-fraction", type=float, default=0.1,
                        help="share of residents whose bot is slow (answers by 客服消息)")
    parser.add_argument("--slow-seconds", type=float, default=6.0)
    parser.add_argument("--log-dir", type=Path, default=None,
                        help="keep the stack's logs here (default: a temporary directory)")
    args = parser.parse_args()
    rasa_bin, model, actions_py = (os.environ.get(n) for n in
                                   ("RASA_BIN", "RASA_MODEL", "ACTIONS_PY"))
    if not (rasa_bin and model and actions_py):
        print("error: RASA_BIN, RASA_MODEL and ACTIONS_PY must be set: `source "
              "scripts/lib/env.sh && ensure_env actions && ensure_model` first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="wechat-bench-") as temporary:
        var_dir = args.log_dir or Path(temporary)
        print(f"starting the stack (logs: {var_dir / 'log'}) …", flush=True)
        stack = start_stack(rasa_bin=rasa_bin, model=model, actions_python=actions_py,
                            redis_url=REDIS_URL, var_dir=var_dir)
        try:
            tally = asyncio.run(run(args, stack))
            extra_runs = missing_runs = 0
            for openid, expected in tally.expected_heard.items():
                heard = tracker_user_texts(REDIS_URL, stack.prefix, openid)
                extra_runs += max(len(heard) - len(expected), 0)
                missing_runs += max(len(expected) - len(heard), 0)
        finally:
            stop_stack(stack, REDIS_URL)
    passive = tally.passive_seconds
    by_kind = "\n".join(
        f"    {kind + ':':24s} n={len(values):<4d} p50 {percentile(values, 50) * 1000:.0f} ms   "
        f"p95 {percentile(values, 95) * 1000:.0f} ms"
        for kind, values in tally.passive_by_kind.items()
    )
    print(
        f"""
WeChat retries: {tally.deliveries} deliveries, {args.senders} concurrent residents, up to 3
attempts each ({args.lose_answers} answers lost, retry after {args.retry_after:g} s),
{args.slow_fraction:.0%} of residents with a {args.slow_seconds:g} s bot
  answered passively                 {tally.passive}
  answered by 客服消息                {tally.customer_service}
  duplicate replies                  {tally.duplicates}
  extra Rasa runs (tickets)          {extra_runs}
  missing: passive reply too late    {tally.lost_passive}
  missing: 客服消息 not delivered      {tally.not_delivered}
  missing: never reached the channel {tally.not_processed}   (Rasa runs missing: {missing_runs})
  passive reply time (attempt 1, answered passively, n={len(passive)}):
    p50 {percentile(passive, 50) * 1000:.0f} ms   p95 {percentile(passive, 95) * 1000:.0f} ms   \
max {max(passive, default=float('nan')) * 1000:.0f} ms
{by_kind}
  first-attempt answer time, all (n={len(tally.first_answer_seconds)}):
    p95 {percentile(tally.first_answer_seconds, 95) * 1000:.0f} ms"""
    )
    for problem in tally.problems[:10]:
        print(f"  {problem}")
    return 0 if tally.duplicates == 0 and extra_runs == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
