"""WeChat's 5-second rule: one answer per message, passive or 客服消息, never both, never twice.

WeChat waits 5 s for the HTTP answer to a delivery; without one it drops the connection and
delivers the same message again, three times at most. Only the answer to the attempt WeChat is
still waiting on can reach the resident. So, for each message (identified by its dedup id):

1. Every attempt registers itself in Redis, atomically (:meth:`WeChatStore.begin`): the first
   one *claims* the message and starts processing it (Rasa) in a background task; every
   attempt raises the message's recorded ``deadline`` to its own: about 4.5 s after its
   handler started, and never later than 4.8 s after WeChat's signed send timestamp (a busy
   server may start a handler late, but WeChat's 5 s run from the send).
   A retry, on whichever process it lands, never starts Rasa again.
2. Each attempt waits for the result until its own deadline. If the result is one text
   message, the attempt claims delivery ``passive`` (HSETNX, once) and answers with it. A later
   attempt that finds ``passive`` answers the same text again: WeChat only retries when it did
   not get the earlier answer, so that answer was lost, and this one is the only one shown.
3. An attempt that reaches its deadline first answers ``success`` (an acknowledgement: WeChat
   stops retrying and shows nothing).
4. When processing ends, the background task stores the result and waits until every attempt's
   deadline has passed (or one has claimed ``passive``). If nobody replied passively it claims
   delivery ``cs`` and sends the result through the customer-service API. A result of several
   messages (a long answer) always goes that way, since a passive reply holds one message.

Because the delivery mode is set once per message, the resident gets exactly one answer: the
passive reply or the customer-service messages, never both, however retries interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from channels.wechat.store import StoreUnavailable, WeChatStore

logger = logging.getLogger(__name__)

PASSIVE = "passive"
CUSTOMER_SERVICE = "cs"
NOTHING = "none"
# After the last attempt's deadline, how long before the result goes out as a 客服消息: covers
# an attempt that claimed "passive" right at its deadline.
SETTLE_MARGIN = 0.3
# The latest passive answer after WeChat's (whole-second) send timestamp: the send happened
# within the second after it, and WeChat stops waiting 5 s after the send.
WECHAT_LATEST = 4.8

Producer = Callable[[], Awaitable[list[str]]]
Sender = Callable[[str, list[str]], Awaitable[None]]


@dataclass(frozen=True)
class Outcome:
    """How one attempt answers: the passive text, or None for ``success`` (acknowledge)."""

    passive: str | None
    owner: bool = False


@dataclass
class _Local:
    """A message being processed in this process, so local attempts need not poll Redis."""

    ready: asyncio.Event = field(default_factory=asyncio.Event)
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    chunks: list[str] | None = None
    answered_without_redis: bool = False  # an attempt replied passively while Redis was away


class DeliveryCoordinator:
    """Runs the steps above for each delivery attempt."""

    def __init__(
        self,
        store: WeChatStore,
        send: Sender,
        *,
        passive_seconds: float = 4.5,
        processing_timeout: float = 120.0,
        poll_interval: float = 0.05,
    ) -> None:
        self.store = store
        self.send = send
        self.passive_seconds = passive_seconds
        self.processing_timeout = processing_timeout
        self.poll_interval = poll_interval
        self.instance = uuid.uuid4().hex[:12]
        self._local: dict[str, _Local] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def attempt(
        self,
        dedup_id: str,
        openid: str,
        produce: Producer,
        *,
        arrived: float | None = None,
        sent_at: int | None = None,
    ) -> Outcome:
        """Handles one delivery attempt of a message. ``arrived`` is the ``loop.time()`` the
        handler started; ``sent_at`` is WeChat's signed timestamp of this attempt (seconds): on
        a busy server the handler can start late, and WeChat's clock started with the send.
        Raises :class:`StoreUnavailable` when Redis cannot be reached (then nothing runs)."""
        loop = asyncio.get_running_loop()
        remaining = self.passive_seconds - (loop.time() - arrived if arrived else 0.0)
        wall_deadline = time.time() + remaining
        if sent_at is not None:
            wall_deadline = min(wall_deadline, sent_at + WECHAT_LATEST)
        # Shielded: if WeChat drops the connection right now, a claimed message still runs.
        owner = await asyncio.shield(self._register(dedup_id, openid, produce, wall_deadline))
        chunks: list[str] | None = None
        mine = self._local.get(dedup_id)  # processed in this process (it may finish first)
        try:
            chunks = await self._wait_result(dedup_id, wall_deadline)
            if chunks is None or len(chunks) != 1 or time.time() >= wall_deadline:
                return Outcome(None, owner)
            mode = await self.store.claim_delivery(dedup_id, PASSIVE)
            return Outcome(chunks[0] if mode == PASSIVE else None, owner)
        except StoreUnavailable:
            # Redis went away while this message was in flight (found by the cluster's Redis
            # restart test: such messages used to get "success", i.e. silence).
            logger.error("wechat: redis unavailable while answering %s", dedup_id)
            if (mine is not None and chunks is not None and len(chunks) == 1
                    and time.time() < wall_deadline):
                # Processed here: no other attempt can deliver it without Redis, and the
                # background task is told not to send it again as 客服消息.
                mine.answered_without_redis = True
                return Outcome(chunks[0], owner)
            raise  # the channel answers with its apology
        finally:
            local = self._local.get(dedup_id)
            if local is not None:
                local.settled.set()

    async def _register(
        self, dedup_id: str, openid: str, produce: Producer, wall_deadline: float
    ) -> bool:
        owner = await self.store.begin(dedup_id, self.instance, wall_deadline)
        if owner:
            local = self._local[dedup_id] = _Local()
            task = asyncio.create_task(self._process(dedup_id, openid, produce, local))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return owner

    async def _wait_result(self, dedup_id: str, wall_deadline: float) -> list[str] | None:
        local = self._local.get(dedup_id)
        if local is not None:
            try:
                await asyncio.wait_for(local.ready.wait(), max(wall_deadline - time.time(), 0))
            except asyncio.TimeoutError:
                return None
            return local.chunks
        while True:
            state = await self.store.state(dedup_id)
            if state.result is not None:
                return state.result
            left = wall_deadline - time.time()
            if left <= 0:
                return None
            await asyncio.sleep(min(self.poll_interval, left))

    async def _process(
        self, dedup_id: str, openid: str, produce: Producer, local: _Local
    ) -> None:
        try:
            try:
                chunks = await asyncio.wait_for(produce(), self.processing_timeout)
            except asyncio.TimeoutError:
                logger.error("wechat: processing %s took over %.0f s; dropped", dedup_id,
                             self.processing_timeout)
                chunks = []
            except Exception:
                logger.exception("wechat: processing %s failed", dedup_id)
                chunks = []
            # local attempts get the result at once, even if Redis is gone by now
            local.chunks = chunks
            local.ready.set()
            await self.store.save_result(dedup_id, chunks)
            if not chunks:
                await self.store.claim_delivery(dedup_id, NOTHING)
                return
            if len(chunks) == 1 and await self._replied_passively(dedup_id, local):
                return
            if local.answered_without_redis:
                return
            if await self.store.claim_delivery(dedup_id, CUSTOMER_SERVICE) == CUSTOMER_SERVICE:
                await self.send(openid, chunks)
        except StoreUnavailable:
            logger.error("wechat: redis unavailable while finishing %s; no answer sent",
                         dedup_id)
        except Exception:
            logger.exception("wechat: delivering the answer to %s failed", dedup_id)
        finally:
            self._local.pop(dedup_id, None)

    async def _replied_passively(self, dedup_id: str, local: _Local) -> bool:
        """Waits until every attempt's deadline has passed or one has claimed delivery; True
        if an attempt answered passively."""
        while True:
            state = await self.store.state(dedup_id)
            if state.delivery is not None:
                return state.delivery == PASSIVE
            left = state.deadline + SETTLE_MARGIN - time.time()
            if left <= 0:
                return False
            local.settled.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(local.settled.wait(), min(left, 0.25))

    async def drain(self, timeout: float = 10.0) -> None:
        """Waits for background deliveries to finish (on shut-down), then cancels the rest."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
