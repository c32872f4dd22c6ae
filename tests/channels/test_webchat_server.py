"""The web chat channel on a real Sanic server with real Redis: the widget files, feedback, and
the socket.io protocol with well-behaved and hostile clients. A small handler stands in for Rasa
(it records each message and answers through the channel's own output); whole conversations
through Rasa are in tests/web."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import secrets
import socket
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from sanic import Sanic

from channels import gate
from channels.gate import HOLD, REPLY, Gate, GateMessage, Verdict
from channels.webchat import WebChatInput, resident_ref
from tests.conftest import TEST_REDIS_URL
from web.sioclient import SocketIOClient

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeRasa:
    """Records what reaches "Rasa" and answers like it: through the message's output channel."""

    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def __call__(self, message: Any) -> None:
        self.messages.append(message)
        if message.text == "boom":
            raise RuntimeError("the assistant failed")
        await message.output_channel.send_response(message.sender_id, {
            "text": f"答：{message.text}\n\n第二段\n依据：《测试办法》（测试局发布）",
            "kb_id": "zw-test-1",
            "utter_action": "utter_knowledge_answer",
            "answer": "not to be forwarded",
            "spoken": "not to be forwarded",
            "buttons": [{"title": "转人工客服", "payload": "/request_human"}],
        })


class Server:
    def __init__(self, base_url: str, http: aiohttp.ClientSession, rasa: FakeRasa,
                 prefix: str) -> None:
        self.base_url = base_url
        self.http = http
        self.rasa = rasa
        self.prefix = prefix

    async def get(self, path: str, **kwargs: Any) -> tuple[int, bytes, Any]:
        async with self.http.get(f"/webhooks/webchat{path}", **kwargs) as reply:
            return reply.status, await reply.read(), reply.headers

    async def feedback(self, raw: bytes | dict) -> tuple[int, dict]:
        data = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
        async with self.http.post("/webhooks/webchat/feedback", data=data,
                                  headers={"Content-Type": "application/json"}) as reply:
            return reply.status, await reply.json(content_type=None)

    def client(self) -> SocketIOClient:
        return SocketIOClient(self.base_url)


# What the gate's answers are made from (app.ctx.agent.domain.responses), for these tests.
RESPONSES = {
    "utter_rate_limited": [{"text": "您发得太快了"}],
    "utter_emergency_notice": [{"text": "紧急情况请拨打120"}],
}


@contextlib.asynccontextmanager
async def serving(environ: dict[str, str] | None = None, checks: list | None = None,
                  **options: Any) -> AsyncIterator[Server]:
    """The channel on a real Sanic server; ``checks``: the gate's checks (default none, and
    no emergency detector, so these tests see the channel alone)."""
    prefix = "test" + secrets.token_hex(4)
    env = {"REDIS_URL": TEST_REDIS_URL, "REDIS_KEY_PREFIX": prefix} if environ is None else environ
    channel = WebChatInput(environ=env, **options)
    rasa = FakeRasa()
    gate.set_default_gate(Gate(checks or [], lambda text: None))
    Sanic.test_mode = True
    app = Sanic(f"webchat_test_{free_port()}")
    app.ctx.agent = SimpleNamespace(domain=SimpleNamespace(responses=RESPONSES))
    app.blueprint(channel.blueprint(rasa), url_prefix="/webhooks/webchat")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(base_url=base,
                                         timeout=aiohttp.ClientTimeout(total=15)) as http:
            yield Server(base, http, rasa, prefix)
    finally:
        gate.set_default_gate(None)
        await channel.feedback.close()
        await channel.sio.shutdown()
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
        client = aioredis.Redis.from_url(TEST_REDIS_URL)
        async for key in client.scan_iter(f"{prefix}:*"):
            await client.delete(key)
        await client.close()


# --- the widget files ----------------------------------------------------------------------------


