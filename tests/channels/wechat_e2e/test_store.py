"""The channel's Redis state on a real Redis: atomic claims, TTLs on every key, one key helper."""

import asyncio
import time

import pytest
import redis.asyncio as redis

from channels.wechat.store import StoreUnavailable, WeChatStore
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.integration


async def ttls(prefix: str) -> dict[str, int]:
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        return {key: await client.ttl(key) async for key in client.scan_iter(f"{prefix}:*")}
    finally:
        await client.close()


async def test_only_one_of_many_concurrent_attempts_claims_a_message(store):
    deadline = time.time() + 4.5
    claims = await asyncio.gather(*(store.begin("m1", f"p{i}", deadline) for i in range(50)))
    assert claims.count(True) == 1
    state = await store.state("m1")
    assert state.owner == "p" + str(claims.index(True))
    assert state.result is None and state.delivery is None


async def test_the_recorded_deadline_is_the_latest_attempt_s(store):
    await store.begin("m2", "a", 100.0)
    await store.begin("m2", "b", 300.5)
    await store.begin("m2", "c", 200.0)
    assert (await store.state("m2")).deadline == 300.5


async def test_delivery_is_claimed_once_whoever_asks(store):
    await store.begin("m3", "a", time.time())
    winners = await asyncio.gather(
        *(store.claim_delivery("m3", "passive" if i % 2 else "cs") for i in range(20))
    )
    assert len(set(winners)) == 1 and winners[0] in ("passive", "cs")


async def test_results_round_trip_in_chinese(store):
    await store.begin("m4", "a", time.time())
    await store.save_result("m4", ["第一段", "第二段"])
    assert (await store.state("m4")).result == ["第一段", "第二段"]


async def test_options_are_remembered_and_forgotten(store):
    await store.set_options("oUser_1", ["/a", '/choose_area{"area": "养老"}'])
    assert await store.option("oUser_1", 2) == '/choose_area{"area": "养老"}'
    assert await store.option("oUser_1", 3) is None
    assert await store.option("oUser_1", 0) is None
    await store.set_options("oUser_1", [])
    assert await store.option("oUser_1", 1) is None
    await store.set_options("oUser_1", ["/a"])
    await store.forget_user("oUser_1")
    assert await store.option("oUser_1", 1) is None


async def test_token_is_dropped_only_if_still_current(store):
    await store.store_token("wx5c3e2a1b0d9f8e7a", "old", 100)
    await store.store_token("wx5c3e2a1b0d9f8e7a", "new", 100)
    await store.drop_token("wx5c3e2a1b0d9f8e7a", "old")
    assert await store.cached_token("wx5c3e2a1b0d9f8e7a") == "new"
    await store.drop_token("wx5c3e2a1b0d9f8e7a", "new")
    assert await store.cached_token("wx5c3e2a1b0d9f8e7a") is None
    assert await store.lock_token_refresh("wx5c3e2a1b0d9f8e7a", "me")
    assert not await store.lock_token_refresh("wx5c3e2a1b0d9f8e7a", "other")


async def test_every_key_is_under_the_prefix_and_has_a_ttl(store, redis_prefix):
    await store.begin("m5", "a", time.time())
    await store.save_result("m5", ["x"])
    await store.claim_delivery("m5", "cs")
    await store.set_options("oUser_2", ["/a"])
    await store.store_token("wx5c3e2a1b0d9f8e7a", "t", 7000)
    await store.lock_token_refresh("wx5c3e2a1b0d9f8e7a", "me")
    found = await ttls(redis_prefix)
    assert sorted(found) == sorted(
        f"{redis_prefix}:wechat:{k}"
        for k in ("msg:m5", "options:oUser_2", "token:wx5c3e2a1b0d9f8e7a",
                  "token-lock:wx5c3e2a1b0d9f8e7a")
    )
    assert all(ttl > 0 for ttl in found.values()), found
    assert found[f"{redis_prefix}:wechat:msg:m5"] <= 120


def test_keys_are_built_in_one_place_and_refuse_unsafe_parts():
    store = WeChatStore(TEST_REDIS_URL, "minsheng:wechat")
    assert store.key("msg", "m123") == "minsheng:wechat:msg:m123"
    for bad in ("a:b", "x y", "*", ""):
        with pytest.raises(ValueError):
            store.key("msg", bad)


async def test_an_unreachable_redis_is_reported_not_crashed():
    from stack.processes import free_port

    store = WeChatStore(f"redis://127.0.0.1:{free_port()}/0", "t:wechat", socket_timeout=0.5)
    try:
        with pytest.raises(StoreUnavailable):
            await store.begin("m1", "a", time.time())
    finally:
        await store.close()
