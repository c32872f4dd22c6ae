"""Client of the 12345 接诉即办 ticket system (contract: backends/openapi/tickets.yaml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from actions.clients.core import ServiceClient
from actions.clients.parsing import Reader, read, read_list

TICKET_NUMBER = re.compile(r"JS\d{14}")


@dataclass(frozen=True)
class TicketCategory:
    code: str
    name: str

    @classmethod
    def read(cls, r: Reader) -> TicketCategory:
        return cls(code=r.text("code"), name=r.text("name"))


@dataclass(frozen=True)
class Street:
    name: str
    office: str
    lat: float
    lng: float
    communities: tuple[str, ...]

    @classmethod
    def read(cls, r: Reader) -> Street:
        return cls(name=r.text("name"), office=r.text("office"), lat=r.number("lat"),
                   lng=r.number("lng"), communities=r.texts("communities"))


@dataclass(frozen=True)
class TicketEvent:
    state_code: str  # accepted | in_progress | closed
    state: str
    at: datetime
    office: str | None

    @classmethod
    def read(cls, r: Reader) -> TicketEvent:
        return cls(state_code=r.text("state_code"), state=r.text("state"), at=r.moment("at"),
                   office=r.opt_text("office"))


@dataclass(frozen=True)
class Ticket:
    number: str
    state_code: str  # accepted | in_progress | closed
    state: str
    category: TicketCategory
    street: str
    location: str | None
    description: str
    anonymous: bool
    contact_name: str | None  # masked
    phone_masked: str | None
    channel: str
    created_at: datetime
    handling_office: str | None
    timeline: tuple[TicketEvent, ...]

    @classmethod
    def read(cls, r: Reader) -> Ticket:
        return cls(
            number=r.text("number"), state_code=r.text("state_code"), state=r.text("state"),
            category=r.object("category", TicketCategory.read), street=r.text("street"),
            location=r.opt_text("location"), description=r.text("description"),
            anonymous=r.flag("anonymous"), contact_name=r.opt_text("contact_name"),
            phone_masked=r.opt_text("phone_masked"), channel=r.text("channel"),
            created_at=r.moment("created_at"), handling_office=r.opt_text("handling_office"),
            timeline=r.objects("timeline", TicketEvent.read),
        )


class TicketsClient(ServiceClient):
    service = "tickets"

    async def categories(self) -> list[TicketCategory]:
        data = await self._call("GET", "/categories")
        return read_list(data, self.service, "categories", TicketCategory.read)

    async def streets(self) -> list[Street]:
        """The streets a ticket can be filed for (to validate a form's street slot)."""
        data = await self._call("GET", "/streets")
        return read_list(data, self.service, "streets", Street.read)

    async def create_ticket(
        self,
        *,
        idempotency_key: str,
        category: str,
        street: str,
        description: str,
        phone: str | None = None,
        anonymous: bool = False,
        location: str | None = None,
        contact_name: str | None = None,
        channel: str | None = None,
    ) -> Ticket:
        """Files a ticket. ``idempotency_key`` must be stable for this one submission (see
        :func:`actions.clients.idempotency_key`): a retried or repeated action then gets the
        same ticket back instead of filing a second one."""
        body: dict[str, Any] = {"category": category, "street": street,
                                "description": description, "anonymous": anonymous}
        optional = {"phone": phone, "location": location, "contact_name": contact_name,
                    "channel": channel}
        body.update({key: value for key, value in optional.items() if value is not None})
        data = await self._call("POST", "/tickets", json_body=body,
                                idempotency_key=idempotency_key)
        return read(data, self.service, "ticket", Ticket.read)

    async def get_ticket(self, number: str) -> Ticket:
        """A ticket by number (blanks, dashes and case are forgiven). Raises
        :class:`~actions.clients.errors.NotFound` for an unknown number and
        :class:`~actions.clients.errors.BackendRejected` (field ``number``: invalid_format) for
        text that cannot be a ticket number, without calling the backend."""
        segment = self._segment(number, "number", TICKET_NUMBER)
        data = await self._call("GET", f"/tickets/{segment}", route="/tickets/{number}")
        return read(data, self.service, "ticket", Ticket.read)
