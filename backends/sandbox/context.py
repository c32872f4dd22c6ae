"""What every handler reaches through ``request.app[CONTEXT]``: database, clock, settings,
faults, request statistics and the seed data loaded at start."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from backends.sandbox.db import Database
from backends.sandbox.faults import FaultInjector
from backends.sandbox.settings import SandboxSettings
from backends.sandbox.validation import BEIJING, beijing_now

Clock = Callable[[], datetime]
DB_FILE = "sandbox.sqlite3"


@dataclass
class Stats:
    """Requests per service and per route since start, and how many got an injected fault."""

    requests: Counter[str] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": dict(sorted(self.requests.items())),
            "routes": dict(sorted(self.routes.items())),
            "faults_injected": dict(sorted(self.injected.items())),
        }


@dataclass
class Context:
    data_dir: Path
    settings: SandboxSettings
    clock: Clock = beijing_now
    db: Database = field(init=False)
    faults: FaultInjector = field(init=False)
    stats: Stats = field(default_factory=Stats)
    state: dict[str, Any] = field(default_factory=dict)
    """Per-service data built at start (seed files, in-memory indexes), keyed by service."""

    def __post_init__(self) -> None:
        self.db = Database(self.data_dir / DB_FILE)
        self.faults = FaultInjector(self.settings.faults, self.settings.fault_seed)

    def now(self) -> datetime:
        return self.clock().astimezone(BEIJING)

    def today(self) -> date:
        return self.now().date()

    def scaled(self, capacity: int) -> int:
        """A capacity after ``SANDBOX_CAPACITY_SCALE`` (never below 1)."""
        return max(1, round(capacity * self.settings.capacity_scale))


CONTEXT = web.AppKey("sandbox_context", Context)


def context(request: web.Request) -> Context:
    return request.app[CONTEXT]
