"""Tourism end to end: attraction facts with follow-ups, crowd level, ticket reservations."""

import asyncio
import re
from datetime import timedelta

import pytest

from actions.dates import now_beijing
from tests.dialogues.support import Conversation, said, sandbox_rows, set_faults

pytestmark = pytest.mark.integration

REFERENCE = "仅供参考，以景区公告为准"


async def test_facts_and_a_follow_up_about_the_same_attraction(assistant):
    c = Conversation(assistant, "attr-follow")
    reply = await c.say("我想了解一下故宫")
    assert "故宫" in reply and "景山前街4号" in reply and REFERENCE in reply, reply
    reply = await c.say("那它几点关门？")
    assert said(reply, "utter_attraction_hours") and "17:00" in reply, reply
    assert REFERENCE in reply
    reply = await c.say("门票多少钱")
    assert said(reply, "utter_attraction_ticket") and "60元" in reply, reply
    reply = await c.say("那颐和园呢，在哪里")  # another attraction named: it switches
    assert said(reply, "utter_attraction_address") and "颐和园" in reply, reply


async def test_the_form_asks_which_attraction_when_none_was_named(assistant):
    c = Conversation(assistant, "attr-ask")
    assert said(await c.say("门票多少钱"), "utter_ask_attraction")
    reply = await c.say("查无此景点啊啊")
    assert said(reply, "utter_attraction_not_found") and said(reply, "utter_ask_attraction")
    reply = await c.say("天坛")
    assert said(reply, "utter_attraction_ticket") and "天坛" in reply, reply


async def test_crowd_level_for_a_date(assistant):
    c = Conversation(assistant, "crowd")
    reply = await c.say("明天颐和园人多吗")
    assert said(reply, "utter_crowd_level") or said(reply, "utter_crowd_closed"), reply
    assert "颐和园" in reply


def visit_day() -> str:
    day = now_beijing().date() + timedelta(days=2)
    if day.weekday() == 0:  # many museums are closed on Mondays
        day += timedelta(days=1)
    return f"{day.month}月{day.day}号"


async def reserve_until_confirmation(c: Conversation, phone: str) -> str:
    reply = await c.say("帮我预约天坛的门票")
    assert said(reply, "utter_ask_visit_date"), reply
    assert said(await c.say(visit_day()), "utter_ask_visitors")
    assert said(await c.say("两个人"), "utter_ask_reservation_form_contact_name")
    assert said(await c.say("李建华"), "utter_ask_reservation_form_phone")
    return await c.say(phone)


async def test_reserve_tickets(assistant):
    c = Conversation(assistant, "reserve")
    summary = await reserve_until_confirmation(c, "13500006666")
    assert said(summary, "utter_ask_reservation_form_confirm") and "135****6666" in summary
    booked = await c.say("确认")
    assert said(booked, "utter_reservation_booked") and re.search(r"MP\d{14}", booked), booked


async def test_too_many_visitors_are_asked_again(assistant):
    c = Conversation(assistant, "reserve-invalid")
    await c.say("帮我预约天坛的门票")
    await c.say(visit_day())
    reply = await c.say("20个人")
    assert said(reply, "utter_visitors_invalid") and said(reply, "utter_ask_visitors"), reply


async def test_tourism_down_gets_an_apology_within_5_seconds(assistant):
    c = Conversation(assistant, "attr-down")
    await set_faults(assistant, {"tourism": {"error_rate": 1.0, "status": 503}})
    try:
        reply = await c.say("我想了解一下北海公园")
    finally:
        await set_faults(assistant, {})
    assert said(reply, "utter_backend_unavailable") and "12345" in reply, reply
    assert c.last_seconds < 5.0


async def test_a_double_confirmation_reserves_once(assistant):
    c = Conversation(assistant, "reserve-dup")
    await reserve_until_confirmation(c, "13500007777")
    await set_faults(assistant, {"tourism": {"fail_next": 1, "after_handler": True}})
    try:
        replies = await asyncio.gather(c.say("确认"), c.say("确认"))
    finally:
        await set_faults(assistant, {})
    assert len(set(re.findall(r"MP\d{14}", "\n".join(replies)))) == 1
    rows = sandbox_rows(assistant, "SELECT COUNT(*) FROM reservations WHERE phone = ?",
                        "13500007777")
    assert rows[0][0] == 1
