"""A tiny REST client for end-to-end tests."""

from __future__ import annotations

import uuid
from typing import Any

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=60)


def new_sender(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}"


async def say(url: str, sender: str, text: str) -> list[dict[str, Any]]:
    """Sends one message; asserts a 200 and returns the bot's messages."""
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.post(url, json={"sender": sender, "message": text}) as reply,
    ):
        assert reply.status == 200, await reply.text()
        return await reply.json()


async def post_raw(url: str, data: bytes) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.post(url, data=data, headers={"Content-Type": "application/json"}) as reply,
    ):
        return reply.status, await reply.json(content_type=None)


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages if m.get("text")]
