"""The gate every channel asks before Rasa (channels/gate.py) and its built-in checks
(channels/gate_checks.py): ordering, failing open, emergencies, the domain's responses per
channel, and the REST channel on a real Sanic server with real Redis (a fake stands in for
Rasa)."""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from rasa.core.channels.channel import CollectingOutputChannel
from sanic import Sanic

from channels import gate
from channels.gate import HOLD, PASS, REPLY, Gate, GateMessage, Verdict
from channels.rest import RestInput
from channels.voice.channel import VoiceOutput
from channels.wechat.channel import WeChatOutput
from tests.conftest import TEST_REDIS_URL

ROOT = Path(__file__).resolve().parents[2]


@cache
def app() -> Any:
    """Stands in for Rasa's Sanic app: only ``ctx.agent.domain`` is read."""
    from rasa.shared.core.domain import Domain

    return SimpleNamespace(ctx=SimpleNamespace(agent=SimpleNamespace(
        domain=Domain.load(str(ROOT / "bot" / "domain")))))


def answer(verdict: Verdict | None):
    async def check(message: GateMessage) -> Verdict | None:
        check.seen.append(message)  # type: ignore[attr-defined]
        return verdict
    check.seen = []  # type: ignore[attr-defined]
    return check


async def broken(message: GateMessage) -> Verdict | None:
    raise ConnectionError("redis is down")


def no_emergency(text: str) -> None:
    return None


# --- the gate (pure) ---------------------------------------------------------------------------


@pytest.mark.unit
async def test_checks_run_in_order_and_the_first_verdict_wins() -> None:
    first, second = answer(None), answer(Verdict(REPLY, "utter_rate_limited", "rate_limited"))
    third = answer(Verdict(HOLD))
    verdict = await Gate([("a", first), ("b", second), ("c", third)], no_emergency).check(
        GateMessage("u1", "rest", "你好"))
    assert (verdict.action, verdict.check, verdict.response) == (REPLY, "b", "utter_rate_limited")
    assert len(first.seen) == 1 and len(third.seen) == 0


@pytest.mark.unit
async def test_a_failing_check_is_skipped(caplog: pytest.LogCaptureFixture) -> None:
    verdict = await Gate([("broken", broken), ("ok", answer(None))], no_emergency).check(
        GateMessage("u1", "rest", "你好"))
    assert verdict.action == PASS
    assert "check broken failed" in caplog.text


@pytest.mark.unit
async def test_a_certain_emergency_passes_whatever_a_check_says() -> None:
    holder = answer(Verdict(HOLD, reason="held"))
    verdict = await Gate([("handoff", holder)], lambda t: ("medical", True)).check(
        GateMessage("u1", "webchat", "我胸口疼得厉害"))
    assert verdict.action == PASS and verdict.notice is None
    seen = holder.seen[0]
    assert (seen.emergency, seen.emergency_certain) == ("medical", True)


@pytest.mark.unit
async def test_a_possible_emergency_gets_the_notice_first_and_the_checks_still_apply() -> None:
    verdict = await Gate([("handoff", answer(Verdict(HOLD)))], lambda t: ("medical", False)).check(
        GateMessage("u1", "webchat", "我爸手脚冰凉 浑身哆嗦"))
    assert verdict.action == HOLD and verdict.notice == "utter_emergency_notice"
    verdict = await Gate([], lambda t: ("medical", False)).check(GateMessage("u1", "rest", "x"))
    assert verdict.action == PASS and verdict.notice == "utter_emergency_notice"


@pytest.mark.unit
async def test_the_real_detector_is_used_by_default_and_skips_payloads() -> None:
    real = Gate([])
    assert real.emergency_of("/greet") is None
    assert real.emergency_of("着火了快来人") == ("fire", True)
    assert real.emergency_of("社保卡怎么办") is None


@pytest.mark.unit
async def test_check_message_never_raises() -> None:
    class Exploding(Gate):
        async def check(self, message: GateMessage) -> Verdict:
            raise RuntimeError("bug")

    gate.set_default_gate(Exploding([]))
    try:
        assert await gate.check_message("u1", "rest", "你好") == gate.PASSED
    finally:
        gate.set_default_gate(None)


