"""办件进度 end to end."""

import pytest

from tests.dialogues.support import Conversation, said, sandbox_rows, set_faults

pytestmark = pytest.mark.integration


def a_number(assistant, matter: str) -> str:
    """The number of a seeded application (backends/sandbox/seed/applications.yaml)."""
    return sandbox_rows(assistant, "SELECT number FROM applications WHERE matter = ?",
                        matter)[0][0]


async def test_progress_by_number(assistant):
    number = a_number(assistant, "不动产转移登记")  # waiting for papers
    c = Conversation(assistant, "app-happy")
    assert said(await c.say("帮我查一下办件进度"), "utter_ask_application_number")
    reply = await c.say(f"{number[:6]} {number[6:]}")  # blanks are forgiven
    assert said(reply, "utter_application_status") and number in reply, reply
    assert said(reply, "utter_application_supplement")


async def test_a_bad_number_is_asked_again_and_an_unknown_one_is_not_found(assistant):
    c = Conversation(assistant, "app-invalid")
    await c.say("查办件进度")
    reply = await c.say("SQ123")
    assert said(reply, "utter_application_number_invalid"), reply
    assert said(reply, "utter_ask_application_number")
    reply = await c.say("SQ209901010001")
    assert said(reply, "utter_application_not_found"), reply


async def test_applications_down_gets_an_apology_within_5_seconds(assistant):
    number = a_number(assistant, "住房公积金提取")
    c = Conversation(assistant, "app-down")
    await set_faults(assistant, {"applications": {"status": 503, "error_rate": 1.0}})
    try:
        reply = await c.say(f"帮我查一下{number}的办理进度")
    finally:
        await set_faults(assistant, {})
    assert said(reply, "utter_backend_unavailable") and "12345" in reply, reply
    assert c.last_seconds < 5.0
