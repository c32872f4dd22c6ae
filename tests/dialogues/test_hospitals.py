"""Hospital appointments end to end: find, book, list, cancel; symptoms; failures."""

import asyncio
import re
from datetime import date

import aiohttp
import pytest

from tests.dialogues.support import Conversation, said, sandbox_rows, set_faults

pytestmark = pytest.mark.integration


async def free_slot(assistant, hospital_id: str, department: str) -> tuple[date, str]:
    """A day and half-day (上午/下午) the sandbox still has places for."""
    url = f"{assistant.backends_url}/hospitals/v1/slots"
    params = {"hospital_id": hospital_id, "department": department}
    async with aiohttp.ClientSession() as session, session.get(url, params=params) as reply:
        slots = (await reply.json())["slots"]
    assert slots, "the sandbox has no free slots"
    slot = slots[-1]
    return date.fromisoformat(slot["date"]), slot["period"]


def day_words(day: date, period: str) -> str:
    return f"{day.month}月{day.day}号{period}"


def bookings_of(assistant, phone: str) -> int:
    return sandbox_rows(assistant, "SELECT COUNT(*) FROM bookings WHERE phone = ? AND state = ?",
                        phone, "booked")[0][0]


async def book_until_confirmation(c: Conversation, assistant, phone: str) -> str:
    day, period = await free_slot(assistant, "puth", "ophthalmology")
    reply = await c.say("我想挂北医三院的眼科")
    assert said(reply, "utter_ask_appointment_date"), reply
    reply = await c.say(day_words(day, period))
    assert said(reply, "utter_ask_appointment_form_contact_name"), reply
    assert said(await c.say("王秀英"), "utter_ask_appointment_form_phone")
    return await c.say(phone)


async def test_book_list_and_cancel_an_appointment(assistant):
    c = Conversation(assistant, "hosp-happy")
    summary = await book_until_confirmation(c, assistant, "13700001111")
    assert said(summary, "utter_ask_appointment_form_confirm"), summary
    assert "北京大学第三医院" in summary and "眼科" in summary and "137****1111" in summary
    booked = await c.say("确认预约")
    assert said(booked, "utter_appointment_booked"), booked
    booking_id = re.search(r"GH\d{14}", booked).group(0)

    listed = await c.say("查一下我的预约")  # the phone is remembered
    assert said(listed, "utter_appointments_list") and booking_id in listed, listed

    assert said(await c.say("取消预约"), "utter_ask_booking_id")
    confirm = await c.say(booking_id)
    assert said(confirm, "utter_ask_appointment_cancel_form_confirm"), confirm
    cancelled = await c.say("确认")
    assert said(cancelled, "utter_appointment_cancelled") and booking_id in cancelled
    assert bookings_of(assistant, "13700001111") == 0


async def test_a_symptom_gets_guidance_not_a_diagnosis(assistant):
    c = Conversation(assistant, "hosp-symptom")
    reply = await c.say("我最近老头疼，想挂个号")
    assert said(reply, "utter_department_guidance") and "神经内科" in reply, reply
    assert "不是诊断" in reply
    assert said(reply, "utter_ask_hospital")
    assert said(await c.say("宣武医院"), "utter_ask_appointment_date")


async def test_an_emergency_sign_points_to_120_and_ends_the_form(assistant):
    c = Conversation(assistant, "hosp-urgent")
    reply = await c.say("我胸口疼得厉害，喘不上气，帮我挂个号")
    # Answered by the emergency detector (safety/) before any form; the form's own check
    # (utter_symptom_urgent) catches the signs it does not.
    assert (said(reply, "utter_emergency_medical") or said(reply, "utter_symptom_urgent")) \
        and "120" in reply, reply
    assert said(await c.say("好的"), "utter_affirm_ack")


async def test_a_date_outside_the_window_and_an_unknown_hospital_are_asked_again(assistant):
    c = Conversation(assistant, "hosp-invalid")
    assert said(await c.say("帮我预约挂号"), "utter_ask_hospital")
    reply = await c.say("火星第一人民医院")
    assert said(reply, "utter_hospital_not_found") and said(reply, "utter_ask_hospital"), reply
    assert said(await c.say("协和医院"), "utter_ask_department")
    assert said(await c.say("皮肤科"), "utter_ask_appointment_date")
    reply = await c.say("下个月20号")
    assert said(reply, "utter_appointment_date_out_of_window"), reply
    assert said(reply, "utter_ask_appointment_date")


async def test_a_walk_in_department_is_not_booked(assistant):
    c = Conversation(assistant, "hosp-walkin")
    reply = await c.say("帮我挂协和医院的急诊")
    assert said(reply, "utter_department_walk_in"), reply


async def test_hospitals_down_gets_an_apology_within_5_seconds(assistant):
    c = Conversation(assistant, "hosp-down")
    assert said(await c.say("我要挂号"), "utter_ask_hospital")
    assert said(await c.say("朝阳医院"), "utter_ask_department")
    await set_faults(assistant, {"hospitals": {"error_rate": 1.0, "status": 503}})
    try:
        reply = await c.say("眼科")
    finally:
        await set_faults(assistant, {})
    assert said(reply, "utter_backend_unavailable") and "12345" in reply, reply
    assert c.last_seconds < 5.0, c.last_seconds


async def test_a_double_confirmation_books_once(assistant):
    c = Conversation(assistant, "hosp-dup")
    await book_until_confirmation(c, assistant, "13700002222")
    await set_faults(assistant, {"hospitals": {"fail_next": 1, "after_handler": True}})
    try:
        replies = await asyncio.gather(c.say("确认"), c.say("确认"))
    finally:
        await set_faults(assistant, {})
    assert len(set(re.findall(r"GH\d{14}", "\n".join(replies)))) == 1
    assert bookings_of(assistant, "13700002222") == 1
