"""Typed clients of the district's service backends, for the actions (Python 3.11).

Usage in an action::

    from actions.clients import BackendError, NotFound, get_backends

    try:
        ticket = await get_backends().tickets.get_ticket(number)
    except NotFound:
        dispatcher.utter_message(response="utter_ticket_not_found")
    except BackendError:
        dispatcher.utter_message(response="utter_backend_unavailable")

- One client class per backend (tickets, hospitals, eldercare, tourism, applications), all
  sharing one ``aiohttp.ClientSession`` per process, created lazily on the first call and closed
  by :func:`close_clients` when the action server stops. Nothing here does I/O at import.
- Every call has a deadline (4.5 s by default, each request at most 3 s) so an action facing a
  slow backend still answers within 5 s.
- Only idempotent calls are retried (GETs, cancels, and creates — which always carry an
  ``Idempotency-Key``; build it with :func:`idempotency_key`), with exponential back-off and
  jitter, on timeouts, connection errors, 429 and 5xx.
- A circuit breaker per backend fails fast (:class:`CircuitOpen`) after repeated failures.
- Answers are parsed into frozen dataclasses; errors are the small tree in
  :mod:`actions.clients.errors`:

  ``BackendError`` → ``BackendTimeout`` | ``BackendUnavailable`` (→ ``CircuitOpen``,
  ``InvalidResponse``) | ``BackendRejected`` (→ ``NotFound``, ``Conflict`` →
  ``CapacityExhausted``).
- Log lines never hold a phone or identity number in clear (see :mod:`actions.clients.privacy`).
"""

from actions.clients.applications import Application, ApplicationEvent, ApplicationsClient
from actions.clients.eldercare import (
    HOME_SERVICES,
    EldercareClient,
    HomeService,
    ServiceBooking,
    Station,
)
from actions.clients.errors import (
    BackendError,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
    CapacityExhausted,
    CircuitOpen,
    Conflict,
    InvalidResponse,
    NotFound,
)
from actions.clients.hospitals import (
    Booking,
    Department,
    Guidance,
    Hospital,
    HospitalsClient,
    Slot,
)
from actions.clients.hub import Backends, close_clients, get_backends, idempotency_key
from actions.clients.privacy import mask_id_number, mask_phone, normalize_id_number, normalize_phone
from actions.clients.settings import ClientSettings
from actions.clients.tickets import Street, Ticket, TicketCategory, TicketEvent, TicketsClient
from actions.clients.tourism import (
    Attraction,
    AttractionMatch,
    CrowdLevel,
    Reservation,
    TourismClient,
)

__all__ = [
    "HOME_SERVICES",
    "Application",
    "ApplicationEvent",
    "ApplicationsClient",
    "Attraction",
    "AttractionMatch",
    "BackendError",
    "BackendRejected",
    "BackendTimeout",
    "BackendUnavailable",
    "Backends",
    "Booking",
    "CapacityExhausted",
    "CircuitOpen",
    "ClientSettings",
    "Conflict",
    "CrowdLevel",
    "Department",
    "EldercareClient",
    "Guidance",
    "HomeService",
    "Hospital",
    "HospitalsClient",
    "InvalidResponse",
    "NotFound",
    "Reservation",
    "ServiceBooking",
    "Slot",
    "Station",
    "Street",
    "Ticket",
    "TicketCategory",
    "TicketEvent",
    "TicketsClient",
    "TourismClient",
    "close_clients",
    "get_backends",
    "idempotency_key",
    "mask_id_number",
    "mask_phone",
    "normalize_id_number",
    "normalize_phone",
]
