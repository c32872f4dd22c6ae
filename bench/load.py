"""Load: ramps up concurrent conversations over REST and WeChat, against one stack or the cluster.

At each step N residents talk at once (closed loop: each sends its next turn when the last one
is answered, after ``--think`` seconds). A resident runs whole conversations one after another,
each with a new sender: a knowledge question with a follow-up, a 12345 ticket form filled and
confirmed (a real write to the sandbox), or small talk; a share of them over WeChat (plain-mode
XML, signed like WeChat signs, answered passively within 4.5 s). Per step it prints turns per
second, p50/p95/p99 latency, errors (non-200, an empty or "unavailable" answer, a WeChat answer
that missed the passive reply), and the CPU use of the machine and of the assistant's own
processes; it writes the numbers as JSON and a PNG chart under ``var/bench/``.

It starts what it measures (and stops it afterwards), on free ports, sharing the local Redis
under a key prefix of its own:

    source scripts/lib/env.sh && ensure_env actions && ensure_env rasa && ensure_model \\
        && ensure_nginx
    $ACTIONS_PY bench/load.py --target single            # scripts/run's processes
    $ACTIONS_PY bench/load.py --target cluster           # scripts/cluster's (2 + 2 behind nginx)
    $ACTIONS_PY bench/load.py --target both --steps 5,10,20,40 --step-seconds 30

or measures something already running (``--url http://127.0.0.1:5100``; WeChat turns need
``--wechat-token``, else everything goes over REST).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import random
import secrets
import statistics
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

OUT_DIR = ROOT / "var" / "bench"
ACCOUNT = "gh_5a4d1f0e9c11"
KNOWLEDGE = [
    ("养老助残卡丢了怎么补办", "补办需要带什么材料"),
    ("居住证到期了怎么续签", "可以网上办吗"),
    ("异地就医怎么备案", "备案以后怎么报销"),
    ("公园年票怎么买", "老人买年票有优惠吗"),
    ("高龄津贴怎么申请", "多久能到账"),
    ("社保卡怎么激活", "激活要去银行吗"),
]
SMALL_TALK = [["你好", "你能帮我做什么", "谢谢"], ["你是机器人吗", "好的谢谢"]]
UNAVAILABLE_MARKERS = ("系统暂时繁忙", "暂时无法访问", "请稍后再试")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def conversation(kind: str, rng: random.Random, tag: str) -> list[str]:
    if kind == "knowledge":
        return list(rng.choice(KNOWLEDGE))
    if kind == "form":
        phone = f"13{rng.randrange(10**8, 10**9)}"
        return [f"我要反映个问题，楼下饭馆油烟太大了，晚上呛得开不了窗（{tag}）",
                "明德街道明德里小区5号楼", phone, "确认"]
    return list(rng.choice(SMALL_TALK))


# --- one turn over each channel --------------------------------------------------------------


@dataclass
class Turn:
    step: int
    kind: str
    channel: str
    started: float
    seconds: float = 0.0
    status: int = 0
    error: str = ""  # empty: a good answer


def _signed_query(token: str, openid: str) -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce, "openid": openid}


_MSG_IDS = iter(range(int(time.time() * 1000) * 1000, 2**63))


def _wechat_xml(openid: str, text: str) -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{next(_MSG_IDS)}</MsgId></xml>"
    ).encode()


class Target:
    """Where the turns go."""

    def __init__(self, base_url: str, wechat_token: str | None) -> None:
        self.rest_url = f"{base_url}/webhooks/rest/webhook"
        self.wechat_url = f"{base_url}/webhooks/wechat/webhook"
        self.wechat_token = wechat_token

    async def rest(self, session: aiohttp.ClientSession, sender: str, text: str,
                   turn: Turn) -> None:
        async with session.post(self.rest_url, json={"sender": sender, "message": text}) as r:
            turn.status = r.status
            body = await r.read()
        if r.status != 200:
            turn.error = f"HTTP {r.status}"
            return
        messages = json.loads(body)
        joined = "".join(str(m.get("text") or "") for m in messages)
        if not messages:
            turn.error = "empty answer"
        elif any(marker in joined for marker in UNAVAILABLE_MARKERS):
            turn.error = "unavailable answer"

    async def wechat(self, session: aiohttp.ClientSession, openid: str, text: str,
                     turn: Turn) -> None:
        assert self.wechat_token
        async with session.post(self.wechat_url, params=_signed_query(self.wechat_token, openid),
                                data=_wechat_xml(openid, text),
                                headers={"Content-Type": "text/xml"}) as r:
            turn.status = r.status
            body = (await r.read()).decode("utf-8", "replace")
        if r.status != 200:
            turn.error = f"HTTP {r.status}"
        elif "<Content>" not in body:
            turn.error = "no passive reply"  # answered later as 客服消息, or not at all
        elif any(marker in body for marker in UNAVAILABLE_MARKERS):
            turn.error = "unavailable answer"


# --- CPU -------------------------------------------------------------------------------------


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _ticks_by_group() -> dict[int, int]:
    """utime + stime per process group, over every process on the machine."""
    totals: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        group = int(fields[2])  # field 5 (pgrp), after pid and comm
        totals[group] = totals.get(group, 0) + int(fields[11]) + int(fields[12])
    return totals


def _own_ticks() -> int:
    times = os.times()
    return int((times.user + times.system) * os.sysconf("SC_CLK_TCK"))


class CpuMeter:
    """CPU over a window: the whole machine (busy share of all cores), the assistant's own
    processes (by kind: ``rasa``, ``actions``, ``backends``, ``nginx`` …, each a process
    group), and this load generator."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.cores = os.cpu_count() or 1

    def _by_kind(self) -> dict[str, int]:
        ticks = _ticks_by_group()
        return {kind: sum(ticks.get(g, 0) for g in members)
                for kind, members in self.groups.items()}

    def start(self) -> None:
        self._machine = _machine_ticks()
        self._kinds = self._by_kind()
        self._own = _own_ticks()
        self._t = time.monotonic()

    def stop(self) -> dict[str, float]:
        busy0, total0 = self._machine
        busy1, total1 = _machine_ticks()
        hz = os.sysconf("SC_CLK_TCK")
        wall = max(time.monotonic() - self._t, 1e-6)
        capacity = wall * hz * self.cores
        kinds = self._by_kind()
        used = {kind: kinds[kind] - self._kinds.get(kind, 0) for kind in kinds}
        usage = {
            "machine_cpu_pct": 100.0 * (busy1 - busy0) / max(total1 - total0, 1),
            "stack_cpu_pct": 100.0 * sum(used.values()) / capacity,
            "loadgen_cpu_pct": 100.0 * (_own_ticks() - self._own) / capacity,
        }
        for kind, ticks in used.items():
            usage[f"{kind}_cpu_s"] = ticks / hz  # CPU seconds in the window
        return usage


