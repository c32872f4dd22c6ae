"""If Redis cannot be reached the channel cannot deduplicate, so it does not run Rasa: the
resident gets the domain's apology as a passive reply. Served by a real Sanic server, as inside
Rasa, with the real domain loaded."""

from pathlib import Path
from types import SimpleNamespace

import aiohttp
import pytest
from rasa.shared.core.domain import Domain

from backends.wechat_api import push
from backends.wechat_api.harness import ACCOUNT, APP_ID, APP_SECRET, ENCODING_AES_KEY, TOKEN
from channels.wechat.channel import WeChatInput
from channels.wechat.settings import WeChatSettings
from stack.processes import free_port
from tests.channels.wechat_e2e.client import sanic_server
from tests.support import default_text

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("encrypted", [False, True], ids=["plain", "aes"])
async def test_without_redis_the_resident_gets_an_apology_and_rasa_is_not_run(encrypted):
    settings = WeChatSettings.from_env(
        {
            "WECHAT_TOKEN": TOKEN, "WECHAT_ENCODING_AES_KEY": ENCODING_AES_KEY,
            "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        },
        {"redis_timeout_seconds": 0.5},
    )
    reached = []

    async def on_new_message(message):
        reached.append(message)

    agent = SimpleNamespace(domain=Domain.load(str(ROOT / "bot" / "domain")))
    channel = WeChatInput(settings)
    async with sanic_server(channel.blueprint(on_new_message), agent) as base:
        wechat = push.WeChatPush(f"{base}/webhook", ACCOUNT, encrypted=encrypted)
        async with aiohttp.ClientSession() as session:
            report = await wechat.deliver(session, push.text(ACCOUNT, "oResident_1", "你好"))
    assert report.reply == default_text("utter_wechat_unavailable")
    assert reached == []
