"""The WeChat channel on a running stack (Rasa, action server, backends, Redis, the WeChat API
sandbox): verification, plain and 安全模式 messages of every type, numbered options, and hostile
requests that never reach Rasa."""

import json
import time

import aiohttp
import pytest
import redis

from backends.wechat_api import push
from backends.wechat_api.harness import ACCOUNT, tracker_user_texts
from tests.channels.wechat_e2e.client import (
    customer_service,
    new_openid,
    pusher,
    raw_post,
    reply_to,
)
from tests.conftest import TEST_REDIS_URL
from tests.support import default_text, response_texts

pytestmark = pytest.mark.integration

HINT = default_text("utter_wechat_options_hint")
AREAS = ["1. 政务服务", "2. 养老服务", "3. 看病就医", "4. 文化旅游"]


def heard(stack, openid: str) -> list[str]:
    return tracker_user_texts(TEST_REDIS_URL, stack.prefix, openid)


async def test_url_verification(wechat_stack):
    query = {**pusher(wechat_stack).sign(), "echostr": "5837397520665288317"}
    async with aiohttp.ClientSession() as session:
        async with session.get(wechat_stack.webhook_url, params=query) as answer:
            assert answer.status == 200
            assert await answer.text() == "5837397520665288317"
        async with session.get(wechat_stack.webhook_url,
                               params={**query, "signature": "0" * 40}) as answer:
            assert answer.status == 403
        stale = {**pusher(wechat_stack).sign(timestamp=str(int(time.time()) - 3600)),
                 "echostr": "1"}
        async with session.get(wechat_stack.webhook_url, params=stale) as answer:
            assert answer.status == 403


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "aes"])
async def test_text_gets_a_passive_reply_with_numbered_options(wechat_stack, encrypted):
    openid = new_openid("greet")
    reply = await reply_to(wechat_stack, push.text(ACCOUNT, openid, "您好，请问在吗"),
                           encrypted=encrypted)
    assert reply == "\n".join([default_text("utter_greet"), "", *AREAS, HINT])
    assert heard(wechat_stack, openid) == ["您好，请问在吗"]

    # "2" picks the second option; Rasa hears its payload.
    reply = await reply_to(wechat_stack, push.text(ACCOUNT, openid, "２"), encrypted=encrypted)
    assert reply in response_texts("utter_area_intro") and "养老助残卡" in reply
    assert heard(wechat_stack, openid)[-1] == '/choose_area{"area": "养老"}'
    # No options are showing now: a number is just text again.
    await reply_to(wechat_stack, push.text(ACCOUNT, openid, "2"), encrypted=encrypted)
    assert heard(wechat_stack, openid)[-1] == "2"
    assert await customer_service(wechat_stack, openid) == []


async def test_subscribe_gets_the_welcome_with_the_menu(wechat_stack):
    openid = new_openid("sub")
    reply = await reply_to(wechat_stack, push.event(ACCOUNT, openid, "subscribe"))
    assert reply == "\n".join([default_text("utter_wechat_welcome"), "", *AREAS, HINT])
    assert heard(wechat_stack, openid) == ["/wechat_subscribe"]
    reply = await reply_to(wechat_stack, push.text(ACCOUNT, openid, "第3个"))
    assert "预约挂号" in reply and heard(wechat_stack, openid)[-1] == '/choose_area{"area": "医疗"}'


async def test_menu_clicks_map_to_intents(wechat_stack):
    openid = new_openid("menu")
    reply = await reply_to(wechat_stack, push.event(ACCOUNT, openid, "CLICK", "MENU_WENLV"))
    assert reply in response_texts("utter_area_intro") and "博物馆" in reply
    reply = await reply_to(wechat_stack, push.event(ACCOUNT, openid, "CLICK", "MENU_HUMAN"))
    assert reply == default_text("utter_human_handoff")
    reply = await reply_to(wechat_stack, push.event(ACCOUNT, openid, "CLICK", "NO_SUCH_KEY"))
    assert reply.startswith(default_text("utter_capabilities"))
    assert heard(wechat_stack, openid) == [
        '/choose_area{"area": "文旅"}', "/request_human", "/ask_capabilities"
    ]


