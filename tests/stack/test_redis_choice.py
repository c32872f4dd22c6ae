import pytest

from stack.redis_choice import (
    LOCAL_REDIS_URL,
    RedisTarget,
    existing_redis,
    ping,
    start_private_redis,
)


@pytest.mark.unit
def test_a_redis_url_is_split_for_rasa():
    target = RedisTarget.from_url("redis://:s%40cret@redis.internal:6380/3")
    assert (target.host, target.port, target.db, target.password) == (
        "redis.internal", 6380, 3, "s@cret"
    )
    assert target.env() == {
        "REDIS_URL": "redis://:s%40cret@redis.internal:6380/3",
        "REDIS_HOST": "redis.internal",
        "REDIS_PORT": "6380",
        "REDIS_DB": "3",
        "REDIS_PASSWORD": "s@cret",
    }


@pytest.mark.unit
def test_defaults_for_a_short_url():
    target = RedisTarget.from_url("redis://localhost")
    assert (target.port, target.db, target.password) == (6379, 0, "")


@pytest.mark.unit
@pytest.mark.parametrize("url", ["http://x:6379/0", "redis://x:6379/abc"])
def test_bad_urls_are_refused(url):
    with pytest.raises(ValueError):
        RedisTarget.from_url(url)


@pytest.mark.integration
def test_the_machine_redis_answers(redis_url):
    assert ping(redis_url)


@pytest.mark.integration
def test_nothing_answers_on_a_closed_port():
    from stack.processes import free_port

    assert not ping(f"redis://127.0.0.1:{free_port()}/0", timeout=0.5)


@pytest.mark.integration
def test_a_private_redis_starts_and_stops(tmp_path):
    started = start_private_redis(tmp_path)
    assert started is not None, "redis-server is installed on this machine kind"
    target, service = started
    try:
        assert ping(target.url)
        assert target.port != 6379
    finally:
        service.stop()
    assert not ping(target.url, timeout=0.5)


def test_existing_redis_takes_redis_url_first():
    said: list[str] = []
    target = existing_redis(said.append, {"REDIS_URL": "redis://127.0.0.1:6379/3"})
    assert target is not None and target.db == 3
    assert said == ["Redis: redis://127.0.0.1:6379/3 (from REDIS_URL)"]


def test_existing_redis_refuses_a_redis_url_nobody_answers():
    from stack.processes import free_port

    url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(SystemExit, match="no Redis answers there"):
        existing_redis(lambda _: None, {"REDIS_URL": url})


def test_existing_redis_falls_back_to_the_local_one():
    # Redis runs at 127.0.0.1:6379 on these machines (DEVELOPERS.md)
    said: list[str] = []
    target = existing_redis(said.append, {})
    assert target is not None and target.url == LOCAL_REDIS_URL
    assert said == [f"Redis: {LOCAL_REDIS_URL}"]
