"""The call state store against the real Redis (REDIS_URL, default 127.0.0.1:6379), and its
in-process twin for demos without Redis."""

import os
import secrets

import pytest
import redis

from channels.voice.policy import CallState, Pending
from channels.voice.state import (
    Keys,
    MemoryVoiceStore,
    RedisVoiceStore,
    call_fields,
    stored_call,
)

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def prefix():
    prefix = "testvoice" + secrets.token_hex(4)
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture(params=["redis", "memory"])
async def store(request, prefix):
    if request.param == "redis":
        made = RedisVoiceStore(REDIS_URL, prefix, call_ttl=600, activity_ttl=600)
    else:
        made = MemoryVoiceStore(call_ttl=600, activity_ttl=600)
    yield made
    await made.close()


@pytest.mark.integration
async def test_a_conversation_lives_until_it_ends(store):
    assert not await store.touch("c1", 60)
    assert await store.create("c1", 60)
    assert not await store.create("c1", 60)  # a retried create is not a new conversation
    assert await store.touch("c1", 60)
    assert await store.end("c1")
    assert not await store.touch("c1", 60)
    assert not await store.end("c1")


@pytest.mark.integration
async def test_an_activity_is_taken_once_and_its_reply_kept(store):
    assert await store.claim("c1", "a1")
    assert not await store.claim("c1", "a1")
    assert await store.claim("c2", "a1")  # ids are per conversation
    assert await store.reply("c1", "a1") == ""
    await store.save_reply("c1", ["a1"], '{"activities": []}')
    assert await store.reply("c1", "a1") == '{"activities": []}'
    assert await store.reply("c1", "unknown") is None


@pytest.mark.integration
async def test_turns_count_and_show_overlap(store):
    assert await store.begin_turn("c1") == (1, 1)
    assert await store.begin_turn("c1") == (2, 2)  # the second began before the first ended
    assert await store.end_turn("c1") == 2
    assert await store.end_turn("c1") == 2
    assert await store.begin_turn("c1") == (3, 1)
    assert await store.end_turn("c1") == 3
    assert await store.end_turn("c1") == 3  # never below zero in flight
    assert await store.begin_turn("c1") == (4, 1)


@pytest.mark.integration
async def test_call_state_round_trips(store):
    assert (await store.load("c1")).state == CallState()
    state = CallState(failures=2, pending=Pending("menu", menu={"1": "/greet"}),
                      heard=("社保卡", "转人工"))
    await store.save("c1", call_fields(state, previous=("您好。",), caller="13812345678"))
    loaded = await store.load("c1")
    assert (loaded.state, loaded.previous, loaded.caller) == (state, ("您好。",), "13812345678")
    await store.save("c1", call_fields(CallState()))
    again = await store.load("c1")
    assert (again.state, again.previous, again.caller) == (
        CallState(), ("您好。",), "13812345678",
    )


@pytest.mark.integration
async def test_every_redis_key_has_a_ttl_and_our_prefix(prefix):
    store = RedisVoiceStore(REDIS_URL, prefix, call_ttl=600, activity_ttl=300)
    try:
        await store.create("c9", 180)
        await store.claim("c9", "a1")
        await store.begin_turn("c9")
        await store.save("c9", call_fields(CallState(failures=1)))
        await store.queue_details({"conversation": "c9", "medium": "sms", "text": "答案"})
    finally:
        await store.close()
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    try:
        keys = sorted(client.scan_iter(f"{prefix}:*"))
        assert keys == sorted([
            Keys(prefix).conversation("c9"), Keys(prefix).activity("c9", "a1"),
            Keys(prefix).call("c9"), Keys(prefix).outbox(),
        ])
        assert all(key.startswith(f"{prefix}:voice:") for key in keys)
        assert all(client.ttl(key) > 0 for key in keys)
        entry = client.xrange(Keys(prefix).outbox())[0][1]
        assert entry == {"conversation": "c9", "medium": "sms", "text": "答案"}
    finally:
        client.close()


@pytest.mark.unit
def test_unreadable_state_falls_back_to_a_fresh_call():
    loaded = stored_call({"failures": "x", "pending": "{bad", "heard": "7", "previous": "null"})
    assert (loaded.state, loaded.previous, loaded.caller) == (CallState(), (), None)


@pytest.mark.unit
async def test_the_memory_store_forgets_after_the_ttl():
    store = MemoryVoiceStore(call_ttl=600, activity_ttl=600)
    await store.create("c1", 0)
    assert not await store.touch("c1", 60)


@pytest.mark.integration
async def test_a_released_activity_can_be_taken_again(store):
    assert await store.claim("c1", "a1") and await store.claim("c1", "a2")
    await store.release("c1", ["a1", "a2"])
    assert await store.claim("c1", "a1") and await store.claim("c1", "a2")
    await store.release("c1", [])
