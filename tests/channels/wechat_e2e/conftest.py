"""Fixtures: a Redis key prefix of each test's own, a WeChatStore on it, the WeChat API sandbox
in-process, and (once per session) a whole stack with the WeChat channel configured."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from backends.wechat_api.app import create_app
from backends.wechat_api.harness import (
    APP_ID,
    APP_SECRET,
    WeChatStack,
    delete_prefix,
    environment,
    start_stack,
    stop_stack,
)
from channels.wechat.store import WeChatStore
from tests.conftest import TEST_REDIS_URL


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    prefix = "test" + secrets.token_hex(4)
    yield prefix
    delete_prefix(TEST_REDIS_URL, prefix)


@pytest.fixture
async def store(redis_prefix: str) -> AsyncIterator[WeChatStore]:
    store = WeChatStore(TEST_REDIS_URL, f"{redis_prefix}:wechat", dedup_ttl=120, options_ttl=60)
    yield store
    await store.close()


@pytest.fixture
async def wechat_api() -> AsyncIterator[TestServer]:
    """The WeChat API sandbox on a free port of this test's event loop."""
    server = TestServer(create_app(APP_ID, APP_SECRET))
    await server.start_server()
    yield server
    await server.close()


@pytest.fixture(scope="session")
def wechat_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WeChatStack]:
    try:
        env = environment()
    except RuntimeError as error:
        pytest.fail(str(error))
    var_dir: Path = tmp_path_factory.mktemp("wechat-var")
    stack = start_stack(
        rasa_bin=env["RASA_BIN"], model=env["RASA_MODEL"], actions_python=env["ACTIONS_PY"],
        redis_url=TEST_REDIS_URL, var_dir=var_dir,
    )
    try:
        yield stack
    finally:
        stop_stack(stack, TEST_REDIS_URL)