@pytest.mark.unit
def test_a_rendered_response_sends_button_payloads_as_rasa_does() -> None:
    responses = {"utter_x": [{"text": "请选择", "buttons": [
        {"title": "养老", "payload": '/choose_area{{"area": "养老"}}'},
        {"title": "人工", "payload": "/request_human"}]}]}
    message = gate.render_response(responses, "utter_x", "rest")
    assert [b["payload"] for b in message["buttons"]] == ['/choose_area{"area": "养老"}',
                                                          "/request_human"]
    assert message["utter_action"] == "utter_x"


def test_a_verdict_as_http_json() -> None:
    verdict = Verdict(REPLY, "utter_rate_limited", "rate_limited", 429, 17)
    assert verdict.as_json() == {"error": "rate_limited", "detail": "too many messages; retry "
                                 "later", "retry_after": 17}
    assert verdict.headers() == {"Retry-After": "17"}


@pytest.mark.unit
def test_every_check_in_the_list_can_be_loaded() -> None:
    for name, spec in gate.CHECKS:
        module, _, attribute = spec.partition(":")
        assert callable(getattr(__import__(module, fromlist=[attribute]), attribute)), name


# --- the domain's responses, per channel -------------------------------------------------------


@pytest.mark.unit
@pytest.mark.parametrize(("output", "fragment"), [
    (CollectingOutputChannel(), "说清楚地址、病人的情况"),
    (WeChatOutput(), "【紧急】"),
    (VoiceOutput(), "请马上拨打120"),
])
async def test_screen_sends_the_channel_variant_of_the_response(output: Any, fragment: str
                                                                 ) -> None:
    gate.set_default_gate(Gate([("x", answer(Verdict(REPLY, "utter_emergency_medical")))],
                               no_emergency))
    try:
        verdict = await gate.screen(app(), output, "u1", output.name(), "测试")
    finally:
        gate.set_default_gate(None)
    assert verdict.action == REPLY
    assert len(output.messages) == 1 and fragment in output.messages[0]["text"]


@pytest.mark.unit
async def test_every_gate_response_exists_in_the_domain_with_voice_and_wechat_variants() -> None:
    responses = app().ctx.agent.domain.responses
    kinds = ("medical", "suicide", "fire", "gas", "violence", "rescue", "general")
    names = [f"utter_emergency_{kind}" for kind in kinds]
    names += ["utter_emergency_notice", "utter_sensitive_refused", "utter_rate_limited"]
    for name in names:
        channels = {variant.get("channel") for variant in responses[name]}
        assert {None, "voice", "wechat"} <= channels, name
    for kind in kinds:  # every kind's answer names a number
        assert any(n in responses[f"utter_emergency_{kind}"][0]["text"]
                   for n in ("120", "110", "119")), kind
    assert "12356" in responses["utter_emergency_suicide"][0]["text"]


# --- the built-in checks, with real Redis -------------------------------------------------------


@contextlib.asynccontextmanager
async def redis_env(**extra: str) -> AsyncIterator[dict[str, str]]:
    prefix = "test-gate-" + secrets.token_hex(4)
    yield {"REDIS_URL": TEST_REDIS_URL, "REDIS_KEY_PREFIX": prefix, **extra}
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    async for key in client.scan_iter(f"{prefix}:*"):
        await client.delete(key)
    await client.close()


def own_gate(environ: dict[str, str]) -> Gate:
    return Gate.from_specs([
        ("rate_limit", "channels.gate_checks:rate_limit_check"),
        ("sensitive_words", "channels.gate_checks:sensitive_words_check"),
    ], environ)


@pytest.mark.integration
async def test_the_rate_limit_check_refuses_with_429_and_never_counts_an_emergency() -> None:
    async with redis_env(RATE_LIMIT_RESIDENT="2/60") as environ:
        checks = own_gate(environ)
        for _ in range(2):
            assert (await checks.check(GateMessage("u1", "rest", "你好"))).action == PASS
        refused = await checks.check(GateMessage("u1", "rest", "你好"))
        assert (refused.action, refused.response, refused.http_status) == (
            REPLY, "utter_rate_limited", 429)
        assert refused.retry_after is not None and 1 <= refused.retry_after <= 60
        # Over the limit, an emergency still passes (and is not counted).
        emergency = await checks.check(GateMessage("u1", "rest", "救命 着火了"))
        assert emergency.action == PASS
        assert (await checks.check(GateMessage("u2", "rest", "你好"))).action == PASS


