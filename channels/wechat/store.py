"""The WeChat channel's state in Redis, shared by every Rasa process.

Every key is built by :meth:`WeChatStore.key` under one prefix (``<REDIS_KEY_PREFIX>:wechat``,
e.g. ``minsheng:wechat:msg:m6054768590064713728``), separate from Rasa's ``tracker:`` and
``lock:`` keys, and every key has a TTL:

======================  =======================================================  ==============
key                     what                                                     TTL
======================  =======================================================  ==============
``msg:<dedup id>``      hash of one WeChat message: ``owner`` (the claim, set    dedup TTL
                        once with HSETNX), ``deadline`` (latest passive-reply
                        deadline of any delivery attempt), ``result`` (the
                        rendered reply), ``delivery`` (``passive``/``cs``/
                        ``none``, set once with HSETNX)
``options:<openid>``    payloads of the numbered options last shown              options TTL
``token:<appid>``       the shared access_token                                  expires_in − margin
``token-lock:<appid>``  who is refreshing the token                              10 s
======================  =======================================================  ==============

Claims run as Lua scripts, so a check and its write are one atomic step even when a retry
lands on another process at the same moment. Redis errors become :class:`StoreUnavailable`.
The client is created lazily, with socket timeouts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_KEY_PART = re.compile(r"^[A-Za-z0-9_\-.]{1,128}$")

# KEYS[1] message hash. ARGV: owner id, attempt deadline (epoch seconds), TTL.
# Claims the message if nobody has, raises the recorded deadline to this attempt's.
_BEGIN = """
local claimed = redis.call('HSETNX', KEYS[1], 'owner', ARGV[1])
local current = tonumber(redis.call('HGET', KEYS[1], 'deadline') or '0')
if tonumber(ARGV[2]) > current then
  redis.call('HSET', KEYS[1], 'deadline', ARGV[2])