# --- one step --------------------------------------------------------------------------------


@dataclass
class StepResult:
    concurrency: int
    seconds: float
    turns: int
    turns_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, dict[str, float]] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)


async def resident(target: Target, session: aiohttp.ClientSession, step: int,
                   stop: asyncio.Event, turns: list[Turn], rng: random.Random,
                   args: argparse.Namespace) -> None:
    kinds, weights = zip(*args.mix.items(), strict=True)
    while not stop.is_set():
        kind = rng.choices(kinds, weights)[0]
        channel = ("wechat" if target.wechat_token and rng.random() < args.wechat_share
                   else "rest")
        sender = (f"oLoad_{uuid.uuid4().hex[:16]}" if channel == "wechat"
                  else f"load-{uuid.uuid4().hex[:12]}")
        for text in conversation(kind, rng, sender):
            if stop.is_set():
                return
            turn = Turn(step, kind, channel, time.monotonic())
            try:
                if channel == "wechat":
                    await target.wechat(session, sender, text, turn)
                else:
                    await target.rest(session, sender, text, turn)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
                turn.error = type(error).__name__
            turn.seconds = time.monotonic() - turn.started
            turns.append(turn)
            if turn.error:
                break  # a resident whose turn failed starts a new conversation
            if args.think:
                await asyncio.sleep(rng.uniform(0, 2 * args.think))


