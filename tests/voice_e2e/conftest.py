"""A stack of its own for the voice replays: the same processes as the shared ``assistant``
fixture, with the voice channel's token and transfer target set."""

from __future__ import annotations

import os
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.conftest import TEST_REDIS_URL, _delete_prefix

VOICE_TOKEN = "voice-e2e-" + secrets.token_hex(8)
TRANSFER_TARGET = "sip:test-hotline-queue@voice-gateway.invalid"


@dataclass(frozen=True)
class VoiceStack:
    rasa_url: str
    bot_url: str
    token: str
    transfer_target: str
    prefix: str


@pytest.fixture(scope="session")
def voice_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoiceStack]:
    from stack.assistant import Ports, StackConfig, build_services
    from stack.processes import free_port
    from stack.redis_choice import RedisTarget

    rasa_bin, model = os.environ.get("RASA_BIN"), os.environ.get("RASA_MODEL")
    if not rasa_bin or not model:
        pytest.fail("RASA_BIN and RASA_MODEL are not set: run the tests through scripts/test")
    prefix = "testvoice" + secrets.token_hex(4)
    config = StackConfig(
        rasa_bin=rasa_bin,
        actions_python=sys.executable,
        model=model,
        ports=Ports(rasa=free_port(), actions=free_port(), backends=free_port()),
        redis=RedisTarget.from_url(TEST_REDIS_URL),
        redis_key_prefix=prefix,
        var_dir=tmp_path_factory.mktemp("voice-var"),
        extra_env={"VOICE_BOT_TOKEN": VOICE_TOKEN, "VOICE_TRANSFER_TARGET": TRANSFER_TARGET},
    )
    started = []
    try:
        for service in build_services(config):
            service.start()
            started.append(service)
            service.wait_healthy(300)
        rasa_url = f"http://127.0.0.1:{config.ports.rasa}"
        yield VoiceStack(
            rasa_url=rasa_url,
            bot_url=f"{rasa_url}/webhooks/voice/CreateConversation",
            token=VOICE_TOKEN,
            transfer_target=TRANSFER_TARGET,
            prefix=prefix,
        )
    finally:
        for service in reversed(started):
            service.stop()
        _delete_prefix(prefix)
