"""The gate: what every channel asks before it hands a resident's message to Rasa.

Contract
========

Every input channel (REST, webchat, WeChat, voice), for every resident message, after it has
parsed and cleaned it (:func:`channels.text.clean_message`) and BEFORE ``on_new_message``::

    verdict = await gate.screen(app, output_channel, sender_id, channel, text, metadata)

which runs the checks (:func:`check_message`) and already sends what the resident must get
through the channel's own output channel (``app`` is the Rasa Sanic app, whose
``ctx.agent.domain`` holds the responses; the ``channel:`` variant of the output channel's name
is used): ``verdict.notice`` first, then for REPLY ``verdict.response``. The channel then acts
on ``verdict.action``:

``PASS``
    hand the message to Rasa as usual.
``REPLY``
    do not call Rasa (the domain response ``verdict.response`` was sent). The REST API answers
    ``verdict.http_status`` with ``verdict.as_json()`` instead when it is set (429 for a rate
    limit).
``HOLD``
    do not call Rasa and send nothing more: someone else (an agent holding the conversation)
    owns the answer. The check that said so has already taken the message.

``verdict.notice`` (any action): a response sent before anything else, today
``utter_emergency_notice`` for a *possible* emergency (safety/emergency.py's classifier saw
danger the lexicon could not confirm): the numbers first, then the usual handling, so a false
alarm costs one line.

Checks
======

An ordered list of ``(name, "module:factory")`` in :data:`CHECKS`. Each factory is called once,
lazily at the first message (no I/O at import), with the environment mapping, and returns an
async callable ``check(message: GateMessage) -> Verdict | None`` (None: no objection). The
checks run in order and the first verdict that is not None wins. To add one (the human handoff's
"an agent holds this conversation → HOLD"), add an entry to :data:`CHECKS`: after
``rate_limit`` (a resident talking to an agent is still rate limited) and before
``sensitive_words`` (while an agent holds a conversation the bot says nothing, not even a
refusal).

Two guarantees the gate keeps whatever the checks do:

- **Emergencies always pass.** ``message.emergency`` is the kind the emergency detector
  (:mod:`safety.emergency`) found in the text, or None; ``message.emergency_certain`` says
  whether the lexicon confirmed it (then the NLU answers it as the ``emergency`` intent). A
  check sees both and may act on them (the handoff check may forward the message to the
  agent), but if it answers anything but PASS for a *certain* emergency, the gate logs it and
  lets the message through anyway: no rate limit, word list or hold stands between a resident
  and 120/110/119. The built-in checks (rate limit, word list) do not even look at a message
  with any emergency, certain or possible.
- **Fail open, never a 500.** A check that raises (Redis down, a bug) is logged and skipped.

Button payloads (``/intent{...}``) are checked too (rate limit, hold) but never matched
against the word list or the emergency detector.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

logger = logging.getLogger(__name__)

PASS, REPLY, HOLD = "pass", "reply", "hold"

# (name, "module:factory"), in the order the checks run. See the module docstring.
CHECKS: list[tuple[str, str]] = [
    ("rate_limit", "channels.gate_checks:rate_limit_check"),
    # An agent holds the conversation: the message is kept for the agent, the bot is silent.
    ("handoff", "channels.handoff:gate_check"),
    ("sensitive_words", "channels.gate_checks:sensitive_words_check"),
]


@dataclass(frozen=True)
class GateMessage:
    """One resident message as the checks see it (text already cleaned by the channel)."""

    sender_id: str
    channel: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    emergency: str | None = None  # the kind, see the module docstring
    emergency_certain: bool = False

    @property
    def is_payload(self) -> bool:
        """A button/intent payload (``/intent{...}``) rather than typed or spoken text."""
        return self.text.startswith("/")


@dataclass(frozen=True)
class Verdict:
    """What the channel does with a message (see the module docstring)."""

    action: str = PASS
    response: str | None = None  # REPLY: the domain response to send
    reason: str | None = None  # machine-readable: "rate_limited", "sensitive", "held" …
    http_status: int | None = None  # REST: answer this status with as_json() instead
    retry_after: int | None = None  # seconds, for a rate limit
    check: str | None = None  # the check that decided
    notice: str | None = None  # a response to send before anything else

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.reason or "refused",
                                "detail": _DETAIL.get(self.reason or "", "message refused")}
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after is not None else {}


_DETAIL = {
    "rate_limited": "too many messages; retry later",
    "sensitive": "the message was refused",
}
PASSED = Verdict()
EMERGENCY_NOTICE = "utter_emergency_notice"

Check = Callable[[GateMessage], Awaitable["Verdict | None"]]


def _load(spec: str, environ: Mapping[str, str]) -> Check:
    module, _, attribute = spec.partition(":")
    factory = getattr(importlib.import_module(module), attribute)
    return factory(environ)


class Gate:
    """The ordered checks of one process (see the module docstring)."""

    def __init__(self, checks: list[tuple[str, Check]],
                 detect: Callable[[str], tuple[str, bool] | None] | None = None) -> None:
        self.checks = checks
        self._detect = detect

    @classmethod
    def from_specs(cls, specs: list[tuple[str, str]],
                   environ: Mapping[str, str] | None = None) -> Gate:
        environ = os.environ if environ is None else environ
        checks: list[tuple[str, Check]] = []
        for name, spec in specs:
            try:
                checks.append((name, _load(spec, environ)))
            except Exception:
                logger.exception("gate: check %s (%s) could not be set up; it is skipped",
                                 name, spec)
        return cls(checks)

    def emergency_of(self, text: str) -> tuple[str, bool] | None:
        """(kind, certain) of the emergency in ``text``, or None."""
        if text.startswith("/"):
            return None
        if self._detect is None:
            self._detect = _detect_emergency
        try:
            return self._detect(text)
        except Exception:
            logger.exception("gate: the emergency detector failed")
            return None

    async def check(self, message: GateMessage) -> Verdict:
        if message.emergency is None and (found := self.emergency_of(message.text)):
            message = GateMessage(message.sender_id, message.channel, message.text,
                                  message.metadata, found[0], found[1])
        verdict = await self._check(message)
        if message.emergency is not None and not message.emergency_certain:
            logger.info("gate: possible emergency (%s) on %s; notice sent first",
                        message.emergency, message.channel)
            return replace(verdict, notice=EMERGENCY_NOTICE)
        return verdict

    async def _check(self, message: GateMessage) -> Verdict:
        for name, check in self.checks:
            try:
                verdict = await check(message)
            except (Exception, asyncio.TimeoutError) as error:
                logger.warning("gate: check %s failed (%s: %s); message let through",
                               name, type(error).__name__, error)
                continue
            if verdict is None or verdict.action == PASS:
                continue
            if message.emergency is not None and message.emergency_certain:
                logger.warning("gate: %s said %s to an emergency (%s) on %s; let through",
                               name, verdict.action, message.emergency, message.channel)
                continue
            return replace(verdict, check=name)
        return PASSED


def _detect_emergency(text: str) -> tuple[str, bool] | None:
    """The detector with the classifier once it is trained (lexicon alone until then: a
    resident never waits for the training, started at Rasa's start by the NLU component)."""
    from safety.classifier import model, warm_up
    from safety.emergency import detect

    classifier = model(wait=False)
    if classifier is None:
        warm_up()
    found = detect(text, classifier if classifier is not None else False)
    return (found.kind, found.certain) if found else None


_default: Gate | None = None


def default_gate() -> Gate:
    """The process's gate, made from :data:`CHECKS` and ``os.environ`` on first use."""
    global _default
    if _default is None:
        _default = Gate.from_specs(CHECKS)
    return _default


def set_default_gate(gate: Gate | None) -> None:
    """Replaces the process's gate (tests; None: made again from the environment)."""
    global _default
    _default = gate


async def check_message(
    sender_id: str, channel: str, text: str, metadata: Mapping[str, Any] | None = None
) -> Verdict:
    """The verdict on one message (see the module docstring). Never raises."""
    try:
        return await default_gate().check(
            GateMessage(sender_id, channel, text, dict(metadata or {})))
    except Exception:
        logger.exception("gate: failed on a message of %s; let through", channel)
        return PASSED


# ---------------------------------------------------------------- sending a REPLY verdict


def render_response(responses: Mapping[str, Any], name: str, channel: str) -> dict[str, Any] | None:
    """The domain response ``name`` as Rasa would send it on ``channel`` (its ``channel:``
    variant if there is one), or None if the domain has no such response."""
    from rasa.core.nlg import interpolator
    from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator

    if name not in responses:
        return None
    generated = TemplatedNaturalLanguageGenerator(dict(responses)).generate_from_slots(
        name, {}, channel)
    if generated is None:
        return None
    if generated.get("buttons"):
        # Rasa only interpolates when there are variables; in a conversation there always are,
        # which turns a payload's {{ }} (bot/domain/basics.yml) into { }. Same here.
        generated["buttons"] = interpolator.interpolate(generated["buttons"], {})
    return {**generated, "utter_action": name}


def domain_responses(app: Any) -> Mapping[str, Any]:
    """The responses of the domain the Rasa server loaded (``app.ctx.agent.domain``)."""
    agent = getattr(getattr(app, "ctx", None), "agent", None)
    responses = getattr(getattr(agent, "domain", None), "responses", None)
    return responses if isinstance(responses, Mapping) else {}


async def send_response(app: Any, name: str, output: Any, recipient_id: str) -> bool:
    """Sends the domain response ``name`` through ``output`` (an ``OutputChannel``, which
    renders it for its medium); False if the domain has no such response (logged)."""
    channel = output.name() if hasattr(output, "name") else ""
    message = render_response(domain_responses(app), name, channel)
    if message is None:
        logger.error("gate: the domain has no response %s", name)
        return False
    await output.send_response(recipient_id, message)
    return True


async def screen(
    app: Any,
    output: Any,
    sender_id: str,
    channel: str,
    text: str,
    metadata: Mapping[str, Any] | None = None,
    *,
    http: bool = False,
) -> Verdict:
    """:func:`check_message`, then sends the notice and a REPLY's response through ``output``
    (see the module docstring). ``http=True`` (REST): a REPLY with an ``http_status`` is not
    sent, the caller answers that status instead. Never raises: a failure is logged.

    It also makes sure the turn that follows fails cleanly if the conversation store is away
    (:func:`channels.tracker_store.fail_turns_on_store_errors`) rather than run on a blank
    conversation."""
    from channels.tracker_store import fail_turns_on_store_errors

    fail_turns_on_store_errors(app)
    verdict = await check_message(sender_id, channel, text, metadata)
    try:
        if verdict.notice:
            await send_response(app, verdict.notice, output, sender_id)
        if verdict.action == REPLY and verdict.response and not (http and verdict.http_status):
            await send_response(app, verdict.response, output, sender_id)
    except Exception:
        logger.exception("gate: sending the gate's answer on %s failed", channel)
    return verdict