async def run_step(target: Target, concurrency: int, args: argparse.Namespace,
                   cpu: CpuMeter, seed: int) -> StepResult:
    turns: list[Turn] = []
    stop = asyncio.Event()
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    connector = aiohttp.TCPConnector(limit=concurrency + 8)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        rng = random.Random(seed)
        tasks = [asyncio.create_task(resident(target, session, concurrency, stop, turns,
                                              random.Random(rng.random()), args))
                 for _ in range(concurrency)]
        await asyncio.sleep(args.warmup)
        window_start = time.monotonic()
        cpu.start()
        await asyncio.sleep(args.step_seconds)
        window_end = time.monotonic()
        usage = cpu.stop()
        stop.set()
        await asyncio.gather(*tasks)
    # what was answered inside the window (a turn started before it counts when it ends in it)
    measured = [t for t in turns if window_start <= t.started + t.seconds <= window_end]
    latencies = [t.seconds * 1000 for t in measured]
    errors = [t for t in measured if t.error]
    by_kind: dict[str, int] = {}
    for turn in errors:
        by_kind[turn.error] = by_kind.get(turn.error, 0) + 1
    by_channel = {}
    for channel in ("rest", "wechat"):
        values = [t.seconds * 1000 for t in measured if t.channel == channel]
        if values:
            by_channel[channel] = {"turns": len(values), "p95_ms": percentile(values, 95)}
    window = window_end - window_start
    return StepResult(
        concurrency=concurrency, seconds=window, turns=len(measured),
        turns_per_s=len(measured) / window,
        p50_ms=percentile(latencies, 50), p95_ms=percentile(latencies, 95),
        p99_ms=percentile(latencies, 99), errors=len(errors), errors_by_kind=by_kind,
        by_channel=by_channel, cpu=usage,
    )


def print_header(name: str) -> None:
    print(f"\n== {name}")
    print(f"{'conc':>5}{'turns':>7}{'turns/s':>9}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
          f"{'errors':>8}{'cpu all':>9}{'cpu bot':>9}{'cpu gen':>9}", flush=True)


def cpu_ms_per_turn(result: StepResult) -> dict[str, float]:
    """CPU milliseconds each kind of process spent per answered turn in a step."""
    if not result.turns:
        return {}
    return {key.removesuffix("_cpu_s"): 1000 * value / result.turns
            for key, value in result.cpu.items() if key.endswith("_cpu_s")}


def print_step(result: StepResult) -> None:
    cpu = result.cpu
    per_turn = " ".join(f"{k} {v:.0f}" for k, v in cpu_ms_per_turn(result).items())
    print(f"{result.concurrency:>5}{result.turns:>7}{result.turns_per_s:>9.1f}"
          f"{result.p50_ms:>8.0f}{result.p95_ms:>8.0f}{result.p99_ms:>8.0f}{result.errors:>8}"
          f"{cpu.get('machine_cpu_pct', 0):>8.0f}%{cpu.get('stack_cpu_pct', 0):>8.0f}%"
          f"{cpu.get('loadgen_cpu_pct', 0):>8.0f}%"
          + (f"  cpu ms/turn: {per_turn}" if per_turn else "")
          + (f"  {result.errors_by_kind}" if result.errors else ""), flush=True)


# --- starting what is measured ---------------------------------------------------------------


@dataclass
class Started:
    name: str
    base_url: str
    wechat_token: str | None
    groups: dict[str, list[int]]
    stop: Any
    replicas: list[str] = field(default_factory=list)


def warm_up(urls: list[str]) -> None:
    """A few turns on every Rasa server first: a fresh Rasa and a fresh action server load
    things on their first turns (seconds on a busy machine), which is not what is measured."""
    import urllib.request

    for url in urls:
        for number, text in enumerate(["你好", *(q for q, _ in KNOWLEDGE[:4]),
                                       "我要反映个问题，楼下太吵了"]):
            body = json.dumps({"sender": f"warmup-{number}", "message": text}).encode()
            request = urllib.request.Request(f"{url}/webhooks/rest/webhook", data=body,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=180) as answer:
                answer.read()


