"""办件进度: the progress of an application for a government service, by application number.

Records are seeded on first start (sample data); the number is ``SQ`` + the Beijing date of
acceptance + a 4-digit sequence of that day, e.g. ``SQ202506020001``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from backends.sandbox.context import Context, context
from backends.sandbox.db import next_sequence
from backends.sandbox.http import json_response, not_found, path_param
from backends.sandbox.service import Route, ServiceDef, load_seed, seed_once
from backends.sandbox.validation import iso, mask_name, parse_iso

NAME = "applications"
APPLICATION_NUMBER = re.compile(r"SQ\d{12}")
CLOSED_STATES = frozenset({"approved", "rejected"})

SCHEMA = """
CREATE TABLE IF NOT EXISTS applications (
  number TEXT PRIMARY KEY,
  matter TEXT NOT NULL,
  department TEXT NOT NULL,
  applicant TEXT NOT NULL,
  accepted_at TEXT NOT NULL,
  promised_by TEXT NOT NULL,
  timeline TEXT NOT NULL
);
"""


def application_number(day: date, sequence: int) -> str:
    if not 1 <= sequence <= 9999:
        raise ValueError("the daily sequence must be between 1 and 9999")
    return f"SQ{day:%Y%m%d}{sequence:04d}"


def _states(ctx: Context) -> dict[str, str]:
    return ctx.state[NAME]["states"]


def _application_json(ctx: Context, row: sqlite3.Row) -> dict[str, Any]:
    states = _states(ctx)
    now = ctx.now()
    timeline = [
        {"state_code": code, "state": states[code], "at": at}
        for code, at in json.loads(row["timeline"])
        if parse_iso(at) <= now
    ] or [{"state_code": "accepted", "state": states["accepted"], "at": row["accepted_at"]}]
    current = timeline[-1]["state_code"]
    return {
        "number": row["number"],
        "matter": row["matter"],
        "department": row["department"],
        "applicant_masked": mask_name(row["applicant"]),
        "state_code": current,
        "state": states[current],
        "closed": current in CLOSED_STATES,
        "accepted_at": row["accepted_at"],
        "promised_by": row["promised_by"],
        "timeline": timeline,
    }


async def get_application(request: web.Request) -> web.Response:
    ctx = context(request)
    number = path_param(request, "number", APPLICATION_NUMBER, "application number")
    row = await ctx.db.run(lambda conn: conn.execute(
        "SELECT * FROM applications WHERE number = ?", (number,)).fetchone())
    if row is None:
        raise not_found("application")
    return json_response(_application_json(ctx, row))


def _insert(conn: sqlite3.Connection, record: dict[str, Any], now: datetime) -> str:
    accepted = (now - timedelta(days=float(record["days_ago"]))).replace(
        hour=9, minute=30, second=0, microsecond=0)
    if accepted > now:
        accepted = now.replace(microsecond=0)
    day = accepted.date()
    number = application_number(day, next_sequence(conn, f"applications:{day:%Y%m%d}"))
    timeline = [
        (stage["state"], iso(accepted + timedelta(days=float(stage["days_after"]), hours=2 * i)
                             if i else accepted))
        for i, stage in enumerate(record["stages"])
    ]
    conn.execute(
        "INSERT INTO applications(number, matter, department, applicant, accepted_at,"
        " promised_by, timeline) VALUES (?,?,?,?,?,?,?)",
        (number, record["matter"], record["department"], record["applicant"], iso(accepted),
         (day + timedelta(days=int(record["promised_days"]))).isoformat(),
         json.dumps(timeline)),
    )
    return number


async def start(ctx: Context) -> None:
    data = load_seed("applications.yaml")
    ctx.state[NAME] = {"states": data["states"]}
    await ctx.db.script(SCHEMA)
    now = ctx.now()

    def seed(conn: sqlite3.Connection) -> bool:
        records = sorted(data["records"], key=lambda r: -float(r["days_ago"]))
        for record in records:
            _insert(conn, record, now)
        return True

    await seed_once(ctx, NAME, seed)


SERVICE = ServiceDef(
    name=NAME,
    prefix="/applications/v1",
    routes=(Route("GET", "/applications/{number}", get_application),),
    start=start,
)
