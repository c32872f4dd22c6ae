"""The voice channel's HTTP surface on a real Sanic server: authentication, bad input,
conversation lifecycle and a broken state store. Nothing here reaches Rasa (the handler given to
the channel fails the test if it is called); whole calls through Rasa are replayed in
tests/voice_e2e."""

import contextlib
import json
import socket

import aiohttp
import pytest
from sanic import Sanic

from channels.voice import VoiceInput, VoiceOutput
from channels.voice.channel import PLACEHOLDER_TRANSFER_TARGET, VoiceSettings
from channels.voice.state import MemoryVoiceStore, RedisVoiceStore

pytestmark = pytest.mark.integration

TOKEN = "test-voice-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
CID = "c0ffee00-1234-4bcd-8def-000000000001"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(channel: VoiceInput):
    async def rasa_must_not_be_reached(message):
        raise AssertionError(f"reached Rasa with {message.text!r}")

    Sanic.test_mode = True
    app = Sanic(f"voice_test_{free_port()}")
    app.blueprint(channel.blueprint(rasa_must_not_be_reached), url_prefix="/webhooks/voice")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        async with aiohttp.ClientSession(
            base_url=f"http://127.0.0.1:{port}", timeout=aiohttp.ClientTimeout(total=10)
        ) as session:
            yield session
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()


def channel(token: str | None = TOKEN, store=None) -> VoiceInput:
    return VoiceInput(VoiceSettings(token=token), store or MemoryVoiceStore())


async def call(session, method, path, body=None, headers=AUTH, raw=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    async with session.request(method, f"/webhooks/voice{path}", data=data,
                               headers=headers) as reply:
        return reply.status, await reply.json(content_type=None), reply.headers


class _Any:
    def __eq__(self, other):
        return True


ANY = _Any()


async def test_health_needs_no_token():
    async with serving(channel()) as session:
        assert (await call(session, "GET", "/", headers={}))[:2] == (200, {"status": "ok"})


async def test_bot_validation_and_a_conversation_lifecycle():
    async with serving(channel()) as session:
        status, body, _ = await call(session, "GET", "/CreateConversation")
        assert (status, body) == (200, {"type": "ac-bot-api", "success": True})
        status, urls, _ = await call(session, "POST", "/CreateConversation",
                                     {"conversation": CID, "id": "x", "timestamp": "t"})
        assert status == 200
        assert urls == {
            "activitiesURL": f"conversation/{CID}/activities",
            "refreshURL": f"conversation/{CID}/refresh",
            "disconnectURL": f"conversation/{CID}/disconnect",
            "expiresSeconds": 120,
        }
        # a retried create answers the same URLs
        again = await call(session, "POST", "/CreateConversation", {"conversation": CID})
        assert again[:2] == (200, urls)
        refreshed = await call(session, "POST", f"/{urls['refreshURL']}", {"conversation": CID})
        assert refreshed[:2] == (200, {"expiresSeconds": 120})
        ended = await call(session, "POST", f"/{urls['disconnectURL']}",
                           {"conversation": CID, "reason": "Client Side",
                            "reasonCode": "client-disconnected"})
        assert ended[:2] == (200, {})
        gone = await call(session, "POST", f"/{urls['activitiesURL']}",
                          {"conversation": CID, "activities": [{"type": "message", "text": "喂"}]})
        assert gone[:2] == (404, {"error": "unknown_conversation", "detail": ANY})


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"},
                {"Authorization": "Bearer"}],
)
async def test_a_bad_token_is_401_on_every_route(headers):
    async with serving(channel()) as session:
        for method, path in [("GET", "/CreateConversation"), ("POST", "/CreateConversation"),
                             ("POST", f"/conversation/{CID}/activities"),
                             ("POST", f"/conversation/{CID}/refresh"),
                             ("POST", f"/conversation/{CID}/disconnect")]:
            status, body, reply_headers = await call(session, method, path,
                                                     {"conversation": CID}, headers=headers)
            assert (status, body["error"]) == (401, "unauthorized"), path
            assert reply_headers["WWW-Authenticate"] == "Bearer"


async def test_without_a_configured_token_the_channel_answers_503():
    async with serving(channel(token=None)) as session:
        status, body, _ = await call(session, "POST", "/CreateConversation",
                                     {"conversation": CID})
        assert (status, body["error"]) == (503, "not_configured")
        assert (await call(session, "GET", "/", headers={}))[0] == 200


@pytest.mark.parametrize(
    ("raw", "code"),
    [(b"{not json", "invalid_json"), (b"", "invalid_json"), (b"[1]", "invalid_json"),
     (b'{"conversation": "other", "activities": [{"type": "message"}]}',
      "conversation_mismatch"),
     (b'{"activities": []}', "missing_activities"),
     (b'{"activities": [{"type": "event"}]}', "invalid_activity")],
)
async def test_malformed_activities_get_a_400_before_anything_else(raw, code):
    async with serving(channel()) as session:
        status, body, _ = await call(session, "POST", f"/conversation/{CID}/activities",
                                     raw=raw)
        assert (status, body["error"]) == (400, code)


async def test_bad_ids_in_the_url_and_unknown_conversations():
    async with serving(channel()) as session:
        status, body, _ = await call(session, "POST", "/conversation/a%20b/refresh",
                                     {"conversation": "a b"})
        assert (status, body["error"]) == (400, "invalid_conversation")
        for name in ("refresh", "disconnect"):
            status, body, _ = await call(session, "POST", f"/conversation/{CID}/{name}",
                                         {"conversation": CID})
            assert (status, body["error"]) == (404, "unknown_conversation")


async def test_an_unreachable_state_store_is_503_not_500():
    dead = RedisVoiceStore(f"redis://127.0.0.1:{free_port()}/0", "testvoice", call_ttl=600)
    async with serving(channel(store=dead)) as session:
        status, body, _ = await call(session, "POST", "/CreateConversation",
                                     {"conversation": CID})
        assert (status, body["error"]) == (503, "unavailable")


def test_the_channel_names_and_settings():
    assert VoiceInput.name() == "voice" and VoiceOutput.name() == "voice"
    settings = VoiceSettings.from_credentials(
        {"expires_seconds": 60, "ssml": "true", "confirm_below": 0.7},
        {"VOICE_BOT_TOKEN": " s3cret ", "REDIS_KEY_PREFIX": "p1"},
    )
    assert (settings.token, settings.expires_seconds, settings.ssml) == ("s3cret", 60, True)
    assert settings.thresholds.confirm_below == 0.7 and settings.key_prefix == "p1"
    assert settings.transfer_target == PLACEHOLDER_TRANSFER_TARGET
    assert VoiceSettings.from_credentials({}, {"VOICE_TRANSFER_TARGET": "tel:9999"}).token is None
    with pytest.raises(ValueError, match="expires_seconds"):
        VoiceSettings.from_credentials({"expires_seconds": 1}, {})
    with pytest.raises(ValueError, match="must be a number"):
        VoiceSettings.from_credentials({"max_speak_chars": "many"}, {})
