"""Client of the hospital appointment system (contract: backends/openapi/hospitals.yaml)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from actions.clients.core import Params, ServiceClient
from actions.clients.parsing import Reader, read, read_list

BOOKING_ID = re.compile(r"GH\d{14}")


@dataclass(frozen=True)
class Department:
    code: str
    name: str
    bookable: bool

    @classmethod
    def read(cls, r: Reader) -> Department:
        return cls(code=r.text("code"), name=r.text("name"), bookable=r.flag("bookable"))


@dataclass(frozen=True)
class Hospital:
    id: str
    name: str
    aliases: tuple[str, ...]
    level: str
    kind: str  # hospital | community
    district: str
    address: str
    lat: float
    lng: float
    sample_data: bool
    departments: tuple[Department, ...] = ()  # filled by HospitalsClient.hospital()

    @classmethod
    def read(cls, r: Reader) -> Hospital:
        departments = (r.objects("departments", Department.read)
                       if "departments" in r.data else ())
        return cls(
            id=r.text("id"), name=r.text("name"), aliases=r.texts("aliases"),
            level=r.text("level"), kind=r.text("kind"), district=r.text("district"),
            address=r.text("address"), lat=r.number("lat"), lng=r.number("lng"),
            sample_data=r.flag("sample_data"), departments=departments,
        )


@dataclass(frozen=True)
class GuidanceDepartment:
    code: str
    name: str
    matched: tuple[str, ...]

    @classmethod
    def read(cls, r: Reader) -> GuidanceDepartment:
        return cls(code=r.text("code"), name=r.text("name"), matched=r.texts("matched"))


@dataclass(frozen=True)
class Guidance:
    """Departments that fit a symptom: guidance only, never a diagnosis. ``urgent`` means an
    emergency sign was named: the assistant must point to 120 / an emergency department."""

    urgent: bool
    departments: tuple[GuidanceDepartment, ...]

    @classmethod
    def read(cls, r: Reader) -> Guidance:
        return cls(urgent=r.flag("urgent"),
                   departments=r.objects("departments", GuidanceDepartment.read))


@dataclass(frozen=True)
class Slot:
    slot_id: str
    hospital_id: str
    hospital_name: str
    department: str
    department_name: str
    date: date
    period_code: str  # am | pm
    period: str
    capacity: int
    booked: int
    available: int

    @classmethod
    def read(cls, r: Reader) -> Slot:
        return cls(
            slot_id=r.text("slot_id"), hospital_id=r.text("hospital_id"),
            hospital_name=r.text("hospital_name"), department=r.text("department"),
            department_name=r.text("department_name"), date=r.day("date"),
            period_code=r.text("period_code"), period=r.text("period"),
            capacity=r.integer("capacity"), booked=r.integer("booked"),
            available=r.integer("available"),
        )


@dataclass(frozen=True)
class Booking:
    booking_id: str
    state_code: str  # booked | cancelled
    state: str
    slot_id: str
    hospital_id: str
    hospital_name: str
    department: str
    department_name: str
    date: date
    period_code: str
    period: str
    queue_number: int
    patient_name: str
    phone_masked: str
    id_number_masked: str | None
    created_at: datetime
    cancelled_at: datetime | None

    @classmethod
    def read(cls, r: Reader) -> Booking:
        return cls(
            booking_id=r.text("booking_id"), state_code=r.text("state_code"),
            state=r.text("state"), slot_id=r.text("slot_id"), hospital_id=r.text("hospital_id"),
            hospital_name=r.text("hospital_name"), department=r.text("department"),
            department_name=r.text("department_name"), date=r.day("date"),
            period_code=r.text("period_code"), period=r.text("period"),
            queue_number=r.integer("queue_number"), patient_name=r.text("patient_name"),
            phone_masked=r.text("phone_masked"), id_number_masked=r.opt_text("id_number_masked"),
            created_at=r.moment("created_at"), cancelled_at=r.opt_moment("cancelled_at"),
        )


class HospitalsClient(ServiceClient):
    service = "hospitals"

    async def hospitals(self, q: str | None = None, kind: str | None = None) -> list[Hospital]:
        """Hospitals whose name or alias contains ``q``; ``kind`` is hospital or community."""
        params: dict[str, str] = {}
        if q:
            params["q"] = q
        if kind:
            params["kind"] = kind
        data = await self._call("GET", "/hospitals", params=params)
        return read_list(data, self.service, "hospitals", Hospital.read)

    async def hospital(self, hospital_id: str) -> Hospital:
        """One hospital with its departments."""
        segment = self._segment(hospital_id, "hospital")
        data = await self._call("GET", f"/hospitals/{segment}", route="/hospitals/{id}")
        return read(data, self.service, "hospital", Hospital.read)

    async def departments(self, hospital_id: str) -> list[Department]:
        segment = self._segment(hospital_id, "hospital")
        data = await self._call("GET", f"/hospitals/{segment}/departments",
                                route="/hospitals/{id}/departments")
        return read_list(data, self.service, "departments", Department.read)

    async def guidance(self, symptom: str) -> Guidance:
        data = await self._call("GET", "/guidance", params={"symptom": symptom})
        return read(data, self.service, "guidance", Guidance.read)

    async def free_slots(
        self,
        hospital_id: str,
        *,
        department: str | None = None,
        day: date | None = None,
        period: str | None = None,
        include_full: bool = False,
    ) -> list[Slot]:
        """Open slots with places left (all open slots with ``include_full``), by date."""
        params: dict[str, Any] = {"hospital_id": hospital_id}
        if department:
            params["department"] = department
        if day:
            params["date"] = day.isoformat()
        if period:
            params["period"] = period
        if include_full:
            params["include_full"] = True
        query: Params = params
        data = await self._call("GET", "/slots", params=query)
        return read_list(data, self.service, "slots", Slot.read)

    async def book(
        self,
        *,
        idempotency_key: str,
        slot_id: str,
        patient_name: str,
        phone: str,
        id_number: str | None = None,
    ) -> Booking:
        """Books a slot. Conflicts: CapacityExhausted (no places left), Conflict with code
        duplicate_booking (this patient holds the slot) or slot_closed."""
        body = {"slot_id": slot_id, "patient_name": patient_name, "phone": phone}
        if id_number:
            body["id_number"] = id_number
        data = await self._call("POST", "/bookings", json_body=body,
                                idempotency_key=idempotency_key)
        return read(data, self.service, "booking", Booking.read)

    async def bookings(self, phone: str, *, include_cancelled: bool = False) -> list[Booking]:
        params: dict[str, Any] = {"phone": phone}
        if include_cancelled:
            params["include_cancelled"] = True
        data = await self._call("GET", "/bookings", params=params)
        return read_list(data, self.service, "bookings", Booking.read)

    async def cancel(self, booking_id: str, phone: str) -> Booking:
        """Cancels (safe to repeat: the contract makes cancelling idempotent, so it is retried
        like a GET)."""
        segment = self._segment(booking_id, "booking_id", BOOKING_ID)
        data = await self._call("POST", f"/bookings/{segment}/cancel", json_body={"phone": phone},
                                idempotent=True, route="/bookings/{id}/cancel")
        return read(data, self.service, "booking", Booking.read)
