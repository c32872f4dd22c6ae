"""养老驿站 (community elderly-care stations) of the demo district — sample data — and
home-service bookings (助餐 meal, 助浴 bath, 助洁 cleaning, 助医 medical).

Stations are found nearest first, from a street's centre or from a point. A home service is
booked for a date from tomorrow up to 14 days ahead; each station has a daily capacity per
service, and one phone number holds at most one booking per station, service and date.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web

from backends.sandbox.context import Context, context
from backends.sandbox.db import next_sequence
from backends.sandbox.district import district
from backends.sandbox.geo import nearest
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
from backends.sandbox.validation import iso, mask_name, mask_phone, normalize_key

NAME = "eldercare"
FIRST_DAY, LAST_DAY = 1, 14  # bookable from tomorrow to 14 days ahead
STATION_ID = re.compile(r"YZ-[A-Z]{2}-\d{2}")
BOOKING_ID = re.compile(r"YL\d{14}")

SCHEMA = """
CREATE TABLE IF NOT EXISTS stations (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  street TEXT NOT NULL,
  address TEXT NOT NULL,
  lat REAL NOT NULL,
  lng REAL NOT NULL,
  opening_hours TEXT NOT NULL,
  services TEXT NOT NULL,
  onsite TEXT NOT NULL,
  position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS service_bookings (
  id TEXT PRIMARY KEY,
  station_id TEXT NOT NULL REFERENCES stations(id),
  service TEXT NOT NULL,
  date TEXT NOT NULL,
  address TEXT NOT NULL,
  contact_name TEXT NOT NULL,
  phone TEXT NOT NULL,
  notes TEXT,
  state TEXT NOT NULL,
  created_at TEXT NOT NULL,
  cancelled_at TEXT
);
CREATE INDEX IF NOT EXISTS service_bookings_day
  ON service_bookings(station_id, service, date, state);
CREATE INDEX IF NOT EXISTS service_bookings_phone ON service_bookings(phone);
"""


class _Seed:
    def __init__(self) -> None:
        data = load_seed("eldercare.yaml")
        self.data = data
        self.services: dict[str, dict[str, Any]] = {s["code"]: s for s in data["services"]}
        self.service_lookup = {normalize_key(code): code for code in self.services} | {
            normalize_key(s["name"]): code for code, s in self.services.items()
        }
        self.states: dict[str, str] = data["booking_states"]


def _seed(ctx: Context) -> _Seed:
    return ctx.state[NAME]


def _station_json(ctx: Context, row: sqlite3.Row) -> dict[str, Any]:
    services = _seed(ctx).services
    return {
        "id": row["id"],
        "name": row["name"],
        "street": row["street"],
        "address": row["address"],
        "lat": row["lat"],
        "lng": row["lng"],
        "opening_hours": row["opening_hours"],
        "services": [{"code": code, "name": services[code]["name"]}
                     for code in json.loads(row["services"])],
        "onsite_services": json.loads(row["onsite"]),
        "sample_data": True,
    }


async def list_services(request: web.Request) -> web.Response:
    ctx = context(request)
    return json_response({"services": [
        {"code": code, "name": s["name"], "daily_capacity": ctx.scaled(int(s["daily_capacity"]))}
        for code, s in _seed(ctx).services.items()
    ]})


async def list_streets(request: web.Request) -> web.Response:
    found = district(context(request))
    return json_response(
        {"district": found.name, "streets": [street.to_json() for street in found.streets]}
    )


async def nearest_stations(request: web.Request) -> web.Response:
    """Stations nearest to a street's centre (``street``) or to a point (``lat`` and ``lng``)."""
    ctx = context(request)
    v = Validator(request.query, query=True)
    street_name = v.text("street", max_len=30)
    lat = v.number("lat", low=-90, high=90)
    lng = v.number("lng", low=-180, high=180)
    service = v.choice("service", _seed(ctx).service_lookup)
    limit = v.integer("limit", low=1, high=20, default=3)
    origin: dict[str, Any] = {}
    if street_name is not None:
        if "lat" in request.query or "lng" in request.query:
            v.fail("street", "ambiguous_origin", "give street, or lat and lng, not both")
        else:
            street = district(ctx).find(street_name)
            if street is None:
                v.fail("street", "unknown_street", "is not a street of the district")
            else:
                origin = {"street": street.name, "lat": street.lat, "lng": street.lng}
    elif lat is not None and lng is not None:
        origin = {"street": None, "lat": lat, "lng": lng}
    elif "lat" not in v.errors and "lng" not in v.errors:
        v.fail("street", "required", "give street, or lat and lng")
    v.check()

    def run(conn: sqlite3.Connection) -> list[sqlite3.Row]:
        return conn.execute("SELECT * FROM stations ORDER BY position").fetchall()

    rows = [row for row in await ctx.db.run(run)
            if service is None or service in json.loads(row["services"])]
    found = nearest(rows, origin["lat"], origin["lng"], lambda r: (r["lat"], r["lng"]),
                    int(limit or 3))
    stations = [_station_json(ctx, row) | {"distance_m": round(distance)}
                for row, distance in found]
    return json_response({"origin": origin, "stations": stations})


async def get_station(request: web.Request) -> web.Response:
    ctx = context(request)
    station_id = request.match_info["station_id"].upper()
    if not STATION_ID.fullmatch(station_id):
        raise not_found("station")
    row = await ctx.db.run(
        lambda conn: conn.execute("SELECT * FROM stations WHERE id = ?", (station_id,)).fetchone()
    )
    if row is None:
        raise not_found("station")
    return json_response(_station_json(ctx, row))


def _booking_json(ctx: Context, conn: sqlite3.Connection, row: sqlite3.Row) -> dict[str, Any]:
    station = conn.execute("SELECT name FROM stations WHERE id = ?",
                           (row["station_id"],)).fetchone()
    return {
        "booking_id": row["id"],
        "state_code": row["state"],
        "state": _seed(ctx).states[row["state"]],
        "station_id": row["station_id"],
        "station_name": station["name"],
        "service": row["service"],
        "service_name": _seed(ctx).services[row["service"]]["name"],
        "date": row["date"],
        "address": row["address"],
        "contact_name": mask_name(row["contact_name"]),
        "phone_masked": mask_phone(row["phone"]),
        "notes": row["notes"],
        "created_at": row["created_at"],
        "cancelled_at": row["cancelled_at"],
    }


def _book(ctx: Context, conn: sqlite3.Connection, body: dict[str, Any], now: datetime
          ) -> dict[str, Any]:
    v = Validator(body, allowed=("station_id", "service", "date", "address", "contact_name",
                                 "phone", "notes"))
    station_id = v.text("station_id", required=True, max_len=16)
    service = v.choice("service", _seed(ctx).service_lookup, required=True)
    day = v.date("date", required=True)
    address = v.text("address", required=True, min_len=5, max_len=100)
    contact_name = v.text("contact_name", required=True, min_len=2, max_len=20)
    phone = v.phone("phone", required=True)
    notes = v.text("notes", max_len=200, multiline=True)
    today = now.date()
    if day is not None and not (
        today + timedelta(days=FIRST_DAY) <= day <= today + timedelta(days=LAST_DAY)
    ):
        v.fail("date", "out_of_window", f"must be {FIRST_DAY} to {LAST_DAY} days ahead")
    v.check()
    station = conn.execute("SELECT * FROM stations WHERE id = ?",
                           (str(station_id).upper(),)).fetchone()
    if station is None:
        raise not_found("station")
    if service not in json.loads(station["services"]):
        raise field_error("service", "not_offered", "this station does not offer this service")
    assert day is not None
    active = conn.execute(
        "SELECT phone FROM service_bookings WHERE station_id = ? AND service = ? AND date = ?"
        " AND state = 'booked'", (station["id"], service, day.isoformat()),
    ).fetchall()
    if any(row["phone"] == phone for row in active):
        raise conflict("duplicate_booking", "this phone already booked this service that day")
    capacity = ctx.scaled(int(_seed(ctx).services[str(service)]["daily_capacity"]))
    if len(active) >= capacity:
        raise conflict("capacity_exhausted", "the station is fully booked for this service")
    booking_id = f"YL{now:%Y%m%d}{next_sequence(conn, f'eldercare:{now:%Y%m%d}'):06d}"
    conn.execute(
        "INSERT INTO service_bookings(id, station_id, service, date, address, contact_name,"
        " phone, notes, state, created_at) VALUES (?,?,?,?,?,?,?,?,'booked',?)",
        (booking_id, station["id"], service, day.isoformat(), address, contact_name, phone,
         notes, iso(now)),
    )
    row = conn.execute("SELECT * FROM service_bookings WHERE id = ?", (booking_id,)).fetchone()
    return _booking_json(ctx, conn, row)


async def create_booking(request: web.Request) -> web.Response:
    ctx = context(request)
    key = require_idempotency_key(request)
    body = await read_json_object(request)
    now = ctx.now()
    created = await ctx.db.run(
        lambda conn: idempotent_create(
            conn, scope="eldercare.book", key=key, body_fingerprint=fingerprint(body), now=now,
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
            "SELECT * FROM service_bookings WHERE phone = ? ORDER BY date, id", (phone,)
        ).fetchall()
        return [_booking_json(ctx, conn, row) for row in rows
                if include_cancelled or row["state"] == "booked"]

    return json_response({"bookings": await ctx.db.run(run)})


async def cancel_booking(request: web.Request) -> web.Response:
    """Cancels up to the day before the service; phone must match (else 404). Repeating a
    cancel answers the cancelled booking again."""
    ctx = context(request)
    booking_id = path_param(request, "booking_id", BOOKING_ID, "booking id")
    body = await read_json_object(request)
    v = Validator(body, allowed=("phone",))
    phone = v.phone("phone", required=True)
    v.check()
    now = ctx.now()

    def run(conn: sqlite3.Connection) -> dict[str, Any]:
        row = conn.execute("SELECT * FROM service_bookings WHERE id = ?",
                           (booking_id,)).fetchone()
        if row is None or row["phone"] != phone:
            raise not_found("booking")
        if row["state"] == "booked":
            if row["date"] <= now.date().isoformat():
                raise conflict("too_late_to_cancel", "cancel by the day before the service")
            conn.execute(
                "UPDATE service_bookings SET state = 'cancelled', cancelled_at = ? WHERE id = ?",
                (iso(now), booking_id),
            )
            row = conn.execute("SELECT * FROM service_bookings WHERE id = ?",
                               (booking_id,)).fetchone()
        return _booking_json(ctx, conn, row)

    return json_response(await ctx.db.run(run))


async def start(ctx: Context) -> None:
    ctx.state[NAME] = seed_data = _Seed()
    district(ctx)
    await ctx.db.script(SCHEMA)

    def seed(conn: sqlite3.Connection) -> bool:
        for position, s in enumerate(seed_data.data["stations"]):
            conn.execute(
                "INSERT INTO stations(id, name, street, address, lat, lng, opening_hours,"
                " services, onsite, position) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (s["id"], s["name"], s["street"], s["address"], s["lat"], s["lng"], s["hours"],
                 json.dumps(s["services"]), json.dumps(s["onsite"], ensure_ascii=False),
                 position),
            )
        return True

    await seed_once(ctx, NAME, seed)


SERVICE = ServiceDef(
    name=NAME,
    prefix="/eldercare/v1",
    routes=(
        Route("GET", "/streets", list_streets),
        Route("GET", "/services", list_services),
        Route("GET", "/stations", nearest_stations),
        Route("GET", "/stations/{station_id}", get_station),
        Route("POST", "/bookings", create_booking),
        Route("GET", "/bookings", list_bookings),
        Route("POST", "/bookings/{booking_id}/cancel", cancel_booking),
    ),
    start=start,
)
