"""Hospital appointments: hospitals, departments, guidance, slots, booking, listing, cancel."""

import pytest

from tests.backends.support import VALID_ID_NUMBER, new_key

pytestmark = pytest.mark.integration


async def first_slot(api, hospital="pumch", department="cardiology", **extra):
    slots = (await api.get("/hospitals/v1/slots", hospital_id=hospital, department=department,
                           **extra)).body["slots"]
    assert slots, "the seeded hospital has open slots"
    return slots[0]


def patient(i=0, **extra):
    return {"patient_name": f"李秀{'英兰梅芳'[i % 4]}", "phone": f"1390000{i:04d}", **extra}


async def test_real_hospitals_and_demo_community_centres_are_seeded(api):
    hospitals = (await api.get("/hospitals/v1/hospitals")).body["hospitals"]
    names = {h["name"] for h in hospitals}
    assert {"北京协和医院", "北京大学第一医院", "首都医科大学附属北京朝阳医院",
            "首都医科大学附属北京同仁医院"} <= names
    community = (await api.get("/hospitals/v1/hospitals", kind="community")).body["hospitals"]
    assert len(community) == 4 and all(h["sample_data"] for h in community)
    found = (await api.get("/hospitals/v1/hospitals", q="同仁")).body["hospitals"]
    assert [h["id"] for h in found] == ["tongren"]
    assert (await api.get("/hospitals/v1/hospitals", kind="clinic")).status == 422


async def test_a_hospital_lists_its_departments(api):
    detail = (await api.get("/hospitals/v1/hospitals/pumch")).body
    codes = {d["code"]: d for d in detail["departments"]}
    assert codes["cardiology"]["name"] == "心血管内科" and codes["cardiology"]["bookable"]
    assert codes["emergency"]["bookable"] is False
    departments = (await api.get("/hospitals/v1/hospitals/pumch/departments")).body
    assert departments["departments"] == detail["departments"]
    assert (await api.get("/hospitals/v1/hospitals/nowhere")).status == 404
    assert (await api.get("/hospitals/v1/hospitals/nowhere/departments")).status == 404


async def test_guidance_points_to_departments_and_flags_emergencies(api):
    reply = (await api.get("/hospitals/v1/guidance", symptom="最近老是头疼，晚上失眠")).body
    assert reply["urgent"] is False and reply["guidance_only"] is True
    assert reply["departments"][0]["code"] == "neurology"
    assert set(reply["departments"][0]["matched"]) == {"头疼", "失眠"}
    urgent = (await api.get("/hospitals/v1/guidance", symptom="突然胸口疼，喘不上气")).body
    assert urgent["urgent"] is True and urgent["departments"][0]["code"] == "emergency"
    nothing = (await api.get("/hospitals/v1/guidance", symptom="我想问问天气")).body
    assert nothing["departments"] == [] and nothing["urgent"] is False
    assert (await api.get("/hospitals/v1/guidance")).status == 422


async def test_slots_are_listed_by_half_day_within_the_window(api):
    slots = (await api.get("/hospitals/v1/slots", hospital_id="pumch",
                           department="cardiology")).body["slots"]
    dates = {s["date"] for s in slots}
    assert min(dates) == "2025-06-03" and max(dates) <= "2025-06-09"
    assert "2025-06-07" not in dates  # no cardiology clinic on Saturday
    assert {s["period_code"] for s in slots} == {"am", "pm"}
    assert all(s["available"] == s["capacity"] - s["booked"] > 0 for s in slots)
    one = (await api.get("/hospitals/v1/slots", hospital_id="pumch", department="cardiology",
                         date="2025-06-04", period="下午")).body["slots"]
    assert [(s["date"], s["period"]) for s in one] == [("2025-06-04", "下午")]
    api.clock.advance(hours=3)  # 12:00: this morning's slots have closed
    later = (await api.get("/hospitals/v1/slots", hospital_id="pumch", department="cardiology",
                           date="2025-06-03")).body["slots"]
    assert [s["period_code"] for s in later] == ["pm"]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"hospital_id": "pumch", "department": "emergency"}, 422),  # walk-in only
        ({"hospital_id": "pumch", "department": "obstetrics-x"}, 404),
        ({"hospital_id": "nowhere"}, 404),
        ({}, 422),
        ({"hospital_id": "pumch", "date": "2025-13-01"}, 422),
        ({"hospital_id": "pumch", "period": "evening"}, 422),
    ],
)
async def test_slot_queries_with_bad_parameters(api, params, status):
    assert (await api.get("/hospitals/v1/slots", **params)).status == status


