"""The agent API: ``/webhooks/agent/`` on the Rasa server, for the people behind "转人工".

==========================================================  ===================================
``GET  /webhooks/agent/``                                    liveness, and whether it is enabled
``GET  /webhooks/agent/conversations[?state=waiting|held]``  the queue, oldest first, with the
                                                             summary and channel of each
``GET  /webhooks/agent/conversations/<id>``                  one conversation and its transcript
``POST /webhooks/agent/conversations/<id>/take``             ``{"agent"}``: the agent takes it;
                                                             the bot is silent from now on
``POST /webhooks/agent/conversations/<id>/messages``         ``{"agent", "text"}``: to the
                                                             resident, through their channel
``POST /webhooks/agent/conversations/<id>/release``          ``{"agent"}``: back to the bot
==========================================================  ===================================

Every route but the first needs ``Authorization: Bearer <AGENT_API_TOKEN>`` (compared in
constant time; 401 otherwise). Without ``AGENT_API_TOKEN`` the API is disabled: one log line
at start-up, and 503 on every route but the first; a token shorter than 16 characters stops
the server with a message. The token authenticates the agent desk (a trusted front end); the
``agent`` field names the person, and only the agent holding a conversation may write in it or
hand it back (409 otherwise). Errors are ``{"error", "detail"}``: 400 (bad body), 404 (no such
conversation in the queue), 409 (``taken``, ``not_held``), 503 (``disabled``,
``unavailable``: no Redis).

While the API is served, the key ``…:handoff:desk`` is kept alive in Redis: the action server
queues a conversation only when some Rasa server serves this API (otherwise "转人工" offers
12345 instead of a queue nobody reads); and the server listens for web chat messages relayed
from the server that took the agent's request (:func:`channels.handoff.relay`). Queue logic:
:mod:`handoff`; delivery and the gate's hold: :mod:`channels.handoff`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels import handoff as delivery
from handoff.model import TransitionError, valid_agent, valid_conversation_id
from handoff.store import DESK_TTL, HandoffStore, StoreUnavailable

logger = logging.getLogger(__name__)

MIN_TOKEN_CHARS = 16
MAX_BODY_BYTES = 16 * 1024
DEFAULT_MAX_TEXT_CHARS = 2000
AGENT_MESSAGE_RESPONSE = "utter_human_agent_message"
CONNECTED_RESPONSE = "utter_human_connected"
HANDBACK_RESPONSE = "utter_human_handback"


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail

    def as_response(self) -> HTTPResponse:
        headers = {"WWW-Authenticate": 'Bearer realm="agent"'} if self.status == 401 else None
        return response.json({"error": self.code, "detail": self.detail}, status=self.status,
                             headers=headers)


# --- pure parts -------------------------------------------------------------------------------


def bearer_ok(header: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    if not header or not token:
        return False
    scheme, _, given = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8"))


def parse_body(body: bytes, *, text: bool = False,
               max_text_chars: int = DEFAULT_MAX_TEXT_CHARS) -> dict[str, str]:
    """``{"agent"}`` (and ``"text"`` when ``text``), validated; raises :class:`ApiError`."""
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "body_too_large", f"request body exceeds {MAX_BODY_BYTES} bytes")
    try:
        payload = json.loads(body.decode("utf-8") or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ApiError(400, "invalid_json", "request body must be a UTF-8 JSON object") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "invalid_json", "request body must be a JSON object")
    if payload.get("agent") in (None, ""):
        raise ApiError(400, "missing_agent", "field 'agent' is required")
    agent = valid_agent(payload["agent"])
    if agent is None:
        raise ApiError(400, "invalid_agent", "'agent' must be 1-64 letters, digits or . @ _ -")
    parsed = {"agent": agent}
    if text:
        value = payload.get("text")
        if not isinstance(value, str) or not value.strip():
            raise ApiError(400, "missing_text", "field 'text' must be a non-empty string")
        if len(value) > max_text_chars:
            raise ApiError(400, "text_too_long", f"'text' is over {max_text_chars} characters")
        parsed["text"] = value.strip()
    return parsed


def conversation_or_404(value: str) -> str:
    conversation = valid_conversation_id(value)
    if conversation is None:
        raise ApiError(404, "not_found", "no such conversation in the queue")
    return conversation


_TRANSITION_STATUS = {"not_found": 404, "taken": 409, "not_held": 409}


# --- the channel ------------------------------------------------------------------------------


class AgentInput(InputChannel):
    """Not a resident channel: it mounts the agent API (see the module docstring)."""

    @classmethod
    def name(cls) -> str:
        return "agent"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> AgentInput:
        credentials = credentials or {}
        return cls(max_text_chars=int(credentials.get("max_text_chars",
                                                      DEFAULT_MAX_TEXT_CHARS)))

    def __init__(self, max_text_chars: int = DEFAULT_MAX_TEXT_CHARS,
                 environ: Mapping[str, str] | None = None,
                 store: HandoffStore | None = None) -> None:
        environ = os.environ if environ is None else environ
        token = (environ.get("AGENT_API_TOKEN") or "").strip()
        if token and len(token) < MIN_TOKEN_CHARS:
            raise ValueError(f"agent API: AGENT_API_TOKEN must be at least {MIN_TOKEN_CHARS} "
                             "characters (make one with: openssl rand -hex 24)")
        if max_text_chars < 1:
            raise ValueError("agent API: max_text_chars must be > 0")
        self._token = token
        self.max_text_chars = max_text_chars
        self.store = store if store is not None else delivery.shared_store(environ)
        self._tasks: list[asyncio.Future[None]] = []
        if not token:
            logger.warning("agent API disabled: AGENT_API_TOKEN is not set, so "
                           "/webhooks/agent/* answers 503 and \"转人工\" offers 12345 instead "
                           "of the agent queue")

    @property
    def enabled(self) -> bool:
        return bool(self._token)

    def _authorize(self, request: Request) -> None:
        if not self.enabled:
            raise ApiError(503, "disabled", "the agent API is not configured (AGENT_API_TOKEN)")
        if not bearer_ok(request.headers.get("authorization"), self._token):
            raise ApiError(401, "unauthorized", "a valid bearer token is required")
        if not self.store.available:
            raise ApiError(503, "unavailable", "the agent queue needs Redis (REDIS_URL)")

    async def _keep_desk(self) -> None:
        """Keeps the desk key alive while this server runs (see the module docstring)."""
        while True:
            try:
                await self.store.mark_desk(DESK_TTL)
            except StoreUnavailable as error:
                logger.warning("agent API: desk key not refreshed: %s", error)
            await asyncio.sleep(DESK_TTL / 3)

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        api = Blueprint("minsheng_agent_api", __name__)

        def guarded(handler: Callable[..., Awaitable[HTTPResponse]]
                    ) -> Callable[..., Awaitable[HTTPResponse]]:
            async def wrapper(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
                try:
                    self._authorize(request)
                    return await handler(request, *args, **kwargs)
                except ApiError as error:
                    return error.as_response()
                except TransitionError as error:
                    return ApiError(_TRANSITION_STATUS.get(error.code, 409), error.code,
                                    error.detail).as_response()
                except StoreUnavailable as error:
                    logger.error("agent API: %s", error)
                    return ApiError(503, "unavailable", "the agent queue is unavailable; retry"
                                    ).as_response()

            wrapper.__name__ = handler.__name__
            return wrapper

        @api.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "enabled": self.enabled})

        @api.route("/conversations", methods=["GET"])
        @guarded
        async def conversations(request: Request) -> HTTPResponse:
            state = request.args.get("state")
            if state not in (None, "waiting", "held"):
                raise ApiError(400, "invalid_state", "'state' must be waiting or held")
            now = self.store.clock()
            records = [r for r in await self.store.active() if state in (None, r.state)]
            return response.json({"conversations": [r.public(now) for r in records]})

        @api.route("/conversations/<conversation:str>", methods=["GET"])
        @guarded
        async def conversation(request: Request, conversation: str) -> HTTPResponse:
            record = await self.store.get(conversation_or_404(conversation))
            if record is None:
                raise ApiError(404, "not_found", "no such conversation in the queue")
            return response.json({"conversation": record.public(self.store.clock()),
                                  "transcript": await self.store.transcript(record.id)})

        @api.route("/conversations/<conversation:str>/take", methods=["POST"])
        @guarded
        async def take(request: Request, conversation: str) -> HTTPResponse:
            agent = parse_body(request.body or b"")["agent"]
            record, newly = await self.store.take(conversation_or_404(conversation), agent)
            if newly:
                await self.store.append_log(record.id, "system", "taken", agent=agent)
                await self._notify(request.app, record, CONNECTED_RESPONSE)
            return response.json({"conversation": record.public(self.store.clock())})

        @api.route("/conversations/<conversation:str>/messages", methods=["POST"])
        @guarded
        async def send(request: Request, conversation: str) -> HTTPResponse:
            body = parse_body(request.body or b"", text=True,
                              max_text_chars=self.max_text_chars)
            record = await self.store.touch_holder(conversation_or_404(conversation),
                                                   body["agent"])
            message = delivery.render(request.app, AGENT_MESSAGE_RESPONSE, record.channel,
                                      agent_text=body["text"]) or {"text": body["text"]}
            delivered = await delivery.deliver(request.app, self.store, record, message)
            await self.store.append_log(record.id, "agent", body["text"], agent=body["agent"])
            return response.json({"delivered": delivered}, status=201)

        @api.route("/conversations/<conversation:str>/release", methods=["POST"])
        @guarded
        async def release(request: Request, conversation: str) -> HTTPResponse:
            agent = parse_body(request.body or b"")["agent"]
            record = await self.store.release(conversation_or_404(conversation), agent)
            if record.state == "held":
                await self._notify(request.app, record, HANDBACK_RESPONSE)
            return response.json({"released": record.id})

        @api.listener("after_server_start")
        async def start_tasks(app: Any, *_: Any) -> None:
            if self.enabled and self.store.available:
                subscribed = asyncio.Event()
                self._tasks = [asyncio.ensure_future(self._keep_desk()),
                               asyncio.ensure_future(
                                   delivery.relay(app, self.store, subscribed.set))]
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(subscribed.wait(), 5)

        @api.listener("after_server_stop")
        async def stop_tasks(*_: Any) -> None:
            for task in self._tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self._tasks = []
            await self.store.close()

        return api

    async def _notify(self, app: Any, record: Any, name: str) -> None:
        """Tells the resident that an agent joined or left; a failure is only logged."""
        message = delivery.render(app, name, record.channel)
        if message is None:
            return
        try:
            await delivery.deliver(app, self.store, record, message)
        except Exception:
            logger.exception("agent API: %s not delivered to %s", name, record.id)
