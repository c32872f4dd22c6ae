"""A sandbox of WeChat's API side, for tests, benchmarks and demos (aiohttp).

WeChat's endpoints, with WeChat's error codes (answers are HTTP 200 with ``errcode``):

- ``GET /cgi-bin/token?grant_type=client_credential&appid=..&secret=..`` →
  ``{"access_token": .., "expires_in": 7200}``; 40002 bad grant_type, 40013 unknown appid,
  40125 wrong secret.
- ``POST /cgi-bin/message/custom/send?access_token=..`` with a text 客服消息 →
  ``{"errcode": 0, "errmsg": "ok"}``; 40001 unknown token, 42001 expired token, 47001 bad JSON,
  40003 bad openid, 40008 unsupported msgtype, 44004 empty text, 45002 text over 2048 bytes.
  WeChat shows ``\\uXXXX`` escapes literally, so the record notes whether the body had them.

Sandbox controls, for tests (not part of WeChat):

- ``GET /_sandbox/messages[?touser=..]`` → what the send endpoint accepted, in order;
  ``DELETE /_sandbox/messages`` forgets them.
- ``GET /_sandbox/stats`` → counts of token requests, accepted and refused sends.
- ``POST /_sandbox/expire-tokens`` → every issued token is expired (42001 from now on).
- ``PUT /_sandbox/faults`` ``{"send_errcodes": [-1, 40001], "send_delay_ms": 0}`` → the next
  sends answer these error codes in turn (nothing is recorded for them); every send is delayed.
- ``GET /health``.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

MAX_TEXT_BYTES = 2048
MAX_BODY_BYTES = 256 * 1024
_OPENID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


@dataclass
class SandboxState:
    app_id: str
    app_secret: str
    token_ttl: int = 7200
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (epoch seconds)
    messages: list[dict[str, Any]] = field(default_factory=list)
    token_requests: int = 0
    sends_accepted: int = 0
    sends_refused: int = 0
    send_errcodes: deque[int] = field(default_factory=deque)
    send_delay_ms: int = 0


STATE = web.AppKey("wechat_sandbox_state", SandboxState)

_ERRMSG = {
    0: "ok",
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40008: "invalid message type",
    40013: "invalid appid",
    40125: "invalid appsecret",
    42001: "access_token expired",
    44004: "empty content",
    45002: "content size out of limit",
    47001: "data format error",
}


def _error(code: int) -> web.Response:
    return web.json_response({"errcode": code, "errmsg": _ERRMSG.get(code, "error")})


def _state(request: web.Request) -> SandboxState:
    return request.app[STATE]


async def token(request: web.Request) -> web.Response:
    state = _state(request)
    state.token_requests += 1
    query = request.query
    if query.get("grant_type") != "client_credential":
        return _error(40002)
    if query.get("appid") != state.app_id:
        return _error(40013)
    if not secrets.compare_digest(query.get("secret", ""), state.app_secret):
        return _error(40125)
    issued = secrets.token_urlsafe(96)
    state.tokens[issued] = time.time() + state.token_ttl
    return web.json_response({"access_token": issued, "expires_in": state.token_ttl})


async def custom_send(request: web.Request) -> web.Response:
    state = _state(request)
    expiry = state.tokens.get(request.query.get("access_token", ""))
    if state.send_delay_ms:
        await asyncio.sleep(state.send_delay_ms / 1000)
    if expiry is None:
        return _refuse(state, 40001)
    if expiry <= time.time():
        return _refuse(state, 42001)
    if state.send_errcodes:
        return _refuse(state, state.send_errcodes.popleft())
    raw = await request.read()
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _refuse(state, 47001)
    if not isinstance(body, dict):
        return _refuse(state, 47001)
    touser = body.get("touser")
    if not isinstance(touser, str) or not _OPENID.match(touser):
        return _refuse(state, 40003)
    if body.get("msgtype") != "text":
        return _refuse(state, 40008)
    text = body.get("text")
    content = text.get("content") if isinstance(text, dict) else None
    if not isinstance(content, str) or not content:
        return _refuse(state, 44004)
    if len(content.encode("utf-8")) > MAX_TEXT_BYTES:
        return _refuse(state, 45002)
    state.sends_accepted += 1
    state.messages.append(
        {
            "touser": touser,
            "msgtype": "text",
            "content": content,
            "escaped_unicode": b"\\u" in raw,
            "received_at": time.time(),
        }
    )
    return _error(0)


def _refuse(state: SandboxState, code: int) -> web.Response:
    state.sends_refused += 1
    return _error(code)


async def list_messages(request: web.Request) -> web.Response:
    touser = request.query.get("touser")
    messages = [m for m in _state(request).messages if touser is None or m["touser"] == touser]
    return web.json_response({"messages": messages})


async def clear_messages(request: web.Request) -> web.Response:
    _state(request).messages.clear()
    return web.json_response({"ok": True})


async def stats(request: web.Request) -> web.Response:
    state = _state(request)
    return web.json_response(
        {
            "token_requests": state.token_requests,
            "sends_accepted": state.sends_accepted,
            "sends_refused": state.sends_refused,
            "messages": len(state.messages),
        }
    )


async def expire_tokens(request: web.Request) -> web.Response:
    state = _state(request)
    now = time.time()
    for issued in state.tokens:
        state.tokens[issued] = now
    return web.json_response({"expired": len(state.tokens)})


async def set_faults(request: web.Request) -> web.Response:
    state = _state(request)
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return web.json_response({"error": "invalid_json"}, status=400)
    codes = body.get("send_errcodes", []) if isinstance(body, dict) else None
    delay = body.get("send_delay_ms", 0) if isinstance(body, dict) else None
    if (
        not isinstance(codes, list)
        or not all(isinstance(c, int) for c in codes)
        or not isinstance(delay, int)
        or not 0 <= delay <= 60_000
    ):
        return web.json_response({"error": "invalid_faults"}, status=400)
    state.send_errcodes = deque(codes)
    state.send_delay_ms = delay
    return web.json_response({"ok": True})


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(app_id: str, app_secret: str, *, token_ttl: int = 7200) -> web.Application:
    """The sandbox for one Official Account."""
    if not app_id or not app_secret:
        raise ValueError("the WeChat API sandbox needs an app id and an app secret")
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STATE] = SandboxState(app_id=app_id, app_secret=app_secret, token_ttl=token_ttl)
    app.router.add_get("/health", health)
    app.router.add_get("/cgi-bin/token", token)
    app.router.add_post("/cgi-bin/message/custom/send", custom_send)
    app.router.add_get("/_sandbox/messages", list_messages)
    app.router.add_delete("/_sandbox/messages", clear_messages)
    app.router.add_get("/_sandbox/stats", stats)
    app.router.add_post("/_sandbox/expire-tokens", expire_tokens)
    app.router.add_put("/_sandbox/faults", set_faults)
    return app
