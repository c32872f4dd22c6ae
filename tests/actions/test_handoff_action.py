"""action_request_human and the handoff after repeated failures, with the real domain's
responses and a real Redis for the queue (CollectingDispatcher, trackers built here)."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import handoff
from actions import store as app_store
from actions.handoff import ActionRequestHuman
from actions.knowledge import ActionAnswerQuestion
from handoff.model import conversation_id
from handoff.store import HandoffStore
from knowledge.embedder import HashEmbedder
from knowledge.service import KnowledgeService
from tests.support import ROOT, domain

pytestmark = pytest.mark.integration

MONDAY_10 = datetime.fromisoformat("2025-06-09T10:00+08:00")
SATURDAY_21 = datetime.fromisoformat("2025-06-07T21:00+08:00")


@pytest.fixture
async def queue(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[HandoffStore]:
    prefix = "test" + secrets.token_hex(4)
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", prefix)
    monkeypatch.setenv("MINSHENG_AGENT_HOURS", "Mon-Fri 09:00-12:00 13:30-18:00; Sat 09:00-12:00")
    monkeypatch.setattr(handoff, "now", lambda: MONDAY_10)
    await handoff.close()
    await app_store.close()  # the analytics client: made again in this test's event loop
    store = HandoffStore(redis_url, prefix)
    await store.mark_desk()  # as a Rasa server serving the agent API does
    yield store
    await handoff.close()
    await app_store.close()
    await store.close()
    client = aioredis.Redis.from_url(redis_url)
    async for key in client.scan_iter(f"{prefix}:*"):
        await client.delete(key)
    await client.aclose()


def tracker(text: str = "转人工", channel: str = "webchat", sender: str = "resident-1",
            slots: dict | None = None, history: list[str] | None = None,
            intent: str = "request_human") -> Tracker:
    message = {"text": text, "intent": {"name": intent}, "entities": []}
    events = [{"event": "user", "text": t, "input_channel": channel} for t in history or []]
    events.append({"event": "user", "text": text, "input_channel": channel,
                   "parse_data": message})
    return Tracker(sender, slots or {}, message, events, False, None,
                   {"name": "ticket_form"} if (slots or {}).get("in_form") else {}, "")


async def ask_human(t: Tracker) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await ActionRequestHuman().run(dispatcher, t, domain())
    return dispatcher.messages, events


def responses(messages: list[dict]) -> list[str]:
    return [m["response"] for m in messages]


async def test_in_hours_the_conversation_is_queued_with_a_summary(queue):
    t = tracker(history=["社保卡丢了怎么补办", "我的电话是13812345678"],
                slots={"area": "政务服务", "kb_last_id": "zw-1", "in_form": True})
    messages, events = await ask_human(t)
    assert responses(messages) == ["utter_human_queued"]
    assert events == [{"event": "slot", "name": "kb_failures", "value": 0, "timestamp": None}]
    record = await queue.get(conversation_id("resident-1"))
    assert record is not None and record.state == "waiting" and record.channel == "webchat"
    assert record.reason == "request"
    assert record.summary.messages == ("社保卡丢了怎么补办", "我的电话是138****5678", "转人工")
    assert (record.summary.area, record.summary.form) == ("政务服务", "ticket_form")
    messages, _ = await ask_human(t)
    assert responses(messages) == ["utter_human_already_queued"]


async def test_outside_the_hours_a_ticket_is_offered(queue, monkeypatch):
    monkeypatch.setattr(handoff, "now", lambda: SATURDAY_21)
    messages, _ = await ask_human(tracker())
    assert responses(messages) == ["utter_human_out_of_hours"]
    assert messages[0]["hours"] == "周一至周五 09:00-12:00 13:30-18:00；周六 09:00-12:00"
    assert messages[0]["next_open"] == "周一 09:00"
    buttons = domain()["responses"]["utter_human_out_of_hours"][0]["buttons"]
    assert "/file_ticket" in [b["payload"] for b in buttons]
    assert await queue.active() == []


async def test_voice_is_transferred_by_the_gateway(queue):
    messages, _ = await ask_human(tracker(channel="voice"))
    assert responses(messages) == ["utter_human_handoff"]
    voice = [v for v in domain()["responses"]["utter_human_handoff"] if v.get("channel") == "voice"]
    assert voice[0]["custom"]["voice_action"] == "transfer"
    assert await queue.active() == []


@pytest.mark.parametrize("setting", ["desk_off", "no_api", "no_redis", "bad_hours"])
async def test_without_an_agent_desk_12345_is_offered(queue, monkeypatch, redis_url, setting):
    if setting == "desk_off":
        monkeypatch.setenv("MINSHENG_AGENT_HOURS", "off")
    elif setting == "no_api":
        client = aioredis.Redis.from_url(redis_url)
        await client.delete(queue.key("desk"))
        await client.aclose()
    elif setting == "no_redis":
        monkeypatch.delenv("REDIS_URL")
    else:
        monkeypatch.setenv("MINSHENG_AGENT_HOURS", "Mon-Fri 9-18")
    await handoff.close()
    messages, _ = await ask_human(tracker())
    assert responses(messages) == ["utter_human_handoff"]
    assert await queue.active() == []


# --- repeated failure, through the knowledge action ------------------------------------------

FIXTURE_KB = ROOT / "tests" / "fixtures" / "kb"


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    svc = KnowledgeService(
        kb_dir=FIXTURE_KB / "good", dict_dir=FIXTURE_KB / "dict", index_dir=tmp_path / "index",
        embedder=HashEmbedder(64), watch=False,
    )
    monkeypatch.setattr(KnowledgeService, "_shared", svc)
    yield svc
    svc.close()


async def ask(text: str, failures: float | None) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    slots = {"kb_failures": failures} if failures is not None else {}
    t = tracker(text, channel="rest", slots=slots, intent="ask_question")
    events = await ActionAnswerQuestion().run(dispatcher, t, domain())
    return dispatcher.messages, events


UNKNOWN = "帮我写一篇关于火星的科幻小说"


async def test_two_unanswered_questions_in_a_row_reach_an_agent(service, queue):
    messages, events = await ask(UNKNOWN, None)
    assert responses(messages) == ["utter_knowledge_none"]
    assert {"event": "slot", "name": "kb_failures", "value": 1, "timestamp": None} in events
    messages, events = await ask(UNKNOWN, 1.0)
    assert responses(messages) == ["utter_human_queued_after_failures"]
    assert {"event": "slot", "name": "kb_failures", "value": 0, "timestamp": None} in events
    record = await queue.get(conversation_id("resident-1"))
    assert record is not None and record.reason == "repeated_failure"


async def test_repeated_failure_outside_the_hours_offers_a_ticket(service, queue, monkeypatch):
    monkeypatch.setattr(handoff, "now", lambda: SATURDAY_21)
    messages, _ = await ask(UNKNOWN, 1.0)
    assert responses(messages) == ["utter_knowledge_none", "utter_human_out_of_hours"]
    monkeypatch.setenv("MINSHENG_AGENT_HOURS", "off")
    messages, _ = await ask(UNKNOWN, 1.0)
    assert responses(messages) == ["utter_knowledge_none"]


async def test_an_answer_starts_the_count_again_and_every_question_is_recorded(
        service, queue, redis_url):
    messages, events = await ask("养老助残卡丢了怎么办", 1.0)
    assert responses(messages)[0] == "utter_knowledge_answer"
    assert {"event": "slot", "name": "kb_failures", "value": 0, "timestamp": None} in events
    _, events = await ask("养老助残卡丢了怎么办", None)
    assert [e["name"] for e in events] == ["kb_last_id"]  # unchanged count: no event
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        rows = await client.xrange(f"{queue.prefix}:app:kb:questions")
    finally:
        await client.aclose()
    fields = rows[0][1]
    assert fields["outcome"] == "answer" and fields["kb_id"] == "yl-zhucanka-lost"
    assert fields["area"] == "养老" and fields["channel"] == "rest" and int(fields["ts"]) > 0
    assert json.dumps(fields, ensure_ascii=False).count("resident-1") == 0
