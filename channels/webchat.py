"""The web chat widget's channel: ``/webhooks/webchat/`` on the Rasa server.

=====================================  =========================================================
``GET  /webhooks/webchat/``             liveness
``GET  /webhooks/webchat/widget.js``    the widget: socket.io client + widget code + its CSS in
                                        one file (the one ``<script>`` a portal embeds)
``GET  /webhooks/webchat/widget.css``   the CSS alone (for the unbundled widget source)
``GET  /webhooks/webchat/vendor/…``     the vendored socket.io client and its licence
``POST /webhooks/webchat/feedback``     thumbs up/down on an answer → a Redis stream
``/webhooks/webchat/socket.io/``        socket.io (Engine.IO v4), Rasa's event protocol
=====================================  =========================================================

Why a socket.io server of its own instead of Rasa's ``socketio`` channel: the stock channel does
not await ``AsyncServer.enter_room`` (a coroutine in python-socketio 5.x), so with
``session_persistence`` no answer ever reaches the browser; it passes any ``session_id`` and any
text to Rasa unchecked; and it splits answers at blank lines, which separates an answer from
its source line. This one speaks the same events (``session_request``/``session_confirm``,
``user_uttered``/``bot_uttered``), validates the session id, cleans every message with
:func:`channels.text.clean_message` like the other channels, sends each bot message whole with a
``metadata`` block (``message_id``, ``kb_id``, ``response``) for feedback, and names itself
``webchat`` so responses can have ``channel: webchat`` variants.

Every message passes the gate (:mod:`channels.gate`: rate limit, word list, an agent holding
the conversation, the emergency notice) before Rasa, as on every channel; a held message gets
``bot_uttered`` ``{"metadata": {"status": "held"}}`` (nothing to show, the agent answers), so
the widget stops its typing indicator.

Feedback (``{"sender", "message_id" | "answer_hash", "kb_id"?, "rating": "up" | "down"}``) is
validated strictly (4xx with ``{"error", "detail"}``), rate limited per resident, and appended
to the stream ``<REDIS_KEY_PREFIX>:app:feedback`` with the sender hashed; a repeated vote on the
same answer is not recorded twice (see :class:`FeedbackStore`). Every key has a TTL.

Protocol parsing, rendering and validation are pure functions, tested without a server.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels import gate
from channels.rest import BadRequest
from channels.text import clean_message
from privacy import mask_text

logger = logging.getLogger(__name__)

CHANNEL = "webchat"
WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "widget"
DEFAULT_SOCKETIO_PATH = "/webhooks/webchat/socket.io"
DEFAULT_MAX_MESSAGE_CHARS = 2000
DEFAULT_FEEDBACK_TTL_DAYS = 180
DEFAULT_FEEDBACK_PER_MINUTE = 30
DEFAULT_MESSAGES_PER_MINUTE = 30
DEFAULT_WIDGET_MAX_AGE = 300
FEEDBACK_MAX_BYTES = 4096
FEEDBACK_STREAM_MAXLEN = 100_000
SOCKET_BUFFER_BYTES = 64 * 1024

_SESSION_ID = re.compile(r"^[A-Za-z0-9_.:@\-]{1,128}$")
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_\-]{8,64}$")
_ANSWER_HASH = re.compile(r"^[0-9a-f]{8,64}$")
_KB_ID = re.compile(r"^[\w\-.#:/]{1,128}$")
_RESPONSE = re.compile(r"^[a-z0-9_]{1,100}$")
_FEEDBACK_FIELDS = frozenset({"sender", "message_id", "answer_hash", "kb_id", "rating"})
_RATINGS = frozenset({"up", "down"})
_META_VALUE_MAX = 200


# --- session and messages (pure) -------------------------------------------------------------


def valid_session_id(value: object) -> str | None:
    """``value`` if it can name a conversation (1-128 letters, digits or ``_ . : @ -``)."""
    if isinstance(value, str) and _SESSION_ID.fullmatch(value):
        return value
    return None


def new_session_id() -> str:
    return uuid.uuid4().hex


def new_message_id() -> str:
    """16 URL-safe characters, unique per bot message; the widget sends it back as feedback."""
    return secrets.token_urlsafe(12)


@dataclass(frozen=True)
class Utterance:
    """A resident's message from the widget, validated and cleaned."""

    session_id: str
    text: str
    too_long: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


