"""Client of the 养老驿站 / home-service system (contract: backends/openapi/eldercare.yaml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from actions.clients.core import ServiceClient
from actions.clients.parsing import Reader, read, read_list
from actions.clients.tickets import Street

BOOKING_ID = re.compile(r"YL\d{14}")
HOME_SERVICES = ("meal", "bath", "cleaning", "medical")  # 助餐 助浴 助洁 助医


@dataclass(frozen=True)
class ServiceRef:
    code: str
    name: str

    @classmethod
    def read(cls, r: Reader) -> ServiceRef:
        return cls(code=r.text("code"), name=r.text("name"))


@dataclass(frozen=True)
class HomeService:
    code: str
    name: str
    daily_capacity: int

    @classmethod
    def read(cls, r: Reader) -> HomeService:
        return cls(code=r.text("code"), name=r.text("name"),
                   daily_capacity=r.integer("daily_capacity"))


@dataclass(frozen=True)
class Station:
    id: str
    name: str
    street: str
    address: str
    lat: float
    lng: float
    opening_hours: str
    services: tuple[ServiceRef, ...]
    onsite_services: tuple[str, ...]
    sample_data: bool
    distance_m: int | None = None  # set by nearest_stations()

    @classmethod
    def read(cls, r: Reader) -> Station:
        return cls(
            id=r.text("id"), name=r.text("name"), street=r.text("street"),
            address=r.text("address"), lat=r.number("lat"), lng=r.number("lng"),
            opening_hours=r.text("opening_hours"), services=r.objects("services", ServiceRef.read),
            onsite_services=r.texts("onsite_services"), sample_data=r.flag("sample_data"),
            distance_m=r.opt_integer("distance_m"),
        )

    def offers(self, service: str) -> bool:
        return any(s.code == service for s in self.services)


@dataclass(frozen=True)
class ServiceBooking:
    booking_id: str
    state_code: str  # booked | cancelled
    state: str
    station_id: str
    station_name: str
    service: str
    service_name: str
    date: date
    address: str
    contact_name: str  # masked
    phone_masked: str
    notes: str | None
    created_at: datetime
    cancelled_at: datetime | None

    @classmethod
    def read(cls, r: Reader) -> ServiceBooking:
        return cls(
            booking_id=r.text("booking_id"), state_code=r.text("state_code"),
            state=r.text("state"), station_id=r.text("station_id"),
            station_name=r.text("station_name"), service=r.text("service"),
            service_name=r.text("service_name"), date=r.day("date"), address=r.text("address"),
            contact_name=r.text("contact_name"), phone_masked=r.text("phone_masked"),
            notes=r.opt_text("notes"), created_at=r.moment("created_at"),
            cancelled_at=r.opt_moment("cancelled_at"),
        )


class EldercareClient(ServiceClient):
    service = "eldercare"

    async def streets(self) -> list[Street]:
        data = await self._call("GET", "/streets")
        return read_list(data, self.service, "streets", Street.read)

    async def services(self) -> list[HomeService]:
        data = await self._call("GET", "/services")
        return read_list(data, self.service, "services", HomeService.read)

    async def nearest_stations(
        self,
        *,
        street: str | None = None,
        lat: float | None = None,
        lng: float | None = None,
        service: str | None = None,
        limit: int = 3,
    ) -> list[Station]:
        """Stations nearest first, from a street (``明德街道``/``明德``) or a point; only those
        offering ``service`` if given. An unknown street is a BackendRejected with field
        ``street``: unknown_street."""
        params: dict[str, Any] = {"limit": limit}
        if street is not None:
            params["street"] = street
        if lat is not None and lng is not None:
            params["lat"] = lat
            params["lng"] = lng
        if service:
            params["service"] = service
        data = await self._call("GET", "/stations", params=params)
        return read_list(data, self.service, "stations", Station.read)

    async def station(self, station_id: str) -> Station:
        segment = self._segment(station_id, "station")
        data = await self._call("GET", f"/stations/{segment}", route="/stations/{id}")
        return read(data, self.service, "station", Station.read)

    async def book_service(
        self,
        *,
        idempotency_key: str,
        station_id: str,
        service: str,
        day: date,
        address: str,
        contact_name: str,
        phone: str,
        notes: str | None = None,
    ) -> ServiceBooking:
        """Books a home service for ``day`` (1-14 days ahead). Conflicts: CapacityExhausted,
        Conflict duplicate_booking; field errors such as service: not_offered,
        date: out_of_window."""
        body = {"station_id": station_id, "service": service, "date": day.isoformat(),
                "address": address, "contact_name": contact_name, "phone": phone}
        if notes:
            body["notes"] = notes
        data = await self._call("POST", "/bookings", json_body=body,
                                idempotency_key=idempotency_key)
        return read(data, self.service, "booking", ServiceBooking.read)

    async def bookings(self, phone: str, *, include_cancelled: bool = False
                       ) -> list[ServiceBooking]:
        params: dict[str, Any] = {"phone": phone}
        if include_cancelled:
            params["include_cancelled"] = True
        data = await self._call("GET", "/bookings", params=params)
        return read_list(data, self.service, "bookings", ServiceBooking.read)

    async def cancel(self, booking_id: str, phone: str) -> ServiceBooking:
        segment = self._segment(booking_id, "booking_id", BOOKING_ID)
        data = await self._call("POST", f"/bookings/{segment}/cancel", json_body={"phone": phone},
                                idempotent=True, route="/bookings/{id}/cancel")
        return read(data, self.service, "booking", ServiceBooking.read)
