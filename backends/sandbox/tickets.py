"""12345 接诉即办 tickets: create a ticket, follow its status by number.

A ticket is 已受理 (accepted) when created, 办理中 (in_progress) once dispatched to the street
office, 已办结 (closed) when answered. The sandbox derives the state from the ticket's age (each
ticket at its own, deterministic pace; ``SANDBOX_TIME_FACTOR`` speeds it up for demos).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from backends.sandbox.context import Context, context
from backends.sandbox.db import next_sequence
from backends.sandbox.district import district
from backends.sandbox.http import (
    Validator,
    fingerprint,
    idempotent_create,
    json_response,
    not_found,
    path_param,
    read_json_object,
    require_idempotency_key,
)
from backends.sandbox.service import Route, ServiceDef, load_seed, seed_once
from backends.sandbox.validation import iso, mask_name, mask_phone, normalize_key, parse_iso

NAME = "tickets"
TICKET_NUMBER = re.compile(r"JS\d{14}")
CHANNELS = ("wechat", "web", "voice", "hotline", "other")

SCHEMA = """
CREATE TABLE IF NOT EXISTS tickets (
  number TEXT PRIMARY KEY,
  category TEXT NOT NULL,
  street TEXT NOT NULL,
  location TEXT,
  description TEXT NOT NULL,
  contact_name TEXT,
  phone TEXT,
  anonymous INTEGER NOT NULL,
  channel TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tickets_phone ON tickets(phone);
"""


def ticket_number(day: date, sequence: int) -> str:
    """``JS`` + the Beijing date of acceptance + a 6-digit sequence of that day."""
    if not 1 <= sequence <= 999_999:
        raise ValueError("the daily sequence must be between 1 and 999999")
    return f"JS{day:%Y%m%d}{sequence:06d}"


def progression(
    number: str, created: datetime, now: datetime, time_factor: float = 1.0
) -> list[tuple[str, datetime]]:
    """The states a ticket has reached by ``now``, with when: dispatched 20-59 minutes and closed
    1-4 days after acceptance (the pace depends on the number, so it is the same every time)."""
    digest = int(hashlib.sha256(number.encode("ascii")).hexdigest()[:8], 16)
    dispatch = timedelta(minutes=20 + digest % 40)
    close = timedelta(hours=24 + (digest // 40) % 72)
    elapsed = (now - created) * time_factor
    events = [("accepted", created)]
    if elapsed >= dispatch:
        events.append(("in_progress", created + dispatch / time_factor))
    if elapsed >= close:
        events.append(("closed", created + close / time_factor))
    return events


class _Catalogue:
    def __init__(self) -> None:
        data = load_seed("tickets.yaml")
        self.states: dict[str, str] = data["states"]
        self.categories: dict[str, str] = {c["code"]: c["name"] for c in data["categories"]}
        self.lookup = {normalize_key(code): code for code in self.categories} | {
            normalize_key(name): code for code, name in self.categories.items()
        }
        self.samples: list[dict[str, Any]] = data.get("samples") or []


def _catalogue(ctx: Context) -> _Catalogue:
    return ctx.state[NAME]


def _ticket_json(ctx: Context, row: sqlite3.Row) -> dict[str, Any]:
    catalogue = _catalogue(ctx)
    created = parse_iso(row["created_at"])
    office = district(ctx).find(row["street"])
    events = progression(row["number"], created, ctx.now(), ctx.settings.time_factor)
    timeline = []
    for state_code, moment in events:
        event: dict[str, Any] = {
            "state_code": state_code,
            "state": catalogue.states[state_code],
            "at": iso(moment),
        }
        if state_code != "accepted" and office is not None:
            event["office"] = office.office
        timeline.append(event)
    state_code = events[-1][0]
    return {
        "number": row["number"],
        "state_code": state_code,
        "state": catalogue.states[state_code],
        "category": {"code": row["category"], "name": catalogue.categories[row["category"]]},
        "street": row["street"],
        "location": row["location"],
        "description": row["description"],
        "anonymous": bool(row["anonymous"]),
        "contact_name": mask_name(row["contact_name"]) if row["contact_name"] else None,
        "phone_masked": mask_phone(row["phone"]) if row["phone"] else None,
        "channel": row["channel"],
        "created_at": row["created_at"],
        "handling_office": office.office if office and state_code != "accepted" else None,
        "timeline": timeline,
    }


def _insert(conn: sqlite3.Connection, fields: dict[str, Any], created: datetime) -> str:
    day = created.date()
    number = ticket_number(day, next_sequence(conn, f"tickets:{day:%Y%m%d}"))
    conn.execute(
        "INSERT INTO tickets(number, category, street, location, description, contact_name,"
        " phone, anonymous, channel, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            number, fields["category"], fields["street"], fields.get("location"),
            fields["description"], fields.get("contact_name"), fields.get("phone"),
            int(bool(fields.get("anonymous"))), fields.get("channel") or "other", iso(created),
        ),
    )
    return number


def _validate(ctx: Context, body: dict[str, Any]) -> dict[str, Any]:
    v = Validator(
        body,
        allowed=("category", "street", "location", "description", "phone", "anonymous",
                 "contact_name", "channel"),
    )
    fields: dict[str, Any] = {
        "category": v.choice("category", _catalogue(ctx).lookup, required=True),
        "location": v.text("location", max_len=100),
        "description": v.text("description", required=True, min_len=5, max_len=1000,
                              multiline=True),
        "phone": v.phone("phone"),
        "anonymous": v.boolean("anonymous"),
        "contact_name": v.text("contact_name", max_len=20),
        "channel": v.choice("channel", {c: c for c in CHANNELS}),
    }
    street = v.text("street", required=True, max_len=30)
    if street is not None:
        found = district(ctx).find(street)
        if found is None:
            v.fail("street", "unknown_street", "is not a street of the district")
        else:
            fields["street"] = found.name
    if not fields["anonymous"] and body.get("phone") is None:
        v.fail("phone", "required", "is required unless the ticket is anonymous")
    v.check()
    return fields


async def create_ticket(request: web.Request) -> web.Response:
    ctx = context(request)
    key = require_idempotency_key(request)
    body = await read_json_object(request)
    now = ctx.now()

    def create(conn: sqlite3.Connection) -> dict[str, Any]:
        fields = _validate(ctx, body)
        number = _insert(conn, fields, now)
        row = conn.execute("SELECT * FROM tickets WHERE number = ?", (number,)).fetchone()
        return _ticket_json(ctx, row)

    created = await ctx.db.run(
        lambda conn: idempotent_create(
            conn, scope="tickets.create", key=key, body_fingerprint=fingerprint(body),
            now=now, create=create,
        )
    )
    return created.response()


async def get_ticket(request: web.Request) -> web.Response:
    ctx = context(request)
    number = path_param(request, "number", TICKET_NUMBER, "ticket number")
    row = await ctx.db.run(
        lambda conn: conn.execute("SELECT * FROM tickets WHERE number = ?", (number,)).fetchone()
    )
    if row is None:
        raise not_found("ticket")
    return json_response(_ticket_json(ctx, row))


async def list_categories(request: web.Request) -> web.Response:
    categories = _catalogue(context(request)).categories
    return json_response(
        {"categories": [{"code": code, "name": name} for code, name in categories.items()]}
    )


async def list_streets(request: web.Request) -> web.Response:
    found = district(context(request))
    return json_response(
        {"district": found.name, "streets": [street.to_json() for street in found.streets]}
    )


async def start(ctx: Context) -> None:
    ctx.state[NAME] = catalogue = _Catalogue()
    district(ctx)
    await ctx.db.script(SCHEMA)
    now = ctx.now()

    def seed(conn: sqlite3.Connection) -> bool:
        for sample in sorted(catalogue.samples, key=lambda s: -float(s["hours_ago"])):
            fields = dict(sample)
            _insert(conn, fields, now - timedelta(hours=float(sample["hours_ago"])))
        return True

    await seed_once(ctx, NAME, seed)


SERVICE = ServiceDef(
    name=NAME,
    prefix="/tickets/v1",
    routes=(
        Route("GET", "/categories", list_categories),
        Route("GET", "/streets", list_streets),
        Route("POST", "/tickets", create_ticket),
        Route("GET", "/tickets/{number}", get_ticket),
    ),
    start=start,
)
