"""What the voice channel does with each gateway activity before Rasa sees it: pure functions.

The channel keeps a little state per call (:class:`CallState`, stored in Redis): how many
recognitions in a row failed, and the question the caller is expected to answer (a
low-confidence confirmation, the offer to send details, or a DTMF menu). :func:`decide` turns
one activity and that state into a :class:`Step`: the message to give Rasa (text, or an intent
payload such as ``/voice_no_input``) and the new state. The wording of every question lives in
``bot/domain/voice.yml``; this module only chooses which intent to send.

Recognition rules:

- confidence below ``reject_below``, or nothing recognised: a failed recognition
  (``/voice_not_understood``);
- confidence below ``confirm_below``: ``/voice_confirm_heard{"voice_heard": ...}``, and the next
  "是"/DTMF 1 sends the heard text on, "不是"/DTMF 2 counts as a failed recognition;
- ``failures_before_offer`` failed recognitions in a row: ``/voice_offer_dtmf_or_human``
  (a DTMF menu whose 0 transfers to the hotline queue);
- no input: the first time ``/voice_no_input``, then the DTMF/human offer, then
  ``/voice_silence_hangup``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from channels.text import MESSAGE_TOO_LONG_INTENT, clean_message
from channels.voice.protocol import Activity, dtmf_digits, no_input_count

HEARD_KEPT = 6  # caller utterances kept for the transfer summary
HEARD_CHARS = 60
CONFIRM_ECHO_CHARS = 40  # how much of a doubtful recognition the confirmation repeats

_PARTICLES = re.compile(r"[啊呀吧呢哦嘛哈呐噢哇的了]+$")
_NOISE = re.compile(r"[\s，。！？、,.!?~～…；;：:\"'“”‘’]+")
YES = frozenset({
    "是", "是的", "对", "对的", "对对", "对对对", "是是", "嗯", "嗯嗯", "好", "好好", "行", "可以",
    "要", "需要", "没错", "正确", "确定", "对头", "是这个", "就是", "就是这个", "是啊", "对呀",
    "yes", "ok",
})
NO = frozenset({
    "不是", "不对", "不是这个", "错了", "错", "不", "没有", "不要", "不用", "不需要", "否", "算了",
    "不是的", "不对不对", "no",
})


@dataclass(frozen=True)
class Thresholds:
    confirm_below: float = 0.6
    reject_below: float = 0.3
    failures_before_offer: int = 2
    no_input_offer_at: int = 2
    no_input_hangup_at: int = 3
    max_message_chars: int = 500

    def __post_init__(self) -> None:
        if not 0 <= self.reject_below <= self.confirm_below <= 1:
            raise ValueError("voice: need 0 <= reject_below <= confirm_below <= 1")
        if self.failures_before_offer < 1 or self.max_message_chars < 1:
            raise ValueError("voice: failures_before_offer and max_message_chars must be >= 1")
        if not 1 <= self.no_input_offer_at <= self.no_input_hangup_at:
            raise ValueError("voice: need 1 <= no_input_offer_at <= no_input_hangup_at")


@dataclass(frozen=True)
class Pending:
    """The question the caller is expected to answer next."""

    kind: Literal["confirm", "offer", "menu"]
    text: str = ""  # confirm: what was heard; offer: the full answer that was shortened
    menu: Mapping[str, str] = field(default_factory=dict)  # DTMF digit -> Rasa payload

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "text": self.text, "menu": dict(self.menu)}

    @classmethod
    def from_json(cls, raw: Any) -> Pending | None:
        if not isinstance(raw, dict) or raw.get("kind") not in ("confirm", "offer", "menu"):
            return None
        menu = raw.get("menu") if isinstance(raw.get("menu"), dict) else {}
        return cls(
            raw["kind"],
            str(raw.get("text") or ""),
            {str(k): str(v) for k, v in menu.items()},
        )


@dataclass(frozen=True)
class CallState:
    failures: int = 0
    pending: Pending | None = None
    heard: tuple[str, ...] = ()

    def remember(self, text: str) -> CallState:
        text = text.strip()[:HEARD_CHARS]
        if not text:
            return self
        return replace(self, heard=(*self.heard, text)[-HEARD_KEPT:])


@dataclass(frozen=True)
class Step:
    """What to do for one activity."""

    state: CallState
    send: str | None = None  # text or intent payload for Rasa; None: nothing to send
    start: bool = False  # the call just started
    caller: str | None = None  # the caller's number, from the start event
    details: tuple[str, str] | None = None  # (medium, full answer) to send by SMS/WeChat
    metadata: Mapping[str, Any] = field(default_factory=dict)


def intent(name: str, **entities: str) -> str:
    """An intent payload for Rasa, with entity values made safe for its payload parser."""
    if not entities:
        return f"/{name}"
    clean = {k: re.sub(r"[\x00-\x1f\x7f]+", " ", v) for k, v in entities.items()}
    return f"/{name}{json.dumps(clean, ensure_ascii=False)}"


def _normal(text: str) -> str:
    text = _NOISE.sub("", text.lower())
    return _PARTICLES.sub("", text) or text


def is_yes(text: str) -> bool:
    return _normal(text) in YES


def is_no(text: str) -> bool:
    normal = _normal(text)
    return normal in NO or (normal.startswith(("不是", "不对")) and len(normal) <= 4)


def _failure(state: CallState, thresholds: Thresholds) -> Step:
    failures = state.failures + 1
    state = replace(state, failures=failures, pending=None)
    if failures >= thresholds.failures_before_offer:
        return Step(state, intent("voice_offer_dtmf_or_human"))
    return Step(state, intent("voice_not_understood"))


def _understood(state: CallState, text: str, heard: str | None = None) -> Step:
    state = replace(state, failures=0, pending=None).remember(heard or text)
    return Step(state, text)


def _details(state: CallState, medium: str) -> Step:
    full = state.pending.text if state.pending else ""
    state = replace(state, failures=0, pending=None)
    return Step(
        state, intent("voice_request_details", details_medium=medium), details=(medium, full)
    )


def _on_dtmf(activity: Activity, state: CallState) -> Step:
    digits = dtmf_digits(activity.value)
    pending = state.pending
    reset = state  # a key press is not a recognition: the failure count stays for the summary
    if digits is None:
        return Step(replace(reset, pending=None), intent("voice_dtmf_menu"))
    if pending is not None and pending.kind == "confirm" and digits in ("1", "2"):
        if digits == "1":
            return _understood(state, pending.text)
        return Step(replace(reset, pending=None), intent("voice_not_understood"))
    if pending is not None and pending.kind == "offer" and digits in ("1", "2"):
        return _details(state, "sms" if digits == "1" else "wechat")
    if pending is not None and pending.kind == "menu" and digits in pending.menu:
        return Step(replace(reset, pending=None), pending.menu[digits])
    if digits == "#":
        return Step(reset, intent("voice_repeat"))
    if len(digits) > 1 and digits.isdigit():
        # several digits keyed in (a ticket or an id number): read as what the caller said
        return _understood(state, digits)
    return Step(replace(reset, pending=None), intent("voice_dtmf_menu"))


def _on_message(activity: Activity, state: CallState, thresholds: Thresholds) -> Step:
    cleaned = clean_message(activity.text, thresholds.max_message_chars)
    if cleaned.too_long:
        return Step(replace(state, pending=None), MESSAGE_TOO_LONG_INTENT)
    # speech is never a button payload: a leading slash is just noise
    text = cleaned.text.lstrip("/").strip()
    if not _normal(text):
        return _failure(state, thresholds)
    pending = state.pending
    if pending is not None and pending.kind == "confirm":
        if is_yes(text):
            return _understood(state, pending.text)
        if is_no(text):
            return _failure(state, thresholds)
    if pending is not None and pending.kind == "offer":
        if "微信" in text:
            return _details(state, "wechat")
        if "短信" in text or is_yes(text):
            return _details(state, "sms")
    confidence = activity.confidence
    if confidence is not None and confidence < thresholds.confirm_below and _emergency(text):
        return _understood(state, text)  # "救命", "着火了": no "did you say …?" first
    if confidence is not None and confidence < thresholds.reject_below:
        return _failure(state, thresholds)
    if confidence is not None and confidence < thresholds.confirm_below:
        echo = text[:CONFIRM_ECHO_CHARS]
        state = replace(state, pending=Pending("confirm", text))
        return Step(state, intent("voice_confirm_heard", voice_heard=echo))
    return _understood(state, text)


def _emergency(text: str) -> bool:
    """A certain emergency (safety/emergency.py's lexicon) in what was recognised."""
    from safety.emergency import detect

    found = detect(text, model=False)
    return found is not None and found.certain


def _on_event(activity: Activity, state: CallState, thresholds: Thresholds) -> Step:
    name = activity.name
    if name == "start":
        caller = activity.parameters.get("caller")
        caller = caller[:64] if isinstance(caller, str) else None
        return Step(CallState(), intent("greet"), start=True, caller=caller)
    if name == "DTMF":
        return _on_dtmf(activity, state)
    if name == "noUserInput":
        count = no_input_count(activity.value)
        if count >= thresholds.no_input_hangup_at:
            return Step(state, intent("voice_silence_hangup"))
        if count >= thresholds.no_input_offer_at:
            return Step(state, intent("voice_offer_dtmf_or_human"))
        return Step(state, intent("voice_no_input"))
    if name == "transferStatus":
        value = activity.value if isinstance(activity.value, dict) else {}
        if value.get("status") == "failed":
            return Step(state, intent("voice_transfer_failed"))
    return Step(state)  # events we do not act on (speechHypothesis, playFinished, ...)


def decide(activity: Activity, state: CallState, thresholds: Thresholds) -> Step:
    """What to do for one activity, given what the call remembers."""
    if activity.type == "message":
        step = _on_message(activity, state, thresholds)
    elif activity.type == "event":
        step = _on_event(activity, state, thresholds)
    else:
        return Step(state)
    metadata: dict[str, Any] = {"activity_id": activity.id, "type": activity.type}
    if activity.type == "message" and activity.confidence is not None:
        metadata["confidence"] = round(activity.confidence, 3)
    if activity.type == "event":
        metadata["event"] = activity.name
    return replace(step, metadata={"voice": metadata})


def summarize(state: CallState, caller: str | None, limit: int = 300) -> str:
    """A short, agent-facing summary of the call for the transfer metadata.

    Labels are plain ASCII (the agent desktop shows them as they are); the caller's number is
    masked, the caller's words are kept as said.
    """
    parts = []
    if caller:
        parts.append(f"caller:{mask_number(caller)}")
    parts.append(f"failures:{state.failures}")
    if state.heard:
        parts.append("said:" + " / ".join(state.heard))
    summary = " | ".join(parts)
    return summary if len(summary) <= limit else summary[: limit - 1] + "…"


def mask_number(number: str) -> str:
    """13812345678 -> 138****5678; short or non-numeric values keep only their last 4 chars."""
    digits = re.sub(r"\D", "", number)
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * max(0, len(number) - 4) + number[-4:]
