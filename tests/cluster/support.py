"""Talking to a running cluster in tests: REST and WeChat (plain mode) turns that record who
answered and how fast, the Redis tracker of a conversation, and background traffic that keeps
many residents talking while a fault is injected."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import secrets
import time
import uuid
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from typing import Any

import aiohttp

TIMEOUT = aiohttp.ClientTimeout(total=60)
_MSG_IDS = itertools.count(int(time.time() * 1000) * 1000 + secrets.randbelow(1000) * 10**6)


@dataclass
class Reply:
    """One turn as the resident saw it."""

    channel: str  # rest | wechat
    sender: str
    text: str  # what was sent
    status: int  # HTTP status; 0 when the connection failed
    messages: list[dict[str, Any]] = field(default_factory=list)
    body: str = ""
    started: float = 0.0  # time.monotonic()
    seconds: float = 0.0
    served_by: str = ""  # nginx's X-Served-By: the replica that answered

    @property
    def ok(self) -> bool:
        """A real answer: 200 with at least one message."""
        return self.status == 200 and bool(self.messages)

    @property
    def joined(self) -> str:
        return "\n".join(str(m.get("text") or "") for m in self.messages)


def new_sender(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}"


async def rest_turn(session: aiohttp.ClientSession, url: str, sender: str, text: str) -> Reply:
    started = time.monotonic()
    reply = Reply("rest", sender, text, 0, started=started)
    try:
        async with session.post(url, json={"sender": sender, "message": text}) as answer:
            reply.status = answer.status
            reply.served_by = answer.headers.get("X-Served-By", "")
            reply.body = await answer.text()
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        reply.body = repr(error)
    reply.seconds = time.monotonic() - started
    if reply.status == 200:
        with_messages = json.loads(reply.body)
        reply.messages = with_messages if isinstance(with_messages, list) else []
    return reply


def wechat_query(token: str) -> dict[str, str]:
    """The signed query of a plain-mode delivery: sha1 over sorted token, timestamp, nonce."""
    timestamp = str(int(time.time()))
    nonce = str(secrets.randbelow(10**10))
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


def wechat_text_xml(account: str, openid: str, content: str, msg_id: str | None = None) -> str:
    content = content.replace("]]>", "]]]]><![CDATA[>")
    return (
        f"<xml><ToUserName><![CDATA[{account}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{msg_id or next(_MSG_IDS)}</MsgId></xml>"
    )


def passive_text(body: str) -> str | None:
    """The Content of a passive reply (None for ``success`` or anything else)."""
    body = body.strip()
    if not body.startswith("<xml>"):
        return None
    node = ElementTree.fromstring(body).find("Content")
    return node.text if node is not None else None


async def wechat_turn(
    session: aiohttp.ClientSession, url: str, token: str, account: str, openid: str, text: str,
    msg_id: str | None = None,
) -> Reply:
    started = time.monotonic()
    reply = Reply("wechat", openid, text, 0, started=started)
    xml = wechat_text_xml(account, openid, text, msg_id)
    try:
        async with session.post(
            url, params={**wechat_query(token), "openid": openid}, data=xml.encode(),
            headers={"Content-Type": "text/xml"},
        ) as answer:
            reply.status = answer.status
            reply.served_by = answer.headers.get("X-Served-By", "")
            reply.body = await answer.text()
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        reply.body = repr(error)
    reply.seconds = time.monotonic() - started
    content = passive_text(reply.body) if reply.status == 200 else None
    if content:
        reply.messages = [{"text": content}]
    return reply


# --- the tracker in Redis --------------------------------------------------------------------


def tracker_events(redis_url: str, prefix: str, sender: str) -> list[dict[str, Any]]:
    import redis

    client = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=5)
    try:
        stored = client.get(f"{prefix}:tracker:{sender}")
    finally:
        client.close()
    return [] if stored is None else list(json.loads(stored)["events"])


def slots_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The slot values after replaying a tracker's events (a restart resets them all)."""
    slots: dict[str, Any] = {}
    for event in events:
        if event["event"] == "slot":
            slots[event["name"]] = event["value"]
        elif event["event"] == "restart":
            slots.clear()
    return slots


def user_texts(events: list[dict[str, Any]]) -> list[str]:
    return [e.get("text") or "" for e in events if e["event"] == "user"]


# --- background traffic ----------------------------------------------------------------------


@dataclass
class Resident:
    """A resident with a script of turns, repeated until the traffic stops."""

    channel: str
    sender: str
    script: list[str]
    replies: list[Reply] = field(default_factory=list)


class Traffic:
    """Residents talking in parallel (closed loop: each waits for its answer, then a short
    pause) until :meth:`stop`; every turn is recorded with its start time."""

    def __init__(self, rest_url: str, residents: list[Resident], *, wechat_url: str = "",
                 wechat_token: str = "", wechat_account: str = "", pause: float = 0.05) -> None:
        self.rest_url = rest_url
        self.wechat_url = wechat_url
        self.wechat_token = wechat_token
        self.wechat_account = wechat_account
        self.residents = residents
        self.pause = pause
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    @property
    def replies(self) -> list[Reply]:
        return sorted((r for p in self.residents for r in p.replies), key=lambda r: r.started)

    async def __aenter__(self) -> Traffic:
        connector = aiohttp.TCPConnector(limit=len(self.residents) + 4)
        self._session = aiohttp.ClientSession(timeout=TIMEOUT, connector=connector)
        self._tasks = [asyncio.create_task(self._run(p)) for p in self.residents]
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def stop(self) -> None:
        self._stop.set()
        if self._tasks:
            await asyncio.gather(*self._tasks)
            self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self, resident: Resident) -> None:
        assert self._session is not None
        for text in itertools.cycle(resident.script):
            if self._stop.is_set():
                return
            if resident.channel == "wechat":
                reply = await wechat_turn(self._session, self.wechat_url, self.wechat_token,
                                          self.wechat_account, resident.sender, text)
            else:
                reply = await rest_turn(self._session, self.rest_url, resident.sender, text)
            resident.replies.append(reply)
            await asyncio.sleep(self.pause)