async def test_booking_takes_a_place_and_cancelling_frees_it(api):
    slot = await first_slot(api)
    reply = await api.create("/hospitals/v1/bookings",
                             {"slot_id": slot["slot_id"], **patient(id_number=VALID_ID_NUMBER)})
    assert reply.status == 201
    booking = reply.body
    assert booking["booking_id"].startswith("GH20250603")
    assert (booking["state_code"], booking["queue_number"]) == ("booked", 1)
    assert booking["phone_masked"] == "139****0000"
    assert booking["id_number_masked"] == "110***********002X"
    assert VALID_ID_NUMBER not in str(booking)
    after = await first_slot(api, date=slot["date"], period=slot["period_code"])
    assert after["available"] == slot["available"] - 1
    mine = (await api.get("/hospitals/v1/bookings", phone="139-0000-0000")).body["bookings"]
    assert [b["booking_id"] for b in mine] == [booking["booking_id"]]

    cancel = f"/hospitals/v1/bookings/{booking['booking_id']}/cancel"
    cancelled = await api.post(cancel, {"phone": "13900000000"})
    assert (cancelled.status, cancelled.body["state_code"]) == (200, "cancelled")
    again = await api.post(cancel, {"phone": "13900000000"})
    assert again.status == 200 and again.body == cancelled.body  # safe to repeat
    freed = await first_slot(api, date=slot["date"], period=slot["period_code"])
    assert freed["available"] == slot["available"]
    assert (await api.get("/hospitals/v1/bookings", phone="13900000000")).body["bookings"] == []
    history = await api.get("/hospitals/v1/bookings", phone="13900000000",
                            include_cancelled="true")
    assert [b["state_code"] for b in history.body["bookings"]] == ["cancelled"]


async def test_cancel_needs_the_bookings_phone(api):
    slot = await first_slot(api)
    booking = (await api.create("/hospitals/v1/bookings",
                                {"slot_id": slot["slot_id"], **patient()})).body
    cancel = f"/hospitals/v1/bookings/{booking['booking_id']}/cancel"
    assert (await api.post(cancel, {"phone": "13911112222"})).status == 404
    assert (await api.post(cancel, {"phone": "not a phone"})).status == 422
    assert (await api.post(cancel, {})).status == 422
    assert (await api.post("/hospitals/v1/bookings/GH20250603999999/cancel",
                           {"phone": "13900000000"})).status == 404
    assert (await api.post("/hospitals/v1/bookings/garbage/cancel",
                           {"phone": "13900000000"})).status == 422


async def test_cancelling_after_the_half_day_began_is_409(api):
    slot = await first_slot(api, date="2025-06-03", period="am")
    booking = (await api.create("/hospitals/v1/bookings",
                                {"slot_id": slot["slot_id"], **patient()})).body
    api.clock.advance(hours=3)
    reply = await api.post(f"/hospitals/v1/bookings/{booking['booking_id']}/cancel",
                           {"phone": "13900000000"})
    assert (reply.status, reply.body["error"]) == (409, "too_late_to_cancel")


