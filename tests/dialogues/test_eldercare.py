"""Elderly care end to end: 高龄津贴 eligibility, the nearest 养老驿站 (street or shared location),
and booking a home service."""

import asyncio
import re
from datetime import timedelta

import pytest

from actions.dates import now_beijing
from tests.dialogues.support import Conversation, said, sandbox_rows, set_faults

pytestmark = pytest.mark.integration


async def test_an_eligible_beijing_resident_gets_the_amount_and_the_source(assistant):
    c = Conversation(assistant, "gaoling-yes")
    reply = await c.say("我妈今年92了，能领高龄津贴吗")
    assert said(reply, "utter_ask_elder_hukou"), reply
    reply = await c.say("是北京户口")
    assert said(reply, "utter_allowance_eligible"), reply
    assert "500元" in reply and "90至99周岁" in reply
    assert "北京市老年人养老服务补贴津贴管理实施办法" in reply  # the rule's source


async def test_too_young_and_not_beijing(assistant):
    c = Conversation(assistant, "gaoling-no")
    reply = await c.say("我爸78岁 北京户籍 能领高龄补贴吗")
    assert said(reply, "utter_allowance_too_young") and "2年" in reply, reply
    reply = await c.say("那我大姨85了，外地户口，能领高龄津贴吗")
    assert said(reply, "utter_allowance_not_beijing"), reply


async def test_an_age_that_is_not_an_age_is_asked_again(assistant):
    c = Conversation(assistant, "gaoling-invalid")
    assert said(await c.say("帮我看看能不能领高龄津贴"), "utter_ask_elder_age")
    reply = await c.say("三百岁")
    assert said(reply, "utter_elder_age_invalid") and said(reply, "utter_ask_elder_age"), reply
    assert said(await c.say("八十一"), "utter_ask_elder_hukou")
    assert "100元" in await c.say("是")


async def test_nearest_stations_by_street_and_by_shared_location(assistant):
    c = Conversation(assistant, "station")
    assert said(await c.say("附近有养老驿站吗"), "utter_ask_station_street")
    reply = await c.say("我住在青年路社区")
    assert said(reply, "utter_stations_near_street") and "明德街道" in reply, reply
    assert "养老服务驿站" in reply and said(reply, "utter_sample_data_notice")

    located = Conversation(assistant, "station-location")
    await located.say('/share_location{"latitude": 39.9350, "longitude": 116.4800, '
                      '"location_label": "和畅园小区"}')
    reply = await located.say("/find_station")
    assert said(reply, "utter_stations_near_location"), reply
    assert "和畅园社区养老服务驿站" in reply and "米" in reply


async def test_sharing_a_location_answers_the_street_question(assistant):
    c = Conversation(assistant, "station-share")
    assert said(await c.say("帮我找个养老驿站"), "utter_ask_station_street")
    reply = await c.say('/share_location{"latitude": 39.8980, "longitude": 116.4575}')
    assert said(reply, "utter_stations_near_location") and "永宁里" in reply, reply


def service_day() -> str:
    day = now_beijing().date() + timedelta(days=3)
    return f"{day.month}月{day.day}号"


async def home_service_until_confirmation(c: Conversation, phone: str) -> str:
    reply = await c.say("我想给老人预约上门助浴")
    assert said(reply, "utter_ask_home_service_form_station_street"), reply
    assert said(await c.say("明德街道"), "utter_ask_service_date")
    assert said(await c.say(service_day()), "utter_ask_service_address")
    assert said(await c.say("明德里小区12号楼3单元201"), "utter_ask_home_service_form_contact_name")
    assert said(await c.say("张桂兰"), "utter_ask_home_service_form_phone")
    return await c.say(phone)


async def test_book_a_home_service(assistant):
    c = Conversation(assistant, "home-happy")
    summary = await home_service_until_confirmation(c, "13600003333")
    assert said(summary, "utter_ask_home_service_form_confirm"), summary
    assert "助浴" in summary and "136****3333" in summary and "明德" in summary
    booked = await c.say("确认")
    assert said(booked, "utter_home_service_booked") and re.search(r"YL\d{14}", booked), booked


async def test_a_service_date_outside_the_window_is_asked_again(assistant):
    c = Conversation(assistant, "home-invalid")
    assert said(await c.say("帮我约个助餐"), "utter_ask_home_service_form_station_street")
    assert said(await c.say("和畅街道"), "utter_ask_service_date")
    reply = await c.say("今天")
    assert said(reply, "utter_service_date_out_of_window"), reply
    reply = await c.say("在家")
    assert said(reply, "utter_invalid_date") or said(reply, "utter_ask_service_date"), reply


async def test_eldercare_down_gets_an_apology_within_5_seconds(assistant):
    c = Conversation(assistant, "home-down")
    await home_service_until_confirmation(c, "13600004444")
    await set_faults(assistant, {"eldercare": {"fail_next": 3}})
    try:
        reply = await c.say("确认")
    finally:
        await set_faults(assistant, {})
    assert said(reply, "utter_backend_unavailable") and "12345" in reply, reply
    assert c.last_seconds < 5.0


async def test_a_double_confirmation_books_the_service_once(assistant):
    c = Conversation(assistant, "home-dup")
    summary = await home_service_until_confirmation(c, "13600005555")
    assert said(summary, "utter_ask_home_service_form_confirm"), summary
    await set_faults(assistant, {"eldercare": {"fail_next": 1, "after_handler": True}})
    try:
        replies = await asyncio.gather(c.say("确认"), c.say("确认"))
    finally:
        await set_faults(assistant, {})
    assert len(set(re.findall(r"YL\d{14}", "\n".join(replies)))) == 1
    rows = sandbox_rows(assistant, "SELECT COUNT(*) FROM service_bookings WHERE phone = ?",
                        "13600005555")
    assert rows[0][0] == 1
