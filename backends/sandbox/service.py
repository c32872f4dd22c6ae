"""The parts every sandbox service module provides, and helpers for seeding once."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from backends.sandbox.context import Context
from backends.sandbox.validation import iso

SEED_DIR = Path(__file__).resolve().parent / "seed"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # relative to the service prefix, in aiohttp syntax ("/tickets/{number}")
    handler: Handler


@dataclass(frozen=True)
class ServiceDef:
    """A service API: its routes under ``prefix``, and what it does at start (schema, seed)."""

    name: str
    prefix: str  # "/tickets/v1"; also the path of the OpenAPI file's server URL
    routes: Sequence[Route]
    start: Callable[[Context], Awaitable[None]]


@cache
def load_seed(name: str) -> dict[str, Any]:
    """A YAML file of ``seed/``, read once per process (treat the result as read-only); keys
    starting with ``_`` only hold YAML anchors and are dropped."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load((SEED_DIR / name).read_text(encoding="utf-8"), Loader=loader) or {}
    return {key: value for key, value in data.items() if not str(key).startswith("_")}


async def seed_once(
    ctx: Context, service: str, seed: Callable[[sqlite3.Connection], bool]
) -> None:
    """Runs ``seed(conn)`` in a transaction unless the service was seeded before; ``seed``
    returns False when its source is missing, so the next start tries again."""

    def run(conn: sqlite3.Connection) -> None:
        done = conn.execute("SELECT 1 FROM seed_state WHERE service = ?", (service,)).fetchone()
        if done is None and seed(conn):
            conn.execute(
                "INSERT INTO seed_state(service, seeded_at) VALUES (?, ?)",
                (service, iso(ctx.now())),
            )

    await ctx.db.run(run)
