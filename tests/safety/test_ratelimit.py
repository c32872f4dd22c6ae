"""Rate limits (safety/ratelimit.py): the sliding-window arithmetic, and the Lua script against
the real Redis at REDIS_URL (default 127.0.0.1:6379) under a key prefix of the test's own."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import pytest

from safety.ratelimit import (
    DEFAULT_CHANNEL,
    DEFAULT_RESIDENT,
    Limit,
    RateLimiter,
    sliding_estimate,
    window,
)
from tests.conftest import TEST_REDIS_URL


@pytest.mark.unit
@pytest.mark.parametrize(("value", "expected"), [
    ("30/60", Limit(30, 60)), (" 5 / 10s ", Limit(5, 10)), (None, Limit(30, 60)),
    ("", Limit(30, 60)), ("off", None), ("0", None),
])
def test_limits_parse(value: str | None, expected: Limit | None) -> None:
    assert Limit.parse(value, DEFAULT_RESIDENT) == expected


@pytest.mark.unit
@pytest.mark.parametrize("value", ["30", "a/b", "0/60", "30/0", "-1/60"])
def test_bad_limits_are_refused_with_the_expected_shape(value: str) -> None:
    with pytest.raises(ValueError):
        Limit.parse(value, DEFAULT_RESIDENT)


@pytest.mark.unit
def test_defaults_are_documented_values() -> None:
    assert Limit.parse(None, DEFAULT_RESIDENT) == Limit(30, 60)
    assert Limit.parse(None, DEFAULT_CHANNEL) == Limit(6000, 60)


@pytest.mark.unit
def test_the_window_slides() -> None:
    start = window(600.0, 60)  # exactly at a window start: the previous one counts fully
    assert (start.number, start.previous_weight, start.retry_after) == (10, 1.0, 60)
    later = window(645.0, 60)  # 3/4 into window 10: a quarter of window 9 still counts
    assert later.number == 10 and later.previous_weight == pytest.approx(0.25)
    assert later.retry_after == 15
    assert sliding_estimate(previous=20, current=4, previous_weight=0.25) == 9.0


@pytest.mark.unit
def test_keys_are_made_in_one_place_and_refuse_unsafe_parts() -> None:
    limiter = RateLimiter("redis://x", "p1", Limit(1, 1), None)
    assert limiter.key("channel", "rest", "7") == "p1:ratelimit:channel:rest:7"
    with pytest.raises(ValueError):
        limiter.key("resident", "a:b")
    with pytest.raises(ValueError):
        RateLimiter("redis://x", "p1:", None, None)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    import redis.asyncio as aioredis

    prefix = "test-rl-" + secrets.token_hex(4)
    yield prefix
    client = aioredis.Redis.from_url(TEST_REDIS_URL)
    try:
        async for key in client.scan_iter(f"{prefix}:*"):
            await client.delete(key)
    finally:
        await client.aclose()


async def ttls(prefix: str) -> dict[str, int]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        return {key: await client.ttl(key) async for key in client.scan_iter(f"{prefix}:*")}
    finally:
        await client.aclose()


@pytest.mark.integration
async def test_a_resident_over_the_limit_is_refused_and_others_are_not(redis_prefix: str) -> None:
    limiter = RateLimiter(TEST_REDIS_URL, redis_prefix, Limit(3, 60), Limit(100, 60))
    now = 6000.0
    for _ in range(3):
        assert (await limiter.hit("rest", "alice", now)).allowed
    refused = await limiter.hit("rest", "alice", now + 1)
    assert not refused.allowed and refused.scope == "resident"
    assert refused.retry_after == 59
    assert (await limiter.hit("rest", "bob", now + 1)).allowed  # per resident
    assert (await limiter.hit("webchat", "alice", now + 1)).allowed  # per channel too
    keys = await ttls(redis_prefix)
    assert keys and all(0 < ttl <= 120 for ttl in keys.values())
    assert not any("alice" in key for key in keys)  # the sender is hashed
    await limiter.close()


@pytest.mark.integration
async def test_refused_messages_do_not_count_and_the_window_slides(redis_prefix: str) -> None:
    limiter = RateLimiter(TEST_REDIS_URL, redis_prefix, Limit(4, 60), None)
    base = 60_000.0
    for _ in range(4):
        assert (await limiter.hit("wechat", "r1", base + 50)).allowed  # late in the window
    for _ in range(5):
        assert not (await limiter.hit("wechat", "r1", base + 55)).allowed
    # 30 s into the next window, half of the previous one still counts: 4 × 0.5 = 2 → 2 more
    assert (await limiter.hit("wechat", "r1", base + 90)).allowed
    assert (await limiter.hit("wechat", "r1", base + 90)).allowed
    assert not (await limiter.hit("wechat", "r1", base + 90)).allowed
    # a whole window later the old messages are gone
    assert (await limiter.hit("wechat", "r1", base + 200)).allowed
    await limiter.close()


@pytest.mark.integration
async def test_the_channel_limit_covers_every_resident(redis_prefix: str) -> None:
    limiter = RateLimiter(TEST_REDIS_URL, redis_prefix, Limit(10, 60), Limit(5, 60))
    for index in range(5):
        assert (await limiter.hit("voice", f"call-{index}", 120.0)).allowed
    refused = await limiter.hit("voice", "call-new", 121.0)
    assert not refused.allowed and refused.scope == "channel"
    assert (await limiter.hit("rest", "call-new", 121.0)).allowed
    await limiter.close()


@pytest.mark.unit
async def test_without_redis_or_limits_everything_is_allowed() -> None:
    assert (await RateLimiter(None, "p", Limit(1, 60), None).hit("rest", "a")).allowed
    assert (await RateLimiter("redis://127.0.0.1:1/0", "p", None, None).hit("rest", "a")).allowed


@pytest.mark.integration
async def test_an_unreachable_redis_raises_quickly_for_the_gate_to_fail_open() -> None:
    import time

    import redis

    limiter = RateLimiter("redis://127.0.0.1:1/0", "p", Limit(1, 60), None, socket_timeout=0.3)
    started = time.monotonic()
    with pytest.raises((redis.RedisError, OSError)):
        await limiter.hit("rest", "a")
    assert time.monotonic() - started < 2
