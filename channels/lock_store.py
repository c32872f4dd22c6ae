"""A Redis lock store that is safe with several Rasa processes: ``bot/endpoints.yml``
``lock_store: type: channels.lock_store.AtomicRedisLockStore``.

Rasa serialises the turns of one conversation with a *ticket lock* kept in the lock store. Rasa
3.6's ``RedisLockStore`` has two problems once there is more than one Rasa process, both found
by the cluster tests (tests/cluster):

1. **Its updates are not atomic across processes.** Issuing a ticket is ``GET`` the lock, add a
   ticket, ``SET`` it back; so is finishing one. Two replicas that take two messages of the same
   resident at the same moment (a resident who sends twice quickly, round-robin puts the
   messages on different replicas) can both read "no ticket", both issue ticket 1 and both run
   the conversation at once; a finishing replica can also overwrite a ticket another one just
   issued. Within one process this cannot happen (no ``await`` between the ``GET`` and the
   ``SET``), which is why a single server never shows it.
2. **A ticket outlives a failed turn for a minute.** Tickets expire after
   ``TICKET_LOCK_LIFETIME`` (60 s). When Redis goes away during a turn, the turn fails and its
   clean-up cannot reach Redis either; once Redis is back (with its data), that conversation
   waits behind the dead ticket for up to a minute.

Here every change of a lock is one optimistic transaction (``WATCH``/``MULTI``/``EXEC``,
retried on conflict), and tickets are short (``ticket_lifetime``, default 4 s) but renewed every
``renew_every`` seconds (default 1 s) for as long as their turn waits or runs. A ticket whose
clean-up failed because Redis was away is released by its process as soon as Redis answers
again (on the next turn it takes); one whose process died frees the conversation within
``ticket_lifetime``. A long turn keeps its lock. Waiting turns check the lock every
``poll_interval`` (default 0.05 s; Rasa: 1 s). Lock keys get a TTL. Key layout and JSON are
Rasa's own (``<key_prefix>:lock:<conversation id>``), so the two stores can be swapped.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any, TypeVar

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TICKET_LIFETIME = 4.0
DEFAULT_RENEW_EVERY = 1.0
DEFAULT_POLL_INTERVAL = 0.05
KEY_TTL_MARGIN = 60  # seconds a lock key outlives its last ticket, at most


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's Redis ticket lock with atomic updates and short, renewed tickets."""

    def __init__(self, endpoint_config: EndpointConfig | None = None, **kwargs: Any) -> None:
        options: dict[str, Any] = dict(endpoint_config.kwargs) if endpoint_config else {}
        options.update(kwargs)
        if endpoint_config is not None and endpoint_config.url:
            options.setdefault("host", endpoint_config.url)
        self.ticket_lifetime = float(options.pop("ticket_lifetime", DEFAULT_TICKET_LIFETIME))
        self.renew_every = float(options.pop("renew_every", DEFAULT_RENEW_EVERY))
        self.poll_interval = float(options.pop("poll_interval", DEFAULT_POLL_INTERVAL))
        if not 0 < self.renew_every < self.ticket_lifetime:
            raise ValueError("lock store: renew_every must be > 0 and < ticket_lifetime")
        if self.poll_interval <= 0:
            raise ValueError("lock store: poll_interval must be > 0")
        self._orphans: set[tuple[str, int]] = set()  # tickets whose clean-up failed
        options.pop("type", None)
        password = options.get("password")
        if password in ("", None):
            options["password"] = None
        known = ("host", "port", "db", "username", "password", "use_ssl", "ssl_certfile",
                 "ssl_keyfile", "ssl_ca_certs", "key_prefix", "socket_timeout")
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(f"lock store: unknown option(s) {', '.join(unknown)}")
        if "socket_timeout" in options:
            options["socket_timeout"] = float(options["socket_timeout"])
        super().__init__(**options)
        # Rasa's client, plus: a connection idle for over a second is PINGed (and reconnected
        # once) before use, so a pooled connection left over from before a Redis restart does
        # not fail a turn. Commands themselves are not retried.
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.red = type(self.red)(connection_pool=type(self.red.connection_pool)(
            **{**self.red.connection_pool.connection_kwargs, "health_check_interval": 1,
               "retry": Retry(NoBackoff(), 1)},
            connection_class=self.red.connection_pool.connection_class,
        ))

    # --- atomic read-modify-write ---------------------------------------------------------

    def _change(self, conversation_id: str, change: Callable[[TicketLock], T]) -> T:
        """Applies ``change`` to the conversation's lock in one transaction; saves the lock
        (with a TTL) if it still has tickets, deletes it otherwise."""
        key = self.key_prefix + conversation_id

        def transaction(pipe: Any) -> T:
            raw = pipe.get(key)
            lock = (TicketLock.from_dict(json.loads(raw)) if raw
                    else self.create_lock(conversation_id))
            result = change(lock)
            lock.remove_expired_tickets()
            pipe.multi()
            if lock.tickets:
                ttl = max(t.expires for t in lock.tickets) - time.time() + KEY_TTL_MARGIN
                pipe.set(key, lock.dumps(), ex=max(1, int(ttl)))
            else:
                pipe.delete(key)
            return result

        return self.red.transaction(transaction, key, value_from_callable=True)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = 0) -> int:
        if self._orphans:
            self._release_orphans()
        try:
            return self._change(conversation_id,
                                lambda lock: lock.issue_ticket(self.ticket_lifetime))
        except Exception as error:
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: str) -> None:
        self._change(conversation_id, lambda lock: None)  # drops expired tickets

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self._change(conversation_id, lambda lock: lock.remove_ticket_for(ticket_number))

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        # finish_serving deletes the key when nobody waits; no separate (racy) check
        self.finish_serving(conversation_id, ticket_number)

    def renew(self, conversation_id: str, ticket_number: int) -> bool:
        """Pushes a live ticket's expiry ``ticket_lifetime`` ahead; False if it is gone."""

        def extend(lock: TicketLock) -> bool:
            for ticket in lock.tickets:
                if ticket.number == ticket_number:
                    ticket.expires = time.time() + self.ticket_lifetime
                    return True
            return False

        return self._change(conversation_id, extend)

    # --- the lock a turn holds ------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = 0,
        wait_time_in_seconds: float = 0,
    ) -> AsyncGenerator[TicketLock, None]:
        ticket = self.issue_ticket(conversation_id)
        renewing = asyncio.create_task(self._keep_alive(conversation_id, ticket))
        try:
            yield await self._acquire_lock(conversation_id, ticket,
                                           wait_time_in_seconds or self.poll_interval)
        finally:
            renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewing
            try:
                self.cleanup(conversation_id, ticket)
            except Exception:
                # Redis is away: release the ticket as soon as it is back (the next turn this
                # process takes), rather than let it block the conversation until it expires.
                self._orphans.add((conversation_id, ticket))
                raise

    def _release_orphans(self) -> None:
        """Finishes the tickets whose clean-up failed (best effort: stops at the first
        error, Redis still being away)."""
        for conversation_id, ticket in list(self._orphans):
            try:
                self.finish_serving(conversation_id, ticket)
            except Exception:
                return
            self._orphans.discard((conversation_id, ticket))

    async def _keep_alive(self, conversation_id: str, ticket: int) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            try:
                if not self.renew(conversation_id, ticket):
                    logger.warning("lock store: ticket %d of a conversation expired before "
                                   "its turn ended", ticket)
                    return
            except Exception as error:  # Redis away: the turn itself will fail or recover
                logger.warning("lock store: cannot renew a ticket: %s", error)