async def test_unsubscribe_and_other_events_are_acknowledged_without_rasa(wechat_stack):
    openid = new_openid("unsub")
    await reply_to(wechat_stack, push.text(ACCOUNT, openid, "你好"))  # options now showing
    for name in ("unsubscribe", "VIEW", "LOCATION"):
        assert await reply_to(wechat_stack, push.event(ACCOUNT, openid, name, "x")) is None
    assert heard(wechat_stack, openid) == ["你好"]
    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        assert client.exists(f"{wechat_stack.prefix}:wechat:options:{openid}") == 0
    finally:
        client.close()


async def test_media_gets_the_polite_unsupported_reply(wechat_stack):
    openid = new_openid("media")
    reply = await reply_to(wechat_stack, push.image(ACCOUNT, openid))
    assert reply == default_text("utter_wechat_unsupported") and "请发送文字" in reply
    video = push.message_xml(ACCOUNT, openid, "video", MediaId="m", ThumbMediaId="t",
                             MsgId=push.next_msg_id())
    assert await reply_to(wechat_stack, video) == default_text("utter_wechat_unsupported")


async def test_voice_uses_recognition(wechat_stack):
    openid = new_openid("voice")
    reply = await reply_to(wechat_stack, push.voice(ACCOUNT, openid, "你好"), encrypted=True)
    assert reply.startswith(default_text("utter_greet"))
    reply = await reply_to(wechat_stack, push.voice(ACCOUNT, openid, ""))
    assert reply == default_text("utter_wechat_voice_unrecognised")
    assert heard(wechat_stack, openid) == ["你好", "/wechat_voice_unrecognised"]


async def test_location_is_acknowledged_and_kept_for_the_nearby_flows(wechat_stack):
    openid = new_openid("loc")
    xml = push.location(ACCOUNT, openid, 39.928353, 116.416357, "北京市东城区东四街道")
    reply = await reply_to(wechat_stack, xml)
    assert reply.startswith("已收到您的位置：北京市东城区东四街道。")
    assert reply.endswith(f"1. 养老服务（养老驿站）\n2. 看病就医（医院）\n{HINT}")
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        events = json.loads(client.get(f"{wechat_stack.prefix}:tracker:{openid}"))["events"]
    finally:
        client.close()
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["latitude"] == 39.928353 and slots["longitude"] == 116.416357
    assert slots["location_label"] == "北京市东城区东四街道"
    unlabelled = push.location(ACCOUNT, new_openid("loc"), 39.9, 116.4, "")
    assert (await reply_to(wechat_stack, unlabelled)).startswith("已收到您发送的位置。")


async def test_hostile_requests_get_4xx_and_never_reach_rasa(wechat_stack):
    openid = new_openid("evil")
    wechat = pusher(wechat_stack)
    good_xml = push.text(ACCOUNT, openid, "你好")
    query, body = wechat.envelope(good_xml)

    assert (await raw_post(wechat_stack, {**query, "signature": "0" * 40}, body))[0] == 403
    assert (await raw_post(wechat_stack, {}, body))[0] == 403
    stale = wechat.sign(timestamp=str(int(time.time()) - 600))
    assert (await raw_post(wechat_stack, stale, body))[0] == 403

    aes = pusher(wechat_stack, encrypted=True)
    aes_query, aes_body = aes.envelope(good_xml)
    forged = {**aes_query, "msg_signature": "0" * 40}
    assert (await raw_post(wechat_stack, forged, aes_body))[0] == 403

    for junk in (
        b"",
        b"<xml><Content>unclosed",
        b'<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><xml>&b;</xml>',
        good_xml.replace("</xml>", "<Content>again</Content></xml>").encode(),
        good_xml.replace("你好", "长" * 40_000).encode(),
    ):
        status, text = await raw_post(wechat_stack, wechat.sign(), junk)
        assert status == 400, (junk[:60], text)
    assert heard(wechat_stack, openid) == []

    # The same delivery, correctly signed, is then answered normally.
    assert await reply_to(wechat_stack, good_xml) is not None


async def test_a_message_over_the_size_limit_gets_the_polite_reply(wechat_stack):
    openid = new_openid("long")
    reply = await reply_to(wechat_stack, push.text(ACCOUNT, openid, "问" * 2001))
    assert reply == default_text("utter_message_too_long")
    assert heard(wechat_stack, openid) == ["/message_too_long"]