def parse_user_uttered(
    data: object, session_id: str | None, *, max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS
) -> Utterance | None:
    """The message of a ``user_uttered`` event, or None if there is nothing to pass to Rasa.

    ``session_id`` is the one this socket was confirmed with; the event's own ``session_id``
    is not trusted (a socket cannot write into another conversation). Without a confirmed
    session, or without a text message, nothing goes to Rasa.
    """
    if session_id is None or not isinstance(data, Mapping):
        return None
    message = data.get("message")
    if not isinstance(message, str):
        return None
    cleaned = clean_message(message, max_message_chars)
    if not cleaned.text:
        return None
    metadata = clean_metadata(data.get("metadata"))
    return Utterance(session_id, cleaned.text, cleaned.too_long, metadata)


def clean_metadata(raw: object) -> dict[str, Any]:
    """The widget's metadata: at most 20 short scalar values; anything else is dropped."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            return {}
    if not isinstance(raw, Mapping):
        return {}
    cleaned: dict[str, Any] = {}
    for key, value in list(raw.items())[:20]:
        if not isinstance(key, str) or not _KB_ID.fullmatch(key):
            continue
        if isinstance(value, bool | int | float) or value is None:
            cleaned[key] = value
        elif isinstance(value, str):
            cleaned[key] = value[:_META_VALUE_MAX]
    return cleaned


def _buttons(value: object) -> list[dict[str, str]]:
    if not isinstance(value, list):
        return []
    out = []
    for button in value:
        if not isinstance(button, Mapping) or not isinstance(button.get("title"), str):
            continue
        if isinstance(button.get("payload"), str) and button["payload"]:
            out.append({"content_type": "text", "title": button["title"],
                        "payload": button["payload"]})
        elif isinstance(button.get("url"), str) and button["url"].startswith(("https://", "http://")):
            out.append({"content_type": "text", "title": button["title"], "url": button["url"]})
    return out


def render_bot_message(message: Mapping[str, Any], message_id: str) -> dict[str, Any] | None:
    """One Rasa bot message as the ``bot_uttered`` payload, or None if it has nothing to show.

    Rasa's socket.io shapes (``text``, ``quick_replies``, ``attachment``, ``custom``), sent
    whole (an answer and its "依据：" line stay together), plus ``metadata`` with the message
    id, the knowledge entry (``kb_id``) and the response name. Other template parameters
    (``answer``, ``spoken``, ``source`` …) are not forwarded.
    """
    payload: dict[str, Any] = {}
    text = message.get("text")
    if isinstance(text, str) and text.strip():
        payload["text"] = text.strip()
    replies = _buttons(message.get("quick_replies")) + _buttons(message.get("buttons"))
    if replies:
        payload["quick_replies"] = replies
    image = message.get("image")
    attachment = message.get("attachment")
    if isinstance(image, str) and image:
        payload["attachment"] = {"type": "image", "payload": {"src": image}}
    elif isinstance(attachment, Mapping) and attachment:
        payload["attachment"] = dict(attachment)
    elif isinstance(attachment, str) and attachment:
        payload["attachment"] = {"type": "image", "payload": {"src": attachment}}
    custom = message.get("custom")
    if isinstance(custom, Mapping) and custom:
        payload["custom"] = dict(custom)
    if not payload:
        return None
    metadata: dict[str, Any] = {"message_id": message_id}
    kb_id = message.get("kb_id")
    if isinstance(kb_id, str) and _KB_ID.fullmatch(kb_id):
        metadata["kb_id"] = kb_id
    name = message.get("utter_action") or message.get("template_name") or message.get("response")
    if isinstance(name, str) and _RESPONSE.fullmatch(name):
        metadata["response"] = name
    payload["metadata"] = metadata
    return payload


# --- feedback (pure) -------------------------------------------------------------------------


@dataclass(frozen=True)
class Feedback:
    """A validated thumbs up/down on one answer."""

    sender: str
    rating: str
    message_id: str | None = None
    answer_hash: str | None = None
    kb_id: str | None = None

    @property
    def resident(self) -> str:
        return resident_ref(self.sender)

    @property
    def message_ref(self) -> str:
        """What the vote is about: the message id, else ``h-`` and the answer's hash."""
        return self.message_id or f"h-{self.answer_hash}"


