"""Shared fixtures. Servers are real: Redis at REDIS_URL (default 127.0.0.1:6379), and the
assistant's own processes, started by the tests that need them and stopped afterwards."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    return TEST_REDIS_URL


# The agent API is on in the shared stack (human handoff: tests/dialogues/test_handoff.py), with
# agents around the clock so that "转人工" queues whatever the time of day.
AGENT_API_TOKEN = "test-agent-" + secrets.token_hex(16)


@pytest.fixture(scope="session")
def assistant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A running stack (sandbox backends, action server, Rasa) on free ports, sharing the test
    Redis under a key prefix of its own. Needs RASA_BIN and RASA_MODEL, set by scripts/test."""
    yield from running_stack(tmp_path_factory, {
        "SANDBOX_ADMIN_TOKEN": "test-admin-" + secrets.token_hex(12),
        "AGENT_API_TOKEN": AGENT_API_TOKEN,
        "MINSHENG_AGENT_HOURS": "always",
    })


def running_stack(tmp_path_factory: pytest.TempPathFactory, extra_env: dict[str, str]
                  ) -> Iterator[RunningAssistant]:
    """Starts a stack with ``extra_env``, yields it, stops it and deletes its Redis keys (for
    fixtures that need a stack configured otherwise than :func:`assistant`)."""
    from stack.assistant import Ports, StackConfig, build_services
    from stack.processes import free_port
    from stack.redis_choice import RedisTarget

    rasa_bin, model = os.environ.get("RASA_BIN"), os.environ.get("RASA_MODEL")
    if not rasa_bin or not model:
        pytest.fail("RASA_BIN and RASA_MODEL are not set: run the tests through scripts/test")
    prefix = "test" + secrets.token_hex(4)
    config = StackConfig(
        rasa_bin=rasa_bin,
        actions_python=sys.executable,
        model=model,
        ports=Ports(rasa=free_port(), actions=free_port(), backends=free_port()),
        redis=RedisTarget.from_url(TEST_REDIS_URL),
        redis_key_prefix=prefix,
        var_dir=tmp_path_factory.mktemp("var"),
        extra_env=dict(extra_env),
    )
    services = build_services(config)
    started = []
    try:
        for service in services:
            service.start()
            started.append(service)
            service.wait_healthy(300)
        yield RunningAssistant(config, prefix)
    finally:
        for service in reversed(started):
            service.stop()
        _delete_prefix(prefix)


class RunningAssistant:
    """What a test needs to talk to a running stack."""

    def __init__(self, config: object, prefix: str) -> None:
        self.config = config
        self.prefix = prefix
        ports = config.ports  # type: ignore[attr-defined]
        self.rest_url = f"http://127.0.0.1:{ports.rasa}/webhooks/rest/webhook"
        self.rasa_url = f"http://127.0.0.1:{ports.rasa}"
        self.actions_url = f"http://127.0.0.1:{ports.actions}"
        self.backends_url = f"http://127.0.0.1:{ports.backends}"
        self.log_dir = config.log_dir  # type: ignore[attr-defined]


def _delete_prefix(prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(TEST_REDIS_URL)
    try:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
    finally:
        client.close()


LOG_TAIL_LINES = 80


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that talked to a running stack reports the tail of the stack's logs (Rasa,
    actions, sandbox), so that a failure in CI can be read without the stack."""
    outcome = yield
    report = outcome.get_result()
    stack = getattr(item, "funcargs", {}).get("assistant")
    if report.when != "call" or not report.failed or not isinstance(stack, RunningAssistant):
        return
    for log in sorted(Path(stack.log_dir).glob("*.log")):
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        report.sections.append((f"stack log {log.name} (last {LOG_TAIL_LINES} lines)",
                                "\n".join(lines[-LOG_TAIL_LINES:])))
