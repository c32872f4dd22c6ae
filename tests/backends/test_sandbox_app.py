"""The sandbox application as a whole: health, JSON errors for hostile requests, persistence
across restarts, and limits that hold under concurrent requests."""

import asyncio
import sqlite3

import pytest
from aiohttp.test_utils import TestClient, TestServer

from backends.sandbox.app import create_app
from backends.sandbox.context import DB_FILE
from backends.sandbox.settings import SandboxSettings
from tests.backends.support import FakeClock, new_key, running_sandbox

pytestmark = pytest.mark.integration

TICKET = {"category": "noise", "street": "明德街道", "description": "楼下商铺夜里放音乐",
          "phone": "13800138000"}


async def test_health_answers(tmp_path):
    async with TestClient(TestServer(create_app(tmp_path, settings=SandboxSettings()))) as client:
        reply = await client.get("/health")
        assert reply.status == 200
        assert await reply.json() == {"status": "ok"}


async def test_unknown_paths_and_methods_are_json_errors(api):
    reply = await api.get("/nope")
    assert (reply.status, reply.body["error"]) == (404, "not_found")
    reply = await api.request("DELETE", "/tickets/v1/tickets")
    assert (reply.status, reply.body["error"]) == (405, "method_not_allowed")
    assert "POST" in reply.headers["Allow"]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "invalid_json"),
        (b"{not json", "invalid_json"),
        (b"[1, 2]", "invalid_json"),
        (b'"just a string"', "invalid_json"),
        (b'{"a": NaN}', "invalid_json"),
        (b"\xff\xfe{}", "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, None),  # too deep and too large
        (b"[" * 20_000 + b"]" * 20_000, "invalid_json"),  # deep nesting under the size limit
    ],
)
async def test_hostile_bodies_get_4xx_never_500(api, data, error):
    reply = await api.request("POST", "/tickets/v1/tickets", data=data,
                              headers={"Idempotency-Key": new_key(),
                                       "Content-Type": "application/json"})
    assert 400 <= reply.status < 500
    if error:
        assert (reply.status, reply.body["error"]) == (400, error)
    else:
        assert (reply.status, reply.body["error"]) == (413, "body_too_large")


async def test_wrong_types_are_field_errors_not_crashes(api):
    body = {"category": 7, "street": ["明德"], "description": {"x": 1}, "phone": 13800138000,
            "anonymous": "yes", "channel": None}
    reply = await api.create("/tickets/v1/tickets", body)
    assert reply.status == 422
    fields = {name: info["code"] for name, info in reply.body["fields"].items()}
    assert fields == {"category": "invalid_type", "street": "invalid_type",
                      "description": "invalid_type", "phone": "invalid_phone",
                      "anonymous": "invalid_type"}


async def test_creates_need_a_well_formed_idempotency_key(api):
    reply = await api.post("/tickets/v1/tickets", TICKET)
    assert (reply.status, reply.body["error"]) == (400, "idempotency_key_required")
    for bad in ("short", "has space inside", "é" * 10, "x" * 129):
        reply = await api.post("/tickets/v1/tickets", TICKET, headers={"Idempotency-Key": bad})
        assert (reply.status, reply.body["error"]) == (400, "invalid_idempotency_key"), bad


async def test_path_tricks_are_404_or_422(api):
    for path in ("/tickets/v1/tickets/..%2F..%2Fhealth", "/tourism/v1/attractions/%00",
                 "/hospitals/v1/hospitals/PUMCH%27--", "/eldercare/v1/stations/x;drop"):
        reply = await api.get(path)
        assert reply.status in (404, 422), path


async def test_data_survives_a_restart_and_seeds_only_once(tmp_path):
    data_dir = tmp_path / "sandbox"
    clock = FakeClock()
    async with running_sandbox(data_dir, clock=clock, fresh=True) as api:
        created = await api.create("/tickets/v1/tickets", TICKET)
        assert created.status == 201
    clock.advance(days=1)
    async with running_sandbox(data_dir, clock=clock) as api:
        again = await api.get(f"/tickets/v1/tickets/{created.body['number']}")
        assert again.status == 200
        assert again.body["description"] == TICKET["description"]
    with sqlite3.connect(data_dir / DB_FILE) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        seeded = dict(conn.execute("SELECT service, seeded_at FROM seed_state").fetchall())
        assert set(seeded) == {"tickets", "hospitals", "eldercare", "tourism", "applications"}
        assert conn.execute("SELECT COUNT(*) FROM hospitals").fetchone()[0] == 20
        assert conn.execute("SELECT COUNT(*) FROM attractions").fetchone()[0] == 1159


async def test_a_missing_tourism_data_set_starts_empty_and_seeds_later(tmp_path):
    data_dir = tmp_path / "sandbox"
    async with running_sandbox(data_dir, shared_data_dir=tmp_path / "missing") as api:
        assert (await api.get("/health")).status == 200
        reply = await api.get("/tourism/v1/attractions", q="故宫")
        assert (reply.status, reply.body["results"]) == (200, [])
    async with running_sandbox(data_dir) as api:
        reply = await api.get("/tourism/v1/attractions", q="故宫")
        assert reply.body["results"][0]["name"] == "故宫"


async def test_concurrent_bookings_never_exceed_capacity(api):
    slots = (await api.get("/hospitals/v1/slots", hospital_id="pumch",
                           department="cardiology")).body["slots"]
    slot = slots[0]
    attempts = slot["available"] + 5

    async def book(i: int):
        return await api.create("/hospitals/v1/bookings", {
            "slot_id": slot["slot_id"], "patient_name": f"病人{i:02d}",
            "phone": f"139{i:08d}"})

    replies = await asyncio.gather(*(book(i) for i in range(attempts)))
    statuses = sorted(r.status for r in replies)
    assert statuses.count(201) == slot["available"]
    assert statuses.count(409) == 5
    assert {r.body["error"] for r in replies if r.status == 409} == {"capacity_exhausted"}
    queue = sorted(r.body["queue_number"] for r in replies if r.status == 201)
    assert queue == list(range(1, slot["available"] + 1))


async def test_concurrent_same_key_creates_make_one_ticket(api):
    key = new_key()
    replies = await asyncio.gather(*(api.post("/tickets/v1/tickets", TICKET, key=key)
                                     for _ in range(10)))
    assert {r.status for r in replies} == {201}
    assert len({r.body["number"] for r in replies}) == 1
    assert sorted(r.headers["Idempotent-Replayed"] for r in replies) == ["false"] + ["true"] * 9


async def test_idempotency_keys_are_forgotten_after_a_week(tmp_path):
    data_dir = tmp_path / "sandbox"
    clock = FakeClock()
    key = new_key()
    async with running_sandbox(data_dir, clock=clock) as api:
        first = await api.post("/tickets/v1/tickets", TICKET, key=key)
    clock.advance(days=8)
    async with running_sandbox(data_dir, clock=clock) as api:
        later = await api.post("/tickets/v1/tickets", TICKET, key=key)
    assert (first.status, later.status) == (201, 201)
    assert later.headers["Idempotent-Replayed"] == "false"
    assert later.body["number"] != first.body["number"]