def resident_ref(sender_id: str) -> str:
    """A stable, non-reversible reference to a resident (the same as the action server's
    ``actions.analytics.resident_ref``, so feedback and unanswered questions can be joined)."""
    return hashlib.sha256(sender_id.encode("utf-8")).hexdigest()[:16]


def parse_feedback(body: bytes, *, max_body_bytes: int = FEEDBACK_MAX_BYTES) -> Feedback:
    """Validates a feedback request body; raises :class:`BadRequest` with a clear reason."""
    if len(body) > max_body_bytes:
        raise BadRequest(413, "body_too_large", f"request body exceeds {max_body_bytes} bytes")
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadRequest(400, "invalid_json", "request body must be a UTF-8 JSON object") from None
    if not isinstance(payload, dict):
        raise BadRequest(400, "invalid_json", "request body must be a JSON object")
    unknown = sorted(str(k) for k in payload if k not in _FEEDBACK_FIELDS)
    if unknown:
        raise BadRequest(400, "unknown_field", f"unknown field(s): {', '.join(unknown)[:200]}")

    sender = payload.get("sender")
    if sender is None or sender == "":
        raise BadRequest(400, "missing_sender", "field 'sender' is required")
    if valid_session_id(sender) is None:
        raise BadRequest(
            400, "invalid_sender", "'sender' must be 1-128 letters, digits or . : @ _ -"
        )

    rating = payload.get("rating")
    if rating is None:
        raise BadRequest(400, "missing_rating", "field 'rating' is required")
    if not isinstance(rating, str) or rating not in _RATINGS:
        raise BadRequest(400, "invalid_rating", "'rating' must be \"up\" or \"down\"")

    message_id = payload.get("message_id")
    answer_hash = payload.get("answer_hash")
    if message_id is None and answer_hash is None:
        raise BadRequest(
            400, "missing_message", "one of 'message_id' or 'answer_hash' is required"
        )
    if message_id is not None and (
        not isinstance(message_id, str) or not _MESSAGE_ID.fullmatch(message_id)
    ):
        raise BadRequest(400, "invalid_message_id", "'message_id' must be 8-64 letters, "
                         "digits, _ or -")
    if answer_hash is not None and (
        not isinstance(answer_hash, str) or not _ANSWER_HASH.fullmatch(answer_hash)
    ):
        raise BadRequest(400, "invalid_answer_hash", "'answer_hash' must be 8-64 hex digits")

    kb_id = payload.get("kb_id")
    if kb_id is not None and (not isinstance(kb_id, str) or not _KB_ID.fullmatch(kb_id)):
        raise BadRequest(400, "invalid_kb_id", "'kb_id' must be a knowledge entry id")
    return Feedback(
        sender=sender, rating=rating, message_id=message_id,
        answer_hash=None if message_id else answer_hash, kb_id=kb_id,
    )


# --- static files (pure, plus a lazy cache) --------------------------------------------------

_SOURCE_MAP = re.compile(rb"\n?//# sourceMappingURL=\S+\s*$")


def build_bundle(vendor_js: bytes, widget_js: bytes, widget_css: bytes) -> bytes:
    """The one file a portal embeds: the socket.io client, the CSS and the widget, in a function
    scope, so neither ``io`` nor AMD/CommonJS globals of the host page are touched: the
    client's UMD wrapper sees no ``define``/``module``/``exports`` and puts ``io`` on a local
    object. Only ``window.MinshengWidget`` is global."""
    vendor = _SOURCE_MAP.sub(b"", vendor_js.rstrip())
    css = json.dumps(widget_css.decode("utf-8"), ensure_ascii=False).replace("</", "<\\/")
    return b"".join([
        b"/*! MinshengWidget bundle: socket.io-client (MIT, see vendor/socket.io.LICENSE) "
        b"+ minsheng-widget.js */\n",
        b"(function () {\n",
        b"var define, module, exports, globalThis = {};\n",
        vendor,
        b"\n;var io = globalThis.io;\n",
        b"var MINSHENG_WIDGET_CSS = ", css.encode("utf-8"), b";\n",
        widget_js.rstrip(),
        b"\n}).call(window);\n",
    ])


GZIP_MIN_BYTES = 1024


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str
    gzipped: bytes | None = None  # the gzip encoding, for files worth compressing

    @property
    def gzip_etag(self) -> str:
        """The gzip representation's own strong ETag (a different body, a different tag)."""
        return self.etag[:-1] + '-gz"'


