"""The 12345 hotline's voice gateway as a Rasa channel: ``/webhooks/voice/`` (AC Bot API, HTTP).

Routes (all but the health check need ``Authorization: Bearer $VOICE_BOT_TOKEN``):

=========================================================  =====================================
``GET  /webhooks/voice/``                                  health: ``{"status": "ok"}``
``GET  /webhooks/voice/CreateConversation``                bot validation
``POST /webhooks/voice/CreateConversation``                start a conversation: its URLs
``POST /webhooks/voice/conversation/<id>/activities``      the caller's activities -> the answer
``POST /webhooks/voice/conversation/<id>/refresh``         keep-alive
``POST /webhooks/voice/conversation/<id>/disconnect``      the call ended
=========================================================  =====================================

Answers: 400/413 for a malformed body, 401 for a wrong token, 404 for an unknown or expired
conversation, 503 when the token is not configured or Redis is unreachable; never a 500. When
Rasa itself fails, the caller hears an apology and is transferred to the hotline queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from redis.exceptions import RedisError
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels import gate
from channels.voice.policy import Pending, Thresholds, decide, summarize
from channels.voice.protocol import (
    MAX_BODY_BYTES,
    Activity,
    BadRequest,
    conversation_urls,
    parse_activities,
    parse_create_conversation,
    parse_disconnect,
    parse_refresh,
    token_matches,
    valid_id,
)
from channels.voice.render import (
    CallContext,
    Rendered,
    RenderSettings,
    VoiceCopy,
    build_error_response,
    build_voice_response,
)
from channels.voice.state import (
    DEFAULT_CALL_TTL,
    MemoryVoiceStore,
    RedisVoiceStore,
    VoiceStore,
    call_fields,
)

logger = logging.getLogger(__name__)

CHANNEL_NAME = "voice"
# Not a real number: deployments set VOICE_TRANSFER_TARGET to the hotline queue's SIP/tel URI.
PLACEHOLDER_TRANSFER_TARGET = "sip:hotline-queue@voice-gateway.invalid"
CONVERSATION_GRACE_SECONDS = 60


class VoiceOutput(CollectingOutputChannel):
    """Collects the bot's messages for one request; its name makes Rasa pick the
    ``channel: voice`` response variants."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        # one message stays one message: the renderer decides how it is spoken
        await self._persist_message(self._message(recipient_id, text=text))


def _number(credentials: Mapping[str, Any], key: str, default: float) -> float:
    value = credentials.get(key, default)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"voice channel: '{key}' must be a number (got {value!r})") from None


def _flag(credentials: Mapping[str, Any], key: str, default: bool) -> bool:
    value = credentials.get(key, default)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


