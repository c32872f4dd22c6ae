"""actions.analytics keeps questions for content staff with personal numbers masked (and dates,
amounts, ticket numbers as they were, so the report still reads)."""

import secrets

import pytest
import redis.asyncio as aioredis

from actions import analytics, store
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis_prefix(monkeypatch):
    prefix = "test" + secrets.token_hex(4)
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("REDIS_KEY_PREFIX", prefix)
    await store.close()
    client = aioredis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        yield client, prefix
    finally:
        await store.close()
        async for key in client.scan_iter(f"{prefix}:*"):
            await client.delete(key)
        await client.aclose()


async def test_an_unanswered_question_is_stored_masked(redis_prefix):
    client, prefix = redis_prefix
    question = ("我身份证11010519491231002X，手机138 1234 5678，银行卡6222021234567890128，"
                "2025-06-03办的JS20250603000001，补贴500元怎么还没到")
    await analytics.record_unanswered(question, "rest", "u1")
    ((_, fields),) = await client.xrange(f"{prefix}:app:kb:unanswered")
    assert fields["q"] == ("我身份证110***********002X，手机138 **** 5678，"
                           "银行卡6222***********0128，"
                           "2025-06-03办的JS20250603000001，补贴500元怎么还没到")
    assert await client.ttl(f"{prefix}:app:kb:unanswered") > 0
