"""Voice collects, then renders: the bot's messages for one gateway request become one AC Bot
API answer, built by the pure function :func:`build_voice_response` (in the manner of Rasa's
``twilio_voice.build_twilio_voice_response``).

What it turns into what:

- text: made speakable (:mod:`channels.voice.speakable`); consecutive texts become one
  ``message`` activity (SSML when the gateway's TTS takes it); an answer over ``max_chars`` is
  cut at a sentence end and followed by the domain's offer to send the details
  (``utter_voice_offer_details``);
- buttons: spoken as a DTMF menu (``utter_voice_menu_item``: "政务服务请按1"), digits 1-9 in
  order and 0 for the human hand-off; the digit map is returned so that the channel can route
  the caller's key press;
- ``custom: {"voice_action": "hangup"}``: a ``hangup`` event; ``"transfer"``: a ``transfer``
  event to the hotline queue with the call summary; ``"repeat"``: the previous answer again.
  Nothing is spoken after a hangup or a transfer;
- images and attachments: dropped (nothing to hear).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from channels.voice.speakable import shorten, speakable, to_ssml

HUMAN_PAYLOAD = "/request_human"
HUMAN_DIGIT = "0"
MENU_DIGITS = "123456789"

COPY_RESPONSES = {
    "offer_details": "utter_voice_offer_details",
    "menu_item": "utter_voice_menu_item",
    "technical_problem": "utter_voice_technical_problem",
}


@dataclass(frozen=True)
class VoiceCopy:
    """Wording the renderer adds itself, read from the domain's responses at run time."""

    offer_details: str = ""
    menu_item: str = "{title}{digit}"
    technical_problem: str = ""

    @classmethod
    def from_responses(cls, responses: Mapping[str, Any]) -> VoiceCopy:
        """Picks each response's ``channel: voice`` variant, else its first plain variant."""
        found = {}
        for attribute, name in COPY_RESPONSES.items():
            text = voice_text(responses.get(name))
            if text:
                found[attribute] = text
        return cls(**found)


def voice_text(variants: Any) -> str | None:
    if not isinstance(variants, list):
        return None
    plain = None
    for variant in variants:
        if not isinstance(variant, dict) or not isinstance(variant.get("text"), str):
            continue
        if variant.get("channel") == "voice":
            return variant["text"]
        if plain is None and not variant.get("channel") and not variant.get("condition"):
            plain = variant["text"]
    return plain


@dataclass(frozen=True)
class RenderSettings:
    transfer_target: str
    max_chars: int = 150
    ssml: bool = False
    language: str = "zh-CN"
    session_params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CallContext:
    conversation: str = ""
    summary: str = ""
    previous: tuple[str, ...] = ()  # what the previous answer said, for "repeat"
    start: bool = False  # first answer of the call: send the session parameters
    barge_in: bool = False  # the caller spoke while an earlier answer was still queued


@dataclass(frozen=True)
class Rendered:
    body: dict[str, Any]  # {"activities": [...]} as the gateway expects it
    spoken: tuple[str, ...] = ()  # what this answer says (kept for "repeat")
    menu: dict[str, str] | None = None  # DTMF digit -> Rasa payload
    offer: str | None = None  # the full answer, when it was shortened and details were offered
    ended: str | None = None  # "hangup" or "transfer"

    @property
    def activities(self) -> list[dict[str, Any]]:
        return self.body["activities"]


def _menu(buttons: Sequence[Any], template: str) -> tuple[dict[str, str], str]:
    digits = iter(MENU_DIGITS)
    menu: dict[str, str] = {}
    items = []
    for button in buttons:
        if not isinstance(button, dict):
            continue
        payload, title = button.get("payload"), button.get("title")
        if not isinstance(payload, str) or not isinstance(title, str):
            continue
        digit = HUMAN_DIGIT if payload == HUMAN_PAYLOAD else next(digits, None)
        if digit is None or digit in menu:
            continue
        menu[digit] = payload
        items.append(template.replace("{title}", title).replace("{digit}", digit))
    return menu, speakable("，".join(items))


