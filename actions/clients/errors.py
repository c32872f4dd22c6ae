"""The exceptions of the backend clients. Every client call raises only these::

    BackendError                  any failure of a backend call; an action that catches only
    │                             this answers with a generic apology (utter_backend_unavailable)
    ├── BackendTimeout            no answer within the request timeout or the call's deadline
    ├── BackendUnavailable        5xx, 429 after retries, connection refused or reset
    │   ├── CircuitOpen           the backend failed repeatedly; failing fast without calling it
    │   └── InvalidResponse       the answer is not the documented JSON
    └── BackendRejected           4xx: the backend refused this request (retrying will not help);
        │                         ``code`` and ``field_errors`` ({field: code}) say why
        ├── NotFound              404: no such ticket, booking, attraction …
        └── Conflict              409: ``code`` is duplicate_booking, slot_closed, closed,
            │                     too_late_to_cancel or idempotency_key_reused
            └── CapacityExhausted 409 capacity_exhausted: no places, slots or tickets left

Messages never contain personal data (phone or identity numbers); ``detail`` is the backend's
own explanation, in English, for logs. Wording for residents comes from the domain, chosen by
``code``/``field_errors``.
"""

from __future__ import annotations

from collections.abc import Mapping


class BackendError(Exception):
    """A backend call failed. ``service`` is the backend (``tickets`` …), ``status`` the HTTP
    status if there was one, ``code`` the backend's error code if it sent one."""

    def __init__(
        self,
        message: str,
        *,
        service: str,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.service = service
        self.status = status
        self.code = code
        self.detail = detail


class BackendTimeout(BackendError):
    """No answer in time; the backend may or may not have acted (creates are safe to repeat
    with the same idempotency key)."""


class BackendUnavailable(BackendError):
    """The backend is down, overloaded or broken right now; try again later."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object
                 ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class CircuitOpen(BackendUnavailable):
    """The circuit breaker of this backend is open: no call was made."""


class InvalidResponse(BackendUnavailable):
    """The backend answered something that is not its documented contract."""


class BackendRejected(BackendError):
    """The backend refused the request (4xx). ``field_errors`` maps a request field to an error
    code such as ``invalid_phone``, ``required``, ``out_of_window``, ``unknown_street``."""

    def __init__(
        self, message: str, *, field_errors: Mapping[str, str] | None = None, **kwargs: object
    ) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.field_errors: dict[str, str] = dict(field_errors or {})


class NotFound(BackendRejected):
    """404: the thing asked for does not exist (or is not yours)."""


class Conflict(BackendRejected):
    """409: the request conflicts with the current state; see ``code``."""


class CapacityExhausted(Conflict):
    """409 ``capacity_exhausted``: nothing left to book for this slot, date or service."""


def rejected_for(status: int, code: str | None) -> type[BackendRejected]:
    """The exception class for a 4xx answer."""
    if status == 404:
        return NotFound
    if status == 409:
        return CapacityExhausted if code == "capacity_exhausted" else Conflict
    return BackendRejected
