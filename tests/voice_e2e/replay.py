"""Replays a recorded call (tests/fixtures/voice/*.json) against a live stack, the way the
voice gateway sends it, and checks every answer.

A fixture is ``{"name", "steps": [...]}``; each step is one gateway request:

- ``{"do": "validate"}``, ``{"do": "create"}``, ``{"do": "refresh"}``,
  ``{"do": "disconnect", "body": {...}}``;
- ``{"do": "activities", "activities": [...]}`` (``"raw": "..."`` sends a body as it is,
  ``"token": "..."`` another bearer token);
- ``{"do": "concurrent", "requests": [[...], [...]], "stagger_ms": n, "expect": [{...}, ...]}``:
  the second request leaves ``stagger_ms`` after the first (barge-in).

``expect`` (all optional): ``status`` (200), ``error`` (the 4xx code), ``says`` (response
names, rendered from their ``channel: voice`` variants; ``{"response", "slots"}`` fills
placeholders), ``contains`` / ``not_contains`` (fragments of what is said), ``speech`` (something
speakable is said), ``events`` (the event names, in order), ``empty`` (no activities),
``same_as_step`` (the very same answer as an earlier step), ``repeats_step`` (ends with what
an earlier step said), ``transfer`` (``reason``,
``summary_contains``), ``hangup`` (the reason).
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import aiohttp

from channels.voice.render import CallContext, RenderSettings, VoiceCopy, build_voice_response
from tests.support import as_sent, domain

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "voice"
TIMEOUT = aiohttp.ClientTimeout(total=60)


def fixtures() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def expected_speech(says: list[Any], transfer_target: str) -> list[str]:
    """What the gateway should hear for these responses: their voice variants, rendered."""
    responses = domain()["responses"]
    messages: list[dict[str, Any]] = []
    for item in says:
        name, slots = (item, {}) if isinstance(item, str) else (item["response"], item["slots"])
        variants = responses[name]
        variant = as_sent(next((v for v in variants if v.get("channel") == "voice"),
                               variants[0]))
        text = variant.get("text", "")
        for slot, value in slots.items():
            text = text.replace("{" + slot + "}", value)
        message: dict[str, Any] = {"text": text}
        if variant.get("buttons"):
            message["buttons"] = variant["buttons"]
        messages.append(message)
        if variant.get("custom"):
            messages.append({"custom": variant["custom"]})
    rendered = build_voice_response(
        messages, VoiceCopy.from_responses(responses),
        RenderSettings(transfer_target=transfer_target), CallContext(),
    )
    return [a["text"] for a in rendered.activities if a["type"] == "message"]


@dataclass
class Call:
    """One call of the gateway to a live voice channel."""

    bot_url: str
    token: str
    conversation: str = field(default_factory=lambda: f"call-{uuid.uuid4()}")
    urls: dict[str, str] = field(default_factory=dict)
    replies: list[Any] = field(default_factory=list)

    def _url(self, which: str) -> str:
        return urljoin(self.bot_url, self.urls[which])

    async def send(
        self, session: aiohttp.ClientSession, step: dict[str, Any], delay: float = 0.0
    ) -> tuple[int, Any]:
        if delay:
            await asyncio.sleep(delay)
        do = step["do"]
        token = step.get("token", self.token)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        method, url = "POST", self.bot_url
        body: Any = {"conversation": self.conversation}
        if do == "validate":
            method, body = "GET", None
        elif do in ("activities", "refresh", "disconnect"):
            url = self._url(f"{do}URL")
            body = {**body, **step.get("body", {})}
            if do == "activities":
                body["activities"] = step.get("activities", [])
        data = step["raw"].encode() if "raw" in step else (
            None if body is None else json.dumps(body, ensure_ascii=False).encode()
        )
        async with session.request(method, url, data=data, headers=headers) as reply:
            payload = await reply.json(content_type=None)
            if do == "create" and reply.status == 200:
                self.urls = payload
            return reply.status, payload


def said(body: Any) -> str:
    activities = body.get("activities", []) if isinstance(body, dict) else []
    return "".join(a.get("text", "") for a in activities if a.get("type") == "message")


def check(expect: dict[str, Any], status: int, body: Any, call: Call, target: str,
          where: str) -> None:
    assert status == expect.get("status", 200), f"{where}: {status} {body}"
    if "error" in expect:
        assert body["error"] == expect["error"], where
        return
    if status != 200 or not isinstance(body, dict) or "activities" not in body:
        return
    activities = body["activities"]
    for activity in activities:
        assert activity.get("id") and activity.get("timestamp"), f"{where}: unstamped {activity}"
    text = said(body)
    events = [a["name"] for a in activities if a["type"] == "event"]
    if expect.get("empty"):
        assert activities == [], f"{where}: expected nothing, got {activities}"
    if "says" in expect:
        assert text == "".join(expected_speech(expect["says"], target)), f"{where}: {text}"
    for fragment in expect.get("contains", []):
        assert fragment in text, f"{where}: {fragment!r} not in {text!r}"
    for fragment in expect.get("not_contains", []):
        assert fragment not in text, f"{where}: {fragment!r} in {text!r}"
    if expect.get("speech"):
        assert text, f"{where}: nothing said"
        assert not re.search(r"[0-9]|https?:|www\.|\*\*|\|", text), f"{where}: {text!r}"
    if "repeats_step" in expect:
        earlier = said(call.replies[expect["repeats_step"]][1])
        assert earlier and text.endswith(earlier), f"{where}: {text!r} does not repeat {earlier!r}"
    if "events" in expect:
        assert events == expect["events"], f"{where}: events {events}"
    if "same_as_step" in expect:
        earlier = expect["same_as_step"]  # a step, or [step, request] of a concurrent step
        reply = call.replies[earlier[0]][earlier[1]] if isinstance(earlier, list) else (
            call.replies[earlier]
        )
        assert body == reply[1], f"{where}: not the same reply as step {earlier}"
    if "transfer" in expect:
        transfer = next(a for a in activities if a.get("name") == "transfer")
        params = transfer["activityParams"]
        assert params["transferTarget"] == target, where
        headers = {h["name"]: h["value"] for h in params["transferSipHeaders"]}
        assert headers["X-Minsheng-Reason"] == expect["transfer"]["reason"], where
        assert headers["X-Minsheng-Conversation"] == call.conversation, where
        for fragment in expect["transfer"].get("summary_contains", []):
            assert fragment in params["handoverReason"], f"{where}: {params['handoverReason']}"
    if "hangup" in expect:
        hangup = next(a for a in activities if a.get("name") == "hangup")
        assert hangup["activityParams"]["hangupReason"] == expect["hangup"], where


async def replay(fixture: dict[str, Any], bot_url: str, token: str, target: str) -> Call:
    """Plays every step of ``fixture``; returns the call with every reply."""
    call = Call(bot_url, token)
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        for index, step in enumerate(fixture["steps"]):
            where = f"{fixture['name']} step {index} ({step['do']})"
            if step["do"] == "concurrent":
                stagger = step.get("stagger_ms", 40) / 1000
                results = await asyncio.gather(*(
                    call.send(session, {"do": "activities", "activities": activities},
                              delay=i * stagger)
                    for i, activities in enumerate(step["requests"])
                ))
                call.replies.append(results)
                expectations = zip(results, step["expect"], strict=True)
                for n, ((status, body), expect) in enumerate(expectations):
                    check(expect, status, body, call, target, f"{where} request {n}")
                continue
            status, body = await call.send(session, step)
            call.replies.append((status, body))
            check(step.get("expect", {}), status, body, call, target, where)
    return call