end
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return claimed
"""

# KEYS[1] message hash. ARGV: mode, TTL. Sets the delivery mode once; returns the winner.
_CLAIM_DELIVERY = """
redis.call('HSETNX', KEYS[1], 'delivery', ARGV[1])
if redis.call('TTL', KEYS[1]) < 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return redis.call('HGET', KEYS[1], 'delivery')
"""

# KEYS[1] token key. ARGV: the token believed stale. Deletes it only if it is still that one.
_DROP_TOKEN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class StoreUnavailable(RuntimeError):
    """Redis did not answer (down, timeout, refused)."""


@dataclass(frozen=True)
class MessageState:
    """What Redis knows about one message."""

    owner: str | None
    deadline: float
    result: list[str] | None
    delivery: str | None


class WeChatStore:
    """Redis access for the channel (dedup, results, options, access_token)."""

    def __init__(
        self,
        redis_url: str,
        prefix: str,
        *,
        dedup_ttl: int = 600,
        options_ttl: int = 3600,
        socket_timeout: float = 2.0,
    ) -> None:
        if not prefix or prefix.endswith(":"):
            raise ValueError("prefix must be non-empty and must not end with ':'")
        self.redis_url = redis_url
        self.prefix = prefix
        self.dedup_ttl = int(dedup_ttl)
        self.options_ttl = int(options_ttl)
        self.socket_timeout = socket_timeout
        self._client: Any = None
        self._scripts: dict[str, Any] = {}

    def key(self, kind: str, ident: str) -> str:
        """The one place keys are made: ``<prefix>:<kind>:<ident>``."""
        if not _KEY_PART.match(kind) or not _KEY_PART.match(ident):
            raise ValueError(f"unsafe key part: {kind!r} {ident!r}")
        return f"{self.prefix}:{kind}:{ident}"

    @property
    def client(self) -> Any:
        if self._client is None:
            import redis.asyncio as redis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff

            self._client = redis.Redis.from_url(
                self.redis_url,
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
                decode_responses=True,
                # A connection idle for over a second is PINGed first and, if Redis was
                # restarted meanwhile, reconnected once: otherwise each stale pooled connection
                # failed one delivery after a restart (tests/cluster/test_faults.py). Commands
                # themselves are not retried (a claim must not run twice).
                health_check_interval=1,
                retry=Retry(NoBackoff(), 1),
            )
        return self._client

    def _script(self, source: str) -> Any:
        if source not in self._scripts:
            self._scripts[source] = self.client.register_script(source)
        return self._scripts[source]

    async def _run(self, awaitable: Any) -> Any:
        import redis

        try:
            return await awaitable
        except (redis.RedisError, OSError) as error:
            raise StoreUnavailable(f"redis: {error.__class__.__name__}: {error}") from None

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            self._scripts.clear()
            await client.close()
            await client.connection_pool.disconnect()

    # --- one message ---------------------------------------------------------------------

    async def begin(self, dedup_id: str, owner: str, deadline: float) -> bool:
        """Registers a delivery attempt; True if this attempt claimed the message (it is the
        first one), False for a retry or a duplicate."""
        claimed = await self._run(
            self._script(_BEGIN)(
                keys=[self.key("msg", dedup_id)],
                args=[owner, f"{deadline:.3f}", self.dedup_ttl],
            )
        )
        return int(claimed) == 1

    async def save_result(self, dedup_id: str, chunks: list[str]) -> None:
        key = self.key("msg", dedup_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(key, "result", json.dumps(chunks, ensure_ascii=False))
        pipe.expire(key, self.dedup_ttl)
        await self._run(pipe.execute())

    async def state(self, dedup_id: str) -> MessageState:
        values = await self._run(self.client.hgetall(self.key("msg", dedup_id)))
        result = values.get("result")
        return MessageState(
            owner=values.get("owner"),
            deadline=float(values.get("deadline") or 0),
            result=json.loads(result) if result is not None else None,
            delivery=values.get("delivery"),
        )

    async def claim_delivery(self, dedup_id: str, mode: str) -> str:
        """Sets how the message is answered, once; returns the mode that won."""
        winner = await self._run(
            self._script(_CLAIM_DELIVERY)(
                keys=[self.key("msg", dedup_id)], args=[mode, self.dedup_ttl]
            )
        )
        return str(winner)

    # --- numbered options ------------------------------------------------------------------

    async def set_options(self, openid: str, payloads: list[str]) -> None:
        key = self.key("options", openid)
        if payloads:
            await self._run(
                self.client.set(key, json.dumps(payloads, ensure_ascii=False),
                                ex=self.options_ttl)
            )
        else:
            await self._run(self.client.delete(key))

    async def option(self, openid: str, number: int) -> str | None:
        """The payload of option ``number`` (1-based) last shown to ``openid``."""
        raw = await self._run(self.client.get(self.key("options", openid)))
        if not raw:
            return None
        try:
            payloads = json.loads(raw)
        except json.JSONDecodeError:
            return None
        if isinstance(payloads, list) and 1 <= number <= len(payloads):
            payload = payloads[number - 1]
            return payload if isinstance(payload, str) else None
        return None

    async def forget_user(self, openid: str) -> None:
        await self._run(self.client.delete(self.key("options", openid)))

    # --- access_token ------------------------------------------------------------------------

    async def cached_token(self, app_id: str) -> str | None:
        token = await self._run(self.client.get(self.key("token", app_id)))
        return str(token) if token else None

    async def store_token(self, app_id: str, token: str, ttl: int) -> None:
        await self._run(self.client.set(self.key("token", app_id), token, ex=max(int(ttl), 1)))

    async def drop_token(self, app_id: str, token: str) -> None:
        """Forgets ``token`` if it is still the cached one (another process may have replaced
        it already)."""
        await self._run(
            self._script(_DROP_TOKEN)(keys=[self.key("token", app_id)], args=[token])
        )

    async def lock_token_refresh(self, app_id: str, holder: str, ttl: int = 10) -> bool:
        locked = await self._run(
            self.client.set(self.key("token-lock", app_id), holder, nx=True, ex=ttl)
        )
        return bool(locked)

    async def unlock_token_refresh(self, app_id: str, holder: str) -> None:
        await self._run(
            self._script(_DROP_TOKEN)(keys=[self.key("token-lock", app_id)], args=[holder])
        )
