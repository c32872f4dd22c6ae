"""The knowledge action on a small fixture knowledge base (deterministic embedder), with the
real domain's templates and a real Redis for the unanswered-question record."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import store
from actions.knowledge import ActionAnswerQuestion
from knowledge.embedder import HashEmbedder
from knowledge.service import KnowledgeService
from tests.support import ROOT, domain

pytestmark = pytest.mark.integration

FIXTURE_KB = ROOT / "tests" / "fixtures" / "kb"


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KnowledgeService]:
    svc = KnowledgeService(
        kb_dir=FIXTURE_KB / "good", dict_dir=FIXTURE_KB / "dict", index_dir=tmp_path / "index",
        embedder=HashEmbedder(64), watch=False,
    )
    monkeypatch.setattr(KnowledgeService, "_shared", svc)
    yield svc
    svc.close()


@pytest.fixture
async def redis_prefix(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    prefix = "test" + uuid.uuid4().hex[:8]
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_KEY_PREFIX", prefix)
    await store.close()
    yield prefix
    await store.close()
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def tracker(text: str, channel: str = "rest", entities: list | None = None) -> Tracker:
    message = {"text": text, "intent": {"name": "ask_question"}, "entities": entities or []}
    events = [{"event": "user", "text": text, "input_channel": channel, "parse_data": message}]
    return Tracker("resident-1", {}, message, events, False, None, {}, "")


async def run(text: str, **kwargs) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerQuestion().run(dispatcher, tracker(text, **kwargs), domain())
    return dispatcher.messages, events


async def test_a_clear_question_is_answered_with_the_entry_and_its_source(service, redis_prefix):
    messages, events = await run("养老助残卡丢了怎么办")
    assert messages[0]["response"] == "utter_knowledge_answer"
    assert messages[0]["answer"].startswith("养老助残卡丢失，请先拨打卡背面的客服电话")
    assert messages[0]["source"] == (
        "依据：《北京通—养老助残卡服务管理办法》（北京市民政局发布，2023年1月1日起施行）"
    )
    assert messages[0]["issuer"] == "北京市民政局"
    assert events == [{"event": "slot", "name": "kb_last_id", "value": "yl-zhucanka-lost",
                       "timestamp": None}]


async def test_the_voice_variant_gets_the_spoken_version(service, redis_prefix):
    messages, _ = await run("养老助残卡怎么办理", channel="voice")
    assert messages[0]["spoken"] == "养老助残卡可以在北京通app申请，也可以到社区居委会申请。"


async def test_an_unrelated_request_gets_none_and_is_recorded(service, redis_prefix, redis_url):
    messages, events = await run("帮我写一篇关于火星的科幻小说，电话13812345678")
    assert [m["response"] for m in messages] == ["utter_knowledge_none"]
    assert events[0]["value"] is None
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        stream = f"{redis_prefix}:app:kb:unanswered"
        records = client.xrange(stream)
        ttl = client.ttl(stream)
    finally:
        client.close()
    assert len(records) == 1
    stored = records[0][1]
    assert "13812345678" not in stored["q"] and "138****5678" in stored["q"]
    assert stored["channel"] == "rest"
    assert stored["resident"] != "resident-1"
    assert ttl > 0


async def test_a_picked_suggestion_is_answered_directly(service, redis_prefix):
    messages, _ = await run(
        '/ask_question{"kb_id": "yl-yizhan"}',
        entities=[{"entity": "kb_id", "value": "yl-yizhan"}],
    )
    assert messages[0]["response"] == "utter_knowledge_answer"
    assert messages[0]["answer"].startswith("社区养老服务驿站提供")


async def test_another_citys_rules_are_not_answered_but_pointed_to_its_12345(service,
                                                                               redis_prefix):
    # the Beijing entry shares every word but 上海: answering it would be making up policy
    messages, _ = await run("上海的养老助残卡丢了怎么办")
    assert [m["response"] for m in messages] == ["utter_knowledge_elsewhere"]
    assert messages[0]["place"] == "上海"


async def test_an_unknown_picked_id_is_not_answered(service, redis_prefix):
    messages, _ = await run(
        '/ask_question{"kb_id": "no-such-id"}',
        entities=[{"entity": "kb_id", "value": "no-such-id"}],
    )
    assert [m["response"] for m in messages] == ["utter_knowledge_none"]


async def test_clarify_offers_buttons_that_name_entries(service, redis_prefix, monkeypatch):
    # Force the clarify band so the rendering is tested independently of calibration.
    retriever_thresholds = {"none": 0.0, "sure": 2.0, "margin": 10.0}

    def search_sync(query, area=None, district=None, top_k=3):
        service.load()
        return service._retriever.search(query, area, district, top_k,
                                         thresholds=retriever_thresholds)

    monkeypatch.setattr(service, "search_sync", search_sync)
    messages, _ = await run("养老助残卡")
    assert messages[0]["response"] == "utter_knowledge_clarify"
    *entries, last = messages[0]["buttons"]
    assert 1 <= len(entries) <= 3
    for button in entries:
        assert button["payload"].startswith('/ask_question{"kb_id": "')
        assert button["title"]
    # the way out when none of them is the question: an agent (12345 is in the text)
    assert last == {"title": "都不是，转人工客服", "payload": "/request_human"}


async def test_a_medical_answer_carries_the_not_a_diagnosis_notice(service, redis_prefix):
    messages, _ = await run("异地就医怎么备案？")
    responses = [m["response"] for m in messages]
    assert responses[0] == "utter_knowledge_answer"
    assert responses[-1] == "utter_medical_notice"


async def test_a_non_medical_answer_has_no_medical_notice(service, redis_prefix):
    messages, _ = await run("养老助残卡丢了怎么办")
    assert "utter_medical_notice" not in [m["response"] for m in messages]
