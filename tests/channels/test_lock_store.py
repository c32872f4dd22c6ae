"""The lock store the Rasa replicas share (channels/lock_store.py), against the real Redis.

Each store instance stands for one Rasa process; threads make their Redis calls interleave the
way two processes' calls do."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Iterator

import pytest
import redis
from rasa.core.lock_store import RedisLockStore
from rasa.utils.endpoints import EndpointConfig

from channels.lock_store import AtomicRedisLockStore
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.integration


@pytest.fixture
def prefix() -> Iterator[str]:
    prefix = "testlock" + secrets.token_hex(4)
    yield prefix
    client = redis.Redis.from_url(TEST_REDIS_URL)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def store(prefix: str, **options: object) -> AtomicRedisLockStore:
    target = redis.Redis.from_url(TEST_REDIS_URL).connection_pool.connection_kwargs
    config = EndpointConfig.from_dict({
        "type": "channels.lock_store.AtomicRedisLockStore",
        "url": target.get("host", "127.0.0.1"), "port": str(target.get("port", 6379)),
        "db": str(target.get("db", 0)), "password": "", "key_prefix": prefix,
        "socket_timeout": "5", **options,
    })
    return AtomicRedisLockStore(endpoint_config=config)


def test_it_is_built_from_endpoints_yml_like_rasas_own(prefix):
    made = store(prefix, ticket_lifetime=3, renew_every=0.5)
    assert isinstance(made, RedisLockStore)
    assert made.key_prefix == f"{prefix}:lock:"
    assert (made.ticket_lifetime, made.renew_every) == (3.0, 0.5)
    with pytest.raises(ValueError, match="renew_every"):
        store(prefix, ticket_lifetime=1, renew_every=2)
    with pytest.raises(ValueError, match="unknown option"):
        store(prefix, tiket_lifetime=1)


def test_tickets_issued_at_once_by_many_processes_are_all_distinct(prefix):
    """Rasa's RedisLockStore (GET, change, SET) hands out the same ticket twice here."""
    stores = [store(prefix) for _ in range(8)]
    issued: list[int] = []
    start = threading.Barrier(len(stores))

    def issue(one: AtomicRedisLockStore) -> None:
        start.wait()
        for _ in range(10):
            issued.append(one.issue_ticket("resident"))

    threads = [threading.Thread(target=issue, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(issued) == list(range(80))
    lock = stores[0].get_lock("resident")
    assert lock is not None and len(lock.tickets) == 80


async def test_two_processes_run_one_conversation_one_turn_at_a_time(prefix):
    a, b = store(prefix), store(prefix)
    inside: list[str] = []
    overlaps = 0

    async def turn(one: AtomicRedisLockStore, name: str) -> None:
        nonlocal overlaps
        async with one.lock("resident"):
            if inside:
                overlaps += 1
            inside.append(name)
            await asyncio.sleep(0.05)
            inside.remove(name)

    await asyncio.gather(*(turn(a if i % 2 else b, f"t{i}") for i in range(10)))
    assert overlaps == 0
    assert a.get_lock("resident") is None  # deleted when nobody waits


async def test_a_long_turn_keeps_its_lock_by_renewing_it(prefix):
    a, b = (store(prefix, ticket_lifetime=1, renew_every=0.2) for _ in range(2))
    order: list[str] = []

    async def long_turn() -> None:
        async with a.lock("resident"):
            order.append("long starts")
            await asyncio.sleep(2.5)  # 2.5 lifetimes
            order.append("long ends")

    async def next_turn() -> None:
        await asyncio.sleep(0.2)
        async with b.lock("resident"):
            order.append("next runs")

    await asyncio.gather(long_turn(), next_turn())
    assert order == ["long starts", "long ends", "next runs"]


async def test_the_ticket_of_a_turn_that_died_frees_the_conversation_within_its_lifetime(prefix):
    dead, alive = store(prefix, ticket_lifetime=1.5, renew_every=0.5), store(prefix)
    dead.issue_ticket("resident")  # its process died (or lost Redis) before the clean-up
    began = time.monotonic()
    async with alive.lock("resident"):
        waited = time.monotonic() - began
    assert 1.0 < waited < 2.5


def test_lock_keys_expire(prefix):
    one = store(prefix)
    one.issue_ticket("resident")
    ttl = redis.Redis.from_url(TEST_REDIS_URL).ttl(f"{prefix}:lock:resident")
    assert 0 < ttl <= one.ticket_lifetime + 61


async def test_a_ticket_whose_clean_up_failed_is_released_when_redis_is_back(prefix):
    one, other = store(prefix, ticket_lifetime=30, renew_every=5), store(prefix)
    broken = {"on": False}
    real_change = one._change

    def change(conversation_id, apply):
        if broken["on"]:
            raise redis.ConnectionError("Redis went away")
        return real_change(conversation_id, apply)

    one._change = change  # type: ignore[method-assign]
    with pytest.raises(redis.ConnectionError):
        async with one.lock("resident"):
            broken["on"] = True  # Redis goes away during the turn: the clean-up fails
    assert one._orphans
    broken["on"] = False
    one.issue_ticket("someone-else")  # the next turn of that process, Redis back
    assert not one._orphans
    began = time.monotonic()
    async with other.lock("resident"):  # not blocked for the 30 s of the dead ticket
        pass
    assert time.monotonic() - began < 1
