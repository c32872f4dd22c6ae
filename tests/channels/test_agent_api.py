"""The agent API and the handoff's hold on a real Sanic server with real Redis: the REST,
webchat and agent channels mounted together (as in bot/credentials.yml), the real domain's
responses, a small handler standing in for Rasa. Whole conversations through Rasa and the
action server are in tests/dialogues/test_handoff.py."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import socket
import time
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from rasa.core.channels.channel import InputChannel, OutputChannel
from sanic import Blueprint, Sanic

from channels import gate
from channels import handoff as channel_handoff
from channels.agent import AgentInput, ApiError, bearer_ok, parse_body
from channels.gate import HOLD, GateMessage
from channels.rest import RestInput
from channels.webchat import WebChatInput
from handoff.model import Handoff, Summary, conversation_id
from handoff.store import HandoffStore
from tests.conftest import ROOT, TEST_REDIS_URL
from web.sioclient import SocketIOClient

TOKEN = "agent-" + secrets.token_hex(16)


# --- pure parts -----------------------------------------------------------------------------


@pytest.mark.unit
def test_the_bearer_token_is_checked_exactly():
    assert bearer_ok(f"Bearer {TOKEN}", TOKEN)
    assert bearer_ok(f"bearer  {TOKEN} ", TOKEN)
    for header in (None, "", TOKEN, f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer ",
                   f"Bearer {TOKEN[:-1]}"):
        assert not bearer_ok(header, TOKEN)
    assert not bearer_ok("Bearer ", "")


@pytest.mark.unit
@pytest.mark.parametrize(("raw", "code"), [
    (b"{", "invalid_json"), (b"[]", "invalid_json"), (b"{}", "missing_agent"),
    (b'{"agent": "a b"}', "invalid_agent"), (b'{"agent": 7}', "invalid_agent"),
])
def test_bad_bodies_are_refused_with_a_reason(raw, code):
    with pytest.raises(ApiError) as error:
        parse_body(raw)
    assert error.value.code == code and error.value.status == 400


@pytest.mark.unit
def test_message_bodies_need_a_text_within_the_limit():
    assert parse_body(b'{"agent": "li", "text": " hi "}', text=True) == {"agent": "li",
                                                                          "text": "hi"}
    for raw, code in ((b'{"agent": "li"}', "missing_text"),
                      (b'{"agent": "li", "text": "  "}', "missing_text"),
                      (json.dumps({"agent": "li", "text": "x" * 11}).encode(), "text_too_long")):
        with pytest.raises(ApiError) as error:
            parse_body(raw, text=True, max_text_chars=10)
        assert error.value.code == code
    with pytest.raises(ApiError) as error:
        parse_body(b"x" * 20000)
    assert error.value.status == 413


@pytest.mark.unit
def test_a_short_token_stops_the_server_and_none_disables_the_api(caplog):
    with pytest.raises(ValueError, match="at least 16"):
        AgentInput(environ={"AGENT_API_TOKEN": "short"})
    with caplog.at_level(logging.WARNING):
        channel = AgentInput(environ={}, store=HandoffStore(None, "x"))
    assert not channel.enabled
    assert "agent API disabled: AGENT_API_TOKEN is not set" in caplog.text


# --- on a server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeRasa:
    def __init__(self) -> None:
        self.texts: list[str] = []

    async def __call__(self, message: Any) -> None:
        self.texts.append(message.text)
        await message.output_channel.send_response(message.sender_id, {"text": "机器人的回答"})


class FakeWeChat(InputChannel):
    """Stands in for the WeChat channel: its output channel (客服消息) records what is sent."""

    sent: list[tuple[str, dict[str, Any]]]

    @classmethod
    def name(cls) -> str:
        return "wechat"

    def __init__(self) -> None:
        self.sent = []

    def blueprint(self, on_new_message: Any) -> Blueprint:
        return Blueprint("fake_wechat", __name__)

    def get_output_channel(self) -> OutputChannel:
        channel = self

        class Output(OutputChannel):
            @classmethod
            def name(cls) -> str:
                return "wechat"

            async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
                channel.sent.append((recipient_id, message))

        return Output()


class Server:
    def __init__(self, http: aiohttp.ClientSession, base: str, store: HandoffStore,
                 rasa: FakeRasa, wechat: FakeWeChat) -> None:
        self.http, self.base, self.store, self.rasa = http, base, store, rasa
        self.wechat = wechat

    async def call(self, method: str, path: str, body: Any = None, token: str | None = TOKEN
                   ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.request(method, f"/webhooks/agent{path}", headers=headers,
                                     data=None if body is None else json.dumps(body)) as reply:
            return reply.status, await reply.json(content_type=None)

    async def rest(self, sender: str, text: str) -> list[dict[str, Any]]:
        async with self.http.post("/webhooks/rest/webhook",
                                  json={"sender": sender, "message": text}) as reply:
            assert reply.status == 200, await reply.text()
            return await reply.json()

    async def queue(self, sender: str, channel: str) -> str:
        now = time.time()
        record = Handoff(conversation_id(sender), sender, channel, "request",
                         summary=Summary(("社保卡丢了怎么补办", "转人工"), "政务服务"),
                         created=now, updated=now)
        await self.store.enqueue(record)
        return record.id


@contextlib.asynccontextmanager
async def serving(token: str | None = TOKEN, prefix: str | None = None
                  ) -> AsyncIterator[Server]:
    from rasa.shared.core.domain import Domain

    prefix = prefix or "test" + secrets.token_hex(4)
    env = {"REDIS_URL": TEST_REDIS_URL, "REDIS_KEY_PREFIX": prefix}
    store = HandoffStore(TEST_REDIS_URL, prefix)
    channel_handoff.set_shared_store(store)
    gate.set_default_gate(None)  # made again, with this test's queue
    channels = [RestInput(), WebChatInput(environ=env),
                AgentInput(environ={**env, "AGENT_API_TOKEN": token or ""}, store=store),
                FakeWeChat()]
    rasa = FakeRasa()
    Sanic.test_mode = True
    app = Sanic(f"agent_test_{free_port()}")
    for channel in channels:
        app.blueprint(channel.blueprint(rasa), url_prefix=f"/webhooks/{channel.url_prefix()}")
    app.ctx.input_channels = channels
    app.ctx.agent = SimpleNamespace(domain=Domain.load(str(ROOT / "bot" / "domain")))
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(base_url=base,
                                         timeout=aiohttp.ClientTimeout(total=15)) as http:
            yield Server(http, base, store, rasa, channels[3])
    finally:
        await channels[1].feedback.close()
        await channels[1].sio.shutdown()
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
        channel_handoff.set_shared_store(None)
        gate.set_default_gate(None)
        client = aioredis.Redis.from_url(TEST_REDIS_URL)
        async for key in client.scan_iter(f"{prefix}:*"):
            await client.delete(key)
        await client.close()


@pytest.mark.integration
async def test_a_wrong_or_missing_token_gets_401_and_no_token_503():
    async with serving() as server:
        for token in (None, "wrong-token-wrong-token", TOKEN + "x"):
            status, body = await server.call("GET", "/conversations", token=token)
            assert (status, body["error"]) == (401, "unauthorized")
        status, body = await server.call("GET", "/")
        assert (status, body) == (200, {"status": "ok", "enabled": True})
    async with serving(token=None) as server:
        status, body = await server.call("GET", "/conversations")
        assert (status, body["error"]) == (503, "disabled")
        assert (await server.call("GET", "/"))[1]["enabled"] is False


@pytest.mark.integration
async def test_the_desk_key_is_kept_while_the_api_is_served():
    async with serving() as server:
        for _ in range(40):  # the keeper task starts with the server
            if await server.store.desk_served():
                break
            await asyncio.sleep(0.05)
        assert await server.store.desk_served()
    async with serving(token=None) as server:
        await asyncio.sleep(0.2)
        assert not await server.store.desk_served()


@pytest.mark.integration
async def test_a_webchat_resident_talks_to_an_agent_and_back_to_the_bot():
    async with serving() as server:
        sender = "web-" + secrets.token_hex(6)
        conversation = await server.queue(sender, "webchat")
        check = channel_handoff.gate_check({})
        async with SocketIOClient(server.base) as resident:
            await resident.start_session(sender)
            # Waiting: the bot still answers, and the agent will see the message.
            assert await check(GateMessage(sender, "webchat", "还要等多久")) is None

            status, body = await server.call("GET", "/conversations?state=waiting")
            assert status == 200
            [listed] = body["conversations"]
            assert listed["id"] == conversation and listed["channel"] == "webchat"
            assert listed["summary"]["messages"] == ["社保卡丢了怎么补办", "转人工"]
            assert listed["summary"]["area"] == "政务服务" and "sender" not in listed

            status, body = await server.call("POST", f"/conversations/{conversation}/take",
                                             {"agent": "li"})
            assert status == 200 and body["conversation"]["state"] == "held"
            joined = await resident.wait_for("bot_uttered")
            assert joined["text"] == "人工客服已接入，接下来由工作人员为您服务。"

            status, body = await server.call("POST", f"/conversations/{conversation}/messages",
                                             {"agent": "li", "text": "您好，我是李娜，请讲。"})
            assert status == 201
            assert body["delivered"] == {"via": "webchat", "servers": 1}
            said = await resident.wait_for("bot_uttered")
            assert said["text"] == "人工客服：您好，我是李娜，请讲。"

            # Held: the resident's message is the agent's, the bot stays silent.
            verdict = await check(GateMessage(sender, "webchat", "我的电话是13812345678"))
            assert verdict is not None and verdict.action == HOLD
            emergency = GateMessage(sender, "webchat", "我胸口好痛", emergency="medical")
            assert await check(emergency) is None  # kept for the agent, and it passes

            status, body = await server.call("GET", f"/conversations/{conversation}")
            texts = [(e["from"], e["text"]) for e in body["transcript"]]
            assert ("resident", "还要等多久") in texts
            assert ("agent", "您好，我是李娜，请讲。") in texts
            assert ("resident", "我的电话是138****5678") in texts
            assert any(e.get("emergency") == "medical" for e in body["transcript"])

            status, body = await server.call("POST", f"/conversations/{conversation}/release",
                                             {"agent": "li"})
            assert (status, body) == (200, {"released": conversation})
            back = await resident.wait_for("bot_uttered")
            assert back["text"].startswith("人工客服已结束本次服务")
            assert await check(GateMessage(sender, "webchat", "你好")) is None
            assert (await server.call("GET", "/conversations"))[1] == {"conversations": []}


@pytest.mark.integration
async def test_a_rest_resident_gets_agent_messages_from_the_outbox():
    async with serving() as server:
        sender = "rest-" + secrets.token_hex(6)
        conversation = await server.queue(sender, "rest")
        await server.call("POST", f"/conversations/{conversation}/take", {"agent": "li"})
        status, body = await server.call("POST", f"/conversations/{conversation}/messages",
                                         {"agent": "li", "text": "请问您在哪个街道？"})
        assert (status, body["delivered"]) == (201, {"via": "outbox"})
        async with server.http.get("/webhooks/rest/outbox", params={"sender": sender}) as reply:
            polled = await reply.json()
        assert [m["text"] for m in polled] == ["人工客服已接入，接下来由工作人员为您服务。",
                                               "人工客服：请问您在哪个街道？"]
        assert polled[0]["recipient_id"] == sender
        async with server.http.get("/webhooks/rest/outbox", params={"sender": sender}) as reply:
            assert await reply.json() == []
        await server.call("POST", f"/conversations/{conversation}/messages",
                          {"agent": "li", "text": "好的"})
        # Held: the resident's next REST call gets what the agent wrote, and Rasa nothing.
        replies = await server.rest(sender, "在中关村街道")
        assert [m["text"] for m in replies] == ["人工客服：好的"]
        assert "在中关村街道" not in server.rasa.texts
        await server.call("POST", f"/conversations/{conversation}/release", {"agent": "li"})
        replies = await server.rest(sender, "谢谢")
        assert [m["text"] for m in replies] == [
            "人工客服已结束本次服务，接下来由民生助手继续为您服务。还有什么可以帮您？",
            "机器人的回答"]
        assert server.rasa.texts == ["谢谢"]
        async with server.http.get("/webhooks/rest/outbox", params={"sender": "a b"}) as reply:
            assert reply.status == 400


@pytest.mark.integration
async def test_only_the_holder_writes_and_unknown_conversations_are_404():
    async with serving() as server:
        conversation = await server.queue("rest-" + secrets.token_hex(6), "rest")
        status, body = await server.call("POST", f"/conversations/{conversation}/messages",
                                         {"agent": "li", "text": "你好"})
        assert (status, body["error"]) == (409, "not_held")
        assert (await server.call("POST", f"/conversations/{conversation}/take",
                                  {"agent": "li"}))[0] == 200
        status, body = await server.call("POST", f"/conversations/{conversation}/take",
                                         {"agent": "wang"})
        assert (status, body["error"]) == (409, "taken")
        status, body = await server.call("POST", f"/conversations/{conversation}/release",
                                         {"agent": "wang"})
        assert status == 409
        for path in ("/conversations/0123456789abcdef", "/conversations/..%2Fx"):
            status, body = await server.call("GET", path)
            assert (status, body["error"]) == (404, "not_found")
        status, body = await server.call("POST", "/conversations/0123456789abcdef/take",
                                         {"agent": "li"})
        assert status == 404
        status, body = await server.call("POST", f"/conversations/{conversation}/take", [])
        assert (status, body["error"]) == (400, "invalid_json")
        status, body = await server.call("GET", "/conversations?state=closed")
        assert (status, body["error"]) == (400, "invalid_state")


@pytest.mark.integration
async def test_an_agent_on_another_server_reaches_the_webchat_resident():
    """Two Rasa servers on one Redis (scripts/cluster): the resident's socket is on one, the
    agent's request lands on the other."""
    prefix = "test" + secrets.token_hex(4)
    async with serving(prefix=prefix) as first, serving(prefix=prefix) as second:
        sender = "web-" + secrets.token_hex(6)
        conversation = await first.queue(sender, "webchat")
        async with SocketIOClient(first.base) as resident:
            await resident.start_session(sender)
            await second.call("POST", f"/conversations/{conversation}/take", {"agent": "li"})
            assert (await resident.wait_for("bot_uttered"))["text"].startswith("人工客服已接入")
            status, body = await second.call("POST", f"/conversations/{conversation}/messages",
                                             {"agent": "li", "text": "在吗？"})
            assert (status, body["delivered"]) == (201, {"via": "webchat", "servers": 2})
            assert (await resident.wait_for("bot_uttered"))["text"] == "人工客服：在吗？"
            with pytest.raises(TimeoutError):  # once, not once per server
                await resident.wait_for("bot_uttered", timeout=1)


@pytest.mark.integration
async def test_a_wechat_resident_gets_customer_service_messages():
    async with serving() as server:
        openid = "oAbC" + secrets.token_hex(8)
        conversation = await server.queue(openid, "wechat")
        await server.call("POST", f"/conversations/{conversation}/take", {"agent": "li"})
        status, body = await server.call("POST", f"/conversations/{conversation}/messages",
                                         {"agent": "li", "text": "您好"})
        assert (status, body["delivered"]) == (201, {"via": "wechat"})
        assert [(to, m["text"]) for to, m in server.wechat.sent] == [
            (openid, "人工客服已接入，接下来由工作人员为您服务。"), (openid, "人工客服：您好")]
        assert openid not in json.dumps(body)