@dataclass(frozen=True)
class VoiceSettings:
    """The channel's configuration: ``bot/credentials.yml`` plus the environment."""

    token: str | None
    transfer_target: str = PLACEHOLDER_TRANSFER_TARGET
    expires_seconds: int = 120
    max_speak_chars: int = 150
    ssml: bool = False
    language: str = "zh-CN"
    no_input_timeout_ms: int = 8000
    thresholds: Thresholds = field(default_factory=Thresholds)
    public_base_url: str = ""
    max_body_bytes: int = MAX_BODY_BYTES
    retry_wait_seconds: float = 3.0
    call_ttl: int = DEFAULT_CALL_TTL
    redis_url: str | None = None
    key_prefix: str = "minsheng"

    def __post_init__(self) -> None:
        if not 10 <= self.expires_seconds <= 3600:
            raise ValueError("voice channel: expires_seconds must be between 10 and 3600")
        if not 20 <= self.max_speak_chars <= 2000:
            raise ValueError("voice channel: max_speak_chars must be between 20 and 2000")
        if self.call_ttl < self.expires_seconds or self.max_body_bytes < 1024:
            raise ValueError("voice channel: call_ttl >= expires_seconds, max_body_bytes >= 1024")
        if not self.transfer_target.strip():
            raise ValueError("voice channel: the transfer target is empty")

    @classmethod
    def from_credentials(
        cls, credentials: Mapping[str, Any] | None, environ: Mapping[str, str]
    ) -> VoiceSettings:
        credentials = credentials or {}
        token_env = str(credentials.get("token_env") or "VOICE_BOT_TOKEN")
        target_env = str(credentials.get("transfer_target_env") or "VOICE_TRANSFER_TARGET")
        thresholds = Thresholds(
            confirm_below=_number(credentials, "confirm_below", 0.6),
            reject_below=_number(credentials, "reject_below", 0.3),
            failures_before_offer=int(_number(credentials, "failures_before_offer", 2)),
            no_input_offer_at=int(_number(credentials, "no_input_offer_at", 2)),
            no_input_hangup_at=int(_number(credentials, "no_input_hangup_at", 3)),
            max_message_chars=int(_number(credentials, "max_message_chars", 500)),
        )
        return cls(
            token=(environ.get(token_env) or "").strip() or None,
            transfer_target=(environ.get(target_env) or "").strip()
            or PLACEHOLDER_TRANSFER_TARGET,
            expires_seconds=int(_number(credentials, "expires_seconds", 120)),
            max_speak_chars=int(_number(credentials, "max_speak_chars", 150)),
            ssml=_flag(credentials, "ssml", False),
            language=str(credentials.get("language") or "zh-CN"),
            no_input_timeout_ms=int(_number(credentials, "no_input_timeout_ms", 8000)),
            thresholds=thresholds,
            public_base_url=str(credentials.get("public_base_url") or ""),
            max_body_bytes=int(_number(credentials, "max_body_bytes", MAX_BODY_BYTES)),
            retry_wait_seconds=_number(credentials, "retry_wait_seconds", 3.0),
            call_ttl=int(_number(credentials, "call_ttl", DEFAULT_CALL_TTL)),
            redis_url=environ.get("REDIS_URL") or None,
            key_prefix=environ.get("REDIS_KEY_PREFIX") or "minsheng",
        )

    def render_settings(self) -> RenderSettings:
        return RenderSettings(
            transfer_target=self.transfer_target,
            max_chars=self.max_speak_chars,
            ssml=self.ssml,
            language=self.language,
            session_params={
                "language": self.language,
                "bargeIn": True,
                "sendDTMF": True,
                "sendEventsToBot": ["noUserInput"],
                "userNoInputTimeoutMS": self.no_input_timeout_ms,
                "userNoInputRetries": self.thresholds.no_input_hangup_at,
            },
        )


def _error(status: int, code: str, detail: str) -> HTTPResponse:
    return response.json({"error": code, "detail": detail}, status=status)


