"""The action server's Redis: one lazily created client, and every key built by :func:`key`.

Keys live under ``<REDIS_KEY_PREFIX>:app:`` — apart from Rasa's ``tracker:``/``lock:`` keys —
and every write sets a TTL. Without Redis (REDIS_URL unset) the callers skip recording.
"""

from __future__ import annotations

import os

import redis.asyncio as aioredis

_client: aioredis.Redis | None = None


def key(*parts: str) -> str:
    """``minsheng:app:<part>:<part>…`` with the deployment's key prefix."""
    prefix = os.environ.get("REDIS_KEY_PREFIX", "minsheng")
    return ":".join([prefix, "app", *parts])


def client() -> aioredis.Redis | None:
    """The process-wide client, or None when no Redis is configured."""
    global _client
    if _client is None:
        url = os.environ.get("REDIS_URL")
        if not url:
            return None
        _client = aioredis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
        )
    return _client


async def close() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
        _client = None