async def test_the_widget_is_served_with_its_type_and_caching_headers():
    async with serving() as server:
        status, body, headers = await server.get("/widget.js")
        assert status == 200
        assert headers["Content-Type"] == "text/javascript; charset=utf-8"
        assert headers["Cache-Control"] == "public, max-age=300"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Cross-Origin-Resource-Policy"] == "cross-origin"
        assert b"Socket.IO v4.8.4" in body and b"MinshengWidget" in body
        etag = headers["ETag"]

        status, body, headers = await server.get("/widget.js", headers={"If-None-Match": etag})
        assert (status, body, headers["ETag"]) == (304, b"", etag)

        # gzip when the browser takes it (every browser does), plain otherwise; each encoding
        # has its own ETag, and the response says it varies with Accept-Encoding.
        async with server.http.get("/webhooks/webchat/widget.js", auto_decompress=False,
                                   headers={"Accept-Encoding": "gzip, deflate, br"}) as reply:
            zipped = await reply.read()
            assert reply.headers["Content-Encoding"] == "gzip"
            assert reply.headers["Vary"] == "Accept-Encoding"
            gzip_etag = reply.headers["ETag"]
        async with server.http.get("/webhooks/webchat/widget.js", auto_decompress=False,
                                   headers={"Accept-Encoding": "identity"}) as reply:
            plain = await reply.read()
            assert "Content-Encoding" not in reply.headers
            assert reply.headers["Vary"] == "Accept-Encoding"
            assert reply.headers["ETag"] != gzip_etag
        assert gzip.decompress(zipped) == plain and len(zipped) < len(plain) // 2
        status, _, headers = await server.get(
            "/widget.js", headers={"If-None-Match": gzip_etag, "Accept-Encoding": "identity"})
        assert status == 200  # the gzip tag does not validate the plain body

        async with server.http.head("/webhooks/webchat/widget.js") as reply:
            assert reply.status == 200

        status, body, headers = await server.get("/widget.css")
        assert status == 200 and headers["Content-Type"] == "text/css; charset=utf-8"
        status, body, headers = await server.get("/vendor/socket.io.LICENSE")
        assert status == 200 and b"MIT License" in body
        assert (await server.get("/"))[0] == 200


@pytest.mark.parametrize(
    "path",
    ["/vendor/nothing.js", "/vendor/..%2F..%2Fchannels%2Fwebchat.py", "/../channels/webchat.py",
     "/vendor/%2e%2e%2fminsheng-widget.css", "/widget.map", "/index.html"],
)
async def test_nothing_else_is_served(path):
    async with serving() as server:
        status, body, _ = await server.get(path)
        assert status == 404
        assert b"import" not in body


# --- feedback ------------------------------------------------------------------------------------


async def test_feedback_is_stored_once_with_the_sender_hashed():
    async with serving() as server:
        vote = {"sender": "resident-0001", "message_id": "LCkbT1-xBowb4nLo",
                "kb_id": "zw-sbk-lost", "rating": "up"}
        assert await server.feedback(vote) == (201, {"status": "recorded"})
        assert await server.feedback(vote) == (200, {"status": "duplicate"})
        assert await server.feedback({**vote, "rating": "down"}) == (201, {"status": "changed"})
        by_hash = {"sender": "resident-0001", "answer_hash": "00ab12cd34ef56", "rating": "down"}
        assert await server.feedback(by_hash) == (201, {"status": "recorded"})

        client = aioredis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
        try:
            stream = f"{server.prefix}:app:feedback"
            entries = [fields for _, fields in await client.xrange(stream)]
            resident = resident_ref("resident-0001")
            assert [(e["rating"], e["message"], e["kb_id"]) for e in entries] == [
                ("up", "LCkbT1-xBowb4nLo", "zw-sbk-lost"),
                ("down", "LCkbT1-xBowb4nLo", "zw-sbk-lost"),
                ("down", "h-00ab12cd34ef56", ""),
            ]
            assert all(e["resident"] == resident and e["channel"] == "webchat" for e in entries)
            assert entries[1]["replaces"] == "up"
            raw = json.dumps(await client.xrange(stream))
            assert "resident-0001" not in raw
            keys = [k async for k in client.scan_iter(f"{server.prefix}:*")]
            assert keys
            for key in keys:
                assert 0 < await client.ttl(key) <= 180 * 86400, key
        finally:
            await client.close()


async def test_bad_feedback_gets_a_4xx_over_http():
    async with serving() as server:
        assert (await server.feedback(b"{broken"))[0] == 400
        status, reply = await server.feedback({"sender": "s", "message_id": "x", "rating": "up"})
        assert (status, reply["error"]) == (400, "invalid_message_id")
        status, reply = await server.feedback(b"{" + b" " * 10_000 + b"}")
        assert (status, reply["error"]) == (413, "body_too_large")
        status, _, _ = await server.get("/feedback")
        assert status == 405


