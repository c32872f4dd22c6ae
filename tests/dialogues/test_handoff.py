"""Human handoff end to end, through the real stack (Rasa with the REST, webchat and agent
channels, the action server, Redis): a resident asks for a person, an agent takes the
conversation and writes, the bot is silent while the agent holds it, and answers again once the
agent hands it back. Outside the service hours a 12345 ticket is offered instead."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from handoff.model import conversation_id
from tests.conftest import AGENT_API_TOKEN, running_stack
from tests.dialogues.support import Conversation, said, template
from web.sioclient import SocketIOClient

pytestmark = pytest.mark.integration

TIMEOUT = aiohttp.ClientTimeout(total=30)
CONNECTED = template("utter_human_connected")
HANDBACK = template("utter_human_handback")


async def agent(assistant: Any, method: str, path: str, body: Any = None,
                token: str | None = AGENT_API_TOKEN) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.request(method, f"{assistant.rasa_url}/webhooks/agent{path}", json=body,
                        headers=headers) as reply,
    ):
        return reply.status, await reply.json(content_type=None)


async def waiting(assistant: Any, sender: str) -> dict[str, Any]:
    status, body = await agent(assistant, "GET", "/conversations?state=waiting")
    assert status == 200, body
    mine = [c for c in body["conversations"] if c["id"] == conversation_id(sender)]
    assert mine, body
    return mine[0]


async def test_a_rest_resident_is_served_by_an_agent_then_by_the_bot_again(assistant):
    c = Conversation(assistant, "handoff-rest")
    await c.say("社保卡丢了怎么补办")
    reply = await c.say("转人工")
    assert said(reply, "utter_human_queued"), reply
    assert said(await c.say("转人工"), "utter_human_already_queued")

    listed = await waiting(assistant, c.sender)
    assert listed["channel"] == "rest" and listed["reason"] == "request"
    assert listed["summary"]["messages"][:2] == ["社保卡丢了怎么补办", "转人工"]
    assert c.sender not in str(listed)

    cid = listed["id"]
    for token in (None, "not-the-token-not-the-token"):
        status, body = await agent(assistant, "GET", "/conversations", token=token)
        assert (status, body["error"]) == (401, "unauthorized")
        status, _ = await agent(assistant, "POST", f"/conversations/{cid}/take",
                                {"agent": "mallory"}, token=token)
        assert status == 401

    status, body = await agent(assistant, "POST", f"/conversations/{cid}/take", {"agent": "li"})
    assert status == 200 and body["conversation"]["state"] == "held"
    hello = "您好，我是人工客服小李，请问补办哪种社保卡？"
    status, body = await agent(assistant, "POST", f"/conversations/{cid}/messages",
                               {"agent": "li", "text": hello})
    assert (status, body["delivered"]) == (201, {"via": "outbox"})

    # Held: the resident's next message goes to the agent; the reply carries only what the
    # agent wrote, nothing from the bot.
    await c.say("第三代社保卡，我的电话是13812345678")
    assert [m["text"] for m in c.last] == [CONNECTED, f"人工客服：{hello}"], c.last
    assert said(await c.say("你好"), "utter_greet") is False and c.last == []

    status, body = await agent(assistant, "GET", f"/conversations/{cid}")
    said_to_agent = [e["text"] for e in body["transcript"] if e["from"] == "resident"]
    assert "第三代社保卡，我的电话是138****5678" in said_to_agent and "你好" in said_to_agent

    await agent(assistant, "POST", f"/conversations/{cid}/messages",
                {"agent": "li", "text": "好的，稍后给您回电。"})
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.get(f"{assistant.rasa_url}/webhooks/rest/outbox",
                    params={"sender": c.sender}) as polled,
    ):
        assert [m["text"] for m in await polled.json()] == ["人工客服：好的，稍后给您回电。"]

    status, body = await agent(assistant, "POST", f"/conversations/{cid}/release",
                               {"agent": "li"})
    assert (status, body) == (200, {"released": cid})
    reply = await c.say("你好")
    assert HANDBACK in reply and said(reply, "utter_greet"), reply
    status, body = await agent(assistant, "GET", f"/conversations/{cid}")
    assert status == 404


async def test_a_webchat_resident_hears_the_agent_on_the_socket(assistant):
    sender = "handoff-web-" + uuid.uuid4().hex[:10]
    async with SocketIOClient(assistant.rasa_url) as resident:
        await resident.start_session(sender)
        await resident.emit("user_uttered", {"message": "/request_human"})
        queued = await resident.wait_for("bot_uttered")
        assert queued["text"] == template("utter_human_queued")
        assert queued["metadata"]["response"] == "utter_human_queued"

        listed = await waiting(assistant, sender)
        assert listed["channel"] == "webchat"
        cid = listed["id"]
        status, _ = await agent(assistant, "POST", f"/conversations/{cid}/take", {"agent": "li"})
        assert status == 200
        assert (await resident.wait_for("bot_uttered"))["text"] == CONNECTED
        status, body = await agent(assistant, "POST", f"/conversations/{cid}/messages",
                                   {"agent": "li", "text": "请讲，我在听。"})
        assert body["delivered"] == {"via": "webchat", "servers": 1}
        assert (await resident.wait_for("bot_uttered"))["text"] == "人工客服：请讲，我在听。"

        # The bot stays silent while the agent holds it: the only event says so (it stops the
        # widget's typing indicator), and there is nothing to show.
        await resident.emit("user_uttered", {"message": "你好"})
        held = await resident.collect("bot_uttered", quiet=3, timeout=10)
        assert held == [{"metadata": {"status": "held"}}], held

        await agent(assistant, "POST", f"/conversations/{cid}/release", {"agent": "li"})
        assert (await resident.wait_for("bot_uttered"))["text"] == HANDBACK
        await resident.emit("user_uttered", {"message": "你好"})
        greeting = await resident.wait_for("bot_uttered")
        assert greeting["metadata"]["response"] == "utter_greet"


async def test_two_unanswered_questions_in_a_row_reach_an_agent(assistant):
    c = Conversation(assistant, "handoff-failures")
    first = await c.say("远洋捕捞船的船员证怎么考")
    assert said(first, "utter_knowledge_none"), first
    second = await c.say("请问深海探测器的出口许可怎么办")
    assert said(second, "utter_human_queued_after_failures"), second
    listed = await waiting(assistant, c.sender)
    assert listed["reason"] == "repeated_failure"
    status, _ = await agent(assistant, "POST", f"/conversations/{listed['id']}/release",
                            {"agent": "li"})
    assert status == 200


# --- outside the service hours: a stack whose agents work one hour, two days from now --------


@pytest.fixture(scope="module")
def closed_desk(tmp_path_factory: pytest.TempPathFactory):
    day = (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=2)).strftime("%a")
    yield from running_stack(tmp_path_factory, {
        "AGENT_API_TOKEN": AGENT_API_TOKEN,
        "MINSHENG_AGENT_HOURS": f"{day} 09:00-10:00",
    })


async def test_outside_the_hours_a_ticket_is_offered(closed_desk):
    c = Conversation(closed_desk, "handoff-closed")
    reply = await c.say("转人工")
    assert said(reply, "utter_human_out_of_hours"), reply
    assert "09:00-10:00" in reply and "下次可以转人工的时间是" in reply
    assert [b["payload"] for b in c.buttons()] == ["/file_ticket", "/deny"]
    status, body = await agent(closed_desk, "GET", "/conversations")
    assert (status, body) == (200, {"conversations": []})
    assert said(await c.say("/file_ticket"), "utter_ask_ticket_description"), c.last
