"""12345 tickets: create, validation, idempotency, status by number, progression with age."""

import pytest

from tests.backends.support import new_key

pytestmark = pytest.mark.integration

TICKET = {
    "category": "噪声扰民", "street": "明德", "location": "明德里小区5号楼",
    "description": "楼下商铺每天夜里十一点以后还在放音乐", "phone": "138 0013 8000",
    "contact_name": "王建国", "channel": "wechat",
}


async def test_categories_and_streets_are_listed(api):
    categories = (await api.get("/tickets/v1/categories")).body["categories"]
    assert {"code": "noise", "name": "噪声扰民"} in categories
    streets = (await api.get("/tickets/v1/streets")).body
    assert streets["district"] == "示范区"
    assert len(streets["streets"]) == 8


async def test_a_ticket_is_created_with_a_dated_number_and_masked_contact(api):
    reply = await api.create("/tickets/v1/tickets", TICKET)
    assert reply.status == 201
    ticket = reply.body
    assert ticket["number"].startswith("JS20250603")
    assert ticket["state_code"] == "accepted" and ticket["state"] == "已受理"
    assert ticket["category"] == {"code": "noise", "name": "噪声扰民"}
    assert ticket["street"] == "明德街道"
    assert ticket["phone_masked"] == "138****8000"
    assert ticket["contact_name"] == "王*国"
    assert "13800138000" not in str(ticket)
    assert [e["state_code"] for e in ticket["timeline"]] == ["accepted"]
    fetched = await api.get(f"/tickets/v1/tickets/{ticket['number']}")
    assert fetched.status == 200 and fetched.body == ticket


async def test_ticket_numbers_count_up_within_a_day(api):
    first = (await api.create("/tickets/v1/tickets", TICKET)).body["number"]
    second = (await api.create("/tickets/v1/tickets", TICKET)).body["number"]
    assert int(second[-6:]) == int(first[-6:]) + 1
    api.clock.advance(days=1)
    third = (await api.create("/tickets/v1/tickets", TICKET)).body["number"]
    assert third.startswith("JS20250604") and third.endswith("000001")


async def test_status_progresses_with_age_and_names_the_street_office(api):
    number = (await api.create("/tickets/v1/tickets", TICKET)).body["number"]
    api.clock.advance(hours=2)
    ticket = (await api.get(f"/tickets/v1/tickets/{number}")).body
    assert (ticket["state_code"], ticket["state"]) == ("in_progress", "办理中")
    assert ticket["handling_office"] == "明德街道办事处"
    api.clock.advance(days=5)
    ticket = (await api.get(f"/tickets/v1/tickets/{number}")).body
    assert (ticket["state_code"], ticket["state"]) == ("closed", "已办结")
    assert [e["state_code"] for e in ticket["timeline"]] == ["accepted", "in_progress", "closed"]


async def test_same_key_same_body_is_one_ticket_and_other_body_is_409(api):
    key = new_key()
    first = await api.post("/tickets/v1/tickets", TICKET, key=key)
    again = await api.post("/tickets/v1/tickets", dict(reversed(TICKET.items())), key=key)
    assert (first.status, again.status) == (201, 201)
    assert again.body == first.body
    assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == (
        "false", "true")
    other = await api.post("/tickets/v1/tickets", {**TICKET, "description": "另一件事情要反映"},
                           key=key)
    assert (other.status, other.body["error"]) == (409, "idempotency_key_reused")
    assert api.ctx.stats.routes["POST /tickets/v1/tickets"] == 3


async def test_a_failed_create_stores_nothing_so_the_key_can_be_reused(api):
    key = new_key()
    bad = await api.post("/tickets/v1/tickets", {**TICKET, "phone": "12345"}, key=key)
    assert bad.status == 422
    good = await api.post("/tickets/v1/tickets", TICKET, key=key)
    assert good.status == 201


async def test_anonymous_tickets_need_no_phone(api):
    body = {k: v for k, v in TICKET.items() if k not in ("phone", "contact_name")}
    reply = await api.create("/tickets/v1/tickets", {**body, "anonymous": True})
    assert reply.status == 201
    assert reply.body["anonymous"] is True and reply.body["phone_masked"] is None
    reply = await api.create("/tickets/v1/tickets", body)
    assert reply.status == 422
    assert reply.body["fields"]["phone"]["code"] == "required"


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"phone": "021-65123456"}, "phone", "invalid_phone"),
        ({"phone": "1380013800"}, "phone", "invalid_phone"),
        ({"description": "吵"}, "description", "too_short"),
        ({"description": "吵" * 1001}, "description", "too_long"),
        ({"description": "   \u200b  "}, "description", "required"),
        ({"category": "外星人入侵"}, "category", "invalid_choice"),
        ({"street": "长安街道"}, "street", "unknown_street"),
        ({"street": None}, "street", "required"),
        ({"location": "楼" * 101}, "location", "too_long"),
        ({"channel": "fax"}, "channel", "invalid_choice"),
        ({"priority": "high"}, "priority", "unknown_field"),
    ],
)
async def test_validation_errors_name_the_field(api, change, field, code):
    body = {k: v for k, v in {**TICKET, **change}.items() if v is not None}
    reply = await api.create("/tickets/v1/tickets", body)
    assert reply.status == 422
    assert reply.body["error"] == "validation_failed"
    assert reply.body["fields"][field]["code"] == code


async def test_lookup_by_number_forgives_format_and_refuses_garbage(api):
    number = (await api.create("/tickets/v1/tickets", TICKET)).body["number"]
    spaced = f"js {number[2:6]}-{number[6:10]} {number[10:]}"
    assert (await api.get(f"/tickets/v1/tickets/{spaced}")).body["number"] == number
    assert (await api.get("/tickets/v1/tickets/JS20250603999999")).status == 404
    reply = await api.get("/tickets/v1/tickets/hello")
    assert (reply.status, reply.body["fields"]["number"]["code"]) == (422, "invalid_format")


async def test_seeded_sample_tickets_exist_at_first_start(api):
    # three samples, seeded oldest first: 120 h, 6 h and 0.2 h before the first start
    oldest = await api.get("/tickets/v1/tickets/JS20250529000001")
    assert oldest.status == 200 and oldest.body["state_code"] == "closed"
    newest = await api.get("/tickets/v1/tickets/JS20250603000002")
    assert newest.body["category"]["code"] == "noise"
