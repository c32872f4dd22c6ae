"""What every task form does: "算了" cancels it, and a question asked inside it is answered
before the form asks its question again."""

import pytest

from tests.dialogues.support import Conversation, said

pytestmark = pytest.mark.integration

# form: (what starts it, the response of its first question)
FORMS = {
    "ticket_form": ("我要投诉", "utter_ask_ticket_description"),
    "ticket_status_form": ("查一下我的工单", "utter_ask_ticket_number"),
    "appointment_form": ("我要挂号", "utter_ask_hospital"),
    "appointment_list_form": ("查一下我的预约", "utter_ask_appointment_list_form_phone"),
    "appointment_cancel_form": ("我要退号", "utter_ask_booking_id"),
    "allowance_form": ("帮我看看我能不能领高龄津贴", "utter_ask_elder_age"),
    "station_form": ("附近有养老驿站吗", "utter_ask_station_street"),
    "home_service_form": ("我想预约上门服务", "utter_ask_home_service"),
    "attraction_form": ("门票多少钱", "utter_ask_attraction"),
    "reservation_form": ("帮我预约门票", "utter_ask_attraction"),
    "application_form": ("帮我查一下办件进度", "utter_ask_application_number"),
}
KNOWLEDGE = ("utter_knowledge_answer", "utter_knowledge_none", "utter_knowledge_unavailable",
             "utter_knowledge_clarify")


@pytest.mark.parametrize("form", sorted(FORMS))
async def test_cancel(assistant, form):
    start, first_question = FORMS[form]
    c = Conversation(assistant, f"cancel-{form}")
    assert said(await c.say(start), first_question), c.last
    assert said(await c.say("算了，不办了"), "utter_form_cancelled"), c.last
    assert said(await c.say("你好"), "utter_greet")  # and the form is gone


@pytest.mark.parametrize("form", sorted(FORMS))
async def test_a_question_inside_the_form(assistant, form):
    start, first_question = FORMS[form]
    c = Conversation(assistant, f"digress-{form}")
    assert said(await c.say(start), first_question), c.last
    reply = await c.say("养老助残卡丢了怎么补办？")
    assert any(said(reply, name) for name in KNOWLEDGE), reply
    assert said(reply, first_question), reply


async def test_a_human_inside_a_form_ends_it(assistant):
    c = Conversation(assistant, "human-in-form")
    await c.say("我要挂号")
    reply = await c.say("转人工")  # the shared stack has agents around the clock: queued
    assert said(reply, "utter_human_queued") and not said(reply, "utter_ask_hospital"), reply
    assert said(await c.say("你好"), "utter_greet")