async def test_feedback_is_rate_limited_per_resident():
    async with serving(feedback_per_minute=3) as server:
        for n in range(3):
            vote = {"sender": "busy", "message_id": f"message{n:04d}", "rating": "up"}
            assert (await server.feedback(vote))[0] == 201
        status, reply = await server.feedback(
            {"sender": "busy", "message_id": "message9999", "rating": "up"})
        assert (status, reply["error"]) == (429, "rate_limited")
        other = {"sender": "calm", "message_id": "message0001", "rating": "up"}
        assert (await server.feedback(other))[0] == 201


@pytest.mark.parametrize("environ", [
    {"REDIS_KEY_PREFIX": "x"},  # no Redis configured
    {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0", "REDIS_KEY_PREFIX": "x"},  # nobody there
])
async def test_feedback_without_redis_is_a_503_not_a_crash(environ):
    async with serving(environ=environ) as server:
        status, reply = await server.feedback(
            {"sender": "s1", "message_id": "message0001", "rating": "up"})
        assert (status, reply["error"]) == (503, "unavailable")
        assert (await server.get("/widget.js"))[0] == 200


# --- socket.io -----------------------------------------------------------------------------------


async def test_a_conversation_over_socketio():
    async with serving() as server, server.client() as tab:
        assert await tab.start_session("resident-0002") == "resident-0002"
        await tab.emit("user_uttered", {
            "message": "社保卡丢了　怎么办", "session_id": "resident-0002",
            "metadata": {"widget": "1.0.0", "deep": {"x": 1}},
        })
        reply = await tab.wait_for("bot_uttered", 10)
        message = server.rasa.messages[-1]
        assert (message.sender_id, message.text, message.input_channel) == (
            "resident-0002", "社保卡丢了 怎么办", "webchat")
        assert message.metadata == {"widget": "1.0.0"}
        # One event per bot message, not split at blank lines; the source line stays with it.
        assert reply["text"] == "答：社保卡丢了 怎么办\n\n第二段\n依据：《测试办法》（测试局发布）"
        assert reply["quick_replies"] == [
            {"content_type": "text", "title": "转人工客服", "payload": "/request_human"}]
        assert reply["metadata"]["kb_id"] == "zw-test-1"
        assert reply["metadata"]["response"] == "utter_knowledge_answer"
        assert len(reply["metadata"]["message_id"]) == 16
        assert "not to be forwarded" not in json.dumps(reply, ensure_ascii=False)


async def test_every_tab_of_a_session_gets_the_answers():
    async with serving() as server, server.client() as one, server.client() as two:
        await one.start_session("resident-0003")
        await two.start_session("resident-0003")
        await one.emit("user_uttered", {"message": "你好"})
        first, second = await one.wait_for("bot_uttered", 10), await two.wait_for("bot_uttered", 10)
        assert first["text"] == second["text"]
        assert first["metadata"]["message_id"] == second["metadata"]["message_id"]


@pytest.mark.parametrize(
    "request_data",
    [None, "abc", ["resident"], {"session_id": None}, {"session_id": 42},
     {"session_id": "../../etc/passwd"}, {"session_id": "x" * 500}, {"session_id": {"a": 1}},
     {"session_id": "<img src=x onerror=alert(1)>"}],
)
async def test_a_bad_session_id_gets_a_fresh_session(request_data):
    async with serving() as server, server.client() as tab:
        await tab.emit("session_request", request_data)
        confirmed = await tab.wait_for("session_confirm", 10)
        assert isinstance(confirmed, str) and len(confirmed) == 32
        assert all(c in "0123456789abcdef" for c in confirmed)


async def test_a_socket_cannot_talk_before_its_session_or_into_another_one():
    async with serving() as server, server.client() as intruder, server.client() as victim:
        await intruder.emit("user_uttered", {"message": "你好", "session_id": "victim-session"})
        await victim.start_session("victim-session")
        await intruder.start_session("intruder-session")
        await intruder.emit("user_uttered", {"message": "我是谁", "session_id": "victim-session"})
        await intruder.wait_for("bot_uttered", 10)
        assert [m.sender_id for m in server.rasa.messages] == ["intruder-session"]
        with pytest.raises(TimeoutError):
            await victim.wait_for("bot_uttered", 1.0)


async def test_hostile_frames_never_reach_rasa_and_the_server_keeps_serving():
    async with serving() as server:
        async with server.client() as tab:
            await tab.start_session("resident-0004")
            for packet in ['42["user_uttered"]', '42["user_uttered", 5]',
                           '42["user_uttered", {"message": {"$gt": ""}}]',
                           '42["user_uttered", {"message": ""}]', '42[', '4garbage', '42{}',
                           '42["session_request", {"session_id": "a"}, 1, 2, 3]']:
                await tab.send_raw(packet)
            await asyncio.sleep(0.5)
        async with server.client() as oversized:
            await oversized.start_session("resident-0005")
            await oversized.emit("user_uttered", {"message": "字" * 70_000})
            await asyncio.wait_for(oversized.closed.wait(), 10)  # over the 64 KB frame limit
        assert server.rasa.messages == []
        async with server.client() as tab:
            await tab.start_session("resident-0004")
            await tab.emit("user_uttered", {"message": "字" * 3000})
            await tab.wait_for("bot_uttered", 10)
            assert server.rasa.messages[-1].text == "/message_too_long"


def deciding(*verdicts: Verdict | None):
    """A gate check that answers ``verdicts`` in turn (then None) and records what it saw."""
    seen: list[GateMessage] = []
    answers = list(verdicts)

    async def check(message: GateMessage) -> Verdict | None:
        seen.append(message)
        return answers.pop(0) if answers else None

    check.seen = seen  # type: ignore[attr-defined]
    return check


async def test_every_message_passes_the_gate_before_rasa():
    check = deciding(
        Verdict(REPLY, "utter_rate_limited", "rate_limited", http_status=429, retry_after=30),
        Verdict(HOLD, reason="held"),
        None,
    )
    async with serving(checks=[("test", check)]) as server, \
            server.client() as tab, server.client() as other_tab:
        await tab.start_session("resident-0010")
        await other_tab.start_session("resident-0010")

        await tab.emit("user_uttered", {"message": "你好　", "metadata": {"widget": "1.0.0"}})
        refused = await tab.wait_for("bot_uttered", 10)  # REPLY: the domain's answer, no Rasa
        assert refused["text"] == "您发得太快了"
        assert refused["metadata"]["response"] == "utter_rate_limited"
        assert (await other_tab.wait_for("bot_uttered", 10))["text"] == "您发得太快了"

        await tab.emit("user_uttered", {"message": "人工客服在吗"})  # HOLD: the agent answers
        assert await tab.wait_for("bot_uttered", 10) == {"metadata": {"status": "held"}}

        await tab.emit("user_uttered", {"message": "社保卡"})  # PASS: Rasa answers
        assert (await tab.wait_for("bot_uttered", 10))["text"].startswith("答：社保卡")

        assert [m.text for m in server.rasa.messages] == ["社保卡"]
        assert [(m.sender_id, m.channel, m.text) for m in check.seen] == [
            ("resident-0010", "webchat", "你好"), ("resident-0010", "webchat", "人工客服在吗"),
            ("resident-0010", "webchat", "社保卡")]
        assert check.seen[0].metadata == {"widget": "1.0.0"}


async def test_the_emergency_notice_comes_before_the_answer():
    async with serving() as server, server.client() as tab:
        gate.set_default_gate(Gate([], lambda text: ("medical", False)))
        await tab.start_session("resident-0011")
        await tab.emit("user_uttered", {"message": "我爸胸口疼得厉害"})
        notice = await tab.wait_for("bot_uttered", 10)
        answer = await tab.wait_for("bot_uttered", 10)
        assert notice["text"] == "紧急情况请拨打120"
        assert notice["metadata"]["response"] == "utter_emergency_notice"
        assert answer["text"].startswith("答：我爸胸口疼得厉害")
        assert [m.text for m in server.rasa.messages] == ["我爸胸口疼得厉害"]


async def test_a_failure_in_rasa_reaches_the_widget_as_an_error_event():
    async with serving() as server, server.client() as tab:
        await tab.start_session("resident-0006")
        await tab.emit("user_uttered", {"message": "boom"})
        assert await tab.wait_for("bot_uttered", 10) == {"metadata": {"error": "unavailable"}}
        await tab.emit("user_uttered", {"message": "还在吗"})
        assert (await tab.wait_for("bot_uttered", 10))["text"].startswith("答：还在吗")


async def test_a_flood_of_messages_is_cut_off_politely():
    async with serving(messages_per_minute=3) as server, server.client() as tab:
        await tab.start_session("resident-0007")
        for n in range(5):
            await tab.emit("user_uttered", {"message": f"第{n}条"})
        events = await tab.collect("bot_uttered", quiet=1.0, timeout=10)
        assert len(server.rasa.messages) == 3
        assert events.count({"metadata": {"error": "rate_limited"}}) == 2
