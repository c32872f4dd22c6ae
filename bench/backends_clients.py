"""Latency of the backend clients against a locally started sandbox, at a given concurrency.

    .venv/actions/bin/python bench/backends_clients.py                 # 20 concurrent, 2,000 calls
    .venv/actions/bin/python bench/backends_clients.py --concurrency 50 --calls 5000
    .venv/actions/bin/python bench/backends_clients.py --url http://127.0.0.1:5080  # running one

Starts ``python -m backends.sandbox`` on a free port with a fresh data directory (unless --url),
then runs a mix of calls the forms make — ticket look-up and create, attraction search, crowd
level, free slots, nearest stations, application status — through one shared client session,
and prints p50/p95/p99 per call and overall, with calls per second.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from actions.clients import BackendError, Backends, ClientSettings  # noqa: E402
from stack.processes import Service, free_port  # noqa: E402

Call = Callable[[Backends, int], Awaitable[object]]
TOMORROW = date.today() + timedelta(days=1)


async def create_ticket(b: Backends, i: int) -> object:
    return await b.tickets.create_ticket(
        idempotency_key=f"bench-{time.time_ns()}-{i}", category="noise", street="明德",
        description="楼下商铺夜里放音乐，影响休息", phone="13800138000")


async def get_ticket(b: Backends, i: int) -> object:
    return await b.tickets.get_ticket(f"JS{date.today():%Y%m%d}000001")


async def search(b: Backends, i: int) -> object:
    return await b.tourism.search(("故宫博物院", "鸟巢", "颐和圆", "长城", "天坛公园")[i % 5])


async def crowd(b: Backends, i: int) -> object:
    return await b.tourism.crowd(f"A{i % 200 + 1:04d}", TOMORROW)


async def slots(b: Backends, i: int) -> object:
    # as the booking form asks: a hospital and a department, the coming week
    hospital, department = (("pumch", "cardiology"), ("chaoyang", "respiratory"),
                            ("sq-mingde", "general_practice"))[i % 3]
    return await b.hospitals.free_slots(hospital, department=department)


async def stations(b: Backends, i: int) -> object:
    return await b.eldercare.nearest_stations(street=("明德", "和畅", "福润", "嘉禾")[i % 4])


async def application(b: Backends, i: int) -> object:
    # an unknown number: a 404 is a full round trip too
    try:
        return await b.applications.get_application(f"SQ20250101{i % 9999 + 1:04d}")
    except BackendError as error:
        return error


MIX: list[tuple[str, Call]] = [
    ("tickets.get_ticket", get_ticket),
    ("tickets.create_ticket", create_ticket),
    ("tourism.search", search),
    ("tourism.crowd", crowd),
    ("hospitals.free_slots", slots),
    ("eldercare.nearest_stations", stations),
    ("applications.get_application", application),
]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


async def run(url: str, concurrency: int, calls: int) -> None:
    backends = Backends(ClientSettings.for_base_url(url), seed=1)
    timings: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    work = itertools.islice(itertools.cycle(enumerate(MIX)), calls)
    queue: asyncio.Queue[tuple[int, tuple[str, Call]]] = asyncio.Queue()
    for item in work:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            i, (name, call) = queue.get_nowait()
            started = time.perf_counter()
            try:
                await call(backends, i)
            except BackendError:
                errors[name] += 1
            timings[name].append((time.perf_counter() - started) * 1000)

    try:
        for _name, call in MIX:  # warm up: connection pool, caches
            await call(backends, 0)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await backends.close()

    every = [t for values in timings.values() for t in values]
    print(f"{calls} calls, concurrency {concurrency}, {elapsed:.2f} s, "
          f"{calls / elapsed:.0f} calls/s, sessions created: {backends.sessions.created}")
    print(f"{'call':32} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}")
    for name, _ in MIX:
        values = timings[name]
        print(f"{name:32} {len(values):5d} {statistics.median(values):8.1f} "
              f"{percentile(values, 95):8.1f} {percentile(values, 99):8.1f} {errors[name]:6d}")
    print(f"{'all':32} {len(every):5d} {statistics.median(every):8.1f} "
          f"{percentile(every, 95):8.1f} {percentile(every, 99):8.1f} {sum(errors.values()):6d}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--url", help="use a running sandbox instead of starting one")
    args = parser.parse_args()
    if args.url:
        asyncio.run(run(args.url.rstrip("/"), args.concurrency, args.calls))
        return
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as folder:
        port = free_port()
        service = Service(
            name="sandbox backends",
            argv=[sys.executable, "-m", "backends.sandbox", "--port", str(port),
                  "--data-dir", str(Path(folder) / "data")],
            health_url=f"http://127.0.0.1:{port}/health",
            log_path=Path(folder) / "sandbox.log",
            env={"PYTHONPATH": str(ROOT)},
            cwd=ROOT,
        )
        service.start()
        try:
            service.wait_healthy(60)
            asyncio.run(run(f"http://127.0.0.1:{port}", args.concurrency, args.calls))
        finally:
            service.stop()


if __name__ == "__main__":
    main()
