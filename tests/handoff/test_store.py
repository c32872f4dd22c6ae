"""The agent queue on a real Redis: atomic transitions, lapsed holds, transcript, outbox, the
events stream, and a TTL on every key."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from handoff.model import HELD, Handoff, Summary, TransitionError, conversation_id
from handoff.store import HandoffStore, StoreUnavailable

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(redis_url: str) -> AsyncIterator[HandoffStore]:
    prefix = "test" + secrets.token_hex(4)
    queue = HandoffStore(redis_url, prefix, idle_seconds=600, clock=Clock())
    yield queue
    await queue.close()
    client = aioredis.Redis.from_url(redis_url)
    async for key in client.scan_iter(f"{prefix}:*"):
        await client.delete(key)
    await client.aclose()


def request(sender: str = "resident-1", channel: str = "webchat", **summary) -> Handoff:
    return Handoff(id=conversation_id(sender), sender=sender, channel=channel, reason="request",
                   summary=Summary(**summary), created=1_750_000_000.0, updated=1_750_000_000.0)


async def test_a_request_is_queued_once_with_a_masked_summary(store):
    record, fresh = await store.enqueue(request(messages=("我的电话13812345678", "转人工"),
                                                area="养老"))
    assert fresh and record.summary.messages[0] == "我的电话138****5678"
    again, fresh = await store.enqueue(request())
    assert not fresh and again == record
    assert [r.id for r in await store.active()] == [record.id]
    assert (await store.holder_of("resident-1")) == record
    assert await store.holder_of("someone-else") is None


async def test_two_agents_race_for_one_conversation(store):
    record, _ = await store.enqueue(request())
    results = await asyncio.gather(store.take(record.id, "li"), store.take(record.id, "wang"),
                                   return_exceptions=True)
    winners = [r for r in results if isinstance(r, tuple)]
    losers = [r for r in results if isinstance(r, TransitionError)]
    assert len(winners) == 1 and len(losers) == 1 and losers[0].code == "taken"
    held, newly = winners[0]
    assert held.state == HELD and newly
    assert (await store.take(record.id, held.agent)) == (held, False)


async def test_only_the_holder_writes_and_hands_back(store):
    record, _ = await store.enqueue(request())
    with pytest.raises(TransitionError, match="take the conversation first"):
        await store.touch_holder(record.id, "li")
    await store.take(record.id, "li")
    store.clock.now += 60
    touched = await store.touch_holder(record.id, "li")
    assert touched.updated == store.clock.now
    with pytest.raises(TransitionError):
        await store.release(record.id, "wang")
    released = await store.release(record.id, "li")
    assert released.agent == "li"
    assert await store.get(record.id) is None and await store.active() == []
    with pytest.raises(TransitionError) as error:
        await store.release(record.id, "li")
    assert error.value.code == "not_found"


async def test_a_forgotten_hold_lapses_and_is_logged(store):
    record, _ = await store.enqueue(request())
    await store.take(record.id, "li")
    store.clock.now += 601
    assert await store.active() == []
    assert await store.get(record.id) is None
    assert [e["text"] for e in await store.transcript(record.id)][-1] == "lapsed"


async def test_transcript_outbox_and_events(store, redis_url):
    record, _ = await store.enqueue(request(channel="rest"))
    await store.append_log(record.id, "resident", "身份证110101199003078515")
    await store.push_outbox(record.id, {"text": "您好"})
    await store.push_outbox(record.id, {"text": "请稍等"})
    log = await store.transcript(record.id)
    assert log[0]["text"] == "queued" and log[0]["reason"] == "request"
    assert "110101199003078515" not in log[1]["text"]
    assert [m["text"] for m in await store.drain_outbox("resident-1")] == ["您好", "请稍等"]
    assert await store.drain_outbox("resident-1") == []
    await store.take(record.id, "li")
    await store.release(record.id, "li")
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        events = await client.xrange(store.key("events"))
    finally:
        await client.aclose()
    assert [fields["event"] for _, fields in events] == ["queued", "taken", "released"]
    assert events[0][1]["channel"] == "rest"


async def test_every_key_has_a_ttl(store, redis_url):
    record, _ = await store.enqueue(request())
    await store.append_log(record.id, "resident", "你好")
    await store.push_outbox(record.id, {"text": "x"})
    await store.mark_desk()
    assert await store.desk_served()
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [k async for k in client.scan_iter(f"{store.prefix}:*")]
        assert len(keys) >= 6
        for key in keys:
            assert await client.ttl(key) > 0, key
    finally:
        await client.aclose()


async def test_keys_are_made_by_one_helper(store):
    assert store.key("conv", "ab12") == f"{store.prefix}:app:handoff:conv:ab12"
    for bad in ("a:b", "*", "", "x\n"):
        with pytest.raises(ValueError):
            store.key("conv", bad)


async def test_without_redis_the_store_says_so():
    queue = HandoffStore(None, "nothing")
    assert not queue.available
    with pytest.raises(StoreUnavailable):
        await queue.get("0123456789abcdef")
    down = HandoffStore("redis://127.0.0.1:1/0", "nothing", socket_timeout=0.5)
    with pytest.raises(StoreUnavailable):
        await down.active()
    await down.close()
