"""The 5-second rule on a real Redis and the WeChat API sandbox, with a short passive budget:
exactly one answer per message (passive or customer-service, never both), and the work runs
once however the attempts interleave, within one process or across two."""

import asyncio
import time

import aiohttp
import pytest

from backends.wechat_api.harness import APP_ID, APP_SECRET
from channels.wechat.api import WeChatApi
from channels.wechat.delivery import DeliveryCoordinator, Outcome
from channels.wechat.store import StoreUnavailable, WeChatStore
from stack.processes import free_port
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.integration

BUDGET = 0.6
OPENID = "oResident_42"


class Work:
    """What the coordinator runs once per message (Rasa, in the channel): counts its runs."""

    def __init__(self, chunks: list[str], seconds: float = 0.0, fail: bool = False) -> None:
        self.chunks, self.seconds, self.fail, self.runs = chunks, seconds, fail, 0

    async def __call__(self) -> list[str]:
        self.runs += 1
        await asyncio.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("the bot broke")
        return list(self.chunks)


@pytest.fixture
async def api(wechat_api, store):
    client = WeChatApi(str(wechat_api.make_url("")).rstrip("/"), APP_ID, APP_SECRET, store)
    yield client
    await client.close()


def coordinator(store: WeChatStore, api: WeChatApi) -> DeliveryCoordinator:
    async def send(openid: str, chunks: list[str]) -> None:
        for chunk in chunks:
            await api.send_text(openid, chunk)

    return DeliveryCoordinator(store, send, passive_seconds=BUDGET, poll_interval=0.02)


async def sent(wechat_api) -> list[str]:
    url = str(wechat_api.make_url("/_sandbox/messages"))
    async with aiohttp.ClientSession() as client, client.get(url) as reply:
        return [m["content"] for m in (await reply.json())["messages"]]


async def settle(coordinators: list[DeliveryCoordinator]) -> None:
    """Waits until every background delivery has finished."""
    for c in coordinators:
        await c.drain(timeout=10)


async def attempt_at(c: DeliveryCoordinator, delay: float, work: Work, dedup_id="m1") -> Outcome:
    await asyncio.sleep(delay)
    return await c.attempt(dedup_id, OPENID, work, arrived=asyncio.get_running_loop().time())


async def test_a_fast_answer_is_passive_and_the_work_runs_once(store, api, wechat_api):
    c = coordinator(store, api)
    work = Work(["您好！"], seconds=0.1)
    outcomes = await asyncio.gather(*(attempt_at(c, 0.01 * i, work) for i in range(5)))
    await settle([c])
    assert work.runs == 1
    assert [o.passive for o in outcomes] == ["您好！"] * 5  # every attempt can carry it
    assert sum(o.owner for o in outcomes) == 1
    assert await sent(wechat_api) == []
    assert (await store.state("m1")).delivery == "passive"


async def test_a_slow_answer_is_acknowledged_then_sent_once_as_customer_service(
    store, api, wechat_api
):
    c = coordinator(store, api)
    work = Work(["查到了：……"], seconds=BUDGET + 0.4)
    started = time.perf_counter()
    outcome = await attempt_at(c, 0, work)
    assert outcome.passive is None  # "success": WeChat stops waiting
    assert time.perf_counter() - started < BUDGET + 0.2
    await settle([c])
    assert await sent(wechat_api) == ["查到了：……"]
    assert work.runs == 1
    assert (await store.state("m1")).delivery == "cs"


async def test_a_retry_during_processing_gets_the_passive_answer_and_nothing_else(
    store, api, wechat_api
):
    c = coordinator(store, api)
    work = Work(["答案"], seconds=BUDGET + 0.3)
    first, retry = await asyncio.gather(attempt_at(c, 0, work), attempt_at(c, BUDGET - 0.1, work))
    await settle([c])
    assert first.passive is None and retry.passive == "答案"
    assert work.runs == 1
    assert await sent(wechat_api) == []


async def test_a_late_handler_keeps_to_wechat_s_clock(store, api, wechat_api):
    # The attempt was signed 4 s ago (the server was busy): only ~0.8 s are left for a passive
    # reply, whatever the configured budget.
    c = DeliveryCoordinator(store, lambda o, ch: api.send_text(o, ch[0]), passive_seconds=4.5)
    work = Work(["晚到的答案"], seconds=1.5)
    started = time.perf_counter()
    outcome = await c.attempt("m1", OPENID, work, sent_at=int(time.time()) - 4)
    assert outcome.passive is None
    assert time.perf_counter() - started < 1.3
    await settle([c])
    assert await sent(wechat_api) == ["晚到的答案"]


async def test_a_retry_after_the_customer_service_message_gets_nothing(store, api, wechat_api):
    c = coordinator(store, api)
    work = Work(["答案"], seconds=BUDGET + 0.2)
    assert (await attempt_at(c, 0, work)).passive is None
    await settle([c])
    late = await attempt_at(c, 0, work)
    await settle([c])
    assert late.passive is None
    assert work.runs == 1
    assert await sent(wechat_api) == ["答案"]


async def test_a_long_answer_goes_out_as_customer_service_messages_in_order(
    store, api, wechat_api
):
    c = coordinator(store, api)
    work = Work(["第一段", "第二段", "第三段"], seconds=0.05)
    outcomes = await asyncio.gather(attempt_at(c, 0, work), attempt_at(c, 0.02, work))
    await settle([c])
    assert [o.passive for o in outcomes] == [None, None]
    assert await sent(wechat_api) == ["第一段", "第二段", "第三段"]


async def test_nothing_to_say_and_a_failing_bot_send_nothing(store, api, wechat_api):
    c = coordinator(store, api)
    silent, broken = Work([]), Work(["x"], fail=True)
    assert (await attempt_at(c, 0, silent, "m1")).passive is None
    assert (await attempt_at(c, 0, broken, "m2")).passive is None
    await settle([c])
    assert await sent(wechat_api) == []
    assert (await store.state("m1")).delivery == "none"
    assert (await store.state("m2")).delivery == "none"


async def test_retries_on_another_process_never_run_the_work_again(store, api, wechat_api,
                                                                    redis_prefix):
    other_store = WeChatStore(TEST_REDIS_URL, f"{redis_prefix}:wechat", dedup_ttl=120)
    here, there = coordinator(store, api), coordinator(other_store, api)
    try:
        work = Work(["来自另一个进程"], seconds=0.3)
        outcomes = await asyncio.gather(
            attempt_at(here, 0, work), attempt_at(there, 0.05, work), attempt_at(there, 0.1, work)
        )
        await settle([here, there])
        assert work.runs == 1
        assert {o.passive for o in outcomes} == {"来自另一个进程"}
        assert await sent(wechat_api) == []

        slow = Work(["慢答案"], seconds=BUDGET + 0.5)
        outcomes = await asyncio.gather(
            attempt_at(here, 0, slow, "m2"), attempt_at(there, 0.3, slow, "m2")
        )
        await settle([here, there])
        assert slow.runs == 1
        assert [o.passive for o in outcomes] == [None, None]
        assert await sent(wechat_api) == ["慢答案"]
    finally:
        await other_store.close()


async def test_without_redis_nothing_runs(api):
    dead = WeChatStore(f"redis://127.0.0.1:{free_port()}/0", "t:wechat", socket_timeout=0.5)
    c = coordinator(dead, api)
    work = Work(["x"])
    try:
        with pytest.raises(StoreUnavailable):
            await attempt_at(c, 0, work)
        assert work.runs == 0
    finally:
        await dead.close()
