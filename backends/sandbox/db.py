"""The sandbox's one SQLite database, used from a single worker thread.

Every operation is a plain function ``fn(conn, *args)`` run in a transaction on that thread, so
checks such as "is this slot still free?" and the write that follows cannot interleave with
another request: capacity limits and idempotency keys hold under concurrency. ``BEGIN IMMEDIATE``
keeps that true even if a second process opened the same file. WAL mode lets readers (such as
an operator's ``sqlite3`` shell) look while the sandbox writes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

COMMON_SCHEMA = """
CREATE TABLE IF NOT EXISTS seed_state (
  service TEXT PRIMARY KEY,
  seeded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  status INTEGER NOT NULL,
  response TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (scope, key)
);
"""


class Database:
    """One connection, one thread. Open with :meth:`open`, then ``await db.run(fn, ...)``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-db")
        self._conn = await self._submit(self._connect)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.executescript(COMMON_SCHEMA)
        return conn

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Runs ``fn(conn, *args)`` in one transaction: committed if it returns, rolled back if
        it raises (the exception propagates)."""
        return await self._submit(self._transaction, fn, args)

    async def script(self, sql: str) -> None:
        """Runs DDL (``CREATE TABLE IF NOT EXISTS ...``) outside a transaction."""
        await self._submit(lambda: self._require().executescript(sql))

    def _transaction(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn = self._require()
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn, *args)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def _require(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the database is not open")
        return self._conn

    async def _submit(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise RuntimeError("the database is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def close(self) -> None:
        if self._executor is None:
            return
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)
        self._executor = None


def next_sequence(conn: sqlite3.Connection, name: str) -> int:
    """1, 2, 3 … per counter name (e.g. one counter per day for ticket numbers)."""
    row = conn.execute(
        "INSERT INTO counters(name, value) VALUES (?, 1) "
        "ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value",
        (name,),
    ).fetchone()
    return int(row[0])
