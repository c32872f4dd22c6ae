"""The AC Bot API (HTTP mode) on the wire: parsing and validation as pure functions.

Every request of the gateway carries ``Authorization: Bearer <token>`` and a UTF-8 JSON body.
Bodies are checked here before anything else sees them, so a malformed request gets a clear
4xx (:class:`BadRequest`) and never reaches Rasa or Redis.
"""

from __future__ import annotations

import hmac
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_BODY_BYTES = 64 * 1024
MAX_ACTIVITIES = 20
MAX_TEXT_CHARS = 4000  # what the gateway may send as one recognition; cleaning cuts further

# Ids the gateway sends are UUIDs; anything printable and short is accepted, nothing that
# could break a Redis key or a log line.
_ID = re.compile(r"^[A-Za-z0-9._:@\-]{1,128}$")
_DTMF = re.compile(r"^[0-9*#A-Da-d]{1,32}$")


class BadRequest(Exception):
    """A request the channel refuses, with the HTTP status and a machine-readable code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail

    def as_json(self) -> dict[str, str]:
        return {"error": self.code, "detail": self.detail}


@dataclass(frozen=True)
class Activity:
    """One activity the gateway posts: a recognised utterance or an event."""

    type: str  # "message" | "event" | anything else (ignored)
    id: str | None = None
    text: str = ""
    name: str = ""
    value: Any = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    language: str | None = None

    @property
    def confidence(self) -> float | None:
        """The speech-to-text confidence in [0, 1], or None when the gateway sent none.

        The spec puts it in ``parameters.confidence``; ``sttConfidence`` is accepted too. A value
        in (1, 100] is read as a percentage (some engines report 0-100).
        """
        for key in ("confidence", "sttConfidence"):
            raw = self.parameters.get(key)
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                continue
            value = float(raw)
            if math.isnan(value) or value < 0:
                return 0.0
            if value > 1:
                value = value / 100 if value <= 100 else 1.0
            return value
        return None


@dataclass(frozen=True)
class ActivitiesRequest:
    conversation: str
    activities: tuple[Activity, ...]


@dataclass(frozen=True)
class Disconnect:
    conversation: str
    reason: str = ""
    reason_code: str = ""


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def token_matches(header: str | None, expected: str) -> bool:
    """Compares the request's bearer token with the configured one in constant time."""
    token = bearer_token(header)
    if token is None or not expected:
        return False
    return hmac.compare_digest(token.encode("utf-8"), expected.encode("utf-8"))


def valid_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_ID.fullmatch(value))


def load_json_object(body: bytes | None, max_bytes: int = MAX_BODY_BYTES) -> dict[str, Any]:
    """Decodes a request body that must be a JSON object."""
    body = body or b""
    if len(body) > max_bytes:
        raise BadRequest(413, "body_too_large", f"request body exceeds {max_bytes} bytes")
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadRequest(400, "invalid_json", "request body must be a UTF-8 JSON object") from None
    if not isinstance(payload, dict):
        raise BadRequest(400, "invalid_json", "request body must be a JSON object")
    return payload


def _conversation(payload: Mapping[str, Any], path_conversation: str | None) -> str:
    conversation = payload.get("conversation", path_conversation)
    if conversation is None:
        raise BadRequest(400, "missing_conversation", "field 'conversation' is required")
    if not valid_id(conversation):
        raise BadRequest(
            400, "invalid_conversation", "'conversation' must be 1-128 letters, digits or ._:@-"
        )
    if path_conversation is not None and conversation != path_conversation:
        raise BadRequest(400, "conversation_mismatch", "'conversation' differs from the URL")
    return conversation


def parse_create_conversation(body: bytes | None, max_bytes: int = MAX_BODY_BYTES) -> str:
    """Validates a create-conversation request; returns the conversation id."""
    return _conversation(load_json_object(body, max_bytes), None)


