"""The WeChat Official Account channel: ``/webhooks/wechat/webhook`` on the Rasa server.

``GET`` answers WeChat's URL verification; ``POST`` receives messages and events (plain or
安全模式) and answers within WeChat's 5 seconds, passively or through 客服消息 (see
:mod:`channels.wechat.delivery`). Protocol checks are in :mod:`channels.wechat.protocol` and
rendering in :mod:`channels.wechat.render`; this module only wires them to Rasa and Sanic.

Configured by the environment (``WECHAT_TOKEN``, ``WECHAT_ENCODING_AES_KEY``, ``WECHAT_APP_ID``,
``WECHAT_APP_SECRET``, ``WECHAT_API_BASE``) and the channel's options in ``bot/credentials.yml``.
With no ``WECHAT_*`` set, Rasa still starts: the webhook answers 503 and one warning is logged.

Answers:

- 403 for a bad or missing signature or a stale timestamp, 400 for malformed, oversized or
  undecryptable XML: nothing reaches Rasa.
- ``success`` (WeChat's "no reply") for events that need no answer, and as the acknowledgement
  when the answer is not ready within the passive-reply budget.
- If Redis is unreachable, the domain's ``utter_wechat_unavailable`` as a passive reply and
  Rasa is not run (without the dedup claim a retry could run it twice).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import (
    CollectingOutputChannel,
    InputChannel,
    OutputChannel,
    UserMessage,
)
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels import gate
from channels.wechat.api import WeChatApi
from channels.wechat.delivery import DeliveryCoordinator
from channels.wechat.protocol import (
    Delivery,
    InboundMessage,
    RasaInput,
    WeChatProtocolError,
    open_delivery,
    seal_reply,
    text_reply_xml,
    to_rasa_input,
    verify_url,
)
from channels.wechat.render import pick_response_text, render_messages
from channels.wechat.settings import WeChatSettings
from channels.wechat.store import StoreUnavailable, WeChatStore

logger = logging.getLogger(__name__)

CHANNEL = "wechat"
UNAVAILABLE_RESPONSE = "utter_wechat_unavailable"
OPTIONS_HINT_RESPONSE = "utter_wechat_options_hint"
SUCCESS = "success"


class WeChatOutput(CollectingOutputChannel):
    """Collects the bot's messages for one WeChat message; its name makes Rasa choose the
    ``channel: wechat`` response variants."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL


class _Runtime:
    """Redis store, API client and delivery coordinator of one process, made on first use."""

    def __init__(self, settings: WeChatSettings) -> None:
        self.settings = settings
        self.store = WeChatStore(
            settings.redis_url,
            settings.key_prefix,
            dedup_ttl=settings.dedup_ttl_seconds,
            options_ttl=settings.options_ttl_seconds,
            socket_timeout=settings.redis_timeout_seconds,
        )
        self.api = WeChatApi(
            settings.api_base,
            settings.app_id,
            settings.app_secret,
            self.store,
            timeout=settings.api_timeout_seconds,
        )
        self.coordinator = DeliveryCoordinator(
            self.store,
            self.send_chunks,
            passive_seconds=settings.passive_reply_seconds,
            processing_timeout=settings.processing_timeout_seconds,
        )

    async def send_chunks(self, openid: str, chunks: list[str]) -> None:
        """Sends an answer as 客服消息, in order; stops at the first failure."""
        for index, chunk in enumerate(chunks):
            try:
                await self.api.send_text(openid, chunk)
            except Exception as error:
                logger.error(
                    "wechat: customer-service message %d/%d to %s failed: %s",
                    index + 1, len(chunks), _mask(openid), error,
                )
                return

    async def close(self) -> None:
        await self.coordinator.drain()
        await self.api.close()
        await self.store.close()


