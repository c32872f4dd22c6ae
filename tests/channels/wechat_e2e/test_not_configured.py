"""Without WECHAT_* the channel still mounts (Rasa starts) and its webhook answers 503; it is
served here by a real Sanic server, as inside Rasa."""

import aiohttp
import pytest

from channels.wechat.channel import WeChatInput
from tests.channels.wechat_e2e.client import sanic_server

pytestmark = pytest.mark.integration


async def test_the_webhook_answers_503_and_nothing_reaches_rasa():
    reached = []

    async def on_new_message(message):
        reached.append(message)

    async with (
        sanic_server(WeChatInput(None).blueprint(on_new_message)) as base,
        aiohttp.ClientSession() as session,
    ):
        for method in ("GET", "POST"):
            async with session.request(method, f"{base}/webhook", data=b"<xml/>") as reply:
                assert reply.status == 503
                assert await reply.text() == "wechat channel not configured"
        async with session.get(f"{base}/") as reply:
            assert await reply.json() == {"status": "ok", "configured": False}
    assert reached == []
