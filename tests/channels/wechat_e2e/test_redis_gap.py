"""Redis going away while a message is in flight (the claim was taken, then Redis died): found
by the cluster's Redis-restart test (tests/cluster/test_faults.py), where such messages got
``success``, i.e. silence. Now the attempt that processed it answers passively with what the
bot said (the channel's apology when Rasa itself failed), and nothing is sent twice. (An answer
not ready within the passive budget is acknowledged as before; if Redis is still away when it
is ready, it cannot go out as 客服消息 either and is logged.)"""

import asyncio

import pytest

from backends.wechat_api.harness import APP_ID, APP_SECRET
from channels.wechat.api import WeChatApi
from channels.wechat.delivery import DeliveryCoordinator
from channels.wechat.store import StoreUnavailable, WeChatStore
from tests.channels.wechat_e2e.test_delivery import OPENID, Work, coordinator, sent
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.integration


class RedisDiesAfterTheClaim(WeChatStore):
    """A real store whose Redis "dies" right after the first attempt claimed the message."""

    async def save_result(self, dedup_id: str, chunks: list[str]) -> None:
        raise StoreUnavailable("redis: ConnectionError")

    async def claim_delivery(self, dedup_id: str, mode: str) -> str:
        raise StoreUnavailable("redis: ConnectionError")

    async def state(self, dedup_id: str):
        raise StoreUnavailable("redis: ConnectionError")


@pytest.fixture
async def api(wechat_api, store):
    client = WeChatApi(str(wechat_api.make_url("")).rstrip("/"), APP_ID, APP_SECRET, store)
    yield client
    await client.close()


@pytest.fixture
async def dying_store(redis_prefix):
    store = RedisDiesAfterTheClaim(TEST_REDIS_URL, f"{redis_prefix}:wechat", dedup_ttl=120,
                                   options_ttl=60)
    yield store
    await store.close()


async def test_the_answer_of_a_message_in_flight_is_still_given_once(dying_store, api,
                                                                      wechat_api):
    c: DeliveryCoordinator = coordinator(dying_store, api)
    work = Work(["抱歉，系统暂时繁忙，请稍后再试。"])
    outcome = await c.attempt("m-gap-1", OPENID, work,
                              arrived=asyncio.get_running_loop().time())
    await c.drain(timeout=10)
    assert outcome.passive == "抱歉，系统暂时繁忙，请稍后再试。"
    assert work.runs == 1
    assert await sent(wechat_api) == []  # not again as 客服消息


async def test_after_a_redis_restart_the_first_delivery_works(tmp_path):
    """A pooled connection from before the restart is checked and replaced, not failed on."""
    from stack.cluster import private_redis

    redis = private_redis(tmp_path / "redis", persistent=False)
    redis.start()
    try:
        redis.wait_healthy(20)
        store = WeChatStore(redis.url, "t:wechat", dedup_ttl=60, options_ttl=60)
        try:
            assert await store.begin("m-before", "me", deadline=0) is True
            await asyncio.to_thread(redis.stop)
            await asyncio.to_thread(redis.start)
            await asyncio.to_thread(redis.wait_healthy, 20)
            await asyncio.sleep(1.2)  # idle longer than the health-check interval
            assert await store.begin("m-after", "me", deadline=0) is True
        finally:
            await store.close()
    finally:
        redis.stop()
