"""Talking to a running stack as WeChat does, and reading what came out of it."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from backends.wechat_api.harness import ACCOUNT, WeChatStack
from backends.wechat_api.push import DeliveryReport, WeChatPush

TIMEOUT = aiohttp.ClientTimeout(total=30)


def new_openid(tag: str) -> str:
    return f"o{tag}_{secrets.token_hex(8)}"


def pusher(stack: WeChatStack, *, encrypted: bool = False) -> WeChatPush:
    return WeChatPush(stack.webhook_url, ACCOUNT, encrypted=encrypted)


async def deliver(
    stack: WeChatStack, xml: str, *, encrypted: bool = False, **kwargs: Any
) -> DeliveryReport:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        return await pusher(stack, encrypted=encrypted).deliver(session, xml, **kwargs)


async def reply_to(stack: WeChatStack, xml: str, *, encrypted: bool = False) -> str | None:
    """The passive reply to a delivery answered at the first attempt."""
    report = await deliver(stack, xml, encrypted=encrypted)
    assert len(report.attempts) == 1 and report.attempts[0].status == 200, report
    return report.reply


async def raw_post(
    stack: WeChatStack, query: dict[str, str], body: bytes
) -> tuple[int, str]:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.post(stack.webhook_url, params=query, data=body) as answer,
    ):
        return answer.status, await answer.text()


async def customer_service(stack: WeChatStack, openid: str) -> list[str]:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as session,
        session.get(f"{stack.api_url}/_sandbox/messages", params={"touser": openid}) as answer,
    ):
        return [m["content"] for m in (await answer.json())["messages"]]


async def wait_customer_service(
    stack: WeChatStack, openid: str, count: int, timeout: float = 30.0
) -> list[str]:
    """Waits until ``count`` customer-service messages reached ``openid`` (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        messages = await customer_service(stack, openid)
        if len(messages) >= count or time.monotonic() > deadline:
            return messages
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def sanic_server(
    blueprint: Any, agent: Any = None
) -> AsyncIterator[str]:
    """Serves a channel's blueprint on a real Sanic server, mounted as Rasa mounts it; yields
    the base URL (``…/webhooks/wechat``). ``test_mode`` lets several Sanic apps start in one
    process (as the other channel tests do)."""
    from sanic import Sanic

    from stack.processes import free_port

    Sanic.test_mode = True
    app = Sanic(f"wechat_test_{secrets.token_hex(4)}", configure_logging=False)
    if agent is not None:
        app.ctx.agent = agent
    app.blueprint(blueprint, url_prefix="/webhooks/wechat")
    port = free_port()
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    await server.startup()
    await server.start_serving()
    try:
        yield f"http://127.0.0.1:{port}/webhooks/wechat"
    finally:
        server.close()
        await server.wait_closed()