def groups_of(services: Iterable[Any]) -> dict[str, list[int]]:
    """Process groups by kind of service (each service runs in a group of its own)."""
    kinds = {"Rasa": "rasa", "action": "actions", "sandbox": "backends", "nginx": "nginx"}
    groups: dict[str, list[int]] = {}
    for service in services:
        if service.process is None:
            continue
        kind = next((k for word, k in kinds.items() if word in service.name), "other")
        groups.setdefault(kind, []).append(service.process.pid)
    return groups


def _wechat_env(api_port: int) -> dict[str, str]:
    from backends.wechat_api import harness

    return {
        "WECHAT_TOKEN": harness.TOKEN,
        "WECHAT_ENCODING_AES_KEY": harness.ENCODING_AES_KEY,
        "WECHAT_APP_ID": harness.APP_ID,
        "WECHAT_APP_SECRET": harness.APP_SECRET,
        "WECHAT_API_BASE": f"http://127.0.0.1:{api_port}",
    }


def start_target(kind: str, args: argparse.Namespace) -> Started:
    from backends.wechat_api import harness
    from stack.assistant import Ports, StackConfig, build_services
    from stack.processes import free_port
    from stack.redis_choice import RedisTarget

    rasa_bin, model = os.environ.get("RASA_BIN"), os.environ.get("RASA_MODEL")
    if not rasa_bin or not model:
        raise SystemExit("error: RASA_BIN and RASA_MODEL are not set: source scripts/lib/env.sh "
                         "&& ensure_env rasa && ensure_model first (see the docstring).")
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = "bench" + secrets.token_hex(4)
    var_dir = OUT_DIR / f"run-{kind}"
    api_port = free_port()
    api = harness.wechat_api_service(sys.executable, api_port, var_dir / "log")
    api.start()
    api.wait_healthy(60)
    env = _wechat_env(api_port)
    env.setdefault("MINSHENG_PII_KEY", os.environ.get("MINSHENG_PII_KEY") or
                   base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
    if not args.keep_rate_limits:  # capacity is measured here, not the abuse limits
        env.update({"RATE_LIMIT_RESIDENT": "off", "RATE_LIMIT_CHANNEL": "off"})
    print(f"Starting the {kind} target (logs: {var_dir / 'log'}) …", file=sys.stderr, flush=True)
    if kind == "single":
        config = StackConfig(
            rasa_bin=rasa_bin, actions_python=sys.executable, model=model,
            ports=Ports(rasa=free_port(), actions=free_port(), backends=free_port()),
            redis=RedisTarget.from_url(redis_url), redis_key_prefix=prefix, var_dir=var_dir,
            extra_env=env,
        )
        services = list(build_services(config))
        started = []
        try:
            for service in services:
                service.start()
                started.append(service)
                service.wait_healthy(400)
        except BaseException:
            for service in reversed(started):
                service.stop()
            api.stop()
            raise

        def stop_single() -> None:
            for service in reversed(started):
                service.stop()
            api.stop()
            harness.delete_prefix(redis_url, prefix)

        base = f"http://127.0.0.1:{config.ports.rasa}"
        return Started("single stack", base, harness.TOKEN, groups_of(started), stop_single,
                       [base])

    from stack.cluster import ClusterConfig, ClusterPorts, start_cluster

    nginx_bin = os.environ.get("NGINX_BIN") or "/usr/sbin/nginx"
    cluster_config = ClusterConfig(
        rasa_bin=rasa_bin, actions_python=sys.executable, model=model, nginx_bin=nginx_bin,
        redis=RedisTarget.from_url(redis_url),
        ports=ClusterPorts.allocate(rasa=args.rasa, actions=args.actions),
        redis_key_prefix=prefix, var_dir=var_dir, extra_env=env,
        nginx_workers=args.nginx_workers,
    )
    try:
        cluster = start_cluster(cluster_config)
    except BaseException:
        api.stop()
        raise

    def stop_cluster() -> None:
        cluster.stop()
        api.stop()
        harness.delete_prefix(redis_url, prefix)

    name = f"cluster ({args.rasa} Rasa + {args.actions} action servers, nginx)"
    return Started(name, cluster.entry_url, harness.TOKEN, groups_of(cluster.services),
                   stop_cluster, cluster.rasa_urls)


# --- the chart -------------------------------------------------------------------------------


def write_chart(results: dict[str, list[StepResult]], path: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (top, middle, bottom) = plt.subplots(3, 1, figsize=(8, 11), sharex=True)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:purple"]
    for (name, steps), colour in zip(results.items(), colours, strict=False):
        x = [s.concurrency for s in steps]
        top.plot(x, [s.turns_per_s for s in steps], marker="o", color=colour, label=name)
        middle.plot(x, [s.p95_ms for s in steps], marker="o", color=colour,
                    label=f"{name} p95")
        middle.plot(x, [s.p50_ms for s in steps], marker=".", linestyle=":", color=colour,
                    label=f"{name} p50")
        bottom.plot(x, [s.cpu.get("machine_cpu_pct", 0) for s in steps], marker="o",
                    color=colour, label=f"{name}: whole machine")
        bottom.plot(x, [s.cpu.get("stack_cpu_pct", 0) for s in steps], marker=".",
                    linestyle=":", color=colour, label=f"{name}: assistant processes")
        for s in steps:
            if s.errors:
                top.annotate(f"{s.errors} err", (s.concurrency, s.turns_per_s), fontsize=8,
                             color="red", textcoords="offset points", xytext=(4, -10))
    top.axhline(30, color="grey", linestyle="--", linewidth=0.8, label="target 30 turns/s")
    middle.axhline(500, color="grey", linestyle="--", linewidth=0.8, label="p95 target 500 ms")
    top.set_ylabel("turns / s")
    middle.set_ylabel("latency (ms)")
    middle.set_yscale("log")
    bottom.set_ylabel("CPU (% of all cores)")
    bottom.set_ylim(0, 105)
    bottom.set_xlabel("concurrent conversations")
    bottom.set_xscale("log", base=2)
    bottom.set_xticks(sorted({s.concurrency for steps in results.values() for s in steps}))
    bottom.get_xaxis().set_major_formatter(matplotlib.ticker.ScalarFormatter())
    for axis in (top, middle, bottom):
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    top.set_title(f"Minsheng Assistant load: REST + WeChat, knowledge / form / small talk\n{note}",
                  fontsize=9)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --- main ------------------------------------------------------------------------------------


def parse_mix(text: str) -> dict[str, float]:
    mix = {}
    for part in text.split(","):
        name, _, weight = part.partition("=")
        if name not in ("knowledge", "form", "smalltalk"):
            raise argparse.ArgumentTypeError(f"unknown kind {name!r}")
        mix[name] = float(weight)
    return mix


def summary(results: dict[str, list[StepResult]], p95_limit: float) -> list[str]:
    lines = []
    best: dict[str, float] = {}
    for name, steps in results.items():
        clean = [s for s in steps if s.errors == 0]
        within = [s for s in clean if s.p95_ms <= p95_limit]
        peak = max((s.turns_per_s for s in clean), default=0.0)
        best[name] = peak
        sla = max((s.turns_per_s for s in within), default=0.0)
        lines.append(f"{name}: peak {peak:.1f} turns/s without errors; "
                     f"{sla:.1f} turns/s with p95 <= {p95_limit:.0f} ms and no errors")
        costs = [c for c in (cpu_ms_per_turn(s) for s in steps) if c]
        if costs:
            kinds = sorted({k for c in costs for k in c})
            mean = {k: statistics.fmean(c.get(k, 0.0) for c in costs) for k in kinds}
            total = sum(mean.values())
            lines.append(
                "  CPU per turn (mean over steps): "
                + ", ".join(f"{k} {v:.0f} ms" for k, v in mean.items())
                + (f"; all processes {total:.0f} ms, i.e. at most "
                   f"{1000 * (os.cpu_count() or 1) / total:.0f} turns/s if they had all "
                   f"{os.cpu_count()} cores" if total else "")
                + (f"; one Rasa process at most {1000 / mean['rasa']:.0f} turns/s"
                   if mean.get("rasa") and "cluster" not in name else ""))
    names = list(best)
    if len(names) == 2 and best[names[0]] > 0:
        lines.append(f"ratio {names[1]} / {names[0]}: {best[names[1]] / best[names[0]]:.2f}x "
                     "(error-free peaks)")
    return lines


async def measure(started: Started, args: argparse.Namespace) -> list[StepResult]:
    target = Target(started.base_url, started.wechat_token)
    cpu = CpuMeter(started.groups)
    print_header(started.name)
    results = []
    for index, concurrency in enumerate(args.steps):
        result = await run_step(target, concurrency, args, cpu, seed=args.seed + index)
        print_step(result)
        results.append(result)
        if args.stop_after_errors and result.errors > args.stop_after_errors:
            print(f"   (stopping the ramp: over {args.stop_after_errors} errors)", flush=True)
            break
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--target", choices=["single", "cluster", "both"], default="single")
    parser.add_argument("--url", help="measure what runs there instead of starting a target")
    parser.add_argument("--wechat-token", help="with --url: the WECHAT_TOKEN it runs with")
    parser.add_argument("--steps", default="5,10,20,40",
                        type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--step-seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds of load before each measured window")
    parser.add_argument("--mix", type=parse_mix, default=parse_mix(
        "knowledge=0.4,form=0.35,smalltalk=0.25"))
    parser.add_argument("--wechat-share", type=float, default=0.3)
    parser.add_argument("--think", type=float, default=0.0,
                        help="mean pause between a resident's turns (s)")
    parser.add_argument("--timeout", type=float, default=30.0)
    parser.add_argument("--rasa", type=int, default=2)
    parser.add_argument("--actions", type=int, default=2)
    parser.add_argument("--nginx-workers", type=int, default=1)
    parser.add_argument("--stop-after-errors", type=int, default=0,
                        help="end a ramp after a step with more errors than this (0: never)")
    parser.add_argument("--p95-limit", type=float, default=500.0)
    parser.add_argument("--keep-rate-limits", action="store_true",
                        help="keep the gate's rate limits on (RATE_LIMIT_CHANNEL caps a "
                             "channel at 100 messages/s by default)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--note", default="", help="added to the chart title")
    args = parser.parse_args()

    results: dict[str, list[StepResult]] = {}
    if args.url:
        started = Started(args.url, args.url.rstrip("/"), args.wechat_token, {}, lambda: None)
        results[started.name] = asyncio.run(measure(started, args))
    else:
        kinds = ["single", "cluster"] if args.target == "both" else [args.target]
        for kind in kinds:
            started = start_target(kind, args)
            try:
                warm_up(started.replicas)
                results[started.name] = asyncio.run(measure(started, args))
            finally:
                started.stop()

    stamp = time.strftime("%Y%m%d-%H%M%S")
    load = os.getloadavg()
    note = (args.note or f"{os.cpu_count()} cores; load average at the end "
            f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    data = {"when": stamp, "note": note, "args": {k: v for k, v in vars(args).items()},
            "results": {name: [asdict(s) for s in steps] for name, steps in results.items()}}
    json_path = OUT_DIR / f"load-{stamp}.json"
    json_path.write_text(json.dumps(data, ensure_ascii=False, indent=2, default=str),
                         encoding="utf-8")
    chart = OUT_DIR / f"load-{stamp}.png"
    write_chart(results, chart, note)
    print()
    for line in summary(results, args.p95_limit):
        print(line)
    print(f"numbers: {json_path}\nchart:   {chart}")
    mean_rate = statistics.fmean(s.turns_per_s for steps in results.values() for s in steps)
    if mean_rate <= 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
