"""养老驿站: nearest stations by street or point, home-service bookings with daily capacity."""

import pytest

from tests.backends.support import new_key

pytestmark = pytest.mark.integration

BOOKING = {"station_id": "YZ-MD-01", "service": "助浴", "date": "2025-06-05",
           "address": "示范区明德里小区12号楼3单元501", "contact_name": "张桂兰",
           "phone": "13800138000"}


async def test_streets_and_services_are_listed(api):
    streets = (await api.get("/eldercare/v1/streets")).body["streets"]
    assert len(streets) == 8
    services = (await api.get("/eldercare/v1/services")).body["services"]
    assert [s["code"] for s in services] == ["meal", "bath", "cleaning", "medical"]
    assert [s["name"] for s in services] == ["助餐", "助浴", "助洁", "助医"]


@pytest.mark.parametrize("street", ["明德街道", "明德街", "明德", " 明 德 "])
async def test_nearest_stations_from_a_street_start_with_its_own(api, street):
    reply = (await api.get("/eldercare/v1/stations", street=street)).body
    assert reply["origin"]["street"] == "明德街道"
    stations = reply["stations"]
    assert len(stations) == 3
    assert {s["street"] for s in stations[:2]} == {"明德街道"}
    distances = [s["distance_m"] for s in stations]
    assert distances == sorted(distances)
    assert all(s["sample_data"] is True for s in stations)


async def test_nearest_stations_from_a_point_and_by_service(api):
    reply = (await api.get("/eldercare/v1/stations", lat="39.9475", lng="116.4529",
                           limit="1")).body
    assert [s["id"] for s in reply["stations"]] == ["YZ-FR-01"]
    assert reply["stations"][0]["distance_m"] < 10
    bathing = (await api.get("/eldercare/v1/stations", street="福润", service="助浴",
                             limit="20")).body["stations"]
    assert bathing and all(any(x["code"] == "bath" for x in s["services"]) for s in bathing)
    assert "YZ-FR-02" not in {s["id"] for s in bathing}  # it offers no bathing


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({}, "street", "required"),
        ({"street": "长安街道"}, "street", "unknown_street"),
        ({"street": "明德", "lat": "39.9", "lng": "116.4"}, "street", "ambiguous_origin"),
        ({"lat": "91", "lng": "116.4"}, "lat", "out_of_range"),
        ({"lat": "north", "lng": "116.4"}, "lat", "invalid_type"),
        ({"lat": "nan", "lng": "116.4"}, "lat", "out_of_range"),
        ({"street": "明德", "limit": "0"}, "limit", "out_of_range"),
        ({"street": "明德", "service": "理发"}, "service", "invalid_choice"),
    ],
)
async def test_nearest_station_queries_with_bad_parameters(api, params, field, code):
    reply = await api.get("/eldercare/v1/stations", **params)
    assert reply.status == 422
    assert reply.body["fields"][field]["code"] == code


async def test_a_station_by_id(api):
    station = (await api.get("/eldercare/v1/stations/yz-md-01")).body
    assert station["name"] == "明德街道明德里社区养老服务驿站"
    assert (await api.get("/eldercare/v1/stations/YZ-XX-99")).status == 404
    assert (await api.get("/eldercare/v1/stations/..")).status == 404


async def test_booking_listing_and_cancelling_a_home_service(api):
    reply = await api.create("/eldercare/v1/bookings", BOOKING)
    assert reply.status == 201
    booking = reply.body
    assert booking["booking_id"].startswith("YL20250603")
    assert (booking["service"], booking["service_name"]) == ("bath", "助浴")
    assert booking["contact_name"] == "张*兰" and booking["phone_masked"] == "138****8000"
    mine = (await api.get("/eldercare/v1/bookings", phone="13800138000")).body["bookings"]
    assert [b["booking_id"] for b in mine] == [booking["booking_id"]]
    cancel = f"/eldercare/v1/bookings/{booking['booking_id']}/cancel"
    assert (await api.post(cancel, {"phone": "13900000000"})).status == 404
    cancelled = await api.post(cancel, {"phone": "13800138000"})
    assert (cancelled.status, cancelled.body["state_code"]) == (200, "cancelled")
    assert (await api.post(cancel, {"phone": "13800138000"})).status == 200
    assert (await api.get("/eldercare/v1/bookings", phone="13800138000")).body["bookings"] == []


async def test_daily_capacity_per_station_and_service(api):
    # bathing: 3 a day per station
    for i in range(3):
        reply = await api.create("/eldercare/v1/bookings", {**BOOKING, "phone": f"1370000000{i}"})
        assert reply.status == 201
    full = await api.create("/eldercare/v1/bookings", {**BOOKING, "phone": "13700000009"})
    assert (full.status, full.body["error"]) == (409, "capacity_exhausted")
    other_day = await api.create("/eldercare/v1/bookings",
                                 {**BOOKING, "phone": "13700000009", "date": "2025-06-06"})
    assert other_day.status == 201
    other_service = await api.create("/eldercare/v1/bookings",
                                     {**BOOKING, "phone": "13700000009", "service": "meal"})
    assert other_service.status == 201


async def test_one_booking_per_phone_station_service_and_day(api):
    assert (await api.create("/eldercare/v1/bookings", BOOKING)).status == 201
    again = await api.create("/eldercare/v1/bookings", BOOKING)
    assert (again.status, again.body["error"]) == (409, "duplicate_booking")


async def test_cancel_is_possible_until_the_day_before(api):
    booking = (await api.create("/eldercare/v1/bookings",
                                {**BOOKING, "date": "2025-06-04"})).body
    api.clock.advance(days=1)
    reply = await api.post(f"/eldercare/v1/bookings/{booking['booking_id']}/cancel",
                           {"phone": "13800138000"})
    assert (reply.status, reply.body["error"]) == (409, "too_late_to_cancel")


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"date": "2025-06-03"}, "date", "out_of_window"),  # same day: too short notice
        ({"date": "2025-06-18"}, "date", "out_of_window"),
        ({"date": "06/05/2025"}, "date", "invalid_date"),
        ({"service": "理发"}, "service", "invalid_choice"),
        ({"address": "家里"}, "address", "too_short"),
        ({"phone": "010-1234"}, "phone", "invalid_phone"),
        ({"contact_name": None}, "contact_name", "required"),
        ({"notes": "x" * 201}, "notes", "too_long"),
        ({"station_id": 5}, "station_id", "invalid_type"),
    ],
)
async def test_booking_validation(api, change, field, code):
    body = {k: v for k, v in {**BOOKING, **change}.items() if v is not None}
    reply = await api.create("/eldercare/v1/bookings", body)
    assert reply.status == 422
    assert reply.body["fields"][field]["code"] == code


async def test_a_station_must_offer_the_service_and_exist(api):
    reply = await api.create("/eldercare/v1/bookings", {**BOOKING, "station_id": "YZ-MD-02"})
    assert (reply.status, reply.body["fields"]["service"]["code"]) == (422, "not_offered")
    missing = await api.create("/eldercare/v1/bookings", {**BOOKING, "station_id": "YZ-ZZ-01"})
    assert missing.status == 404


async def test_booking_is_idempotent(api):
    key = new_key()
    first = await api.post("/eldercare/v1/bookings", BOOKING, key=key)
    second = await api.post("/eldercare/v1/bookings", BOOKING, key=key)
    assert first.body == second.body and second.headers["Idempotent-Replayed"] == "true"
    changed = await api.post("/eldercare/v1/bookings", {**BOOKING, "date": "2025-06-06"}, key=key)
    assert (changed.status, changed.body["error"]) == (409, "idempotency_key_reused")
