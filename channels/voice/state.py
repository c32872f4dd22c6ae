"""Per-call state of the voice channel, in Redis under its own key prefix.

Keys (all built by :class:`Keys`, all with a TTL):

======================================  ====================================================
``<prefix>:voice:conv:<conversation>``  the conversation exists (expires without refresh)
``<prefix>:voice:call:<conversation>``  hash: failures, pending question, caller, words heard,
                                        previous answer, turn and in-flight counters
``<prefix>:voice:act:<conv>:<activity>`` an activity already taken (dedup), then its answer
``<prefix>:voice:outbox``               stream of "send me the details" requests (SMS/WeChat)
======================================  ====================================================

``<prefix>`` is ``REDIS_KEY_PREFIX`` (``minsheng`` by default), so a test stack's keys go with
the rest of its keys. Without Redis (a demo without ``REDIS_URL``) :class:`MemoryVoiceStore`
keeps the same data in the process, which is enough for one Rasa server.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

from channels.voice.policy import CallState, Pending

DEFAULT_CALL_TTL = 2 * 3600
DEFAULT_ACTIVITY_TTL = 2 * 3600
OUTBOX_TTL = 7 * 24 * 3600
OUTBOX_MAX = 10_000


@dataclass(frozen=True)
class Keys:
    prefix: str = "minsheng"

    @property
    def base(self) -> str:
        return f"{self.prefix}:voice"

    def conversation(self, conversation: str) -> str:
        return f"{self.base}:conv:{conversation}"

    def call(self, conversation: str) -> str:
        return f"{self.base}:call:{conversation}"

    def activity(self, conversation: str, activity: str) -> str:
        return f"{self.base}:act:{conversation}:{activity}"

    def outbox(self) -> str:
        return f"{self.base}:outbox"


@dataclass(frozen=True)
class StoredCall:
    state: CallState = field(default_factory=CallState)
    caller: str | None = None
    previous: tuple[str, ...] = ()


def call_fields(
    state: CallState, *, previous: tuple[str, ...] | None = None, caller: str | None = None
) -> dict[str, str]:
    """The hash fields that store ``state`` (and optionally the previous answer and caller)."""
    fields = {
        "failures": str(state.failures),
        "pending": json.dumps(state.pending.as_json() if state.pending else None,
                              ensure_ascii=False),
        "heard": json.dumps(list(state.heard), ensure_ascii=False),
    }
    if previous is not None:
        fields["previous"] = json.dumps(list(previous), ensure_ascii=False)
    if caller is not None:
        fields["caller"] = caller
    return fields


def _loads(raw: str | None, default: Any) -> Any:
    if not raw:
        return default
    try:
        return json.loads(raw)
    except ValueError:
        return default


def stored_call(fields: dict[str, str]) -> StoredCall:
    """Reads what :func:`call_fields` wrote; unreadable fields fall back to a fresh call."""
    try:
        failures = max(0, int(fields.get("failures") or 0))
    except ValueError:
        failures = 0
    heard = _loads(fields.get("heard"), [])
    previous = _loads(fields.get("previous"), [])
    state = CallState(
        failures=failures,
        pending=Pending.from_json(_loads(fields.get("pending"), None)),
        heard=tuple(str(h) for h in heard) if isinstance(heard, list) else (),
    )
    return StoredCall(
        state,
        fields.get("caller") or None,
        tuple(str(p) for p in previous) if isinstance(previous, list) else (),
    )


class VoiceStore(Protocol):
    async def create(self, conversation: str, ttl: int) -> bool: ...
    async def touch(self, conversation: str, ttl: int) -> bool: ...
    async def end(self, conversation: str) -> bool: ...
    async def claim(self, conversation: str, activity: str) -> bool: ...
    async def release(self, conversation: str, activities: list[str]) -> None: ...
    async def save_reply(self, conversation: str, activities: list[str], reply: str) -> None: ...
    async def reply(self, conversation: str, activity: str) -> str | None: ...
    async def begin_turn(self, conversation: str) -> tuple[int, int]: ...
    async def end_turn(self, conversation: str) -> int: ...
    async def load(self, conversation: str) -> StoredCall: ...
    async def save(self, conversation: str, fields: dict[str, str]) -> None: ...
    async def queue_details(self, entry: dict[str, str]) -> None: ...
    async def close(self) -> None: ...


class RedisVoiceStore:
    """The store on Redis (``redis.asyncio``), connected on first use with socket timeouts."""

    def __init__(
        self,
        url: str,
        prefix: str = "minsheng",
        *,
        call_ttl: int = DEFAULT_CALL_TTL,
        activity_ttl: int = DEFAULT_ACTIVITY_TTL,
        socket_timeout: float = 2.0,
    ) -> None:
        self.url = url
        self.keys = Keys(prefix)
        self.call_ttl = call_ttl
        self.activity_ttl = activity_ttl
        self.socket_timeout = socket_timeout
        self._client: Any = None

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis  # connect lazily, in the server's loop

            self._client = aioredis.Redis.from_url(
                self.url,
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
                decode_responses=True,
            )
        return self._client

    async def create(self, conversation: str, ttl: int) -> bool:
        created = await self._redis().set(
            self.keys.conversation(conversation), str(int(time.time())), nx=True, ex=ttl
        )
        if not created:
            await self._redis().expire(self.keys.conversation(conversation), ttl)
        return bool(created)

    async def touch(self, conversation: str, ttl: int) -> bool:
        return bool(await self._redis().expire(self.keys.conversation(conversation), ttl))

    async def end(self, conversation: str) -> bool:
        removed = await self._redis().delete(
            self.keys.conversation(conversation), self.keys.call(conversation)
        )
        return bool(removed)

    async def claim(self, conversation: str, activity: str) -> bool:
        key = self.keys.activity(conversation, activity)
        return bool(await self._redis().set(key, "", nx=True, ex=self.activity_ttl))

    async def release(self, conversation: str, activities: list[str]) -> None:
        if activities:
            await self._redis().delete(*(self.keys.activity(conversation, a) for a in activities))

    async def save_reply(self, conversation: str, activities: list[str], reply: str) -> None:
        if not activities:
            return
        async with self._redis().pipeline(transaction=False) as pipe:
            for activity in activities:
                pipe.set(self.keys.activity(conversation, activity), reply, ex=self.activity_ttl)
            await pipe.execute()

    async def reply(self, conversation: str, activity: str) -> str | None:
        return await self._redis().get(self.keys.activity(conversation, activity))

    async def begin_turn(self, conversation: str) -> tuple[int, int]:
        key = self.keys.call(conversation)
        async with self._redis().pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "turn", 1)
            pipe.hincrby(key, "inflight", 1)
            pipe.expire(key, self.call_ttl)
            turn, inflight, _ = await pipe.execute()
        return int(turn), int(inflight)

    async def end_turn(self, conversation: str) -> int:
        key = self.keys.call(conversation)
        async with self._redis().pipeline(transaction=True) as pipe:
            pipe.hincrby(key, "inflight", -1)
            pipe.hget(key, "turn")
            pipe.expire(key, self.call_ttl)
            inflight, turn, _ = await pipe.execute()
        if int(inflight) < 0:
            await self._redis().hset(key, "inflight", 0)
        return int(turn or 0)

    async def load(self, conversation: str) -> StoredCall:
        return stored_call(await self._redis().hgetall(self.keys.call(conversation)))

    async def save(self, conversation: str, fields: dict[str, str]) -> None:
        key = self.keys.call(conversation)
        async with self._redis().pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, self.call_ttl)
            await pipe.execute()

    async def queue_details(self, entry: dict[str, str]) -> None:
        key = self.keys.outbox()
        async with self._redis().pipeline(transaction=True) as pipe:
            pipe.xadd(key, entry, maxlen=OUTBOX_MAX, approximate=True)
            pipe.expire(key, OUTBOX_TTL)
            await pipe.execute()

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


class MemoryVoiceStore:
    """The same store in this process, for a demo without Redis (one Rasa server only)."""

    def __init__(
        self, *, call_ttl: int = DEFAULT_CALL_TTL, activity_ttl: int = DEFAULT_ACTIVITY_TTL
    ) -> None:
        self.call_ttl = call_ttl
        self.activity_ttl = activity_ttl
        self._values: dict[str, tuple[float, Any]] = {}
        self.outbox: list[dict[str, str]] = []

    def _get(self, key: str) -> Any:
        found = self._values.get(key)
        if found is None:
            return None
        expires, value = found
        if expires <= time.monotonic():
            del self._values[key]
            return None
        return value

    def _set(self, key: str, value: Any, ttl: int) -> None:
        self._values[key] = (time.monotonic() + ttl, value)

    def _call(self, conversation: str) -> dict[str, Any]:
        key = f"call:{conversation}"
        call = self._get(key) or {}
        self._set(key, call, self.call_ttl)
        return call

    async def create(self, conversation: str, ttl: int) -> bool:
        created = self._get(f"conv:{conversation}") is None
        self._set(f"conv:{conversation}", True, ttl)
        return created

    async def touch(self, conversation: str, ttl: int) -> bool:
        if self._get(f"conv:{conversation}") is None:
            return False
        self._set(f"conv:{conversation}", True, ttl)
        return True

    async def end(self, conversation: str) -> bool:
        existed = self._get(f"conv:{conversation}") is not None
        self._values.pop(f"conv:{conversation}", None)
        self._values.pop(f"call:{conversation}", None)
        return existed

    async def claim(self, conversation: str, activity: str) -> bool:
        key = f"act:{conversation}:{activity}"
        if self._get(key) is not None:
            return False
        self._set(key, "", self.activity_ttl)
        return True

    async def release(self, conversation: str, activities: list[str]) -> None:
        for activity in activities:
            self._values.pop(f"act:{conversation}:{activity}", None)

    async def save_reply(self, conversation: str, activities: list[str], reply: str) -> None:
        for activity in activities:
            self._set(f"act:{conversation}:{activity}", reply, self.activity_ttl)

    async def reply(self, conversation: str, activity: str) -> str | None:
        return self._get(f"act:{conversation}:{activity}")

    async def begin_turn(self, conversation: str) -> tuple[int, int]:
        call = self._call(conversation)
        call["turn"] = int(call.get("turn", 0)) + 1
        call["inflight"] = int(call.get("inflight", 0)) + 1
        return call["turn"], call["inflight"]

    async def end_turn(self, conversation: str) -> int:
        call = self._call(conversation)
        call["inflight"] = max(0, int(call.get("inflight", 0)) - 1)
        return int(call.get("turn", 0))

    async def load(self, conversation: str) -> StoredCall:
        call = self._call(conversation)
        return stored_call({k: str(v) for k, v in call.items()})

    async def save(self, conversation: str, fields: dict[str, str]) -> None:
        self._call(conversation).update(fields)

    async def queue_details(self, entry: dict[str, str]) -> None:
        self.outbox = [*self.outbox, entry][-OUTBOX_MAX:]

    async def close(self) -> None:
        self._values.clear()
