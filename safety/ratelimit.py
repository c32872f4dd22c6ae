"""Abuse limits: messages per resident and per channel, counted in Redis with a sliding window.

Each limit is ``count/seconds`` (``30/60``: 30 messages in any 60 seconds). The window slides
the usual cheap way: two fixed windows, the previous one weighted by how much of it still
overlaps the last ``seconds`` — ``estimate = previous × (1 − elapsed/seconds) + current``. One
Lua script checks both limits and counts the message only if both allow it, atomically, so
several Rasa processes share the limits and a refused message does not count (a resident who
was told to wait is served again as soon as the window allows).

Keys (all made by :meth:`RateLimiter.key`, all with a TTL of two windows)::

    <REDIS_KEY_PREFIX>:ratelimit:resident:<channel>:<sha256(sender)[:16]>:<window number>
    <REDIS_KEY_PREFIX>:ratelimit:channel:<channel>:<window number>

Settings (environment): ``RATE_LIMIT_RESIDENT`` (default ``30/60``), ``RATE_LIMIT_CHANNEL``
(default ``6000/60``); ``off`` (or ``0``) disables one. ``REDIS_URL`` unset: no limits (one
warning). Redis unreachable: the message is let through (the gate logs it) — a limit is never
worth refusing a resident because Redis is down.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

DEFAULT_RESIDENT = "30/60"
DEFAULT_CHANNEL = "6000/60"
_LIMIT = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*s?\s*$")
_KEY_PART = re.compile(r"^[A-Za-z0-9_\-.]{1,64}$")

# KEYS: resident previous, resident current, channel previous, channel current.
# ARGV: resident limit, resident previous weight, resident TTL,
#       channel limit, channel previous weight, channel TTL   (a limit of -1: no limit).
# Returns 0 (counted), 1 (over the resident limit) or 2 (over the channel limit).
_SCRIPT = """
local function estimate(previous, current, weight)
  return (tonumber(redis.call('GET', previous) or '0') * weight)
    + tonumber(redis.call('GET', current) or '0')
end
local resident_limit = tonumber(ARGV[1])
local channel_limit = tonumber(ARGV[4])
if resident_limit >= 0 and estimate(KEYS[1], KEYS[2], tonumber(ARGV[2])) + 1 > resident_limit then
  return 1
end
if channel_limit >= 0 and estimate(KEYS[3], KEYS[4], tonumber(ARGV[5])) + 1 > channel_limit then
  return 2
end
if resident_limit >= 0 then
  redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[3]))
end
if channel_limit >= 0 then
  redis.call('INCR', KEYS[4])
  redis.call('EXPIRE', KEYS[4], tonumber(ARGV[6]))
end
return 0
"""


@dataclass(frozen=True)
class Limit:
    """``count`` messages in any ``seconds``."""

    count: int
    seconds: int

    def __post_init__(self) -> None:
        if self.count < 1 or self.seconds < 1:
            raise ValueError("a rate limit needs count >= 1 and seconds >= 1")

    @classmethod
    def parse(cls, value: str | None, default: str) -> Limit | None:
        """``"30/60"`` → 30 per 60 s; ``off``/``0``/``none`` → None (no limit); unset → default."""
        raw = (value if value is not None and value.strip() else default).strip().lower()
        if raw in ("off", "0", "none", "no", "false"):
            return None
        match = _LIMIT.match(raw)
        if not match:
            raise ValueError(f"a rate limit is 'count/seconds', like '30/60' (got {value!r})")
        return cls(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class Window:
    """Where ``now`` falls: the current fixed window's number and the previous one's weight."""

    number: int
    previous_weight: float
    retry_after: int  # seconds until the current fixed window ends


def window(now: float, seconds: int) -> Window:
    number = int(now // seconds)
    elapsed = (now - number * seconds) / seconds
    return Window(number, 1.0 - elapsed, max(1, math.ceil((1.0 - elapsed) * seconds)))


def sliding_estimate(previous: int, current: int, previous_weight: float) -> float:
    """The sliding-window count: what the Lua script computes, for tests and reasoning."""
    return previous * previous_weight + current


def resident_ref(sender_id: str) -> str:
    """A stable, non-reversible reference (as in channels/webchat.py and the analytics)."""
    return hashlib.sha256(sender_id.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Decision:
    allowed: bool
    scope: str | None = None  # "resident" or "channel" when refused
    retry_after: int | None = None


ALLOWED = Decision(True)


class RateLimiter:
    """The two limits of one process (see the module docstring). The Redis client is made on
    first use, per event loop, with short socket timeouts."""

    def __init__(
        self,
        redis_url: str | None,
        prefix: str,
        resident: Limit | None,
        channel: Limit | None,
        *,
        socket_timeout: float = 0.5,
    ) -> None:
        if not prefix or prefix.endswith(":"):
            raise ValueError("the key prefix must be non-empty and must not end with ':'")
        self.redis_url = redis_url
        self.prefix = prefix
        self.resident = resident
        self.channel = channel
        self.socket_timeout = socket_timeout
        self._client: Any = None
        self._script: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> RateLimiter:
        return cls(
            environ.get("REDIS_URL") or None,
            environ.get("REDIS_KEY_PREFIX") or "minsheng",
            Limit.parse(environ.get("RATE_LIMIT_RESIDENT"), DEFAULT_RESIDENT),
            Limit.parse(environ.get("RATE_LIMIT_CHANNEL"), DEFAULT_CHANNEL),
        )

    @property
    def enabled(self) -> bool:
        return self.redis_url is not None and (self.resident or self.channel) is not None

    def key(self, scope: str, *parts: str) -> str:
        """The one place keys are made: ``<prefix>:ratelimit:<scope>:<part>…``."""
        for part in (scope, *parts):
            if not _KEY_PART.match(part):
                raise ValueError(f"unsafe key part: {part!r}")
        return ":".join([self.prefix, "ratelimit", scope, *parts])

    def _redis(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(
                self.redis_url, socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout, decode_responses=True,
            )
            self._script = self._client.register_script(_SCRIPT)
            self._loop = loop
        return self._client

    async def hit(self, channel: str, sender_id: str, now: float | None = None) -> Decision:
        """Counts one message of ``sender_id`` on ``channel`` if both limits allow it.
        Raises Redis' errors (the gate lets the message through and logs them)."""
        if not self.enabled:
            return ALLOWED
        now = time.time() if now is None else now
        self._redis()
        resident_ref_ = resident_ref(sender_id)
        keys: list[str] = []
        args: list[Any] = []
        windows: dict[str, Window] = {}
        for scope, limit, ident in (("resident", self.resident, (channel, resident_ref_)),
                                    ("channel", self.channel, (channel,))):
            if limit is None:
                keys += [self.key(scope, *ident, "0"), self.key(scope, *ident, "1")]
                args += [-1, 0, 1]
                continue
            current = window(now, limit.seconds)
            windows[scope] = current
            keys += [self.key(scope, *ident, str(current.number - 1)),
                     self.key(scope, *ident, str(current.number))]
            args += [limit.count, f"{current.previous_weight:.6f}", 2 * limit.seconds]
        outcome = int(await self._script(keys=keys, args=args))
        if outcome == 0:
            return ALLOWED
        scope = "resident" if outcome == 1 else "channel"
        return Decision(False, scope, windows[scope].retry_after)

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await (getattr(client, "aclose", None) or client.close)()  # redis 5+ / 4.x
