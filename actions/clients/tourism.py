"""Client of the tourism system: attractions, crowd levels, reservations
(contract: backends/openapi/tourism.yaml). Attraction facts are reference information from
around 2019 (``reference_only``): the assistant must say so when it shows them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from actions.clients.core import ServiceClient
from actions.clients.parsing import Reader, read, read_list

RESERVATION_ID = re.compile(r"MP\d{14}")


@dataclass(frozen=True)
class AttractionMatch:
    id: str
    name: str
    address: str | None
    rating: float | None
    score: float
    match: str  # exact | alias | prefix | contains | fuzzy

    @classmethod
    def read(cls, r: Reader) -> AttractionMatch:
        return cls(id=r.text("id"), name=r.text("name"), address=r.opt_text("address"),
                   rating=r.opt_number("rating"), score=r.number("score"), match=r.text("match"))


@dataclass(frozen=True)
class Attraction:
    id: str
    name: str
    address: str | None
    metro: str | None
    phone: str | None
    ticket_text: str | None
    ticket_price: int | None
    opening_hours: str | None
    play_time: str | None
    rating: float | None
    intro: str | None
    nearby_attractions: tuple[str, ...]
    closed_on_mondays: bool
    daily_capacity: int
    reference_only: bool
    data_year: int

    @classmethod
    def read(cls, r: Reader) -> Attraction:
        return cls(
            id=r.text("id"), name=r.text("name"), address=r.opt_text("address"),
            metro=r.opt_text("metro"), phone=r.opt_text("phone"),
            ticket_text=r.opt_text("ticket_text"), ticket_price=r.opt_integer("ticket_price"),
            opening_hours=r.opt_text("opening_hours"), play_time=r.opt_text("play_time"),
            rating=r.opt_number("rating"), intro=r.opt_text("intro"),
            nearby_attractions=r.texts("nearby_attractions"),
            closed_on_mondays=r.flag("closed_on_mondays"),
            daily_capacity=r.integer("daily_capacity"), reference_only=r.flag("reference_only"),
            data_year=r.integer("data_year"),
        )


@dataclass(frozen=True)
class CrowdLevel:
    attraction_id: str
    name: str
    date: date
    closed: bool
    level: int | None  # 1 comfortable … 4 crowded; None when closed
    level_code: str  # comfortable | moderate | busy | crowded | closed
    reserved: int
    capacity: int

    @classmethod
    def read(cls, r: Reader) -> CrowdLevel:
        return cls(
            attraction_id=r.text("attraction_id"), name=r.text("name"), date=r.day("date"),
            closed=r.flag("closed"), level=r.opt_integer("level"),
            level_code=r.text("level_code"), reserved=r.integer("reserved"),
            capacity=r.integer("capacity"),
        )


@dataclass(frozen=True)
class Reservation:
    reservation_id: str
    state_code: str  # booked | cancelled
    state: str
    attraction_id: str
    attraction_name: str
    date: date
    visitors: int
    name: str  # masked
    phone_masked: str
    id_number_masked: str | None
    created_at: datetime
    cancelled_at: datetime | None

    @classmethod
    def read(cls, r: Reader) -> Reservation:
        return cls(
            reservation_id=r.text("reservation_id"), state_code=r.text("state_code"),
            state=r.text("state"), attraction_id=r.text("attraction_id"),
            attraction_name=r.text("attraction_name"), date=r.day("date"),
            visitors=r.integer("visitors"), name=r.text("name"),
            phone_masked=r.text("phone_masked"), id_number_masked=r.opt_text("id_number_masked"),
            created_at=r.moment("created_at"), cancelled_at=r.opt_moment("cancelled_at"),
        )


class TourismClient(ServiceClient):
    service = "tourism"

    async def search(self, q: str, limit: int = 5) -> list[AttractionMatch]:
        """Attractions by what residents call them (exact, alias, prefix, substring, typo)."""
        data = await self._call("GET", "/attractions", params={"q": q, "limit": limit})
        return read_list(data, self.service, "results", AttractionMatch.read)

    async def attraction(self, attraction_id: str) -> Attraction:
        segment = self._segment(attraction_id, "attraction")
        data = await self._call("GET", f"/attractions/{segment}", route="/attractions/{id}")
        return read(data, self.service, "attraction", Attraction.read)

    async def crowd(self, attraction_id: str, day: date | None = None) -> CrowdLevel:
        segment = self._segment(attraction_id, "attraction")
        params = {"date": day.isoformat()} if day else None
        data = await self._call("GET", f"/attractions/{segment}/crowd", params=params,
                                route="/attractions/{id}/crowd")
        return read(data, self.service, "crowd", CrowdLevel.read)

    async def reserve(
        self,
        *,
        idempotency_key: str,
        attraction_id: str,
        day: date,
        visitors: int,
        name: str,
        phone: str,
        id_number: str | None = None,
    ) -> Reservation:
        """Reserves tickets for ``day`` (today to 6 days ahead). Conflicts: CapacityExhausted,
        Conflict closed / duplicate_booking."""
        body: dict[str, Any] = {"attraction_id": attraction_id, "date": day.isoformat(),
                                "visitors": visitors, "name": name, "phone": phone}
        if id_number:
            body["id_number"] = id_number
        data = await self._call("POST", "/reservations", json_body=body,
                                idempotency_key=idempotency_key)
        return read(data, self.service, "reservation", Reservation.read)

    async def reservations(self, phone: str, *, include_cancelled: bool = False
                           ) -> list[Reservation]:
        params: dict[str, Any] = {"phone": phone}
        if include_cancelled:
            params["include_cancelled"] = True
        data = await self._call("GET", "/reservations", params=params)
        return read_list(data, self.service, "reservations", Reservation.read)

    async def cancel(self, reservation_id: str, phone: str) -> Reservation:
        segment = self._segment(reservation_id, "reservation_id", RESERVATION_ID)
        data = await self._call("POST", f"/reservations/{segment}/cancel",
                                json_body={"phone": phone}, idempotent=True,
                                route="/reservations/{id}/cancel")
        return read(data, self.service, "reservation", Reservation.read)