class _Speech:
    """The message activities of one answer, with what they said."""

    def __init__(self, settings: RenderSettings) -> None:
        self.settings = settings
        self.activities: list[dict[str, Any]] = []
        self.parts: list[str] = []
        self.spoken: list[str] = []

    def say(self, text: str) -> None:
        if text:
            self.parts.append(text)

    def flush(self) -> None:
        if not self.parts:
            return
        if self.settings.ssml:
            text = to_ssml(self.parts, self.settings.language)
        else:
            text = "".join(self.parts)
        self.activities.append({"type": "message", "text": text})
        self.spoken.extend(self.parts)
        self.parts = []

    def event(self, event: dict[str, Any]) -> None:
        self.flush()
        self.activities.append(event)


def hangup_event(reason: str) -> dict[str, Any]:
    return {"type": "event", "name": "hangup", "activityParams": {"hangupReason": reason}}


def transfer_event(target: str, reason: str, context: CallContext) -> dict[str, Any]:
    headers = [{"name": "X-Minsheng-Reason", "value": reason}]
    if context.conversation:
        headers.append({"name": "X-Minsheng-Conversation", "value": context.conversation})
    return {
        "type": "event",
        "name": "transfer",
        "activityParams": {
            "transferTarget": target,
            "handoverReason": context.summary or reason,
            "transferSipHeaders": headers,
        },
    }


def _opening(settings: RenderSettings, context: CallContext) -> list[dict[str, Any]]:
    opening: list[dict[str, Any]] = []
    if context.barge_in:
        opening.append({"type": "event", "name": "abortPrompts"})
    if context.start and settings.session_params:
        opening.append(
            {"type": "event", "name": "config", "sessionParams": dict(settings.session_params)}
        )
    return opening


def build_voice_response(
    messages: Sequence[Mapping[str, Any]],
    copy: VoiceCopy,
    settings: RenderSettings,
    context: CallContext,
) -> Rendered:
    """The gateway's answer to one request, from the bot messages Rasa produced for it."""
    speech = _Speech(settings)
    speech.activities.extend(_opening(settings, context))
    menu: dict[str, str] | None = None
    full: list[str] = []
    shortened = repeated = False
    ended: str | None = None
    for message in messages:
        if ended:
            break
        text = message.get("text")
        if isinstance(text, str):
            spoken = speakable(text)
            if spoken:
                full.append(spoken)
                short, cut = shorten(spoken, settings.max_chars)
                shortened = shortened or cut
                speech.say(short)
        buttons = message.get("buttons")
        if isinstance(buttons, list) and buttons:
            button_menu, hint = _menu(buttons, copy.menu_item)
            if button_menu:
                menu = button_menu
                speech.say(hint)
        custom = message.get("custom")
        action = custom.get("voice_action") if isinstance(custom, dict) else None
        reason = str(custom.get("reason") or action) if isinstance(custom, dict) else ""
        if action == "repeat":
            repeated = True
            for part in context.previous:
                speech.say(part)
        elif action == "hangup":
            speech.event(hangup_event(reason[:64]))
            ended = "hangup"
        elif action == "transfer":
            speech.event(transfer_event(settings.transfer_target, reason[:64], context))
            ended = "transfer"
    offer = None
    if shortened and not ended and copy.offer_details:
        speech.say(speakable(copy.offer_details))
        offer = "".join(full)
    speech.flush()
    spoken = context.previous if repeated else tuple(speech.spoken)
    return Rendered({"activities": speech.activities}, spoken, menu, offer, ended)


def build_error_response(
    copy: VoiceCopy, settings: RenderSettings, context: CallContext
) -> Rendered:
    """When the assistant itself failed: an apology and a transfer to the hotline queue, so a
    caller is never left in silence."""
    messages: list[dict[str, Any]] = []
    if copy.technical_problem:
        messages.append({"text": copy.technical_problem})
    messages.append({"custom": {"voice_action": "transfer", "reason": "bot_error"}})
    return build_voice_response(messages, copy, settings, context)
