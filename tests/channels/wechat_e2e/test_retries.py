"""WeChat's retries against a running stack with the bot made slow on purpose (a proxy delays
the action server for chosen residents): however deliveries are retried, the resident gets
exactly one answer (passive or 客服消息, never both) and Rasa runs once, so the action that would
file a ticket runs once."""

import asyncio

import pytest

from backends.wechat_api import push
from backends.wechat_api.harness import ACCOUNT, tracker_user_texts
from tests.channels.wechat_e2e.client import (
    customer_service,
    deliver,
    new_openid,
    wait_customer_service,
)
from tests.conftest import TEST_REDIS_URL
from tests.support import response_texts

pytestmark = pytest.mark.integration

QUESTION = "养老助残卡丢了去哪儿补办"
SETTLE = 5.5  # passive budget + margin: after this no answer can still be on its way


def knowledge_reply(text: str) -> bool:
    """Any of the knowledge action's outcomes (the knowledge base may or may not be built)."""
    first_line = text.split("\n")[0]
    candidates = [t for name in ("utter_knowledge_unavailable", "utter_knowledge_none",
                                 "utter_knowledge_clarify") for t in response_texts(name)]
    return any(first_line == c.split("\n")[0] for c in candidates) or "依据" in text


def ran_once(stack, openid: str, text: str = QUESTION) -> None:
    assert tracker_user_texts(TEST_REDIS_URL, stack.prefix, openid) == [text]
    assert stack.proxy.calls[openid] == 1  # the action server was called once


async def test_a_slow_answer_is_acknowledged_then_sent_once_as_customer_service(wechat_stack):
    openid = new_openid("slow")
    wechat_stack.proxy.delays[openid] = 6.0
    report = await deliver(wechat_stack, push.text(ACCOUNT, openid, QUESTION))
    assert len(report.attempts) == 1  # answered in time, so WeChat does not retry
    assert report.attempts[0].status == 200 and report.attempts[0].body == "success"
    assert report.attempts[0].elapsed < 5.0
    messages = await wait_customer_service(wechat_stack, openid, 1)
    await asyncio.sleep(1.0)
    assert await customer_service(wechat_stack, openid) == messages
    assert len(messages) >= 1 and knowledge_reply("\n".join(messages)), messages
    ran_once(wechat_stack, openid)


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "aes"])
async def test_retries_while_the_first_attempt_is_processing_get_one_passive_reply(
    wechat_stack, encrypted
):
    openid = new_openid("retry")
    wechat_stack.proxy.delays[openid] = 3.0
    # Attempts 1 and 2 lose their connection after 1 s; attempt 3 is the one WeChat waits on.
    report = await deliver(
        wechat_stack, push.text(ACCOUNT, openid, QUESTION), encrypted=encrypted,
        lose_answers=2, retry_after=1.0,
    )
    assert len(report.attempts) == 3
    assert report.attempts[2].status == 200
    assert report.reply is not None and knowledge_reply(report.reply), report
    await asyncio.sleep(SETTLE)
    assert await customer_service(wechat_stack, openid) == []
    ran_once(wechat_stack, openid)


async def test_a_lost_passive_reply_is_given_again_to_the_retry(wechat_stack):
    openid = new_openid("lost")
    report = await deliver(
        wechat_stack, push.text(ACCOUNT, openid, "你好"), lose_answers=1, retry_after=0.5
    )
    first, second = report.attempts
    assert first.lost and first.status == 200 and second.status == 200
    assert report.reply is not None and report.reply.startswith("您好")
    assert push.WeChatPush(wechat_stack.webhook_url, ACCOUNT).read_answer(first.body) == (
        report.reply
    )
    await asyncio.sleep(SETTLE)
    assert await customer_service(wechat_stack, openid) == []
    assert tracker_user_texts(TEST_REDIS_URL, wechat_stack.prefix, openid) == ["你好"]


async def test_a_storm_of_duplicates_runs_rasa_once_and_answers_once(wechat_stack):
    openid = new_openid("storm")
    wechat_stack.proxy.delays[openid] = 5.5
    xml = push.text(ACCOUNT, openid, QUESTION)
    reports = await asyncio.gather(
        *(deliver(wechat_stack, xml, attempts=1, encrypted=bool(i % 2)) for i in range(12))
    )
    bodies = [r.attempts[0].body for r in reports]
    assert bodies == ["success"] * 12
    messages = await wait_customer_service(wechat_stack, openid, 1)
    await asyncio.sleep(SETTLE)
    assert await customer_service(wechat_stack, openid) == messages and len(messages) >= 1
    ran_once(wechat_stack, openid)


async def test_events_are_deduplicated_by_sender_and_time(wechat_stack):
    openid = new_openid("evdup")
    xml = push.event(ACCOUNT, openid, "subscribe", create_time=1_700_000_000)
    first = await deliver(wechat_stack, xml)
    again = await deliver(wechat_stack, xml)
    assert first.reply is not None and again.reply == first.reply  # the same, lost-answer case
    await asyncio.sleep(SETTLE)
    assert await customer_service(wechat_stack, openid) == []
    assert tracker_user_texts(TEST_REDIS_URL, wechat_stack.prefix, openid) == [
        "/wechat_subscribe"
    ]
