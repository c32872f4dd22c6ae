"""Tourism: search, details, simulated crowd level, reservations with daily capacity."""

import pytest

from tests.backends.support import new_key, running_sandbox

pytestmark = pytest.mark.integration

RESERVATION = {"attraction_id": "A0001", "date": "2025-06-04", "visitors": 2, "name": "赵磊",
               "phone": "13800138000"}


@pytest.mark.parametrize(
    ("query", "name", "match"),
    [
        ("故宫", "故宫", "exact"),
        ("故宫博物院", "故宫", "alias"),
        ("鸟巢", "鸟巢（国家体育场）", "alias"),
        ("水立方", "水立方（国家游泳中心）", "alias"),
        ("天坛公园", "天坛", "alias"),
        ("后海", "什刹海", "alias"),
        ("颐和圆", "颐和园", "fuzzy"),
        ("八达岭长成", "八达岭长城", "fuzzy"),
    ],
)
async def test_search_by_what_residents_say(api, query, name, match):
    reply = (await api.get("/tourism/v1/attractions", q=query)).body
    assert (reply["results"][0]["name"], reply["results"][0]["match"]) == (name, match)


async def test_search_limits_and_validation(api):
    results = (await api.get("/tourism/v1/attractions", q="长城", limit="3")).body["results"]
    assert len(results) == 3 and results[0]["name"] == "八达岭长城"
    assert all("长城" in r["name"] for r in results)
    assert (await api.get("/tourism/v1/attractions", q="火星基地")).body["results"] == []
    assert (await api.get("/tourism/v1/attractions")).status == 422
    assert (await api.get("/tourism/v1/attractions", q="x" * 51)).status == 422
    assert (await api.get("/tourism/v1/attractions", q="故宫", limit="100")).status == 422


async def test_details_are_reference_information(api):
    palace = (await api.get("/tourism/v1/attractions/A0001")).body
    assert palace["name"] == "故宫" and palace["address"] == "北京市东城区景山前街4号"
    assert palace["reference_only"] is True and palace["data_year"] == 2019
    assert palace["closed_on_mondays"] is True
    assert (await api.get("/tourism/v1/attractions/A9999")).status == 404
    assert (await api.get("/tourism/v1/attractions/gugong")).status == 404


async def test_crowd_level_is_deterministic_and_knows_closing_days(api):
    first = (await api.get("/tourism/v1/attractions/A0001/crowd", date="2025-06-07")).body
    again = (await api.get("/tourism/v1/attractions/A0001/crowd", date="2025-06-07")).body
    assert first == again and first["simulated"] is True
    assert 1 <= first["level"] <= 4 and first["level_code"] != "closed"
    today = (await api.get("/tourism/v1/attractions/A0001/crowd")).body
    assert today["date"] == "2025-06-03"
    monday = (await api.get("/tourism/v1/attractions/A0001/crowd", date="2025-06-09")).body
    assert monday["closed"] is True and monday["level"] is None
    assert monday["level_code"] == "closed"
    for bad in ("2025-06-02", "2025-08-01", "tomorrow"):
        reply = await api.get("/tourism/v1/attractions/A0001/crowd", date=bad)
        assert reply.status == 422, bad


async def test_reserving_counts_visitors_against_the_day(api):
    reply = await api.create("/tourism/v1/reservations", RESERVATION)
    assert reply.status == 201
    reservation = reply.body
    assert reservation["reservation_id"].startswith("MP20250603")
    assert (reservation["attraction_name"], reservation["visitors"]) == ("故宫", 2)
    assert reservation["name"] == "赵*" and reservation["phone_masked"] == "138****8000"
    crowd = (await api.get("/tourism/v1/attractions/A0001/crowd", date="2025-06-04")).body
    assert crowd["reserved"] == 2
    listed = (await api.get("/tourism/v1/reservations", phone="13800138000")).body
    assert [r["reservation_id"] for r in listed["reservations"]] == [
        reservation["reservation_id"]]
    cancel = f"/tourism/v1/reservations/{reservation['reservation_id']}/cancel"
    assert (await api.post(cancel, {"phone": "13800138001"})).status == 404
    cancelled = await api.post(cancel, {"phone": "13800138000"})
    assert cancelled.body["state_code"] == "cancelled"
    crowd = (await api.get("/tourism/v1/attractions/A0001/crowd", date="2025-06-04")).body
    assert crowd["reserved"] == 0


async def test_tickets_run_out(tmp_path):
    async with running_sandbox(tmp_path / "s", capacity_scale=0.002) as api:
        capacity = (await api.get("/tourism/v1/attractions/A0001")).body["daily_capacity"]
        assert capacity < 20
        booked = 0
        for i in range(capacity):
            visitors = min(5, capacity - booked)
            if visitors == 0:
                break
            reply = await api.create("/tourism/v1/reservations",
                                     {**RESERVATION, "visitors": visitors,
                                      "phone": f"1360000{i:04d}"})
            assert reply.status == 201
            booked += visitors
        full = await api.create("/tourism/v1/reservations",
                                {**RESERVATION, "visitors": 1, "phone": "13599999999"})
        assert (full.status, full.body["error"]) == (409, "capacity_exhausted")


@pytest.mark.parametrize(
    ("change", "status", "error"),
    [
        ({"date": "2025-06-09"}, 409, "closed"),  # the Palace Museum closes on Mondays
        ({"date": "2025-06-10"}, 422, "validation_failed"),  # beyond the window
        ({"date": "2025-06-02"}, 422, "validation_failed"),
        ({"visitors": 6}, 422, "validation_failed"),
        ({"visitors": 0}, 422, "validation_failed"),
        ({"visitors": "2"}, 422, "validation_failed"),
        ({"visitors": True}, 422, "validation_failed"),
        ({"attraction_id": "A9999"}, 404, "not_found"),
        ({"id_number": "123"}, 422, "validation_failed"),
    ],
)
async def test_reservations_that_cannot_be_made(api, change, status, error):
    reply = await api.create("/tourism/v1/reservations", {**RESERVATION, **change})
    assert (reply.status, reply.body["error"]) == (status, error)


async def test_one_reservation_per_phone_and_day_and_idempotent_creates(api):
    key = new_key()
    first = await api.post("/tourism/v1/reservations", RESERVATION, key=key)
    replay = await api.post("/tourism/v1/reservations", RESERVATION, key=key)
    assert first.body == replay.body
    duplicate = await api.create("/tourism/v1/reservations", RESERVATION)
    assert (duplicate.status, duplicate.body["error"]) == (409, "duplicate_booking")
