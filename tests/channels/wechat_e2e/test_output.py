"""The output channel Rasa uses outside a request (reminders, trigger_intent): bot messages go
out as 客服消息 through the real sandbox, rendered like passive replies, options remembered."""

import aiohttp
import pytest

from backends.wechat_api.harness import APP_ID, APP_SECRET, ENCODING_AES_KEY, TOKEN
from channels.wechat.channel import WeChatCustomerServiceOutput, WeChatInput
from channels.wechat.settings import WeChatSettings
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.integration


async def test_proactive_messages_are_sent_as_customer_service(wechat_api, redis_prefix):
    settings = WeChatSettings.from_env(
        {
            "WECHAT_TOKEN": TOKEN, "WECHAT_ENCODING_AES_KEY": ENCODING_AES_KEY,
            "WECHAT_APP_ID": APP_ID, "WECHAT_APP_SECRET": APP_SECRET,
            "WECHAT_API_BASE": str(wechat_api.make_url("")), "REDIS_URL": TEST_REDIS_URL,
            "REDIS_KEY_PREFIX": redis_prefix,
        },
        {"max_text_bytes": 300},
    )
    channel = WeChatInput(settings)
    output = channel.get_output_channel()
    assert isinstance(output, WeChatCustomerServiceOutput) and output.name() == "wechat"
    runtime = channel._runtime()
    try:
        await output.send_response("oResident_7", {
            "text": "您预约的挂号明天上午就诊。" * 12,
            "buttons": [{"title": "取消预约", "payload": "/cancel_booking"}],
        })
        await output.send_text_message("oResident_7", "祝您早日康复")
        async with (
            aiohttp.ClientSession() as session,
            session.get(str(wechat_api.make_url("/_sandbox/messages"))) as reply,
        ):
            sent = [m["content"] for m in (await reply.json())["messages"]]
        assert len(sent) == 3 and all(len(m.encode()) <= 300 for m in sent)
        assert sent[1].endswith("1. 取消预约") and sent[2] == "祝您早日康复"
        assert "".join(sent[:2]).startswith("您预约的挂号明天上午就诊。" * 12)
        assert await runtime.store.option("oResident_7", 1) == "/cancel_booking"
    finally:
        await runtime.close()
