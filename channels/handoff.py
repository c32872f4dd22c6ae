"""The human handoff inside the Rasa server: the gate's "an agent holds this conversation"
check, and delivering an agent's words through the resident's own channel.

- :func:`gate_check` (registered in :data:`channels.gate.CHECKS`): a message from a resident
  whose conversation an agent holds is kept for the agent and the bot stays silent (``HOLD``);
  while the conversation is only queued, the message is kept for the agent too and the bot
  still answers. An emergency is kept and always passes (the gate guarantees it anyway).
- :func:`deliver`: an agent's message (or a domain response about the handoff) goes to the
  resident through their channel's output channel (``webchat``: a socket.io ``bot_uttered``
  to the session's room, relayed through Redis to every Rasa server by :func:`relay`, since
  the socket may be on another one; ``wechat``: 客服消息), or, for REST, into the resident's
  outbox, which the next REST call or ``GET /webhooks/rest/outbox`` returns
  (:func:`take_outbox`).

Voice calls are never queued here: "转人工" on the phone is a transfer by the gateway to the
hotline's own queue (``utter_human_handoff``'s ``channel: voice`` variant).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from channels.gate import HOLD, GateMessage, Verdict, domain_responses
from handoff.model import HELD, Handoff
from handoff.store import HandoffStore, StoreUnavailable

logger = logging.getLogger(__name__)

OUTBOX = "outbox"
# Channels whose residents are reached through a socket held by one Rasa server.
RELAYED = frozenset({"webchat", "socketio"})
REST_KEYS = frozenset({"text", "buttons", "image", "attachment", "custom"})
_store: HandoffStore | None = None


def shared_store(environ: Mapping[str, str] | None = None) -> HandoffStore:
    """The process's queue client (``REDIS_URL``, ``REDIS_KEY_PREFIX``), made on first use."""
    global _store
    if _store is None:
        _store = HandoffStore.from_env(os.environ if environ is None else environ)
    return _store


def set_shared_store(store: HandoffStore | None) -> None:
    global _store
    _store = store


def gate_check(environ: Mapping[str, str]) -> Any:
    """The gate's factory (see :mod:`channels.gate`)."""
    shared_store(environ)

    async def held_by_agent(message: GateMessage) -> Verdict | None:
        store = shared_store()
        if not store.available:
            return None
        record = await store.holder_of(message.sender_id)
        if record is None:
            return None
        await store.append_log(record.id, "resident", message.text,
                               channel=message.channel, emergency=message.emergency)
        if record.state != HELD or message.emergency is not None:
            return None
        return Verdict(HOLD, reason="held")

    return held_by_agent


# --- delivery ---------------------------------------------------------------------------------


def output_channel(app: Any, channel: str) -> Any:
    """The output channel of the input channel named ``channel`` (as Rasa's own
    ``/conversations/<id>/execute`` finds it), or None."""
    for input_channel in getattr(app.ctx, "input_channels", None) or []:
        if input_channel.name() == channel:
            return input_channel.get_output_channel()
    return None


def render(app: Any, name: str, channel: str, **values: Any) -> dict[str, Any] | None:
    """Domain response ``name`` for ``channel`` with ``values`` filled in (None if missing)."""
    from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator

    responses = domain_responses(app)
    if name not in responses:
        logger.error("handoff: the domain has no response %s", name)
        return None
    generated = TemplatedNaturalLanguageGenerator(dict(responses)).generate_from_slots(
        name, {}, channel, **values)
    if generated is None:
        return None
    return {**{k: v for k, v in generated.items() if v not in (None, [], {})},
            "utter_action": name}


async def deliver(app: Any, store: HandoffStore, record: Handoff,
                  message: Mapping[str, Any]) -> dict[str, Any]:
    """Sends ``message`` to the resident of ``record``; says how (``{"via": ...}``).

    A web chat resident's socket may be connected to another Rasa server than the one serving
    the agent API, so the message goes through Redis to every server's :func:`relay`, and each
    emits it to its own sockets in the session's room."""
    if record.channel in RELAYED:
        servers = await store.publish({"channel": record.channel, "sender": record.sender,
                                       "message": dict(message)})
        if servers:
            return {"via": record.channel, "servers": servers}
    output = None if record.channel == "rest" else output_channel(app, record.channel)
    if output is None:
        # As Rasa's REST channel answers: text, buttons, image, attachment, custom.
        await store.push_outbox(record.id, {k: v for k, v in message.items() if k in REST_KEYS})
        return {"via": OUTBOX}
    await output.send_response(record.sender, dict(message))
    return {"via": record.channel}


async def relay(app: Any, store: HandoffStore, ready: Any = None) -> None:
    """Runs in every Rasa server: emits the relayed messages to this server's sockets."""

    async def emit(payload: dict[str, Any]) -> None:
        output = output_channel(app, str(payload.get("channel")))
        if output is not None and isinstance(payload.get("message"), dict):
            await output.send_response(str(payload.get("sender")), payload["message"])

    await store.relay(emit, ready)


async def take_outbox(sender_id: str) -> list[dict[str, Any]]:
    """The agent messages waiting for a REST resident, removed as they are returned (the REST
    channel adds them to its answer). Never raises: without Redis there are none."""
    store = shared_store()
    if not store.available:
        return []
    try:
        messages = await store.drain_outbox(sender_id)
    except StoreUnavailable as error:
        logger.warning("handoff: outbox not read: %s", error)
        return []
    return [{"recipient_id": sender_id, **m} for m in messages]
