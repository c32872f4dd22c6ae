"""Hospital appointments (预约挂号): hospitals and their departments, symptom guidance, free
number sources (号源) per half-day, booking, listing and cancelling.

A slot is one department of one hospital on one date and half-day (上午 ``am``/下午 ``pm``), with
a capacity that is a deterministic function of the four (no clinic → no slot). Slots open seven
days ahead and close at 11:30 (morning) or 16:30 (afternoon) of their day. One patient cannot hold
two bookings of the same slot; cancelling frees the place.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from aiohttp import web

from backends.sandbox.context import Context, context
from backends.sandbox.db import next_sequence
from backends.sandbox.http import (
    Validator,
    conflict,
    field_error,
    fingerprint,
    idempotent_create,
    json_response,
    not_found,
    path_param,
    read_json_object,
    require_idempotency_key,
)
from backends.sandbox.service import Route, ServiceDef, load_seed, seed_once
from backends.sandbox.validation import (
    BEIJING,
    iso,
    mask_id_number,
    mask_phone,
    normalize_key,
)

NAME = "hospitals"
BOOKING_WINDOW_DAYS = 7
CUT_OFF = {"am": time(11, 30), "pm": time(16, 30)}
WEEKEND_DEPARTMENTS = frozenset(
    {"pediatrics", "respiratory", "gastroenterology", "general_practice", "tcm"}
)
SLOT_ID = re.compile(r"([a-z][a-z0-9-]{1,31})\.([a-z_]{2,32})\.(\d{8})\.(am|pm)")
HOSPITAL_ID = re.compile(r"[a-z][a-z0-9-]{1,31}")
BOOKING_ID = re.compile(r"GH\d{14}")

SCHEMA = """
CREATE TABLE IF NOT EXISTS hospitals (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  aliases TEXT NOT NULL,
  level TEXT NOT NULL,
  kind TEXT NOT NULL,
  district TEXT NOT NULL,
  address TEXT NOT NULL,
  lat REAL NOT NULL,
  lng REAL NOT NULL,
  sample_data INTEGER NOT NULL,
  position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS departments (
  code TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  bookable INTEGER NOT NULL,
  position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS hospital_departments (
  hospital_id TEXT NOT NULL REFERENCES hospitals(id),
  department TEXT NOT NULL REFERENCES departments(code),
  PRIMARY KEY (hospital_id, department)
);
CREATE TABLE IF NOT EXISTS guidance (
  keyword TEXT NOT NULL,
  department TEXT NOT NULL REFERENCES departments(code),
  urgent INTEGER NOT NULL,
  position INTEGER NOT NULL,
  PRIMARY KEY (keyword, department)
);
CREATE TABLE IF NOT EXISTS slot_usage (
  slot_id TEXT PRIMARY KEY,
  booked INTEGER NOT NULL,
  issued INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bookings (
  id TEXT PRIMARY KEY,
  slot_id TEXT NOT NULL,
  hospital_id TEXT NOT NULL,
  department TEXT NOT NULL,
  date TEXT NOT NULL,
  period TEXT NOT NULL,
  patient_name TEXT NOT NULL,
  patient_name_key TEXT NOT NULL,
  phone TEXT NOT NULL,
  id_number TEXT,
  queue_number INTEGER NOT NULL,
  state TEXT NOT NULL,
  created_at TEXT NOT NULL,
  cancelled_at TEXT
);
CREATE INDEX IF NOT EXISTS bookings_phone ON bookings(phone);
CREATE INDEX IF NOT EXISTS bookings_slot ON bookings(slot_id, state);
"""


@dataclass(frozen=True)
class SlotKey:
    hospital_id: str
    department: str
    day: date
    period: str

    @property
    def slot_id(self) -> str:
        return f"{self.hospital_id}.{self.department}.{self.day:%Y%m%d}.{self.period}"

    @classmethod
    def parse(cls, slot_id: str) -> SlotKey | None:
        match = SLOT_ID.fullmatch(slot_id)
        if match is None:
            return None
        try:
            day = datetime.strptime(match.group(3), "%Y%m%d").date()
        except ValueError:
            return None
        return cls(match.group(1), match.group(2), day, match.group(4))

    def closes_at(self) -> datetime:
        return datetime.combine(self.day, CUT_OFF[self.period], tzinfo=BEIJING)


def slot_capacity(hospital_id: str, kind: str, department: str, day: date, period: str) -> int:
    """Number sources of a half-day clinic; 0 when there is no clinic (deterministic)."""
    digest = int(
        hashlib.sha256(f"{hospital_id}|{department}|{day}|{period}".encode()).hexdigest()[:8], 16
    )
    weekend = day.weekday() >= 5
    if kind == "community":
        if day.weekday() == 6 and period == "pm":
            return 0
        capacity = 12 + digest % 9
        return capacity // 2 if weekend else capacity
    if weekend and department not in WEEKEND_DEPARTMENTS:
        return 0
    capacity = 6 + digest % 25
    if weekend:
        capacity = max(3, capacity // 2)
    if period == "pm":
        capacity = max(2, capacity * 2 // 3)
    return capacity


def slot_open(key: SlotKey, now: datetime) -> bool:
    """Bookable now: within the seven-day window and before the half-day's cut-off."""
    today = now.astimezone(BEIJING).date()
    return today <= key.day < today + timedelta(days=BOOKING_WINDOW_DAYS) and now < key.closes_at()


class _Seed:
    def __init__(self) -> None:
        data = load_seed("hospitals.yaml")
        self.data = data
        self.periods: dict[str, str] = data["periods"]
        self.states: dict[str, str] = data["booking_states"]
        self.period_lookup = {normalize_key(code): code for code in self.periods} | {
            normalize_key(name): code for code, name in self.periods.items()
        } | {"morning": "am", "afternoon": "pm"}


def _seed(ctx: Context) -> _Seed:
    return ctx.state[NAME]


def _hospital_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "aliases": json.loads(row["aliases"]),
        "level": row["level"],
        "kind": row["kind"],
        "district": row["district"],
        "address": row["address"],
        "lat": row["lat"],
        "lng": row["lng"],
        "sample_data": bool(row["sample_data"]),
    }


def _departments(conn: sqlite3.Connection, hospital_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        "SELECT d.code, d.name, d.bookable FROM hospital_departments h "
        "JOIN departments d ON d.code = h.department WHERE h.hospital_id = ? ORDER BY d.position",
        (hospital_id,),
    ).fetchall()
    return [{"code": r["code"], "name": r["name"], "bookable": bool(r["bookable"])} for r in rows]


def _hospital(conn: sqlite3.Connection, hospital_id: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM hospitals WHERE id = ?", (hospital_id,)).fetchone()
    if row is None:
        raise not_found("hospital")
    return row


def _hospital_id(request: web.Request) -> str:
    raw = request.match_info["hospital_id"]
    if not HOSPITAL_ID.fullmatch(raw):
        raise not_found("hospital")
    return raw


async def list_hospitals(request: web.Request) -> web.Response:
    ctx = context(request)
    v = Validator(request.query, query=True)
    q = v.text("q", max_len=50)
    kind = v.choice("kind", {"hospital": "hospital", "community": "community"})
    v.check()

    def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        rows = conn.execute("SELECT * FROM hospitals ORDER BY position").fetchall()
        found = []
        key = normalize_key(q) if q else ""
        for row in rows:
            if kind and row["kind"] != kind:
                continue
            names = [row["name"], *json.loads(row["aliases"])]
            if key and not any(key in normalize_key(name) for name in names):
                continue
            found.append(_hospital_json(row))
        return found

    return json_response({"hospitals": await ctx.db.run(run)})


async def get_hospital(request: web.Request) -> web.Response:
    ctx = context(request)
    hospital_id = _hospital_id(request)

    def run(conn: sqlite3.Connection) -> dict[str, Any]:
        hospital = _hospital_json(_hospital(conn, hospital_id))
        hospital["departments"] = _departments(conn, hospital_id)
        return hospital

    return json_response(await ctx.db.run(run))


async def list_departments(request: web.Request) -> web.Response:
    ctx = context(request)
    hospital_id = _hospital_id(request)

    def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        _hospital(conn, hospital_id)
        return _departments(conn, hospital_id)

    return json_response({"hospital_id": hospital_id, "departments": await ctx.db.run(run)})


async def guidance(request: web.Request) -> web.Response:
    """Which departments fit a described symptom: guidance, not a diagnosis."""
    ctx = context(request)
    v = Validator(request.query, query=True)
    symptom = v.text("symptom", required=True, max_len=200)
    v.check()
    assert symptom is not None
    key = normalize_key(symptom)

    def run(conn: sqlite3.Connection) -> dict[str, Any]:
        rows = conn.execute(
            "SELECT g.keyword, g.department, g.urgent, g.position, d.name FROM guidance g "
            "JOIN departments d ON d.code = g.department ORDER BY g.position"
        ).fetchall()
        matches: dict[str, dict[str, Any]] = {}
        urgent = False
        for row in rows:
            if normalize_key(row["keyword"]) not in key:
                continue
            urgent = urgent or bool(row["urgent"])
            entry = matches.setdefault(
                row["department"],
                {"code": row["department"], "name": row["name"], "matched": [],
                 "position": row["position"]},
            )
            if row["keyword"] not in entry["matched"]:
                entry["matched"].append(row["keyword"])
        ranked = sorted(matches.values(), key=lambda e: (-len(e["matched"]), e["position"]))
        for entry in ranked:
            entry.pop("position")
        return {"urgent": urgent, "departments": ranked, "guidance_only": True}

    return json_response(await ctx.db.run(run))


def _slot_json(
    ctx: Context, key: SlotKey, hospital: sqlite3.Row, department_name: str, capacity: int,
    booked: int,
) -> dict[str, Any]:
    return {
        "slot_id": key.slot_id,
        "hospital_id": key.hospital_id,
        "hospital_name": hospital["name"],
        "department": key.department,
        "department_name": department_name,
        "date": key.day.isoformat(),
        "period_code": key.period,
        "period": _seed(ctx).periods[key.period],
        "capacity": capacity,
        "booked": booked,
        "available": max(0, capacity - booked),
    }


def _capacity(ctx: Context, hospital: sqlite3.Row, key: SlotKey) -> int:
    raw = slot_capacity(key.hospital_id, hospital["kind"], key.department, key.day, key.period)
    return ctx.scaled(raw) if raw > 0 else 0


async def list_slots(request: web.Request) -> web.Response:
    ctx = context(request)
    v = Validator(request.query, query=True)
    hospital_id = v.text("hospital_id", required=True, max_len=32)
    department = v.text("department", max_len=32)
    day = v.date("date")
    period = v.choice("period", _seed(ctx).period_lookup)
    include_full = v.boolean("include_full")
    v.check()
    now = ctx.now()

    def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        hospital = _hospital(conn, str(hospital_id))
        departments = {d["code"]: d for d in _departments(conn, hospital["id"])}
        if department is not None:
            if department not in departments:
                raise not_found("department")
            if not departments[department]["bookable"]:
                raise field_error("department", "not_bookable",
                                  "has no appointments (walk in)")
            codes = [department]
        else:
            codes = [code for code, d in departments.items() if d["bookable"]]
        days = [day] if day else [now.date() + timedelta(days=n)
                                  for n in range(BOOKING_WINDOW_DAYS)]
        periods = [period] if period else ["am", "pm"]
        usage = {
            row["slot_id"]: int(row["booked"])
            for row in conn.execute(
                "SELECT slot_id, booked FROM slot_usage WHERE slot_id >= ? AND slot_id < ?",
                (f"{hospital['id']}.", f"{hospital['id']}/"),  # '/' sorts right after '.'
            )
        }
        slots = []
        for one_day in days:
            for code in codes:
                for half in periods:
                    key = SlotKey(hospital["id"], code, one_day, half)
                    if not slot_open(key, now):
                        continue
                    capacity = _capacity(ctx, hospital, key)
                    if capacity == 0:
                        continue
                    booked = usage.get(key.slot_id, 0)
                    if booked >= capacity and not include_full:
                        continue
                    slots.append(_slot_json(ctx, key, hospital, departments[code]["name"],
                                            capacity, booked))
        return slots

    return json_response({"slots": await ctx.db.run(run)})


def _booking_json(ctx: Context, conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    hospital = conn.execute("SELECT name FROM hospitals WHERE id = ?",
                            (row["hospital_id"],)).fetchone()
    department = conn.execute("SELECT name FROM departments WHERE code = ?",
                              (row["department"],)).fetchone()
    return {
        "booking_id": row["id"],
        "state_code": row["state"],
        "state": _seed(ctx).states[row["state"]],
        "slot_id": row["slot_id"],
        "hospital_id": row["hospital_id"],
        "hospital_name": hospital["name"],
        "department": row["department"],
        "department_name": department["name"],
        "date": row["date"],
        "period_code": row["period"],
        "period": _seed(ctx).periods[row["period"]],
        "queue_number": row["queue_number"],
        "patient_name": row["patient_name"],
        "phone_masked": mask_phone(row["phone"]),
        "id_number_masked": mask_id_number(row["id_number"]) if row["id_number"] else None,
        "created_at": row["created_at"],
        "cancelled_at": row["cancelled_at"],
    }


def _book(ctx: Context, conn: sqlite3.Connection, body: dict[str, Any], now: datetime
          ) -> dict[str, Any]:
    v = Validator(body, allowed=("slot_id", "patient_name", "phone", "id_number"))
    raw_slot = v.text("slot_id", required=True, max_len=80)
    name = v.text("patient_name", required=True, min_len=2, max_len=20)
    phone = v.phone("phone", required=True)
    id_number = v.id_number("id_number")
    key = SlotKey.parse(raw_slot) if raw_slot else None
    if raw_slot and key is None:
        v.fail("slot_id", "invalid_format", "is not a slot id")
    v.check()
    assert key is not None and name is not None and phone is not None
    hospital = conn.execute("SELECT * FROM hospitals WHERE id = ?", (key.hospital_id,)).fetchone()
    offered = hospital is not None and conn.execute(
        "SELECT d.bookable FROM hospital_departments h JOIN departments d ON d.code = h.department"
        " WHERE h.hospital_id = ? AND h.department = ?", (key.hospital_id, key.department),
    ).fetchone()
    if not offered:
        raise not_found("slot")
    if not offered["bookable"]:
        raise field_error("slot_id", "not_bookable", "this department has no appointments")
    capacity = _capacity(ctx, hospital, key)
    if capacity == 0:
        raise not_found("slot")
    if not slot_open(key, now):
        raise conflict("slot_closed", "this slot is not open for booking")
    name_key = normalize_key(name)
    same_patient = conn.execute(
        "SELECT 1 FROM bookings WHERE slot_id = ? AND state = 'booked' AND "
        "((phone = ? AND patient_name_key = ?) OR (id_number IS NOT NULL AND id_number = ?))",
        (key.slot_id, phone, name_key, id_number),
    ).fetchone()
    if same_patient:
        raise conflict("duplicate_booking", "this patient already holds this slot")
    usage = conn.execute("SELECT booked, issued FROM slot_usage WHERE slot_id = ?",
                         (key.slot_id,)).fetchone()
    booked, issued = (int(usage["booked"]), int(usage["issued"])) if usage else (0, 0)
    if booked >= capacity:
        raise conflict("capacity_exhausted", "no number source left in this slot")
    conn.execute(
        "INSERT INTO slot_usage(slot_id, booked, issued) VALUES (?, 1, 1) ON CONFLICT(slot_id) "
        "DO UPDATE SET booked = booked + 1, issued = issued + 1", (key.slot_id,),
    )
    booking_id = f"GH{now:%Y%m%d}{next_sequence(conn, f'hospitals:{now:%Y%m%d}'):06d}"
    conn.execute(
        "INSERT INTO bookings(id, slot_id, hospital_id, department, date, period, patient_name,"
        " patient_name_key, phone, id_number, queue_number, state, created_at)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,'booked',?)",
        (booking_id, key.slot_id, key.hospital_id, key.department, key.day.isoformat(),
         key.period, name, name_key, phone, id_number, issued + 1, iso(now)),
    )
    row = conn.execute("SELECT * FROM bookings WHERE id = ?", (booking_id,)).fetchone()
    return _booking_json(ctx, conn, row)


async def create_booking(request: web.Request) -> web.Response:
    ctx = context(request)
    key = require_idempotency_key(request)
    body = await read_json_object(request)
    now = ctx.now()
    created = await ctx.db.run(
        lambda conn: idempotent_create(
            conn, scope="hospitals.book", key=key, body_fingerprint=fingerprint(body), now=now,
            create=lambda c: _book(ctx, c, body, now),
        )
    )
    return created.response()


async def list_bookings(request: web.Request) -> web.Response:
    ctx = context(request)
    v = Validator(request.query, query=True)
    phone = v.phone("phone", required=True)
    include_cancelled = v.boolean("include_cancelled")
    v.check()

    def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        rows = conn.execute(
            "SELECT * FROM bookings WHERE phone = ? ORDER BY date, period, id", (phone,)
        ).fetchall()
        return [_booking_json(ctx, conn, row) for row in rows
                if include_cancelled or row["state"] == "booked"]

    return json_response({"bookings": await ctx.db.run(run)})


async def cancel_booking(request: web.Request) -> web.Response:
    """Cancels a booking; the phone it was made with must match (else 404, revealing nothing).
    Cancelling a cancelled booking answers it again, so the call is safe to retry."""
    ctx = context(request)
    booking_id = path_param(request, "booking_id", BOOKING_ID, "booking id")
    body = await read_json_object(request)
    v = Validator(body, allowed=("phone",))
    phone = v.phone("phone", required=True)
    v.check()
    now = ctx.now()

    def run(conn: sqlite3.Connection) -> dict[str, Any]:
        row = conn.execute("SELECT * FROM bookings WHERE id = ?", (booking_id,)).fetchone()
        if row is None or row["phone"] != phone:
            raise not_found("booking")
        if row["state"] == "booked":
            key = SlotKey.parse(row["slot_id"])
            if key is None or now >= key.closes_at():
                raise conflict("too_late_to_cancel", "the appointment's half-day has begun")
            conn.execute("UPDATE bookings SET state = 'cancelled', cancelled_at = ? WHERE id = ?",
                         (iso(now), booking_id))
            conn.execute("UPDATE slot_usage SET booked = booked - 1 WHERE slot_id = ?",
                         (row["slot_id"],))
            row = conn.execute("SELECT * FROM bookings WHERE id = ?", (booking_id,)).fetchone()
        return _booking_json(ctx, conn, row)

    return json_response(await ctx.db.run(run))


async def start(ctx: Context) -> None:
    ctx.state[NAME] = seed_data = _Seed()
    await ctx.db.script(SCHEMA)

    def seed(conn: sqlite3.Connection) -> bool:
        data = seed_data.data
        for position, dept in enumerate(data["departments"]):
            conn.execute(
                "INSERT INTO departments(code, name, bookable, position) VALUES (?,?,?,?)",
                (dept["code"], dept["name"], int(dept.get("bookable", True)), position),
            )
        for position, h in enumerate(data["hospitals"]):
            conn.execute(
                "INSERT INTO hospitals(id, name, aliases, level, kind, district, address, lat,"
                " lng, sample_data, position) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (h["id"], h["name"], json.dumps(h.get("aliases") or [], ensure_ascii=False),
                 h["level"], h["kind"], h["district"], h["address"], h["lat"], h["lng"],
                 int(h.get("sample_data", False)), position),
            )
            conn.executemany(
                "INSERT INTO hospital_departments(hospital_id, department) VALUES (?, ?)",
                [(h["id"], code) for code in h["departments"]],
            )
        position = 0
        for rule in data["guidance"]:
            for keyword in rule["keywords"]:
                for code in rule["departments"]:
                    conn.execute(
                        "INSERT OR IGNORE INTO guidance(keyword, department, urgent, position)"
                        " VALUES (?,?,?,?)", (keyword, code, int(rule.get("urgent", False)),
                                              position),
                    )
                    position += 1
        return True

    await seed_once(ctx, NAME, seed)


SERVICE = ServiceDef(
    name=NAME,
    prefix="/hospitals/v1",
    routes=(
        Route("GET", "/hospitals", list_hospitals),
        Route("GET", "/hospitals/{hospital_id}", get_hospital),
        Route("GET", "/hospitals/{hospital_id}/departments", list_departments),
        Route("GET", "/guidance", guidance),
        Route("GET", "/slots", list_slots),
        Route("POST", "/bookings", create_booking),
        Route("GET", "/bookings", list_bookings),
        Route("POST", "/bookings/{booking_id}/cancel", cancel_booking),
    ),
    start=start,
)
