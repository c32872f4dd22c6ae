"""12345 接诉即办 end to end: Rasa, the action server and the sandbox tickets backend."""

import asyncio
import re

import pytest

from tests.dialogues.support import Conversation, said, sandbox_rows, set_faults

pytestmark = pytest.mark.integration


def tickets_with(assistant, description: str) -> int:
    return sandbox_rows(assistant, "SELECT COUNT(*) FROM tickets WHERE description = ?",
                        description)[0][0]


async def fill_until_confirmation(c: Conversation, complaint: str) -> str:
    reply = await c.say(complaint)
    assert said(reply, "utter_ask_ticket_street"), reply  # 油烟 → the category is known
    reply = await c.say("明德街道明德里小区5号楼")
    assert said(reply, "utter_ask_ticket_contact"), reply
    return await c.say("我的电话是138 1234 5678")


async def test_file_a_ticket_then_look_it_up(assistant):
    c = Conversation(assistant, "ticket-happy")
    complaint = "我要反映个问题，楼下饭馆油烟太大了，每天晚上呛得开不了窗（happy）"
    summary = await fill_until_confirmation(c, complaint)
    assert said(summary, "utter_ask_ticket_form_confirm"), summary
    assert "138****5678" in summary and "13812345678" not in summary
    assert "明德街道" in summary and "生态环境" in summary
    created = await c.say("确认")
    assert said(created, "utter_ticket_created"), created
    number = re.search(r"JS\d{14}", created).group(0)
    assert tickets_with(assistant, complaint) == 1

    status = await c.say(f"帮我查一下工单{number}")
    assert said(status, "utter_ticket_status") or said(status, "utter_ticket_status_pending")
    assert number in status and "已受理" in status


async def test_an_anonymous_ticket_asks_the_category(assistant):
    c = Conversation(assistant, "ticket-anon")
    assert said(await c.say("我要投诉"), "utter_ask_ticket_description")
    reply = await c.say("我们楼门口天天有人弄得乱七八糟的，没人管（anon）")
    assert said(reply, "utter_ask_ticket_category"), reply
    assert [b["title"] for b in c.buttons()][:3] == ["噪声扰民", "市容环境", "物业管理"]
    assert said(await c.say(c.buttons()[1]["payload"]), "utter_ask_ticket_street")
    assert said(await c.say("和畅园社区"), "utter_ask_ticket_contact")
    summary = await c.say("匿名")
    assert "匿名" in summary and "市容环境" in summary
    assert said(await c.say("是的"), "utter_ticket_created")


async def test_a_wrong_phone_and_an_unknown_street_are_asked_again(assistant):
    c = Conversation(assistant, "ticket-invalid")
    await c.say("我要投诉楼下烧烤摊天天半夜吵得睡不着觉（invalid）")
    reply = await c.say("王府井大街")
    assert said(reply, "utter_ticket_street_unknown") and "明德街道" in reply, reply
    assert said(reply, "utter_ask_ticket_street")
    assert said(await c.say("嘉禾园社区"), "utter_ask_ticket_contact")
    reply = await c.say("1381234")
    assert said(reply, "utter_invalid_phone") and said(reply, "utter_ask_ticket_contact"), reply
    assert said(await c.say("13812345678"), "utter_ask_ticket_form_confirm")


async def test_cancelling_writes_nothing_and_a_later_yes_does_not_submit(assistant):
    c = Conversation(assistant, "ticket-cancel")
    complaint = "小区门口的垃圾一个礼拜没人清了，臭得不行（cancel）"
    await c.say(complaint)
    await c.say("福润里社区")
    assert said(await c.say("算了，不办了"), "utter_form_cancelled")
    assert said(await c.say("确认"), "utter_affirm_ack")
    assert tickets_with(assistant, complaint) == 0


async def test_a_question_in_the_middle_is_answered_and_the_form_resumes(assistant):
    c = Conversation(assistant, "ticket-digress")
    await c.say("我要反映小区电梯老坏的问题，三天坏了两次（digress）")
    reply = await c.say("12345一般几天能办结啊？")
    assert any(said(reply, name) for name in (
        "utter_knowledge_answer", "utter_knowledge_none", "utter_knowledge_unavailable",
        "utter_knowledge_clarify")), reply
    assert said(reply, "utter_ask_ticket_street"), reply  # and the form asks again
    assert said(await c.say("清源街道"), "utter_ask_ticket_contact")


async def test_a_backend_that_is_down_gets_an_apology_with_12345_within_5_seconds(assistant):
    c = Conversation(assistant, "ticket-down")
    complaint = "我要反映：小区路灯坏了好几天，晚上特别黑（down）"
    await fill_until_confirmation(c, complaint)
    await set_faults(assistant, {"tickets": {"error_rate": 1.0, "status": 503}})
    try:
        reply = await c.say("确认")
    finally:
        await set_faults(assistant, {})
    assert said(reply, "utter_backend_unavailable") and "12345" in reply, reply
    assert c.last_seconds < 5.0, c.last_seconds


async def test_a_lost_reply_and_a_repeated_confirmation_make_exactly_one_ticket(assistant):
    c = Conversation(assistant, "ticket-dup")
    complaint = "我要投诉楼上天天半夜拖椅子，吵得老人睡不着（duplicate）"
    await fill_until_confirmation(c, complaint)
    # The backend commits the ticket, then "loses" its reply: the client retries with the same
    # idempotency key and gets the first ticket back.
    await set_faults(assistant, {"tickets": {"fail_next": 1, "after_handler": True}})
    try:
        first, second = await asyncio.gather(c.say("确认"), c.say("确认"))
    finally:
        await set_faults(assistant, {})
    replies = first + "\n" + second
    assert len(re.findall(r"JS\d{14}", replies)) in (1, 2)
    assert len(set(re.findall(r"JS\d{14}", replies))) == 1
    assert tickets_with(assistant, complaint) == 1


async def test_a_status_query_with_a_bad_number_is_asked_again(assistant):
    c = Conversation(assistant, "ticket-status")
    assert said(await c.say("查一下我的工单"), "utter_ask_ticket_number")
    reply = await c.say("JS2025")
    assert said(reply, "utter_ticket_number_invalid"), reply
    reply = await c.say("JS20990101000001")
    assert said(reply, "utter_ticket_not_found"), reply