def make_asset(body: bytes, content_type: str) -> Asset:
    gzipped = gzip.compress(body, 9, mtime=0) if len(body) >= GZIP_MIN_BYTES else None
    if gzipped is not None and len(gzipped) >= len(body):
        gzipped = None
    return Asset(body, content_type, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', gzipped)


def accepts_gzip(accept_encoding: str | None) -> bool:
    """True if an ``Accept-Encoding`` header allows gzip (``gzip``, ``x-gzip`` or ``*`` with a
    q-value above 0; an explicit ``gzip;q=0`` refuses it whatever ``*`` says)."""
    if not accept_encoding:
        return False
    weights: dict[str, float] = {}
    for part in accept_encoding.split(",")[:20]:
        name, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        weights[name.strip().lower()] = q
    for name in ("gzip", "x-gzip"):
        if name in weights:
            return weights[name] > 0
    return weights.get("*", 0.0) > 0


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """True if the ``If-None-Match`` header names ``etag`` (or ``*``); weak tags compare equal."""
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags


_FILES: dict[str, tuple[tuple[str, ...], str]] = {
    # name served → (files under web/widget/, content type)
    "widget.js": (("vendor/socket.io.min.js", "minsheng-widget.js", "minsheng-widget.css"),
                  "text/javascript; charset=utf-8"),
    "widget.css": (("minsheng-widget.css",), "text/css; charset=utf-8"),
    "minsheng-widget.js": (("minsheng-widget.js",), "text/javascript; charset=utf-8"),
    "vendor/socket.io.min.js": (("vendor/socket.io.min.js",), "text/javascript; charset=utf-8"),
    "vendor/socket.io.LICENSE": (("vendor/socket.io.LICENSE",), "text/plain; charset=utf-8"),
}


class AssetCache:
    """Reads the widget files on first request (never at import) and again when they change."""

    def __init__(self, directory: Path = WEB_DIR) -> None:
        self.directory = directory
        self._cache: dict[str, tuple[tuple[int, ...], Asset]] = {}

    def get(self, name: str) -> Asset | None:
        spec = _FILES.get(name)
        if spec is None:
            return None
        files, content_type = spec
        paths = [self.directory / f for f in files]
        try:
            stamp = tuple(p.stat().st_mtime_ns for p in paths)
        except OSError:
            logger.error("webchat: widget file missing under %s", self.directory)
            return None
        cached = self._cache.get(name)
        if cached is not None and cached[0] == stamp:
            return cached[1]
        contents = [p.read_bytes() for p in paths]
        body = build_bundle(*contents) if name == "widget.js" else contents[0]
        asset = make_asset(body, content_type)
        self._cache[name] = (stamp, asset)
        return asset


# --- Redis -----------------------------------------------------------------------------------

# KEYS: vote key, rate key, stream. ARGV: rating, vote TTL, limit per minute, stream TTL,
# stream max length, then the entry's field/value pairs.
# Returns -1 over the rate limit, 0 for a repeated vote, 1 recorded, 2 a changed vote recorded.
_RECORD = """
local count = redis.call('INCR', KEYS[2])
if count == 1 then redis.call('EXPIRE', KEYS[2], 60) end
if count > tonumber(ARGV[3]) then return -1 end
local previous = redis.call('GET', KEYS[1])
if previous == ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
if previous then
  fields[#fields + 1] = 'replaces'
  fields[#fields + 1] = previous
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*', unpack(fields))
redis.call('EXPIRE', KEYS[3], tonumber(ARGV[4]))
if previous then return 2 end
return 1
"""

RECORDED, DUPLICATE, CHANGED, RATE_LIMITED = "recorded", "duplicate", "changed", "rate_limited"
_OUTCOMES = {1: RECORDED, 0: DUPLICATE, 2: CHANGED, -1: RATE_LIMITED}
_KEY_PART = re.compile(r"^[A-Za-z0-9_\-.]{1,128}$")


class StoreUnavailable(RuntimeError):
    """Redis is not configured or did not answer."""


class FeedbackStore:
    """Feedback in Redis: the stream ``<prefix>:app:feedback`` and, under it, one key per vote
    (``…:feedback:vote:<resident>:<message>``, so a vote counts once) and one rate counter per
    resident (``…:feedback:rate:<resident>``, 60 s). All keys have a TTL; the client is made
    on first use, with socket timeouts."""

    def __init__(
        self,
        redis_url: str | None,
        prefix: str,
        *,
        ttl_seconds: int = DEFAULT_FEEDBACK_TTL_DAYS * 86400,
        per_minute: int = DEFAULT_FEEDBACK_PER_MINUTE,
        socket_timeout: float = 2.0,
    ) -> None:
        if not prefix or prefix.endswith(":"):
            raise ValueError("prefix must be non-empty and must not end with ':'")
        self.redis_url = redis_url
        self.prefix = prefix
        self.ttl_seconds = int(ttl_seconds)
        self.per_minute = int(per_minute)
        self.socket_timeout = socket_timeout
        self._client: Any = None
        self._script: Any = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **options: Any) -> FeedbackStore:
        return cls(environ.get("REDIS_URL") or None,
                   environ.get("REDIS_KEY_PREFIX") or "minsheng", **options)

    @property
    def stream(self) -> str:
        return f"{self.prefix}:app:feedback"

    def key(self, kind: str, *parts: str) -> str:
        """The one place keys are made: ``<prefix>:app:feedback:<kind>:<part>…``."""
        for part in (kind, *parts):
            if not _KEY_PART.match(part):
                raise ValueError(f"unsafe key part: {part!r}")
        return ":".join([self.stream, kind, *parts])

    def _redis(self) -> Any:
        if self.redis_url is None:
            raise StoreUnavailable("REDIS_URL is not set")
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.Redis.from_url(
                self.redis_url,
                socket_timeout=self.socket_timeout,
                socket_connect_timeout=self.socket_timeout,
                decode_responses=True,
            )
            self._script = self._client.register_script(_RECORD)
        return self._client

    async def record(self, feedback: Feedback, now: float | None = None) -> str:
        """Stores one vote; returns ``recorded``, ``changed``, ``duplicate`` or ``rate_limited``."""
        import redis

        self._redis()
        # ids come from the client: no number kept in clear ("_" masks, as it goes in a key)
        message = mask_text(feedback.message_ref).replace("*", "_")
        entry = {
            "resident": feedback.resident,
            "message": message,
            "kb_id": mask_text(feedback.kb_id or ""),
            "rating": feedback.rating,
            "channel": CHANNEL,
            "ts": str(int(now if now is not None else time.time())),
        }
        args: list[str | int] = [feedback.rating, self.ttl_seconds, self.per_minute,
                                 self.ttl_seconds, FEEDBACK_STREAM_MAXLEN]
        for name, value in entry.items():
            args += [name, value]
        try:
            outcome = await self._script(
                keys=[self.key("vote", feedback.resident, message),
                      self.key("rate", feedback.resident), self.stream],
                args=args,
            )
        except (redis.RedisError, OSError) as error:
            raise StoreUnavailable(f"redis: {error.__class__.__name__}: {error}") from None
        return _OUTCOMES[int(outcome)]

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
            await client.connection_pool.disconnect()