def conversation_urls(
    conversation: str, expires_seconds: int, base_url: str = ""
) -> dict[str, Any]:
    """The create-conversation answer: where to post activities, refresh and disconnect.

    Without ``base_url`` the URLs are relative to the bot URL (``.../webhooks/voice/
    CreateConversation``), as in AudioCodes' own samples, so they survive a reverse proxy that
    mounts the assistant under a path prefix; with it they are absolute.
    """
    prefix = f"{base_url.rstrip('/')}/" if base_url else ""
    return {
        "activitiesURL": f"{prefix}conversation/{conversation}/activities",
        "refreshURL": f"{prefix}conversation/{conversation}/refresh",
        "disconnectURL": f"{prefix}conversation/{conversation}/disconnect",
        "expiresSeconds": int(expires_seconds),
    }


def _activity(raw: Any, index: int) -> Activity:
    where = f"activities[{index}]"
    if not isinstance(raw, dict):
        raise BadRequest(400, "invalid_activity", f"{where} must be an object")
    kind = raw.get("type")
    if not isinstance(kind, str) or not kind:
        raise BadRequest(400, "invalid_activity", f"{where}.type is required")
    activity_id = raw.get("id")
    if activity_id is not None and not valid_id(activity_id):
        raise BadRequest(400, "invalid_activity", f"{where}.id must be 1-128 letters or digits")
    parameters = raw.get("parameters")
    parameters = {} if parameters is None else parameters
    if not isinstance(parameters, dict):
        raise BadRequest(400, "invalid_activity", f"{where}.parameters must be an object")
    language = raw.get("language")
    language = language if isinstance(language, str) and len(language) <= 16 else None
    kind = kind.lower()
    if kind == "message":
        text = raw.get("text", "")
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise BadRequest(400, "invalid_activity", f"{where}.text must be a string")
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS]
        return Activity("message", activity_id, text=text, parameters=parameters,
                        language=language)
    if kind == "event":
        name = raw.get("name")
        if not isinstance(name, str) or not name or len(name) > 64:
            raise BadRequest(400, "invalid_activity", f"{where}.name is required for an event")
        return Activity("event", activity_id, name=name, value=raw.get("value"),
                        parameters=parameters, language=language)
    return Activity(kind[:32], activity_id, parameters=parameters, language=language)


def parse_activities(
    body: bytes | None, path_conversation: str, max_bytes: int = MAX_BODY_BYTES
) -> ActivitiesRequest:
    """Validates ``{"conversation": ..., "activities": [...]}`` posted to the activities URL."""
    payload = load_json_object(body, max_bytes)
    conversation = _conversation(payload, path_conversation)
    raw = payload.get("activities")
    if not isinstance(raw, list) or not raw:
        raise BadRequest(400, "missing_activities", "'activities' must be a non-empty list")
    if len(raw) > MAX_ACTIVITIES:
        raise BadRequest(400, "too_many_activities", f"at most {MAX_ACTIVITIES} activities")
    return ActivitiesRequest(
        conversation, tuple(_activity(item, i) for i, item in enumerate(raw))
    )


def parse_refresh(body: bytes | None, path_conversation: str) -> str:
    return _conversation(load_json_object(body), path_conversation)


def parse_disconnect(body: bytes | None, path_conversation: str) -> Disconnect:
    payload = load_json_object(body)
    conversation = _conversation(payload, path_conversation)
    reason = payload.get("reason")
    code = payload.get("reasonCode")
    return Disconnect(
        conversation,
        reason[:200] if isinstance(reason, str) else "",
        code[:64] if isinstance(code, str) else "",
    )


def dtmf_digits(value: Any) -> str | None:
    """The digits of a DTMF event (``"value": "123"``), or None if they are not digits."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not _DTMF.match(value.strip()):
        return None
    return value.strip().upper()


def no_input_count(value: Any) -> int:
    """How many times the no-input timeout expired (``"value": 1``); 1 when unreadable."""
    if isinstance(value, bool):
        return 1
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and value >= 1:
        return min(value, 99)
    return 1