async def test_the_same_patient_cannot_hold_a_slot_twice(api):
    slot = await first_slot(api)
    first = await api.create("/hospitals/v1/bookings", {"slot_id": slot["slot_id"], **patient()})
    assert first.status == 201
    same = await api.create("/hospitals/v1/bookings", {"slot_id": slot["slot_id"], **patient()})
    assert (same.status, same.body["error"]) == (409, "duplicate_booking")
    # the same identity number under another phone is the same patient too
    with_id = {"slot_id": slot["slot_id"], **patient(1, id_number=VALID_ID_NUMBER)}
    assert (await api.create("/hospitals/v1/bookings", with_id)).status == 201
    other_phone = {**with_id, "phone": "13700000001"}
    reply = await api.create("/hospitals/v1/bookings", other_phone)
    assert (reply.status, reply.body["error"]) == (409, "duplicate_booking")
    # a family member on the same phone is another patient
    family = {"slot_id": slot["slot_id"], "patient_name": "王小明", "phone": "13900000000"}
    assert (await api.create("/hospitals/v1/bookings", family)).status == 201


async def test_a_full_slot_is_409_and_hidden_unless_asked(api):
    slot = await first_slot(api, date="2025-06-04", period="am")
    for i in range(slot["available"]):
        reply = await api.create("/hospitals/v1/bookings",
                                 {"slot_id": slot["slot_id"], **patient(i)})
        assert reply.status == 201
    full = await api.create("/hospitals/v1/bookings",
                            {"slot_id": slot["slot_id"], **patient(999)})
    assert (full.status, full.body["error"]) == (409, "capacity_exhausted")
    listed = (await api.get("/hospitals/v1/slots", hospital_id="pumch", department="cardiology",
                            date="2025-06-04", period="am")).body["slots"]
    assert listed == []
    shown = (await api.get("/hospitals/v1/slots", hospital_id="pumch", department="cardiology",
                           date="2025-06-04", period="am", include_full="true")).body["slots"]
    assert shown[0]["available"] == 0


@pytest.mark.parametrize(
    ("slot_id", "status", "error"),
    [
        ("pumch.cardiology.20250607.am", 404, "not_found"),  # no clinic on Saturday
        ("pumch.emergency.20250604.am", 422, "validation_failed"),
        ("pumch.pediatrics.20250604.am", 404, "not_found"),  # not a department of this hospital
        ("nowhere.cardiology.20250604.am", 404, "not_found"),
        ("pumch.cardiology.20250612.am", 409, "slot_closed"),  # beyond seven days
        ("pumch.cardiology.20250602.pm", 409, "slot_closed"),  # yesterday
        ("pumch cardiology tomorrow", 422, "validation_failed"),
    ],
)
async def test_booking_a_slot_that_cannot_be_booked(api, slot_id, status, error):
    reply = await api.create("/hospitals/v1/bookings", {"slot_id": slot_id, **patient()})
    assert (reply.status, reply.body["error"]) == (status, error)


async def test_booking_validation_names_every_bad_field(api):
    reply = await api.create("/hospitals/v1/bookings", {
        "slot_id": "pumch.cardiology.20250604.am", "patient_name": "李",
        "phone": "12345", "id_number": "110105194912310021", "age": 70})
    assert reply.status == 422
    assert {k: v["code"] for k, v in reply.body["fields"].items()} == {
        "patient_name": "too_short", "phone": "invalid_phone",
        "id_number": "invalid_id_number", "age": "unknown_field"}


async def test_booking_is_idempotent(api):
    slot = await first_slot(api)
    key = new_key()
    body = {"slot_id": slot["slot_id"], **patient()}
    first = await api.post("/hospitals/v1/bookings", body, key=key)
    second = await api.post("/hospitals/v1/bookings", body, key=key)
    assert (first.status, second.status) == (201, 201)
    assert first.body["booking_id"] == second.body["booking_id"]
    after = await first_slot(api, date=slot["date"], period=slot["period_code"])
    assert after["booked"] == 1


async def test_listing_needs_a_valid_phone(api):
    assert (await api.get("/hospitals/v1/bookings")).status == 422
    assert (await api.get("/hospitals/v1/bookings", phone="abc")).status == 422
    assert (await api.get("/hospitals/v1/bookings", phone="13912345678")).body == {
        "bookings": []}