@pytest.mark.integration
async def test_the_word_list_refuses_and_logs_only_the_masked_text(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with redis_env() as environ:
        checks = own_gate(environ)
        verdict = await checks.check(GateMessage("u1", "wechat", "你个傻逼 电话13812345678"))
        assert (verdict.action, verdict.response, verdict.reason) == (
            REPLY, "utter_sensitive_refused", "sensitive")
        assert verdict.http_status is None
        assert "sensitive: abuse" in caplog.text
        assert "傻逼" not in caplog.text and "13812345678" not in caplog.text
        assert (await checks.check(GateMessage("u1", "wechat", "社保卡怎么补办"))).action == PASS


@pytest.mark.integration
async def test_without_redis_nothing_is_rate_limited() -> None:
    checks = own_gate({"REDIS_KEY_PREFIX": "x"})
    for _ in range(50):
        assert (await checks.check(GateMessage("u1", "rest", "你好"))).action == PASS


@pytest.mark.integration
async def test_an_unreachable_redis_lets_messages_through() -> None:
    checks = own_gate({"REDIS_URL": "redis://127.0.0.1:1/0", "REDIS_KEY_PREFIX": "x"})
    assert (await checks.check(GateMessage("u1", "rest", "你好"))).action == PASS


# --- the REST channel on a real server ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeRasa:
    def __init__(self) -> None:
        self.texts: list[str] = []

    async def __call__(self, message: Any) -> None:
        self.texts.append(message.text)
        await message.output_channel.send_response(message.sender_id,
                                                   {"text": f"答：{message.text}"})


@contextlib.asynccontextmanager
async def rest_server(environ: dict[str, str]) -> AsyncIterator[tuple[aiohttp.ClientSession,
                                                                       FakeRasa]]:
    gate.set_default_gate(own_gate(environ))
    rasa = FakeRasa()
    Sanic.test_mode = True
    server_app = Sanic(f"gate_rest_{free_port()}")
    server_app.ctx.agent = app().ctx.agent
    server_app.blueprint(RestInput().blueprint(rasa), url_prefix="/webhooks/rest")
    port = free_port()
    server = await server_app.create_server(host="127.0.0.1", port=port,
                                            return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        async with aiohttp.ClientSession(base_url=f"http://127.0.0.1:{port}",
                                         timeout=aiohttp.ClientTimeout(total=15)) as http:
            yield http, rasa
    finally:
        gate.set_default_gate(None)
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()


async def post(http: aiohttp.ClientSession, sender: str, text: str) -> tuple[int, Any, Any]:
    async with http.post("/webhooks/rest/webhook",
                         json={"sender": sender, "message": text}) as reply:
        return reply.status, await reply.json(), reply.headers


@pytest.mark.integration
async def test_rest_refuses_politely_limits_with_429_and_lets_emergencies_through() -> None:
    async with redis_env(RATE_LIMIT_RESIDENT="3/60") as environ, \
            rest_server(environ) as (http, rasa):
        status, body, _ = await post(http, "r1", "傻逼")
        assert status == 200 and "不文明" in body[0]["text"] and rasa.texts == []

        for n in range(2):
            status, body, _ = await post(http, "r1", f"你好{n}")
            assert status == 200 and body == [{"recipient_id": "r1", "text": f"答：你好{n}"}]
        status, body, headers = await post(http, "r1", "你好")
        assert status == 429 and body["error"] == "rate_limited"
        assert int(headers["Retry-After"]) == body["retry_after"] >= 1
        assert rasa.texts == ["你好0", "你好1"]

        status, body, _ = await post(http, "r1", "我家着火了")  # over the limit, still answered
        assert status == 200 and rasa.texts[-1] == "我家着火了"


@pytest.mark.integration
async def test_rest_sends_the_notice_of_a_possible_emergency_before_the_answer() -> None:
    async with redis_env() as environ, rest_server(environ) as (http, _rasa):
        gate.default_gate()._detect = lambda text: ("medical", False)
        status, body, _ = await post(http, "r2", "我爸手脚冰凉 浑身哆嗦")
        assert status == 200 and len(body) == 2
        assert "120" in body[0]["text"] and body[1]["text"] == "答：我爸手脚冰凉 浑身哆嗦"