class WeChatCustomerServiceOutput(OutputChannel):
    """Sends bot messages outside a request (reminders, ``trigger_intent``) as 客服消息."""

    def __init__(self, runtime: _Runtime, options_hint: str = "") -> None:
        self.runtime = runtime
        self.options_hint = options_hint

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        settings = self.runtime.settings
        rendered = render_messages(
            [message],
            options_hint=self.options_hint,
            max_bytes=settings.max_text_bytes,
            max_chunks=settings.max_customer_service_messages,
        )
        if rendered.options:
            await self.runtime.store.set_options(recipient_id, rendered.options)
        await self.runtime.send_chunks(recipient_id, rendered.chunks)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})


class WeChatInput(InputChannel):
    """The WeChat Official Account input channel."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WeChatInput:
        return cls(WeChatSettings.from_env(os.environ, credentials or {}))

    def __init__(self, settings: WeChatSettings | None) -> None:
        self.settings = settings
        self._runtime_instance: _Runtime | None = None
        if settings is None:
            logger.warning(
                "wechat channel not configured: WECHAT_TOKEN, WECHAT_APP_ID and "
                "WECHAT_APP_SECRET are unset, so /webhooks/wechat/webhook answers 503. "
                "See scripts/wechat-config."
            )

    def _runtime(self) -> _Runtime:
        assert self.settings is not None
        if self._runtime_instance is None:
            self._runtime_instance = _Runtime(self.settings)
        return self._runtime_instance

    def get_output_channel(self) -> OutputChannel | None:
        if self.settings is None:
            return None
        return WeChatCustomerServiceOutput(self._runtime())

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        webhook = Blueprint("minsheng_wechat_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok", "configured": self.settings is not None})

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            settings = self.settings
            if settings is None:
                return _not_configured()
            try:
                echostr = verify_url(
                    settings.token, _query(request), now=time.time(),
                    tolerance=settings.timestamp_tolerance_seconds,
                )
            except WeChatProtocolError as error:
                logger.info("wechat: URL verification refused (%s)", error.detail)
                return response.text(_reason(error.status), status=error.status)
            return response.text(echostr)

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            arrived = asyncio.get_running_loop().time()
            settings = self.settings
            if settings is None:
                return _not_configured()
            try:
                delivery = open_delivery(
                    request.body or b"",
                    _query(request),
                    token=settings.token,
                    app_id=settings.app_id,
                    encoding_aes_key=settings.encoding_aes_key,
                    now=time.time(),
                    tolerance=settings.timestamp_tolerance_seconds,
                    max_bytes=settings.max_body_bytes,
                    require_encryption=settings.require_encryption,
                )
            except WeChatProtocolError as error:
                logger.info("wechat: delivery refused with %d (%s)", error.status, error.detail)
                return response.text(_reason(error.status), status=error.status)

            try:
                return await self._answer(request, delivery, on_new_message, arrived)
            except Exception:  # a bug must not turn into WeChat's "service unavailable" page
                logger.exception("wechat: unexpected failure on %s", delivery.message.dedup_id)
                return _success()

        @webhook.listener("after_server_stop")
        async def close(*_: Any) -> None:
            if self._runtime_instance is not None:
                await self._runtime_instance.close()

        return webhook

    async def _answer(
        self,
        request: Request,
        delivery: Delivery,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        arrived: float,
    ) -> HTTPResponse:
        """Answers a verified delivery: acknowledged, passive reply, or 客服消息 later."""
        settings = self.settings
        assert settings is not None
        message = delivery.message
        runtime = self._runtime()
        if message.msg_type == "event" and message.event == "unsubscribe":
            try:
                await runtime.store.forget_user(message.openid)
            except StoreUnavailable:
                logger.error("wechat: redis unavailable; options of a leaving user kept")
            logger.info("wechat: %s unsubscribed", _mask(message.openid))
            return _success()
        rasa_input = to_rasa_input(
            message,
            menu=settings.menu,
            menu_default=settings.menu_default,
            max_chars=settings.max_message_chars,
        )
        if rasa_input is None:
            return _success()

        async def produce() -> list[str]:
            return await self._produce(request.app, on_new_message, message, rasa_input)

        try:
            outcome = await runtime.coordinator.attempt(
                message.dedup_id, message.openid, produce, arrived=arrived,
                sent_at=int(delivery.timestamp),
            )
        except StoreUnavailable as error:
            logger.error("wechat: %s; answering without Rasa", error)
            apology = _domain_text(request.app, UNAVAILABLE_RESPONSE)
            return self._reply(delivery, apology) if apology else _success()
        if outcome.passive is None:
            return _success()
        return self._reply(delivery, outcome.passive)

    async def _produce(
        self,
        app: Any,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        message: InboundMessage,
        rasa_input: RasaInput,
    ) -> list[str]:
        """Runs Rasa once for a message and renders its answer (the dedup claim is held)."""
        settings = self.settings
        assert settings is not None
        store = self._runtime().store
        text = rasa_input.text
        metadata = dict(rasa_input.metadata)
        if rasa_input.option is not None:
            try:
                payload = await store.option(message.openid, rasa_input.option)
            except StoreUnavailable:
                payload = None
            if payload:
                text = payload
                metadata["wechat"] = {**metadata.get("wechat", {}), "option": rasa_input.option}
        collector = WeChatOutput()
        # Rate limit, word list, hold, emergency notice (channels/gate.py); retries of WeChat
        # never get here (the dedup claim), so each message is checked and counted once.
        verdict = await gate.screen(app, collector, message.openid, CHANNEL, text, metadata)
        if verdict.action != gate.PASS:
            return render_messages(
                collector.messages,
                max_bytes=settings.max_text_bytes,
                max_chunks=settings.max_customer_service_messages,
            ).chunks
        user_message = UserMessage(
            text,
            collector,
            message.openid,
            input_channel=CHANNEL,
            message_id=message.msg_id or message.dedup_id,
            metadata=metadata,
        )
        messages: list[dict[str, Any]]
        try:
            await on_new_message(user_message)
            messages = collector.messages
        except Exception:
            logger.exception("wechat: Rasa failed on %s", message.dedup_id)
            apology = _domain_text(app, UNAVAILABLE_RESPONSE)
            messages = collector.messages or ([{"text": apology}] if apology else [])
        rendered = render_messages(
            messages,
            options_hint=_domain_text(app, OPTIONS_HINT_RESPONSE) or "",
            max_bytes=settings.max_text_bytes,
            max_chunks=settings.max_customer_service_messages,
        )
        try:
            await store.set_options(message.openid, rendered.options)
        except StoreUnavailable:
            logger.error("wechat: redis unavailable; numbered options not remembered")
        return rendered.chunks

    def _reply(self, delivery: Delivery, content: str) -> HTTPResponse:
        settings = self.settings
        assert settings is not None
        now = str(int(time.time()))
        xml = text_reply_xml(
            delivery.message.openid, delivery.message.account, content, int(now)
        )
        if delivery.encrypted and settings.encoding_aes_key:
            xml = seal_reply(
                xml, token=settings.token, app_id=settings.app_id,
                encoding_aes_key=settings.encoding_aes_key, nonce=delivery.nonce,
                timestamp=now,
            )
        return response.text(xml, content_type="application/xml; charset=utf-8")


def _query(request: Request) -> dict[str, str]:
    return {name: values[0] for name, values in request.args.items() if values}


def _domain_text(app: Any, name: str) -> str | None:
    """A response's text from the loaded domain (wording stays in the domain files)."""
    agent = getattr(getattr(app, "ctx", None), "agent", None)
    domain = getattr(agent, "domain", None)
    responses = getattr(domain, "responses", None)
    if not responses:
        return None
    return pick_response_text(responses, name, CHANNEL)


def _success() -> HTTPResponse:
    return response.text(SUCCESS)


def _not_configured() -> HTTPResponse:
    return response.text("wechat channel not configured", status=503)


def _reason(status: int) -> str:
    return {403: "forbidden", 400: "bad request"}.get(status, "error")


def _mask(openid: str) -> str:
    return openid[:4] + "…" + openid[-2:] if len(openid) > 8 else "…"
