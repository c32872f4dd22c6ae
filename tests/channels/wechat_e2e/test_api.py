"""The WeChat API client against the real sandbox and a real Redis: one shared access_token for
every process, refreshed when WeChat rejects it, "system busy" retried, nothing sent twice."""

import asyncio

import aiohttp
import pytest

from backends.wechat_api.harness import APP_ID, APP_SECRET
from channels.wechat.api import WeChatApi, WeChatApiRejected
from channels.wechat.store import WeChatStore
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.integration


def base(server) -> str:
    return str(server.make_url("")).rstrip("/")


async def sandbox(server, method: str, path: str, **kwargs) -> dict:
    async with (
        aiohttp.ClientSession() as client,
        client.request(method, base(server) + path, **kwargs) as reply,
    ):
        return await reply.json()


async def test_processes_share_one_token_fetched_once(wechat_api, store, redis_prefix):
    # Three clients with their own Redis connections stand for three Rasa processes.
    stores = [store] + [
        WeChatStore(TEST_REDIS_URL, f"{redis_prefix}:wechat") for _ in range(2)
    ]
    clients = [WeChatApi(base(wechat_api), APP_ID, APP_SECRET, s) for s in stores]
    try:
        tokens = await asyncio.gather(*(c.access_token() for c in clients for _ in range(10)))
        assert len(set(tokens)) == 1
        assert (await sandbox(wechat_api, "GET", "/_sandbox/stats"))["token_requests"] == 1
        ttl = await store.client.ttl(store.key("token", APP_ID))
        assert 7200 - 300 - 5 <= ttl <= 7200 - 300  # refreshed 5 minutes before it expires
    finally:
        for client in clients:
            await client.close()
        for extra in stores[1:]:
            await extra.close()


async def test_send_text_refreshes_a_rejected_token_once(wechat_api, store):
    api = WeChatApi(base(wechat_api), APP_ID, APP_SECRET, store)
    try:
        await api.send_text("oUser_1", "第一条")
        await sandbox(wechat_api, "POST", "/_sandbox/expire-tokens")
        await api.send_text("oUser_1", "第二条")  # 42001, then a new token
        messages = (await sandbox(wechat_api, "GET", "/_sandbox/messages"))["messages"]
        assert [m["content"] for m in messages] == ["第一条", "第二条"]
        assert not any(m["escaped_unicode"] for m in messages)
        stats = await sandbox(wechat_api, "GET", "/_sandbox/stats")
        assert stats["token_requests"] == 2 and stats["sends_refused"] == 1
    finally:
        await api.close()


async def test_system_busy_is_retried_and_other_errors_are_not(wechat_api, store):
    api = WeChatApi(base(wechat_api), APP_ID, APP_SECRET, store)
    try:
        await sandbox(wechat_api, "PUT", "/_sandbox/faults", json={"send_errcodes": [-1, -1]})
        await api.send_text("oUser_1", "稍等")
        await sandbox(wechat_api, "PUT", "/_sandbox/faults", json={"send_errcodes": [45047]})
        with pytest.raises(WeChatApiRejected) as error:
            await api.send_text("oUser_1", "不会重发")
        assert error.value.errcode == 45047
        messages = (await sandbox(wechat_api, "GET", "/_sandbox/messages"))["messages"]
        assert [m["content"] for m in messages] == ["稍等"]
    finally:
        await api.close()


async def test_wrong_secret_is_a_clear_error_and_is_not_cached(wechat_api, store):
    api = WeChatApi(base(wechat_api), APP_ID, "wrong-secret", store)
    try:
        with pytest.raises(WeChatApiRejected) as error:
            await api.send_text("oUser_1", "x")
        assert error.value.errcode == 40125
        assert "wrong-secret" not in str(error.value)
        assert await store.cached_token(APP_ID) is None
    finally:
        await api.close()