def _stamp(activities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return [{**activity, "id": str(uuid.uuid4()), "timestamp": now} for activity in activities]


def _responses(request: Request) -> Mapping[str, Any]:
    agent = getattr(getattr(request.app, "ctx", None), "agent", None)
    domain = getattr(agent, "domain", None)
    responses = getattr(domain, "responses", None)
    return responses if isinstance(responses, Mapping) else {}


Handler = Callable[..., Awaitable[HTTPResponse]]


class VoiceInput(InputChannel):
    """AC Bot API (HTTP mode) input channel; see the module docstring for the routes."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> VoiceInput:
        return cls(VoiceSettings.from_credentials(credentials, os.environ))

    def __init__(self, settings: VoiceSettings, store: VoiceStore | None = None) -> None:
        self.settings = settings
        self.render_settings = settings.render_settings()
        self._store = store
        if not settings.token:
            logger.error(
                "voice channel: VOICE_BOT_TOKEN is not set, so /webhooks/voice/ answers 503 "
                "until it is set and Rasa restarts"
            )
        if settings.transfer_target == PLACEHOLDER_TRANSFER_TARGET:
            logger.warning(
                "voice channel: VOICE_TRANSFER_TARGET is not set; transfers go to the "
                "placeholder %s", PLACEHOLDER_TRANSFER_TARGET
            )

    @property
    def store(self) -> VoiceStore:
        if self._store is None:
            if self.settings.redis_url:
                self._store = RedisVoiceStore(
                    self.settings.redis_url, self.settings.key_prefix,
                    call_ttl=self.settings.call_ttl,
                )
            else:
                logger.warning("voice channel: no REDIS_URL; call state kept in this process")
                self._store = MemoryVoiceStore(call_ttl=self.settings.call_ttl)
        return self._store

    @property
    def conversation_ttl(self) -> int:
        return self.settings.expires_seconds + CONVERSATION_GRACE_SECONDS

    def _authorised(self, request: Request) -> HTTPResponse | None:
        if not self.settings.token:
            return _error(503, "not_configured", "the voice channel has no token configured")
        if not token_matches(request.headers.get("Authorization"), self.settings.token):
            reply = _error(401, "unauthorized", "a valid bearer token is required")
            reply.headers["WWW-Authenticate"] = "Bearer"
            return reply
        return None

    def _guarded(self, handler: Handler) -> Handler:
        """Authorises, then turns every failure into a clear 4xx or a 503, never a 500."""

        @functools.wraps(handler)
        async def guarded(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            refused = self._authorised(request)
            if refused is not None:
                return refused
            try:
                return await handler(request, *args, **kwargs)
            except BadRequest as error:
                return response.json(error.as_json(), status=error.status)
            except (RedisError, OSError, asyncio.TimeoutError) as error:
                logger.error("voice channel: state store unavailable: %r", error)
                return _error(503, "unavailable", "the call state store is unavailable")
            except Exception:
                logger.exception("voice channel: request failed")
                return _error(503, "unavailable", "the assistant could not answer; retry")

        return guarded

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = Blueprint("minsheng_voice_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.listener("after_server_stop")
        async def close_store(*_: Any) -> None:
            if self._store is not None:
                await self._store.close()

        async def validate(_: Request) -> HTTPResponse:
            return response.json({"type": "ac-bot-api", "success": True})

        async def create(request: Request) -> HTTPResponse:
            conversation = parse_create_conversation(request.body, self.settings.max_body_bytes)
            if not await self.store.create(conversation, self.conversation_ttl):
                logger.info("voice: conversation %s was created again", conversation)
            return response.json(
                conversation_urls(
                    conversation, self.settings.expires_seconds, self.settings.public_base_url
                )
            )

        async def activities(request: Request, conversation: str) -> HTTPResponse:
            _check_id(conversation)
            parsed = parse_activities(request.body, conversation, self.settings.max_body_bytes)
            if not await self.store.touch(conversation, self.conversation_ttl):
                return _error(404, "unknown_conversation", "no such conversation (expired?)")
            body = await self.handle_activities(
                request, conversation, parsed.activities, on_new_message
            )
            return response.json(body)

        async def refresh(request: Request, conversation: str) -> HTTPResponse:
            _check_id(conversation)
            parse_refresh(request.body, conversation)
            if not await self.store.touch(conversation, self.conversation_ttl):
                return _error(404, "unknown_conversation", "no such conversation (expired?)")
            return response.json({"expiresSeconds": self.settings.expires_seconds})

        async def disconnect(request: Request, conversation: str) -> HTTPResponse:
            _check_id(conversation)
            parsed = parse_disconnect(request.body, conversation)
            if not await self.store.end(conversation):
                return _error(404, "unknown_conversation", "no such conversation (expired?)")
            logger.info(
                "voice: conversation %s ended (%s)", conversation, parsed.reason_code or "-"
            )
            return response.json({})

        webhook.add_route(self._guarded(validate), "/CreateConversation", methods=["GET"])
        webhook.add_route(self._guarded(create), "/CreateConversation", methods=["POST"])
        for name, handler in (
            ("activities", activities), ("refresh", refresh), ("disconnect", disconnect),
        ):
            webhook.add_route(
                self._guarded(handler),
                f"/conversation/<conversation:str>/{name}",
                methods=["POST"],
                name=f"voice_{name}",
            )
        return webhook

    async def handle_activities(
        self,
        request: Request,
        conversation: str,
        activities: tuple[Activity, ...],
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> dict[str, Any]:
        """One activities request: dedup, the caller's turn through Rasa, the rendered answer."""
        store = self.store
        fresh: list[Activity] = []
        repeated: list[str] = []
        for activity in activities:
            if activity.id is None or await store.claim(conversation, activity.id):
                fresh.append(activity)
            else:
                repeated.append(activity.id)
        if not fresh:
            logger.info("voice: %s re-sent activities %s", conversation, repeated)
            return await self._earlier_reply(conversation, repeated[0])

        ids = [a.id for a in fresh if a.id]
        try:
            turn, in_flight = await store.begin_turn(conversation)
            try:
                rendered, fields = await self._take_turn(
                    request, conversation, fresh, on_new_message, barge_in=in_flight > 1
                )
            finally:
                latest = await store.end_turn(conversation)
        except BaseException:
            # not answered: a re-sent activity must be taken again, not met with silence
            with contextlib.suppress(Exception):
                await store.release(conversation, ids)
            raise
        if latest > turn:
            # the caller spoke again while this answer was queued: it is stale, say nothing
            logger.info("voice: %s answer to turn %d superseded by %d", conversation, turn, latest)
            body: dict[str, Any] = {"activities": []}
        else:
            await store.save(conversation, fields)
            body = {"activities": _stamp(rendered.activities)}
        await store.save_reply(conversation, ids, json.dumps(body, ensure_ascii=False))
        return body

    async def _take_turn(
        self,
        request: Request,
        conversation: str,
        activities: list[Activity],
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        *,
        barge_in: bool,
    ) -> tuple[Rendered, dict[str, str]]:
        stored = await self.store.load(conversation)
        state, caller, start, failed = stored.state, stored.caller, False, False
        collector = VoiceOutput()
        for activity in activities:
            step = decide(activity, state, self.settings.thresholds)
            state = step.state
            if step.start:
                start, caller = True, step.caller or caller
            if step.details is not None:
                medium, text = step.details
                await self.store.queue_details(
                    {"conversation": conversation, "caller": caller or "", "medium": medium,
                     "text": text}
                )
            if step.send is None or failed:
                continue
            # Rate limit, word list, hold, emergency notice (channels/gate.py).
            verdict = await gate.screen(request.app, collector, conversation, CHANNEL_NAME,
                                        step.send, step.metadata)
            if verdict.action != gate.PASS:
                continue
            message = UserMessage(
                step.send, collector, conversation, input_channel=CHANNEL_NAME,
                metadata=dict(step.metadata),
            )
            try:
                await on_new_message(message)
            except (Exception, asyncio.CancelledError):
                logger.exception("voice: handling a message of %s failed", conversation)
                failed = True

        copy = VoiceCopy.from_responses(_responses(request))
        context = CallContext(
            conversation=conversation,
            summary=summarize(state, caller),
            previous=stored.previous,
            start=start,
            barge_in=barge_in,
        )
        if failed and not collector.messages:
            rendered = build_error_response(copy, self.render_settings, context)
        else:
            rendered = build_voice_response(
                collector.messages, copy, self.render_settings, context
            )
        if rendered.menu:
            state = replace(state, pending=Pending("menu", menu=rendered.menu))
        elif rendered.offer:
            state = replace(state, pending=Pending("offer", text=rendered.offer))
        fields = call_fields(
            state, previous=rendered.spoken or None, caller=caller if start and caller else None
        )
        return rendered, fields

    async def _earlier_reply(self, conversation: str, activity: str) -> dict[str, Any]:
        """The answer already given to a re-sent activity, waiting briefly if it is still
        being computed; an empty answer if there is none."""
        deadline = asyncio.get_running_loop().time() + self.settings.retry_wait_seconds
        while True:
            cached = await self.store.reply(conversation, activity)
            if cached:
                try:
                    body = json.loads(cached)
                except ValueError:
                    break
                if isinstance(body, dict):
                    return body
                break
            if asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.05)
        return {"activities": []}


def _check_id(conversation: str) -> None:
    if not valid_id(conversation):
        raise BadRequest(400, "invalid_conversation", "bad conversation id in the URL")