# --- rate limit of socket messages (pure) ------------------------------------------------------


def allow_message(session: dict[str, Any], now: float, per_minute: int) -> bool:
    """A fixed one-minute window per socket, kept in its socket.io session dict."""
    window = session.get("window", 0.0)
    if now - window >= 60:
        session["window"], session["count"] = now, 0
    session["count"] = session.get("count", 0) + 1
    return session["count"] <= per_minute


# --- Rasa channel ----------------------------------------------------------------------------


class WebChatOutput(OutputChannel):
    """Sends each bot message whole, as one ``bot_uttered`` event, to the conversation's room
    (every tab of the same session)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    def __init__(self, sio: Any, bot_message_evt: str) -> None:
        self.sio = sio
        self.bot_message_evt = bot_message_evt

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        payload = render_bot_message(message, new_message_id())
        if payload is not None:
            await self.sio.emit(self.bot_message_evt, payload, room=recipient_id)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text, **kwargs})

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self.send_response(recipient_id, {"text": text, "buttons": buttons, **kwargs})

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"image": image})

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        await self.send_response(recipient_id, {"custom": json_message})


class _SocketBlueprint(Blueprint):
    """Attaches the socket.io server to the Sanic app under its own route name, next to (not
    instead of) Rasa's ``socketio`` channel."""

    def __init__(self, sio: Any, path: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ctx.sio = sio
        self.ctx.socketio_path = "/" + path.strip("/") + "/"

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        app.add_route(
            self.ctx.sio.handle_request,
            self.ctx.socketio_path,
            methods=["GET", "POST", "OPTIONS"],
            name="minsheng_webchat_socketio",
        )
        app.enable_websocket()
        super().register(app, options)


class WebChatInput(InputChannel):
    """The web chat widget's channel (see the module docstring)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WebChatInput:
        credentials = credentials or {}
        return cls(
            socketio_path=str(credentials.get("socketio_path", DEFAULT_SOCKETIO_PATH)),
            max_message_chars=int(
                credentials.get("max_message_chars", DEFAULT_MAX_MESSAGE_CHARS)),
            messages_per_minute=int(
                credentials.get("messages_per_minute", DEFAULT_MESSAGES_PER_MINUTE)),
            feedback_ttl_days=int(
                credentials.get("feedback_ttl_days", DEFAULT_FEEDBACK_TTL_DAYS)),
            feedback_per_minute=int(
                credentials.get("feedback_per_minute", DEFAULT_FEEDBACK_PER_MINUTE)),
            widget_max_age=int(credentials.get("widget_max_age", DEFAULT_WIDGET_MAX_AGE)),
        )

    def __init__(
        self,
        socketio_path: str = DEFAULT_SOCKETIO_PATH,
        max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS,
        messages_per_minute: int = DEFAULT_MESSAGES_PER_MINUTE,
        feedback_ttl_days: int = DEFAULT_FEEDBACK_TTL_DAYS,
        feedback_per_minute: int = DEFAULT_FEEDBACK_PER_MINUTE,
        widget_max_age: int = DEFAULT_WIDGET_MAX_AGE,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if not re.match(r"^/[A-Za-z0-9_\-/.]+$", socketio_path):
            raise ValueError(f"webchat channel: bad socketio_path {socketio_path!r}")
        for name, value in (("max_message_chars", max_message_chars),
                            ("messages_per_minute", messages_per_minute),
                            ("feedback_ttl_days", feedback_ttl_days),
                            ("feedback_per_minute", feedback_per_minute)):
            if value < 1:
                raise ValueError(f"webchat channel: {name} must be > 0 (got {value})")
        if widget_max_age < 0:
            raise ValueError("webchat channel: widget_max_age must be >= 0")
        self.socketio_path = socketio_path
        self.max_message_chars = max_message_chars
        self.messages_per_minute = messages_per_minute
        self.widget_max_age = widget_max_age
        self.user_message_evt = "user_uttered"
        self.bot_message_evt = "bot_uttered"
        self.assets = AssetCache()
        self.feedback = FeedbackStore.from_env(
            environ if environ is not None else os.environ,
            ttl_seconds=feedback_ttl_days * 86400,
            per_minute=feedback_per_minute,
        )
        self.sio: Any = None
        self._app: Any = None

    def get_output_channel(self) -> OutputChannel | None:
        if self.sio is None:
            return None
        return WebChatOutput(self.sio, self.bot_message_evt)

    def _serve(self, request: Request, name: str) -> HTTPResponse:
        asset = self.assets.get(name)
        if asset is None:
            return response.json({"error": "not_found", "detail": "no such file"}, status=404)
        # widget.js is ~100 KB, ~30 KB gzipped: residents on phones get the small one even
        # when no proxy in front of Rasa compresses.
        use_gzip = asset.gzipped is not None and accepts_gzip(
            request.headers.get("accept-encoding"))
        body, etag = (asset.gzipped, asset.gzip_etag) if use_gzip else (asset.body, asset.etag)
        headers = {
            "ETag": etag,
            "Cache-Control": f"public, max-age={self.widget_max_age}",
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
            # Portals are other sites. CORS headers come from the Rasa server (--cors), as for
            # every other route: setting them here as well would send them twice.
            "Cross-Origin-Resource-Policy": "cross-origin",
        }
        if etag_matches(request.headers.get("if-none-match"), etag):
            return response.empty(status=304, headers=headers)
        if use_gzip:
            headers["Content-Encoding"] = "gzip"
        return response.raw(body, content_type=asset.content_type, headers=headers)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        from socketio import AsyncServer

        # CORS is left to the Rasa server (`rasa run --cors`), as for Rasa's own channel.
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[],
                          max_http_buffer_size=SOCKET_BUFFER_BYTES)
        self.sio = sio
        webhook = _SocketBlueprint(sio, self.socketio_path, "minsheng_webchat_webhook", __name__)

        @webhook.listener("before_server_start")
        async def remember_app(app: Sanic, *_: Any) -> None:
            self._app = app  # the gate reads the domain's responses from app.ctx.agent

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/widget.js", methods=["GET", "HEAD"])
        async def widget_js(request: Request) -> HTTPResponse:
            return self._serve(request, "widget.js")

        @webhook.route("/widget.css", methods=["GET", "HEAD"])
        async def widget_css(request: Request) -> HTTPResponse:
            return self._serve(request, "widget.css")

        @webhook.route("/minsheng-widget.js", methods=["GET", "HEAD"])
        async def widget_source(request: Request) -> HTTPResponse:
            return self._serve(request, "minsheng-widget.js")

        @webhook.route("/vendor/<name:str>", methods=["GET", "HEAD"])
        async def vendor(request: Request, name: str) -> HTTPResponse:
            return self._serve(request, f"vendor/{name}")

        @webhook.route("/feedback", methods=["POST"])
        async def feedback(request: Request) -> HTTPResponse:
            try:
                parsed = parse_feedback(request.body or b"")
            except BadRequest as error:
                return response.json(error.as_json(), status=error.status)
            try:
                outcome = await self.feedback.record(parsed)
            except StoreUnavailable as error:
                logger.warning("webchat: feedback not stored: %s", error)
                return response.json(
                    {"error": "unavailable", "detail": "feedback cannot be stored right now"},
                    status=503,
                )
            if outcome == RATE_LIMITED:
                return response.json(
                    {"error": "rate_limited", "detail": "too much feedback; retry in a minute"},
                    status=429, headers={"Retry-After": "60"},
                )
            return response.json({"status": outcome}, status=201 if outcome != DUPLICATE else 200)

        @sio.on("connect")
        async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
            return True

        @sio.on("session_request")
        async def session_request(sid: str, data: Any = None, *_: Any) -> None:
            requested = data.get("session_id") if isinstance(data, Mapping) else None
            session_id = valid_session_id(requested) or new_session_id()
            session = await sio.get_session(sid)
            previous = session.get("session_id")
            if previous and previous != session_id:
                await sio.leave_room(sid, previous)
            session["session_id"] = session_id
            await sio.save_session(sid, session)
            await sio.enter_room(sid, session_id)
            await sio.emit("session_confirm", session_id, room=sid)

        @sio.on(self.user_message_evt)
        async def handle_message(sid: str, data: Any = None, *_: Any) -> None:
            session = await sio.get_session(sid)
            utterance = parse_user_uttered(
                data, session.get("session_id"), max_message_chars=self.max_message_chars
            )
            if utterance is None:
                logger.info("webchat: ignored a user_uttered event without a confirmed "
                            "session or a text message (socket %s)", sid)
                return
            allowed = allow_message(session, time.monotonic(), self.messages_per_minute)
            await sio.save_session(sid, session)
            if not allowed:
                await sio.emit(self.bot_message_evt,
                               {"metadata": {"error": "rate_limited"}}, room=sid)
                return
            output = WebChatOutput(sio, self.bot_message_evt)
            # Rate limit, word list, hold, emergency notice (channels/gate.py).
            verdict = await gate.screen(self._app, output, utterance.session_id, CHANNEL,
                                        utterance.text, utterance.metadata)
            if verdict.action != gate.PASS:
                if verdict.action == gate.HOLD:
                    # An agent holds the conversation and answers it; the bot stays silent.
                    # Nothing to show: this only stops the widget's typing indicator.
                    await sio.emit(self.bot_message_evt, {"metadata": {"status": "held"}},
                                   room=sid)
                return
            message = UserMessage(
                utterance.text,
                output,
                utterance.session_id,
                input_channel=CHANNEL,
                metadata=utterance.metadata,
            )
            try:
                await on_new_message(message)
            except Exception:
                logger.exception("webchat: handling a message from %s failed",
                                  utterance.session_id)
                await sio.emit(self.bot_message_evt,
                               {"metadata": {"error": "unavailable"}}, room=sid)

        return webhook
