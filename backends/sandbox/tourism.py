"""Tourism: Beijing attractions (seeded from the shared data set, 2019, reference only), search by
name, details, a simulated crowd level per date, and ticket reservations with a daily capacity.

The data set is ``<SHARED_DATA_DIR>/tourism/attractions.jsonl`` (default
``<repo root>/../shared/data``). If it is missing the service starts empty, logs why, and seeds
the next time it starts with the file present.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from backends.sandbox.context import Context, context
from backends.sandbox.db import next_sequence
from backends.sandbox.http import (
    Validator,
    conflict,
    fingerprint,
    idempotent_create,
    json_response,
    not_found,
    path_param,
    read_json_object,
    require_idempotency_key,
)
from backends.sandbox.service import Route, ServiceDef, load_seed, seed_once
from backends.sandbox.validation import iso, mask_id_number, mask_name, mask_phone, normalize_key

logger = logging.getLogger(__name__)

NAME = "tourism"
RESERVATION_DAYS = 7  # today and the six days after
CROWD_DAYS = 30
MAX_VISITORS = 5
ATTRACTION_ID = re.compile(r"A\d{4}")
RESERVATION_ID = re.compile(r"MP\d{14}")
DATA_YEAR = 2019
# "周一闭馆", "每周一 不开放", "周一全天闭园" … (parsing the data set, not wording of ours)
_MONDAY_CLOSED = re.compile(r"周一\s*(?:全天)?\s*(?:闭馆|闭园|不开放|休馆|休园)")
_NAME_SUFFIXES = ("风景名胜区", "旅游风景区", "风景区", "旅游区", "景区", "公园")
_BRACKETS = re.compile(r"[（(]([^）)]*)[）)]")

SCHEMA = """
CREATE TABLE IF NOT EXISTS attractions (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  address TEXT,
  metro TEXT,
  phone TEXT,
  ticket_text TEXT,
  ticket_price INTEGER,
  opening_hours TEXT,
  play_time TEXT,
  rating REAL,
  intro TEXT,
  nearby TEXT NOT NULL,
  popularity REAL NOT NULL,
  daily_capacity INTEGER NOT NULL,
  closed_mondays INTEGER NOT NULL,
  position INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS reservations (
  id TEXT PRIMARY KEY,
  attraction_id TEXT NOT NULL REFERENCES attractions(id),
  date TEXT NOT NULL,
  visitors INTEGER NOT NULL,
  name TEXT NOT NULL,
  phone TEXT NOT NULL,
  id_number TEXT,
  state TEXT NOT NULL,
  created_at TEXT NOT NULL,
  cancelled_at TEXT
);
CREATE INDEX IF NOT EXISTS reservations_day ON reservations(attraction_id, date, state);
CREATE INDEX IF NOT EXISTS reservations_phone ON reservations(phone);
"""


# ---------------------------------------------------------------- pure helpers (unit-tested)

def popularity(record: Mapping[str, Any], famous: bool = False) -> float:
    """0–1 from the data set: rating, being in the CrossWOZ trip database, a long introduction,
    and being one of the names residents use aliases for."""
    score = 0.1
    rating = record.get("rating")
    if isinstance(rating, (int, float)):
        score += max(0.0, min(1.0, (float(rating) - 3.5) / 1.5)) * 0.4
    if "crosswoz" in (record.get("source") or ()):
        score += 0.15
    if len(record.get("intro") or "") > 300:
        score += 0.1
    if famous:
        score += 0.25
    return round(min(1.0, score), 3)


def daily_capacity(popularity_score: float) -> int:
    """Visitors per day that can reserve: 300 for the least popular up to 5,000."""
    return round(300 + 4700 * popularity_score)


def closed_on_mondays(opening_hours: str | None) -> bool:
    return bool(opening_hours and _MONDAY_CLOSED.search(opening_hours))


def is_holiday(day: date) -> bool:
    """The fixed-date public holiday periods (New Year's Day, 1–5 May, 1–7 October). Lunar
    holidays move every year and are not simulated."""
    return (
        (day.month, day.day) == (1, 1)
        or (day.month == 5 and day.day <= 5)
        or (day.month == 10 and day.day <= 7)
    )


def is_closed(closed_mondays: bool, day: date) -> bool:
    return closed_mondays and day.weekday() == 0 and not is_holiday(day)


def crowd_level(popularity_score: float, day: date, attraction_id: str) -> int:
    """1 (comfortable) … 4 (crowded), deterministic: popularity, weekend, holiday, and a small
    variation per attraction and day."""
    digest = int(hashlib.sha256(f"{attraction_id}|{day}".encode()).hexdigest()[:8], 16)
    score = popularity_score * 2.0 + (digest % 100) / 100 * 0.6
    if day.weekday() >= 5:
        score += 0.8
    if is_holiday(day):
        score += 1.5
    if score < 1.0:
        return 1
    if score < 1.7:
        return 2
    if score < 2.4:
        return 3
    return 4


def _strip_suffix(key: str) -> str:
    for suffix in _NAME_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix) + 1:
            return key[: -len(suffix)]
    return key


def _pairs(text: str) -> frozenset[str]:
    return frozenset(text[i:i + 2] for i in range(len(text) - 1))


def similarity(a: str, b: str) -> float:
    """Dice coefficient of two keys: over characters when both are short (up to 3), else over
    character pairs. ``颐和圆``/``颐和园`` and ``故公``/``故宫`` are alike, ``天坛``/``天安门广场``
    are not."""
    if not a or not b:
        return 0.0
    if max(len(a), len(b)) <= 3:
        grams_a, grams_b = frozenset(a), frozenset(b)
    else:
        grams_a, grams_b = _pairs(a), _pairs(b)
    if not grams_a or not grams_b:
        return 0.0
    return 2 * len(grams_a & grams_b) / (len(grams_a) + len(grams_b))


@dataclass(frozen=True)
class Match:
    id: str
    name: str
    score: float
    match: str  # exact | alias | prefix | contains | fuzzy


@dataclass(frozen=True)
class _Entry:
    id: str
    name: str
    key: str
    chars: frozenset[str]
    pairs: frozenset[str]
    popularity: float
    position: int


class AttractionIndex:
    """Finds attractions by what people call them: the exact name, an alias (``故宫博物院`` →
    故宫, a part in brackets such as ``鸟巢``, the name without ``公园``/``景区``), a prefix, a
    substring, or similar characters (a typo)."""

    def __init__(
        self,
        entries: Iterable[tuple[str, str, float]],
        aliases: Mapping[str, str] | None = None,
    ) -> None:
        self.entries: list[_Entry] = []
        self.by_char: dict[str, set[int]] = {}  # character → positions of names holding it
        self.exact: dict[str, list[_Entry]] = {}
        self.alias: dict[str, list[_Entry]] = {}
        by_name: dict[str, _Entry] = {}
        for position, (attraction_id, name, score) in enumerate(entries):
            key = normalize_key(name)
            entry = _Entry(attraction_id, name, key, frozenset(key), _pairs(key), score, position)
            self.entries.append(entry)
            for char in entry.chars:
                self.by_char.setdefault(char, set()).add(position)
            by_name.setdefault(name, entry)
            self.exact.setdefault(key, []).append(entry)
            alternatives = {normalize_key(part) for part in _BRACKETS.findall(name)}
            alternatives.add(normalize_key(_BRACKETS.sub("", name)))
            alternatives.add(_strip_suffix(key))
            for alternative in alternatives - {key, ""}:
                self.alias.setdefault(alternative, []).append(entry)
        for alias, target in (aliases or {}).items():
            if target in by_name:
                self.alias.setdefault(normalize_key(str(alias)), []).append(by_name[target])

    def search(self, query: str, limit: int = 5) -> list[Match]:
        key = normalize_key(query)
        if not key:
            return []
        best: dict[str, tuple[float, str, _Entry]] = {}

        def add(entries: Sequence[_Entry], score: float, kind: str) -> None:
            for entry in entries:
                if entry.id not in best or best[entry.id][0] < score:
                    best[entry.id] = (score, kind, entry)

        add(self.exact.get(key, []), 1.0, "exact")
        add(self.alias.get(key, []), 0.95, "alias")
        stripped = _strip_suffix(key)
        if stripped != key:
            add(self.exact.get(stripped, []) + self.alias.get(stripped, []), 0.9, "alias")
        query_chars, query_pairs = frozenset(key), _pairs(key)
        # only names sharing a character with the query can match in any of the ways below
        candidates = set().union(*(self.by_char.get(char, ()) for char in query_chars))
        for entry in (self.entries[i] for i in sorted(candidates)):
            if entry.key.startswith(key):
                add([entry], 0.7 + 0.1 * len(key) / len(entry.key), "prefix")
            elif key in entry.key:
                add([entry], 0.55 + 0.1 * len(key) / len(entry.key), "contains")
            elif len(key) >= 2:
                # the same measure as similarity(), on grams computed once per entry
                if max(len(key), len(entry.key)) <= 3:
                    mine, theirs = query_chars, entry.chars
                else:
                    mine, theirs = query_pairs, entry.pairs
                if mine and theirs:
                    dice = 2 * len(mine & theirs) / (len(mine) + len(theirs))
                    if dice >= 0.5:
                        add([entry], round(0.5 * dice, 3), "fuzzy")
        ranked = sorted(
            best.values(), key=lambda t: (-t[0], -t[2].popularity, t[2].position)
        )
        return [Match(e.id, e.name, round(score, 3), kind) for score, kind, e in ranked[:limit]]


# ---------------------------------------------------------------- service

class _Seed:
    def __init__(self) -> None:
        data = load_seed("tourism.yaml")
        self.aliases: dict[str, str] = {str(k): v for k, v in (data.get("aliases") or {}).items()}
        self.levels: list[dict[str, str]] = data["crowd_levels"]
        self.states: dict[str, str] = data["reservation_states"]
        self.index = AttractionIndex(())


def _seed(ctx: Context) -> _Seed:
    return ctx.state[NAME]


def _attraction_json(row: sqlite3.Row, ctx: Context) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "address": row["address"],
        "metro": row["metro"],
        "phone": row["phone"],
        "ticket_text": row["ticket_text"],
        "ticket_price": row["ticket_price"],
        "opening_hours": row["opening_hours"],
        "play_time": row["play_time"],
        "rating": row["rating"],
        "intro": row["intro"],
        "nearby_attractions": json.loads(row["nearby"]),
        "closed_on_mondays": bool(row["closed_mondays"]),
        "daily_capacity": ctx.scaled(int(row["daily_capacity"])),
        "reference_only": True,
        "data_year": DATA_YEAR,
    }


def _attraction(conn: sqlite3.Connection, attraction_id: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM attractions WHERE id = ?", (attraction_id,)).fetchone()
    if row is None:
        raise not_found("attraction")
    return row


def _attraction_id(request: web.Request) -> str:
    raw = request.match_info["attraction_id"].upper()
    if not ATTRACTION_ID.fullmatch(raw):
        raise not_found("attraction")
    return raw


def _reserved(conn: sqlite3.Connection, attraction_id: str, day: date) -> int:
    row = conn.execute(
        "SELECT COALESCE(SUM(visitors), 0) FROM reservations WHERE attraction_id = ? AND date = ?"
        " AND state = 'booked'", (attraction_id, day.isoformat()),
    ).fetchone()
    return int(row[0])


async def search_attractions(request: web.Request) -> web.Response:
    ctx = context(request)
    v = Validator(request.query, query=True)
    q = v.text("q", required=True, max_len=50)
    limit = v.integer("limit", low=1, high=20, default=5)
    v.check()
    matches = _seed(ctx).index.search(str(q), int(limit or 5))
    ids = [m.id for m in matches]

    def run(conn: sqlite3.Connection) -> dict[str, sqlite3.Row]:
        marks = ",".join("?" * len(ids))
        rows = conn.execute(f"SELECT id, address, rating FROM attractions WHERE id IN ({marks})",
                            ids).fetchall() if ids else []
        return {row["id"]: row for row in rows}

    rows = await ctx.db.run(run)
    return json_response({"query": q, "results": [
        {"id": m.id, "name": m.name, "address": rows[m.id]["address"],
         "rating": rows[m.id]["rating"], "score": m.score, "match": m.match}
        for m in matches if m.id in rows
    ]})


async def get_attraction(request: web.Request) -> web.Response:
    ctx = context(request)
    attraction_id = _attraction_id(request)
    row = await ctx.db.run(lambda conn: _attraction(conn, attraction_id))
    return json_response(_attraction_json(row, ctx))


async def get_crowd(request: web.Request) -> web.Response:
    ctx = context(request)
    attraction_id = _attraction_id(request)
    v = Validator(request.query, query=True)
    day = v.date("date") or ctx.today()
    today = ctx.today()
    if "date" not in v.errors and not today <= day <= today + timedelta(days=CROWD_DAYS):
        v.fail("date", "out_of_window", f"must be today or up to {CROWD_DAYS} days ahead")
    v.check()

    def run(conn: sqlite3.Connection) -> tuple[sqlite3.Row, int]:
        return _attraction(conn, attraction_id), _reserved(conn, attraction_id, day)

    row, reserved = await ctx.db.run(run)
    closed = is_closed(bool(row["closed_mondays"]), day)
    level = crowd_level(float(row["popularity"]), day, attraction_id)
    info = _seed(ctx).levels[level - 1]
    return json_response({
        "attraction_id": attraction_id,
        "name": row["name"],
        "date": day.isoformat(),
        "closed": closed,
        "level": None if closed else level,
        "level_code": "closed" if closed else info["code"],
        "level_name": None if closed else info["name"],
        "reserved": reserved,
        "capacity": 0 if closed else ctx.scaled(int(row["daily_capacity"])),
        "simulated": True,
    })


def _reservation_json(ctx: Context, conn: sqlite3.Connection, row: sqlite3.Row
                      ) -> dict[str, Any]:
    attraction = conn.execute("SELECT name FROM attractions WHERE id = ?",
                              (row["attraction_id"],)).fetchone()
    return {
        "reservation_id": row["id"],
        "state_code": row["state"],
        "state": _seed(ctx).states[row["state"]],
        "attraction_id": row["attraction_id"],
        "attraction_name": attraction["name"],
        "date": row["date"],
        "visitors": row["visitors"],
        "name": mask_name(row["name"]),
        "phone_masked": mask_phone(row["phone"]),
        "id_number_masked": mask_id_number(row["id_number"]) if row["id_number"] else None,
        "created_at": row["created_at"],
        "cancelled_at": row["cancelled_at"],
    }


def _reserve(ctx: Context, conn: sqlite3.Connection, body: dict[str, Any], now: datetime
             ) -> dict[str, Any]:
    v = Validator(body, allowed=("attraction_id", "date", "visitors", "name", "phone",
                                 "id_number"))
    attraction_id = v.text("attraction_id", required=True, max_len=10)
    day = v.date("date", required=True)
    visitors = v.integer("visitors", low=1, high=MAX_VISITORS, required=True)
    name = v.text("name", required=True, min_len=2, max_len=20)
    phone = v.phone("phone", required=True)
    id_number = v.id_number("id_number")
    today = now.date()
    if day is not None and not today <= day < today + timedelta(days=RESERVATION_DAYS):
        v.fail("date", "out_of_window", f"must be today or up to {RESERVATION_DAYS - 1} days ahead")
    v.check()
    assert day is not None and visitors is not None
    row = _attraction(conn, str(attraction_id).upper())
    if is_closed(bool(row["closed_mondays"]), day):
        raise conflict("closed", "the attraction is closed on this date")
    duplicate = conn.execute(
        "SELECT 1 FROM reservations WHERE attraction_id = ? AND date = ? AND phone = ?"
        " AND state = 'booked'", (row["id"], day.isoformat(), phone),
    ).fetchone()
    if duplicate:
        raise conflict("duplicate_booking", "this phone already reserved this date")
    capacity = ctx.scaled(int(row["daily_capacity"]))
    if _reserved(conn, row["id"], day) + visitors > capacity:
        raise conflict("capacity_exhausted", "not enough tickets left for this date")
    reservation_id = f"MP{now:%Y%m%d}{next_sequence(conn, f'tourism:{now:%Y%m%d}'):06d}"
    conn.execute(
        "INSERT INTO reservations(id, attraction_id, date, visitors, name, phone, id_number,"
        " state, created_at) VALUES (?,?,?,?,?,?,?,'booked',?)",
        (reservation_id, row["id"], day.isoformat(), visitors, name, phone, id_number, iso(now)),
    )
    saved = conn.execute("SELECT * FROM reservations WHERE id = ?", (reservation_id,)).fetchone()
    return _reservation_json(ctx, conn, saved)


async def create_reservation(request: web.Request) -> web.Response:
    ctx = context(request)
    key = require_idempotency_key(request)
    body = await read_json_object(request)
    now = ctx.now()
    created = await ctx.db.run(
        lambda conn: idempotent_create(
            conn, scope="tourism.reserve", key=key, body_fingerprint=fingerprint(body), now=now,
            create=lambda c: _reserve(ctx, c, body, now),
        )
    )
    return created.response()


async def list_reservations(request: web.Request) -> web.Response:
    ctx = context(request)
    v = Validator(request.query, query=True)
    phone = v.phone("phone", required=True)
    include_cancelled = v.boolean("include_cancelled")
    v.check()

    def run(conn: sqlite3.Connection) -> list[dict[str, Any]]:
        rows = conn.execute("SELECT * FROM reservations WHERE phone = ? ORDER BY date, id",
                            (phone,)).fetchall()
        return [_reservation_json(ctx, conn, row) for row in rows
                if include_cancelled or row["state"] == "booked"]

    return json_response({"reservations": await ctx.db.run(run)})


async def cancel_reservation(request: web.Request) -> web.Response:
    """Cancels up to the day of the visit; phone must match (else 404). Safe to repeat."""
    ctx = context(request)
    reservation_id = path_param(request, "reservation_id", RESERVATION_ID, "reservation id")
    body = await read_json_object(request)
    v = Validator(body, allowed=("phone",))
    phone = v.phone("phone", required=True)
    v.check()
    now = ctx.now()

    def run(conn: sqlite3.Connection) -> dict[str, Any]:
        row = conn.execute("SELECT * FROM reservations WHERE id = ?",
                           (reservation_id,)).fetchone()
        if row is None or row["phone"] != phone:
            raise not_found("reservation")
        if row["state"] == "booked":
            if row["date"] < now.date().isoformat():
                raise conflict("too_late_to_cancel", "the visit date has passed")
            conn.execute(
                "UPDATE reservations SET state = 'cancelled', cancelled_at = ? WHERE id = ?",
                (iso(now), reservation_id),
            )
            row = conn.execute("SELECT * FROM reservations WHERE id = ?",
                               (reservation_id,)).fetchone()
        return _reservation_json(ctx, conn, row)

    return json_response(await ctx.db.run(run))


def _read_records(ctx: Context) -> list[dict[str, Any]] | None:
    path = ctx.settings.attractions_file
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        logger.error("tourism: cannot read %s (%s); starting without attractions. Set "
                     "SHARED_DATA_DIR to the folder holding tourism/attractions.jsonl.",
                     path, error.strerror)
        return None
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            logger.warning("tourism: %s line %d is not JSON; skipped", path.name, number)
            continue
        if isinstance(record, dict) and isinstance(record.get("name"), str) and record["name"]:
            records.append(record)
    return records


async def start(ctx: Context) -> None:
    ctx.state[NAME] = seed_data = _Seed()
    await ctx.db.script(SCHEMA)
    famous = set(seed_data.aliases.values())

    def seed(conn: sqlite3.Connection) -> bool:
        records = _read_records(ctx)
        if records is None:
            return False
        for position, record in enumerate(records):
            score = popularity(record, famous=record["name"] in famous)
            price = record.get("ticket_price_int")
            rating = record.get("rating")
            conn.execute(
                "INSERT INTO attractions(id, name, address, metro, phone, ticket_text,"
                " ticket_price, opening_hours, play_time, rating, intro, nearby, popularity,"
                " daily_capacity, closed_mondays, position) VALUES"
                " (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (f"A{position + 1:04d}", record["name"], record.get("address") or None,
                 record.get("metro") or None, record.get("phone") or None,
                 record.get("ticket_text") or None,
                 price if isinstance(price, int) else None,
                 record.get("opening_hours") or None, record.get("play_time") or None,
                 rating if isinstance(rating, (int, float)) else None,
                 record.get("intro") or None,
                 json.dumps(record.get("nearby_attractions") or [], ensure_ascii=False),
                 score, daily_capacity(score), int(closed_on_mondays(record.get("opening_hours"))),
                 position),
            )
        logger.info("tourism: seeded %d attractions", len(records))
        return True

    await seed_once(ctx, NAME, seed)
    rows = await ctx.db.run(lambda conn: conn.execute(
        "SELECT id, name, popularity FROM attractions ORDER BY position").fetchall())
    seed_data.index = AttractionIndex(
        ((row["id"], row["name"], float(row["popularity"])) for row in rows), seed_data.aliases
    )


SERVICE = ServiceDef(
    name=NAME,
    prefix="/tourism/v1",
    routes=(
        Route("GET", "/attractions", search_attractions),
        Route("GET", "/attractions/{attraction_id}", get_attraction),
        Route("GET", "/attractions/{attraction_id}/crowd", get_crowd),
        Route("POST", "/reservations", create_reservation),
        Route("GET", "/reservations", list_reservations),
        Route("POST", "/reservations/{reservation_id}/cancel", cancel_reservation),
    ),
    start=start,
)
