"""Whole calls replayed as the voice gateway sends them (tests/fixtures/voice/*.json), against
a real stack: Rasa with the voice channel, the action server, the backends and Redis."""

import json

import aiohttp
import pytest
import redis

from tests.conftest import TEST_REDIS_URL
from tests.voice_e2e.replay import Call, fixtures, load, replay

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("path", fixtures(), ids=lambda p: p.stem)
async def test_a_recorded_call_is_answered_as_expected(voice_stack, path):
    await replay(load(path), voice_stack.bot_url, voice_stack.token,
                 voice_stack.transfer_target)


def user_texts(prefix: str, sender: str) -> list[str]:
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        tracker = json.loads(client.get(f"{prefix}:tracker:{sender}"))
    finally:
        client.close()
    return [e["text"] for e in tracker["events"] if e["event"] == "user"]


async def test_a_resent_activity_reaches_rasa_once(voice_stack):
    steps = [
        {"do": "create"},
        {"do": "activities", "activities": [{"id": "s1", "type": "event", "name": "start"}],
         "expect": {"events": ["config"], "says": ["utter_greet"]}},
        {"do": "activities", "activities": [{"id": "s1", "type": "event", "name": "start"}],
         "expect": {"same_as_step": 1}},
        {"do": "activities", "activities": [
            {"id": "s1", "type": "event", "name": "start"},
            {"id": "s2", "type": "message", "text": "你是机器人吗",
             "parameters": {"confidence": 0.9}}],
         "expect": {"speech": True}},
    ]
    call = await replay({"name": "dedup", "steps": steps}, voice_stack.bot_url,
                        voice_stack.token, voice_stack.transfer_target)
    assert user_texts(voice_stack.prefix, call.conversation) == ["/greet", "你是机器人吗"]


async def test_a_huge_body_is_refused_with_413(voice_stack):
    call = Call(voice_stack.bot_url, voice_stack.token)
    async with aiohttp.ClientSession() as session:
        await call.send(session, {"do": "create"})
        huge = "{" + " " * 100_000 + "}"
        status, body = await call.send(session, {"do": "activities", "raw": huge})
    assert (status, body["error"]) == (413, "body_too_large")


async def test_the_voice_state_lives_under_its_own_prefix_with_ttls(voice_stack):
    call = await replay(load(fixtures()[0]), voice_stack.bot_url, voice_stack.token,
                        voice_stack.transfer_target)
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        keys = list(client.scan_iter(f"{voice_stack.prefix}:voice:*{call.conversation}*"))
        assert keys, "the call left no voice state"
        assert all(client.ttl(key) > 0 for key in keys)
    finally:
        client.close()
