"""Hostile or broken input to the live REST channel: a clear 4xx or a polite reply, never a
500, and the server keeps serving."""

import json

import aiohttp
import pytest

from tests.e2e.rest_client import new_sender, post_raw, say, texts
from tests.support import default_text

pytestmark = pytest.mark.integration


def payload(**fields) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (payload(sender="bad-1", message=""), 400, "empty_message"),
        (payload(sender="bad-2", message="   "), 400, "empty_message"),
        (b"{not json", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (payload(message="你好"), 400, "missing_sender"),
        (payload(sender="bad-3", message=123), 400, "invalid_message"),
        (b"[]", 400, "invalid_json"),
    ],
)
async def test_broken_requests_get_a_clear_4xx(assistant, raw, status, code):
    got_status, body = await post_raw(assistant.rest_url, raw)
    assert (got_status, body["error"]) == (status, code)


async def test_a_huge_body_is_refused_with_413(assistant):
    raw = payload(sender="bad-4", message="字" * 100_000)
    status, body = await post_raw(assistant.rest_url, raw)
    assert (status, body["error"]) == (413, "body_too_large")


async def test_a_5000_character_message_gets_a_polite_reply(assistant):
    replies = await say(assistant.rest_url, new_sender("long"), "请帮我看看" * 1000)
    assert texts(replies) == [default_text("utter_message_too_long")]


async def test_an_emoji_only_message_gets_a_polite_reply(assistant):
    replies = await say(assistant.rest_url, new_sender("emoji"), "😀😀😀🎉")
    assert texts(replies), "the resident must get a reply"
    assert all(t for t in texts(replies))


async def test_the_server_keeps_serving_after_bad_input(assistant):
    for raw in (b"\xff\xfe", b"{", payload(sender="x"), b"null"):
        status, _ = await post_raw(assistant.rest_url, raw)
        assert 400 <= status < 500
    replies = await say(assistant.rest_url, new_sender("after"), "你好")
    assert texts(replies) == [default_text("utter_greet")]


@pytest.mark.parametrize("which", ["rasa", "actions", "backends"])
async def test_every_process_has_a_liveness_endpoint(assistant, which):
    url = {
        "rasa": assistant.rasa_url + "/webhooks/rest/",
        "actions": assistant.actions_url + "/health",
        "backends": assistant.backends_url + "/health",
    }[which]
    async with aiohttp.ClientSession() as session, session.get(url) as reply:
        assert reply.status == 200
        assert (await reply.json())["status"] == "ok"
