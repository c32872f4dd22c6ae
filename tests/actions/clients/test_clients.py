"""Every client method against the real sandbox: typed answers, and errors as the small
exception tree (NotFound, Conflict, CapacityExhausted, BackendRejected with field errors)."""

from datetime import date

import pytest

from actions.clients import (
    BackendRejected,
    CapacityExhausted,
    Conflict,
    NotFound,
    idempotency_key,
)
from tests.backends.support import VALID_ID_NUMBER

pytestmark = pytest.mark.integration


async def test_tickets(backends, sandbox):
    tickets = backends.tickets
    categories = await tickets.categories()
    assert ("noise", "噪声扰民") in [(c.code, c.name) for c in categories]
    assert "明德街道" in [s.name for s in await tickets.streets()]
    ticket = await tickets.create_ticket(
        idempotency_key=idempotency_key("sender-1", "ticket_form", 1),
        category="noise", street="明德", description="楼下商铺夜里放音乐",
        phone="13800138000", location="明德里5号楼", channel="web")
    assert ticket.number.startswith("JS20250603") and ticket.state_code == "accepted"
    assert ticket.phone_masked == "138****8000" and ticket.timeline[0].state == "已受理"
    again = await tickets.get_ticket(ticket.number.lower())
    assert again == ticket
    sandbox.clock.advance(hours=3)
    assert (await tickets.get_ticket(ticket.number)).handling_office == "明德街道办事处"
    with pytest.raises(NotFound):
        await tickets.get_ticket("JS20250603999999")


async def test_garbage_ticket_numbers_are_refused_without_a_request(backends, sandbox):
    for garbage in ("hello", "../../_admin/faults", "JS2025", ""):
        with pytest.raises(BackendRejected) as error:
            await backends.tickets.get_ticket(garbage)
        assert error.value.field_errors == {"number": "invalid_format"}
    assert sandbox.ctx.stats.requests["tickets"] == 0


async def test_ticket_validation_errors_arrive_as_field_codes(backends):
    with pytest.raises(BackendRejected) as error:
        await backends.tickets.create_ticket(
            idempotency_key=idempotency_key("s", "t", 2), category="噪声扰民",
            street="长安街道", description="吵", phone="12345")
    assert type(error.value) is BackendRejected and error.value.status == 422
    assert error.value.field_errors == {"street": "unknown_street", "description": "too_short",
                                        "phone": "invalid_phone"}


async def test_hospitals_slots_booking_and_cancel(backends):
    hospitals = backends.hospitals
    assert [h.id for h in await hospitals.hospitals(q="协和")] == ["pumch"]
    assert len(await hospitals.hospitals(kind="community")) == 4
    pumch = await hospitals.hospital("pumch")
    assert any(d.code == "cardiology" and d.bookable for d in pumch.departments)
    assert len(await hospitals.departments("pumch")) == len(pumch.departments)
    guidance = await hospitals.guidance("孩子发烧咳嗽")
    assert not guidance.urgent
    assert {"pediatrics", "fever_clinic", "respiratory"} <= {d.code for d in guidance.departments}
    assert (await hospitals.guidance("胸口疼得厉害")).urgent

    slots = await hospitals.free_slots("pumch", department="cardiology", day=date(2025, 6, 4),
                                       period="上午")
    assert len(slots) == 1 and slots[0].available > 0
    booking = await hospitals.book(idempotency_key=idempotency_key("s", "book", 1),
                                   slot_id=slots[0].slot_id, patient_name="李秀英",
                                   phone="13900000001", id_number=VALID_ID_NUMBER)
    assert (booking.state_code, booking.queue_number) == ("booked", 1)
    assert booking.id_number_masked == "110***********002X"
    assert [b.booking_id for b in await hospitals.bookings("139 0000 0001")] == [
        booking.booking_id]
    with pytest.raises(Conflict) as error:
        await hospitals.book(idempotency_key=idempotency_key("s", "book", 2),
                             slot_id=slots[0].slot_id, patient_name="李秀英",
                             phone="13900000001")
    assert error.value.code == "duplicate_booking"
    cancelled = await hospitals.cancel(booking.booking_id, "13900000001")
    assert cancelled.state_code == "cancelled" and cancelled.cancelled_at is not None
    assert await hospitals.bookings("13900000001") == []
    with pytest.raises(NotFound):
        await hospitals.hospital("../../health")
    with pytest.raises(NotFound):
        await hospitals.cancel("GH20250603999999", "13900000001")


