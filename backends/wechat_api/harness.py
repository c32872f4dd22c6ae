"""A whole stack with the WeChat channel configured, for the end-to-end tests and the benchmark:
the WeChat API sandbox in its own process, a proxy in front of the action server that makes the
bot slow on purpose for chosen residents, then the sandbox backends, action server and Rasa
(stack/assistant.py), all on free ports, sharing Redis under a key prefix of their own."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientSession, ClientTimeout, web

from backends.wechat_api.push import Account
from stack.assistant import ROOT, Ports, StackConfig, build_services
from stack.processes import Service, free_port
from stack.redis_choice import RedisTarget

APP_ID = "wx5c3e2a1b0d9f8e7a"
APP_SECRET = "sandbox-secret-" + "0" * 17
TOKEN = "minshengSandboxToken"
ENCODING_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = Account(token=TOKEN, app_id=APP_ID, encoding_aes_key=ENCODING_AES_KEY)


def wechat_api_service(python: str, port: int, log_dir: Path) -> Service:
    """The WeChat API sandbox as its own process, like any backend."""
    return Service(
        name="WeChat API sandbox",
        argv=[python, "-m", "backends.wechat_api", "--port", str(port),
              "--app-id", APP_ID, "--app-secret", APP_SECRET],
        health_url=f"http://127.0.0.1:{port}/health",
        log_path=log_dir / "wechat_api.log",
        env={"PYTHONPATH": str(ROOT)},
        cwd=ROOT,
    )


class SlowActionProxy:
    """Forwards Rasa's action calls to the real action server, after a delay chosen per sender,
    and counts the calls per sender. Runs its own event loop in a thread."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.delays: dict[str, float] = {}
        self.calls: collections.Counter[str] = collections.Counter()
        self.port = free_port()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="slow-action-proxy", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhook"

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("slow action proxy did not start")

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/webhook", self._forward)
        runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", self.port).start())
        self._session = loop.run_until_complete(self._new_session())
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._session.close())
            loop.run_until_complete(runner.cleanup())
            loop.close()

    @staticmethod
    async def _new_session() -> ClientSession:
        return ClientSession(timeout=ClientTimeout(total=120))

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            sender = str(json.loads(body).get("sender_id") or "")
        except (ValueError, AttributeError):
            sender = ""
        self.calls[sender] += 1
        await asyncio.sleep(self.delays.get(sender, 0.0))
        async with self._session.post(
            self.target, data=body, headers={"Content-Type": "application/json"}
        ) as answer:
            return web.Response(body=await answer.read(), status=answer.status,
                                content_type="application/json")


@dataclass
class WeChatStack:
    """A running stack with the WeChat channel configured."""

    prefix: str
    rasa_url: str
    webhook_url: str
    api_url: str
    proxy: SlowActionProxy
    log_dir: Path
    services: list[Service] = field(default_factory=list)

    @property
    def account(self) -> Account:
        return ACCOUNT


def start_stack(
    *, rasa_bin: str, model: str, actions_python: str, redis_url: str, var_dir: Path,
    extra_env: dict[str, str] | None = None,
) -> WeChatStack:
    """Starts the WeChat API sandbox, the slow proxy and the stack; stops what started if any
    part fails."""
    prefix = "test" + secrets.token_hex(4)
    ports = Ports(rasa=free_port(), actions=free_port(), backends=free_port())
    api_port = free_port()
    log_dir = var_dir / "log"
    proxy = SlowActionProxy(f"http://127.0.0.1:{ports.actions}/webhook")
    config = StackConfig(
        rasa_bin=rasa_bin,
        actions_python=actions_python,
        model=model,
        ports=ports,
        redis=RedisTarget.from_url(redis_url),
        redis_key_prefix=prefix,
        var_dir=var_dir,
        extra_env={
            "WECHAT_TOKEN": TOKEN,
            "WECHAT_ENCODING_AES_KEY": ENCODING_AES_KEY,
            "WECHAT_APP_ID": APP_ID,
            "WECHAT_APP_SECRET": APP_SECRET,
            "WECHAT_API_BASE": f"http://127.0.0.1:{api_port}",
            "ACTION_SERVER_URL": proxy.url,
            **(extra_env or {}),
        },
    )
    stack = WeChatStack(
        prefix=prefix,
        rasa_url=f"http://127.0.0.1:{ports.rasa}",
        webhook_url=f"http://127.0.0.1:{ports.rasa}/webhooks/wechat/webhook",
        api_url=f"http://127.0.0.1:{api_port}",
        proxy=proxy,
        log_dir=log_dir,
    )
    try:
        api = wechat_api_service(actions_python, api_port, log_dir)
        api.start()
        stack.services.append(api)
        api.wait_healthy(60)
        proxy.start()
        for service in build_services(config):
            service.start()
            stack.services.append(service)
            service.wait_healthy(300)
    except BaseException:
        stop_stack(stack, redis_url)
        raise
    return stack


def stop_stack(stack: WeChatStack, redis_url: str) -> None:
    for service in reversed(stack.services):
        service.stop()
    stack.proxy.stop()
    delete_prefix(redis_url, stack.prefix)


def delete_prefix(redis_url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(f"{prefix}:*", count=1000):
            client.delete(key)
    finally:
        client.close()


def tracker_user_texts(redis_url: str, prefix: str, sender: str) -> list[str]:
    """What Rasa heard from ``sender``, read from the Redis tracker store."""
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        stored = client.get(f"{prefix}:tracker:{sender}")
    finally:
        client.close()
    if stored is None:
        return []
    events: list[dict[str, Any]] = json.loads(stored)["events"]
    return [e["text"] for e in events if e["event"] == "user"]


def environment() -> dict[str, str]:
    """RASA_BIN, RASA_MODEL and ACTIONS_PY, as scripts/test sets them."""
    names = ("RASA_BIN", "RASA_MODEL", "ACTIONS_PY")
    values = {name: os.environ.get(name, "") for name in names}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} not set: run through scripts/test, or `source "
            "scripts/lib/env.sh && ensure_env actions && ensure_model` first"
        )
    return values
