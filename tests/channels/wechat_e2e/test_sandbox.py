"""The WeChat API sandbox answers like WeChat: tokens, customer-service sends and their errors,
and records what it accepted."""

import json

import aiohttp
import pytest

from backends.wechat_api.harness import APP_ID, APP_SECRET

pytestmark = pytest.mark.integration


async def get_token(client: aiohttp.ClientSession, base: str, **params: str) -> dict:
    query = {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET, **params}
    async with client.get(f"{base}/cgi-bin/token", params=query) as reply:
        assert reply.status == 200
        return await reply.json()


async def send(client, base, token, body) -> dict:
    data = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    async with client.post(f"{base}/cgi-bin/message/custom/send",
                           params={"access_token": token}, data=data) as reply:
        assert reply.status == 200
        return await reply.json()


def text(content: str, touser: str = "oUser_1") -> dict:
    return {"touser": touser, "msgtype": "text", "text": {"content": content}}


async def test_tokens_and_sends_with_wechat_error_codes(wechat_api):
    base = str(wechat_api.make_url("")).rstrip("/")
    async with aiohttp.ClientSession() as client:
        assert (await get_token(client, base, grant_type="password"))["errcode"] == 40002
        assert (await get_token(client, base, appid="wx0000000000000000"))["errcode"] == 40013
        assert (await get_token(client, base, secret="wrong"))["errcode"] == 40125
        issued = await get_token(client, base)
        assert issued["expires_in"] == 7200 and len(issued["access_token"]) > 64
        token = issued["access_token"]

        assert (await send(client, base, "forged", text("你好")))["errcode"] == 40001
        assert (await send(client, base, token, b"{not json"))["errcode"] == 47001
        assert (await send(client, base, token, text("x", touser="../x")))["errcode"] == 40003
        news = {"touser": "oUser_1", "msgtype": "news", "news": {}}
        assert (await send(client, base, token, news))["errcode"] == 40008
        assert (await send(client, base, token, text("")))["errcode"] == 44004
        assert (await send(client, base, token, text("字" * 683)))["errcode"] == 45002
        assert (await send(client, base, token, text("字" * 682)))["errcode"] == 0
        assert (await send(client, base, token, text("您好")))["errcode"] == 0
        escaped = json.dumps(text("转义")).encode()  # ensure_ascii: WeChat would show \\u..
        assert (await send(client, base, token, escaped))["errcode"] == 0

        async with client.get(f"{base}/_sandbox/messages", params={"touser": "oUser_1"}) as r:
            messages = (await r.json())["messages"]
        assert [m["content"] for m in messages] == ["字" * 682, "您好", "转义"]
        assert [m["escaped_unicode"] for m in messages] == [False, False, True]

        async with client.post(f"{base}/_sandbox/expire-tokens") as reply:
            assert (await reply.json())["expired"] == 1
        assert (await send(client, base, token, text("过期")))["errcode"] == 42001

        async with client.put(f"{base}/_sandbox/faults", json={"send_errcodes": [-1]}) as reply:
            assert reply.status == 200
        fresh = (await get_token(client, base))["access_token"]
        assert (await send(client, base, fresh, text("忙")))["errcode"] == -1
        assert (await send(client, base, fresh, text("好了")))["errcode"] == 0
        async with client.put(f"{base}/_sandbox/faults", json={"send_errcodes": "x"}) as reply:
            assert reply.status == 400

        async with client.get(f"{base}/_sandbox/stats") as reply:
            stats = await reply.json()
        assert stats["token_requests"] == 5 and stats["sends_accepted"] == 4
        async with client.delete(f"{base}/_sandbox/messages"):
            pass
        async with client.get(f"{base}/_sandbox/messages") as reply:
            assert (await reply.json())["messages"] == []
