"""One set of clients per process, sharing one HTTP session, created on first use."""

from __future__ import annotations

import hashlib
import random
from functools import cached_property

from actions.clients.applications import ApplicationsClient
from actions.clients.core import SessionHolder
from actions.clients.eldercare import EldercareClient
from actions.clients.hospitals import HospitalsClient
from actions.clients.settings import ClientSettings
from actions.clients.tickets import TicketsClient
from actions.clients.tourism import TourismClient


class Backends:
    """The typed clients of every backend, sharing one ``aiohttp.ClientSession`` (made on the
    first call, not here) and holding one circuit breaker per backend.

    Actions use the process-wide instance from :func:`get_backends`; tests may build their own
    with explicit settings and must ``await backends.close()``.
    """

    def __init__(self, settings: ClientSettings | None = None, *, seed: int | None = None
                 ) -> None:
        self.settings = settings or ClientSettings.from_env()
        self.sessions = SessionHolder(self.settings)
        self._rng = random.Random(seed)

    @cached_property
    def tickets(self) -> TicketsClient:
        return TicketsClient(self.settings, self.sessions, self._rng)

    @cached_property
    def hospitals(self) -> HospitalsClient:
        return HospitalsClient(self.settings, self.sessions, self._rng)

    @cached_property
    def eldercare(self) -> EldercareClient:
        return EldercareClient(self.settings, self.sessions, self._rng)

    @cached_property
    def tourism(self) -> TourismClient:
        return TourismClient(self.settings, self.sessions, self._rng)

    @cached_property
    def applications(self) -> ApplicationsClient:
        return ApplicationsClient(self.settings, self.sessions, self._rng)

    async def close(self) -> None:
        """Closes the shared session (the next call would open a new one)."""
        await self.sessions.close()


_default: Backends | None = None


def get_backends() -> Backends:
    """The process-wide clients, created on first use from the environment (``BACKENDS_URL``
    and the per-service ``*_API_URL`` overrides). Creating them does no I/O."""
    global _default
    if _default is None:
        _default = Backends()
    return _default


async def close_clients() -> None:
    """Closes the process-wide clients' session; called from the action server's stop hook."""
    global _default
    if _default is not None:
        backends, _default = _default, None
        await backends.close()


def idempotency_key(*parts: str | int) -> str:
    """A stable ``Idempotency-Key`` from what identifies one submission, e.g.
    ``idempotency_key(tracker.sender_id, "ticket_form", form_started_at)``.

    Use the conversation id, the form's name and something fixed for this run of the form (the
    timestamp of the event that activated it, or the id of the message that submitted it): the
    same submission — an action retried by Rasa, a resident pressing "submit" twice — then
    yields the same key and the backend answers the first result instead of creating another;
    a new run of the form yields a new key.
    """
    if not parts:
        raise ValueError("an idempotency key needs at least one part")
    joined = "\x1f".join(str(part) for part in parts)
    return "mk-" + hashlib.sha256(joined.encode("utf-8")).hexdigest()[:40]
