"""REST channel: ``POST /webhooks/rest/webhook`` with ``{"sender": "...", "message": "..."}``.

Rasa's standard REST contract (same URL, same request and response shapes), plus what a public
endpoint needs: every request is validated first, so malformed JSON, a missing sender, an empty
or non-text message get a clear 4xx and never reach Rasa; an over-long message gets a polite
reply from the domain; a failure inside Rasa gets a 503 instead of an empty 200.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import rasa.utils.endpoints
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from channels import gate
from channels.handoff import take_outbox
from channels.text import clean_message

logger = logging.getLogger(__name__)

DEFAULT_MAX_MESSAGE_CHARS = 2000
DEFAULT_MAX_BODY_BYTES = 64 * 1024
_SENDER = re.compile(r"^[\w.:@\-]{1,128}$")


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
class RestRequest:
    """A validated REST request."""

    sender: str
    text: str
    too_long: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


def parse_rest_body(
    body: bytes,
    *,
    max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> RestRequest:
    """Validates a REST request body; raises :class:`BadRequest` with a clear reason."""
    if len(body) > max_body_bytes:
        raise BadRequest(413, "body_too_large", f"request body exceeds {max_body_bytes} bytes")
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise BadRequest(400, "invalid_json", "request body must be a UTF-8 JSON object") from None
    if not isinstance(payload, dict):
        raise BadRequest(400, "invalid_json", "request body must be a JSON object")

    sender = payload.get("sender")
    if sender is None or (isinstance(sender, str) and not sender.strip()):
        raise BadRequest(400, "missing_sender", "field 'sender' is required")
    if not isinstance(sender, str) or not _SENDER.fullmatch(sender):
        raise BadRequest(
            400, "invalid_sender", "'sender' must be 1-128 letters, digits or . : @ _ -"
        )

    message = payload.get("message")
    if message is None:
        raise BadRequest(400, "missing_message", "field 'message' is required")
    if not isinstance(message, str):
        raise BadRequest(400, "invalid_message", "'message' must be a string")
    cleaned = clean_message(message, max_message_chars)
    if not cleaned.text:
        raise BadRequest(400, "empty_message", "'message' is empty")

    metadata = payload.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise BadRequest(400, "invalid_metadata", "'metadata' must be a JSON object")
    return RestRequest(sender, cleaned.text, cleaned.too_long, metadata)


class RestInput(RasaRestInput):
    """Rasa's REST channel with input validation and honest errors."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> RestInput:
        credentials = credentials or {}
        return cls(
            max_message_chars=int(
                credentials.get("max_message_chars", DEFAULT_MAX_MESSAGE_CHARS)
            ),
            max_body_bytes=int(credentials.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES)),
        )

    def __init__(
        self,
        max_message_chars: int = DEFAULT_MAX_MESSAGE_CHARS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if max_message_chars < 1 or max_body_bytes < 1:
            raise ValueError("rest channel: max_message_chars and max_body_bytes must be > 0")
        self.max_message_chars = max_message_chars
        self.max_body_bytes = max_body_bytes

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = Blueprint("minsheng_rest_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse | ResponseStream:
            try:
                parsed = parse_rest_body(
                    request.body or b"",
                    max_message_chars=self.max_message_chars,
                    max_body_bytes=self.max_body_bytes,
                )
            except BadRequest as error:
                return response.json(error.as_json(), status=error.status)
            if parsed.too_long:
                logger.info("rest: message from %s over the size limit", parsed.sender)
            # Rate limit, word list, hold, emergency notice (channels/gate.py).
            collector = CollectingOutputChannel()
            verdict = await gate.screen(request.app, collector, parsed.sender, self.name(),
                                        parsed.text, parsed.metadata, http=True)
            if verdict.action != gate.PASS:
                if verdict.http_status is not None:
                    return response.json(verdict.as_json(), status=verdict.http_status,
                                         headers=verdict.headers())
                # Held by an agent (human handoff): what the agent wrote meanwhile, if anything.
                return response.json(await take_outbox(parsed.sender) + collector.messages)
            if rasa.utils.endpoints.bool_arg(request, "stream", default=False):
                return response.stream(
                    _streamed_after(collector.messages, self.stream_response(
                        on_new_message, parsed.text, parsed.sender, self.name(), parsed.metadata
                    )),
                    content_type="text/event-stream",
                )

            message = UserMessage(
                parsed.text,
                collector,
                parsed.sender,
                input_channel=self.name(),
                metadata=parsed.metadata,
            )
            try:
                await on_new_message(message)
            except asyncio.CancelledError:
                logger.error("rest: handling a message from %s timed out", parsed.sender)
                return _unavailable(collector)
            except Exception:
                logger.exception("rest: handling a message from %s failed", parsed.sender)
                return _unavailable(collector)
            # An agent's messages (human handoff) come first: they were written before this turn.
            return response.json(await take_outbox(parsed.sender) + collector.messages)

        @webhook.route("/outbox", methods=["GET"])
        async def outbox(request: Request) -> HTTPResponse:
            """An agent's messages to a REST resident, taken once (channels/handoff.py)."""
            sender = request.args.get("sender")
            if not sender:
                return response.json({"error": "missing_sender",
                                      "detail": "query parameter 'sender' is required"},
                                     status=400)
            if not _SENDER.fullmatch(sender):
                return response.json({"error": "invalid_sender", "detail": "'sender' must be "
                                      "1-128 letters, digits or . : @ _ -"}, status=400)
            return response.json(await take_outbox(sender))

        return webhook


def _streamed_after(
    first: list[dict[str, Any]], stream: Callable[[Any], Awaitable[None]]
) -> Callable[[Any], Awaitable[None]]:
    """Rasa's stream, after the gate's messages (an emergency notice) in the same format."""

    async def streamed(resp: Any) -> None:
        for message in first:
            await resp.write(json.dumps(message) + "\n")
        await stream(resp)

    return streamed


def _unavailable(collector: CollectingOutputChannel) -> HTTPResponse:
    if collector.messages:
        return response.json(collector.messages)
    return response.json(
        {"error": "unavailable", "detail": "the assistant could not answer; please retry"},
        status=503,
    )
