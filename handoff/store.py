"""The agent queue in Redis, shared by every Rasa server and action server of a deployment.

Keys, all built by :meth:`HandoffStore.key` under ``<REDIS_KEY_PREFIX>:app:handoff:`` and all
with a TTL (refreshed on each write):

=====================  ==================================================================
``conv:<id>``          the :class:`~handoff.model.Handoff` record (JSON), ``record_ttl``
``active``             sorted set of the ids of queued and held conversations, by time
``log:<id>``           what was said since the handoff: JSON entries ``{"from": "resident" |
                       "agent" | "system", "text", "ts", "agent"?}``, the last 200
``outbox:<id>``        agent messages waiting for a REST resident's next call or poll
``events``             stream of queue events (``queued``, ``taken``, ``released``,
                       ``lapsed``) with channel, reason, area: for the content report
``desk``               set while a Rasa server serves the agent API (see ``channels/agent``)
``relay``              pub/sub channel (no key): messages for residents whose socket may be
                       on another Rasa server (web chat); every server emits to its own sockets
=====================  ==================================================================

State changes read and write a record under ``WATCH`` (optimistic transactions), so two
agents taking the same conversation at once cannot both get it. Texts kept in Redis pass
through ``redact`` first (:func:`privacy.mask_text`: phone, 身份证 and card numbers masked).
Redis errors become :class:`StoreUnavailable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from handoff import model
from handoff.model import HELD, Handoff, TransitionError
from privacy import mask_text

logger = logging.getLogger(__name__)

DEFAULT_RECORD_TTL = 24 * 3600
DEFAULT_IDLE_SECONDS = 30 * 60
LOG_MAX = 200
OUTBOX_MAX = 50
EVENTS_MAX = 50_000
EVENTS_TTL = 180 * 24 * 3600
DESK_TTL = 15 * 60
_KEY_PART = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class StoreUnavailable(RuntimeError):
    """Redis is not configured or did not answer."""


class HandoffStore:
    """The queue of one deployment (``prefix`` = ``REDIS_KEY_PREFIX``). The client is made on
    first use, with socket timeouts."""

    def __init__(
        self,
        redis_url: str | None,
        prefix: str,
        *,
        record_ttl: int = DEFAULT_RECORD_TTL,
        idle_seconds: float = DEFAULT_IDLE_SECONDS,
        redact: Callable[[str], str] = mask_text,
        socket_timeout: float = 2.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not prefix or prefix.endswith(":"):
            raise ValueError("prefix must be non-empty and must not end with ':'")
        self.redis_url = redis_url
        self.prefix = prefix
        self.record_ttl = int(record_ttl)
        self.idle_seconds = float(idle_seconds)
        self.redact = redact
        self.socket_timeout = socket_timeout
        self.clock = clock
        self._client: Any = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **options: Any) -> HandoffStore:
        idle = environ.get("MINSHENG_AGENT_IDLE_MINUTES")
        if idle:
            try:
                options.setdefault("idle_seconds", float(idle) * 60)
            except ValueError:
                raise ValueError(f"MINSHENG_AGENT_IDLE_MINUTES must be a number, got {idle!r}"
                                 ) from None
        return cls(environ.get("REDIS_URL") or None,
                   environ.get("REDIS_KEY_PREFIX") or "minsheng", **options)

    # --- keys and client ---------------------------------------------------------------------

    def key(self, kind: str, *parts: str) -> str:
        """The one place keys are made: ``<prefix>:app:handoff:<kind>[:<part>…]``."""
        for part in (kind, *parts):
            if not _KEY_PART.fullmatch(part):
                raise ValueError(f"unsafe key part: {part!r}")
        return ":".join([self.prefix, "app", "handoff", kind, *parts])

    @property
    def available(self) -> bool:
        return self.redis_url is not None

    def _redis(self) -> Any:
        if self.redis_url is None:
            raise StoreUnavailable("REDIS_URL is not set")
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(
                self.redis_url,
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
                decode_responses=True,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            closer = getattr(client, "aclose", None) or client.close
            await closer()
            await client.connection_pool.disconnect()

    async def _run(self, operation: Callable[[Any], Any]) -> Any:
        import redis

        try:
            return await operation(self._redis())
        except (redis.RedisError, OSError) as error:
            raise StoreUnavailable(f"redis: {error.__class__.__name__}: {error}") from None

    # --- records -----------------------------------------------------------------------------

    async def _update(
        self, conversation: str, change: Callable[[Handoff | None], Handoff | None],
        *, event: str | None = None,
    ) -> tuple[Handoff | None, Handoff | None]:
        """Applies ``change`` to the record atomically; returns (before, after). ``change`` may
        raise :class:`TransitionError`; returning its argument unchanged writes nothing."""
        import redis

        key = self.key("conv", conversation)
        active = self.key("active")

        async def attempt(client: Any) -> tuple[Handoff | None, Handoff | None]:
            async with client.pipeline(transaction=True) as pipe:
                for _ in range(20):
                    try:
                        await pipe.watch(key)
                        raw = await pipe.get(key)
                        before = Handoff.from_json(raw) if raw else None
                        if model.lapsed(before, self.clock(), self.idle_seconds):
                            before = None
                        after = change(before)
                        lapsed = raw is not None and before is None
                        if after is before and not lapsed:
                            await pipe.unwatch()
                            return before, after
                        pipe.multi()
                        if after is None:
                            pipe.delete(key)
                            pipe.zrem(active, conversation)
                        else:
                            pipe.set(key, after.to_json(), ex=self.record_ttl)
                            pipe.zadd(active, {conversation: after.created})
                            pipe.expire(active, self.record_ttl)
                        await pipe.execute()
                        return before, after
                    except redis.WatchError:
                        continue
            raise StoreUnavailable("redis: the record kept changing; try again")

        before, after = await self._run(attempt)
        if event is not None and (after is not before):
            await self.record_event(event, after or before)
        return before, after

    async def get(self, conversation: str) -> Handoff | None:
        """The record, or None (also when a hold has lapsed: it is removed then)."""
        raw = await self._run(lambda c: c.get(self.key("conv", conversation)))
        record = Handoff.from_json(raw) if raw else None
        if model.lapsed(record, self.clock(), self.idle_seconds):
            return await self._lapse(conversation, record)
        return record

    async def _lapse(self, conversation: str, record: Handoff | None) -> Handoff | None:
        """Removes a lapsed hold (unless its agent wrote meanwhile); returns what is left."""
        _, after = await self._update(conversation, lambda current: current)
        if after is None and record is not None:
            logger.info("handoff: the hold on %s lapsed; the bot answers again", conversation)
            await self.record_event("lapsed", record)
            await self.append_log(conversation, "system", "lapsed", agent=record.agent)
        return after

    async def enqueue(self, record: Handoff) -> tuple[Handoff, bool]:
        """Queues a conversation unless it is queued or held already: (record, newly queued?)."""
        queued: list[bool] = []

        def change(current: Handoff | None) -> Handoff | None:
            result, fresh = model.enqueue(current, record)
            queued.append(fresh)
            return result

        summary = replace(record.summary,
                          messages=tuple(self.redact(m) for m in record.summary.messages))
        record = replace(record, summary=summary)
        _, after = await self._update(record.id, change)
        assert after is not None
        if queued[-1]:
            await self._run(lambda c: c.delete(self.key("log", record.id)))
            await self.record_event("queued", after)
            await self.append_log(after.id, "system", "queued", reason=after.reason)
        return after, queued[-1]

    async def active(self) -> list[Handoff]:
        """Queued and held conversations, oldest first; stale ids are dropped on the way."""
        active = self.key("active")
        ids = await self._run(lambda c: c.zrange(active, 0, -1))
        if not ids:
            return []
        raws = await self._run(lambda c: c.mget([self.key("conv", i) for i in ids]))
        records, stale = [], []
        now = self.clock()
        for conversation, raw in zip(ids, raws, strict=True):
            record = Handoff.from_json(raw) if raw else None
            if record is None:
                stale.append(conversation)
            elif model.lapsed(record, now, self.idle_seconds):
                kept = await self._lapse(conversation, record)
                records.extend([kept] if kept else [])
            else:
                records.append(record)
        if stale:
            await self._run(lambda c: c.zrem(active, *stale))
        return records

    async def take(self, conversation: str, agent: str) -> tuple[Handoff, bool]:
        """The agent takes the conversation: (record, newly taken?); taking it again is a
        no-op, another agent's conversation a :class:`TransitionError` ``taken``."""
        now = self.clock()
        before, after = await self._update(
            conversation, lambda r: model.take(r, agent, now), event="taken")
        assert after is not None
        return after, before is None or before.state != HELD

    async def touch_holder(self, conversation: str, agent: str) -> Handoff:
        """The record if ``agent`` holds it, its idle clock restarted (before writing to the
        resident)."""
        now = self.clock()
        _, after = await self._update(
            conversation, lambda r: model.touch(model.check_holder(r, agent), now))
        assert after is not None
        return after

    async def release(self, conversation: str, agent: str) -> Handoff:
        """Hands the conversation back to the bot; returns the record as it was."""
        def change(record: Handoff | None) -> Handoff | None:
            model.release(record, agent)
            return None

        before, _ = await self._update(conversation, change, event="released")
        assert before is not None
        await self.append_log(conversation, "system", "released", agent=agent)
        return before

    async def holder_of(self, sender_id: str) -> Handoff | None:
        """The record of a resident's conversation, if it is queued or held."""
        return await self.get(model.conversation_id(sender_id))

    # --- transcript, outbox, events, desk ----------------------------------------------------

    async def append_log(
        self, conversation: str, source: str, text: str, *, agent: str | None = None,
        **extra: Any,
    ) -> None:
        entry: dict[str, Any] = {"from": source, "text": self.redact(text)[:2000],
                                 "ts": round(self.clock(), 3)}
        if agent:
            entry["agent"] = agent
        entry.update({k: v for k, v in extra.items() if v is not None})
        key = self.key("log", conversation)

        async def write(client: Any) -> None:
            async with client.pipeline(transaction=True) as pipe:
                pipe.rpush(key, json.dumps(entry, ensure_ascii=False))
                pipe.ltrim(key, -LOG_MAX, -1)
                pipe.expire(key, self.record_ttl)
                await pipe.execute()

        await self._run(write)

    async def transcript(self, conversation: str, limit: int = LOG_MAX) -> list[dict[str, Any]]:
        raws = await self._run(lambda c: c.lrange(self.key("log", conversation), -limit, -1))
        return [json.loads(raw) for raw in raws]

    async def push_outbox(self, conversation: str, message: Mapping[str, Any]) -> None:
        key = self.key("outbox", conversation)

        async def write(client: Any) -> None:
            async with client.pipeline(transaction=True) as pipe:
                pipe.rpush(key, json.dumps(dict(message), ensure_ascii=False))
                pipe.ltrim(key, -OUTBOX_MAX, -1)
                pipe.expire(key, self.record_ttl)
                await pipe.execute()

        await self._run(write)

    async def drain_outbox(self, sender_id: str) -> list[dict[str, Any]]:
        """Takes (and removes) the agent messages waiting for a REST resident."""
        key = self.key("outbox", model.conversation_id(sender_id))

        async def take_all(client: Any) -> list[str]:
            async with client.pipeline(transaction=True) as pipe:
                pipe.lrange(key, 0, -1)
                pipe.delete(key)
                raws, _ = await pipe.execute()
            return raws

        return [json.loads(raw) for raw in await self._run(take_all)]

    async def record_event(self, event: str, record: Handoff | None) -> None:
        """One line in the ``events`` stream (for the content report); never fails a caller."""
        if record is None:
            return
        fields = {"event": event, "channel": record.channel, "reason": record.reason,
                  "area": record.summary.area or "", "ts": str(int(self.clock()))}
        stream = self.key("events")

        async def write(client: Any) -> None:
            await client.xadd(stream, fields, maxlen=EVENTS_MAX, approximate=True)
            await client.expire(stream, EVENTS_TTL)

        try:
            await self._run(write)
        except StoreUnavailable as error:
            logger.warning("handoff: event %s not recorded: %s", event, error)

    async def publish(self, payload: Mapping[str, Any]) -> int:
        """Sends ``payload`` to every Rasa server's :meth:`relay`; returns how many listen."""
        data = json.dumps(dict(payload), ensure_ascii=False)
        return int(await self._run(lambda c: c.publish(self.key("relay"), data)))

    async def relay(self, handle: Callable[[dict[str, Any]], Any],
                    ready: Callable[[], None] | None = None) -> None:
        """Calls ``handle`` with every payload published with :meth:`publish`, until
        cancelled; a lost connection is retried every second."""
        import redis

        while True:
            pubsub = None
            try:
                pubsub = self._redis().pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(self.key("relay"))
                if ready is not None:
                    ready()
                    ready = None
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        try:
                            await handle(json.loads(message["data"]))
                        except Exception:
                            logger.exception("handoff: relaying a message failed")
            except (redis.RedisError, OSError, StoreUnavailable) as error:
                logger.warning("handoff: relay interrupted (%s); reconnecting", error)
                await asyncio.sleep(1.0)
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        closer = getattr(pubsub, "aclose", None) or pubsub.close
                        await closer()

    async def mark_desk(self, ttl: int = DESK_TTL) -> None:
        """Says that an agent API is being served (kept alive by the Rasa server)."""
        await self._run(lambda c: c.set(self.key("desk"), "1", ex=ttl))

    async def desk_served(self) -> bool:
        return bool(await self._run(lambda c: c.exists(self.key("desk"))))


__all__ = ["HELD", "HandoffStore", "StoreUnavailable", "TransitionError"]