async def test_a_full_slot_raises_capacity_exhausted(backends):
    hospitals = backends.hospitals
    slot = (await hospitals.free_slots("sq-mingde", department="tcm", day=date(2025, 6, 5),
                                       period="pm"))[0]
    for i in range(slot.available):
        await hospitals.book(idempotency_key=idempotency_key("full", i), slot_id=slot.slot_id,
                             patient_name="王建国", phone=f"1370000{i:04d}")
    with pytest.raises(CapacityExhausted) as error:
        await hospitals.book(idempotency_key=idempotency_key("full", "last"),
                             slot_id=slot.slot_id, patient_name="王建国", phone="13799999999")
    assert error.value.status == 409 and error.value.code == "capacity_exhausted"
    assert await hospitals.free_slots("sq-mingde", department="tcm", day=date(2025, 6, 5),
                                      period="pm") == []


async def test_eldercare_stations_and_home_services(backends):
    eldercare = backends.eldercare
    assert len(await eldercare.streets()) == 8
    assert [s.code for s in await eldercare.services()] == ["meal", "bath", "cleaning",
                                                           "medical"]
    nearest = await eldercare.nearest_stations(street="和畅", service="bath", limit=2)
    assert nearest[0].street == "和畅街道" and all(s.offers("bath") for s in nearest)
    assert nearest[0].distance_m is not None and nearest[0].sample_data
    by_point = await eldercare.nearest_stations(lat=39.9475, lng=116.4529, limit=1)
    assert by_point[0].id == "YZ-FR-01"
    assert (await eldercare.station("YZ-FR-01")).name == by_point[0].name
    with pytest.raises(BackendRejected) as error:
        await eldercare.nearest_stations(street="火星街道")
    assert error.value.field_errors == {"street": "unknown_street"}

    booking = await eldercare.book_service(
        idempotency_key=idempotency_key("s", "home", 1), station_id=nearest[0].id,
        service="bath", day=date(2025, 6, 6), address="示范区和畅园小区3号楼2单元",
        contact_name="张桂兰", phone="13800138000", notes="需要轮椅")
    assert booking.service_name == "助浴" and booking.contact_name == "张*兰"
    assert [b.booking_id for b in await eldercare.bookings("13800138000")] == [
        booking.booking_id]
    assert (await eldercare.cancel(booking.booking_id, "13800138000")).state_code == "cancelled"
    with pytest.raises(BackendRejected) as error:
        await eldercare.book_service(
            idempotency_key=idempotency_key("s", "home", 2), station_id=nearest[0].id,
            service="bath", day=date(2025, 6, 3), address="示范区和畅园小区3号楼2单元",
            contact_name="张桂兰", phone="13800138000")
    assert error.value.field_errors == {"date": "out_of_window"}


async def test_tourism_search_details_crowd_and_reservations(backends):
    tourism = backends.tourism
    found = await tourism.search("故宫博物院")
    assert (found[0].name, found[0].match) == ("故宫", "alias")
    palace = await tourism.attraction(found[0].id)
    assert palace.reference_only and palace.data_year == 2019 and palace.closed_on_mondays
    crowd = await tourism.crowd(palace.id, date(2025, 6, 9))
    assert crowd.closed and crowd.level is None and crowd.level_code == "closed"
    today = await tourism.crowd(palace.id)
    assert today.date == date(2025, 6, 3) and 1 <= (today.level or 0) <= 4
    reservation = await tourism.reserve(
        idempotency_key=idempotency_key("s", "tour", 1), attraction_id=palace.id,
        day=date(2025, 6, 4), visitors=3, name="赵磊", phone="13800138000")
    assert reservation.visitors == 3 and reservation.attraction_name == "故宫"
    assert (await tourism.crowd(palace.id, date(2025, 6, 4))).reserved == 3
    assert len(await tourism.reservations("13800138000")) == 1
    assert (await tourism.cancel(reservation.reservation_id, "13800138000")).state == "已取消"
    with pytest.raises(Conflict) as error:
        await tourism.reserve(idempotency_key=idempotency_key("s", "tour", 2),
                              attraction_id=palace.id, day=date(2025, 6, 9), visitors=1,
                              name="赵磊", phone="13800138000")
    assert error.value.code == "closed" and not isinstance(error.value, CapacityExhausted)


async def test_applications(backends):
    application = await backends.applications.get_application("sq-20250522-0001")
    assert application.matter == "高龄津贴申请" and application.closed
    assert [e.state_code for e in application.timeline] == ["accepted", "reviewing", "approved"]
    with pytest.raises(NotFound):
        await backends.applications.get_application("SQ209901010001")
    with pytest.raises(BackendRejected) as error:
        await backends.applications.get_application("我的办件")
    assert error.value.field_errors == {"number": "invalid_format"}
