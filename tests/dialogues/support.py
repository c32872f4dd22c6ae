"""Talking to a running assistant in end-to-end dialogue tests: conversations over the REST
channel, the sandbox's failure injection, and its database (to count what was written)."""

from __future__ import annotations

import sqlite3
import time
import uuid
from typing import Any

import aiohttp

from tests.support import default_text, domain

TIMEOUT = aiohttp.ClientTimeout(total=60)


class Conversation:
    """One resident talking to the assistant; keeps every reply."""

    def __init__(self, assistant: Any, tag: str) -> None:
        self.assistant = assistant
        self.sender = f"{tag}-{uuid.uuid4().hex[:10]}"
        self.last: list[dict[str, Any]] = []
        self.last_seconds = 0.0

    async def say(self, text: str) -> str:
        """Sends ``text``; returns the bot's texts joined by newlines (asserting a 200)."""
        started = time.monotonic()
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as session,
            session.post(self.assistant.rest_url,
                         json={"sender": self.sender, "message": text}) as reply,
        ):
            assert reply.status == 200, await reply.text()
            self.last = await reply.json()
        self.last_seconds = time.monotonic() - started
        return "\n".join(m["text"] for m in self.last if m.get("text"))

    def buttons(self) -> list[dict[str, str]]:
        return [b for m in self.last for b in m.get("buttons") or []]


def template(name: str) -> str:
    """The default text of a response, for comparing replies without slots filled in."""
    return default_text(name)


def prefix(name: str) -> str:
    """The fixed start of a response's default text (up to its first {placeholder})."""
    return template(name).split("{", 1)[0]


def said(reply: str, name: str) -> bool:
    """Did ``reply`` contain response ``name`` (any of its text variants, up to the first
    placeholder of each)?"""
    variants = [v["text"] for v in domain()["responses"][name] if "text" in v]
    return any(v.split("{", 1)[0] in reply for v in variants)


def admin_token(assistant: Any) -> str:
    return assistant.config.extra_env["SANDBOX_ADMIN_TOKEN"]


async def set_faults(assistant: Any, faults: dict[str, Any]) -> None:
    """Replaces the sandbox's fault configuration ({} clears it)."""
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.put(f"{assistant.backends_url}/_admin/faults", json=faults,
                    headers={"Authorization": f"Bearer {admin_token(assistant)}"}) as reply,
    ):
        assert reply.status == 200, await reply.text()


def sandbox_rows(assistant: Any, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Reads the sandbox's own database (read-only) to see what was really written."""
    path = assistant.config.var_dir / "sandbox" / "sandbox.sqlite3"
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()
