"""The agent queue's records and rules, as pure functions (no Redis, no clock).

A conversation handed to a person is, in turn::

    (none) ──enqueue──▶ waiting ──take(agent)──▶ held ──release(agent)──▶ (none)
                          │                       │
                          └──────release──────────┴── idle longer than the hold limit ──▶ (none)

- **waiting**: in the queue. The bot keeps answering; what the resident says is also kept for
  the agent. Asking again does not queue twice.
- **held**: one agent has it. The bot is silent: the resident's messages go to the agent.
  Only that agent may write or hand it back; another agent's ``take`` is a conflict. A held
  conversation nobody wrote in for ``idle_seconds`` goes back to the bot by itself, so a
  forgotten hold cannot silence the bot for a resident for long.
- **(none)**: the bot answers as usual.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

WAITING = "waiting"
HELD = "held"
STATES = (WAITING, HELD)

REASON_REQUEST = "request"
REASON_REPEATED_FAILURE = "repeated_failure"
REASONS = (REASON_REQUEST, REASON_REPEATED_FAILURE)

SUMMARY_MESSAGES = 5
SUMMARY_MESSAGE_CHARS = 200
_AGENT = re.compile(r"^[\w.@\-]{1,64}$")
_CONVERSATION_ID = re.compile(r"^[0-9a-f]{16}$")


class TransitionError(Exception):
    """A step the queue does not allow: ``code`` is ``not_found``, ``taken`` (held by another
    agent) or ``not_held`` (not held by this agent)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def conversation_id(sender_id: str) -> str:
    """The id agents use for a resident's conversation: 16 hex digits of its sender's hash (so
    sender ids, which can be WeChat openids, never appear in URLs or logs)."""
    return hashlib.sha256(sender_id.encode("utf-8")).hexdigest()[:16]


def valid_conversation_id(value: object) -> str | None:
    return value if isinstance(value, str) and _CONVERSATION_ID.fullmatch(value) else None


def valid_agent(value: object) -> str | None:
    """An agent's name as given to the API: 1-64 letters, digits or ``. @ _ -``."""
    return value if isinstance(value, str) and _AGENT.fullmatch(value) else None


@dataclass(frozen=True)
class Summary:
    """What an agent sees first: the resident's last messages and where they were."""

    messages: tuple[str, ...] = ()
    area: str | None = None
    form: str | None = None
    kb_last_id: str | None = None


@dataclass(frozen=True)
class Handoff:
    """One conversation in the agent queue."""

    id: str
    sender: str
    channel: str
    reason: str
    state: str = WAITING
    summary: Summary = field(default_factory=Summary)
    created: float = 0.0
    updated: float = 0.0
    agent: str | None = None
    taken: float | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Handoff:
        data = json.loads(raw)
        summary = data.pop("summary", None) or {}
        summary["messages"] = tuple(summary.get("messages") or ())
        return cls(summary=Summary(**summary), **data)

    def public(self, now: float) -> dict[str, Any]:
        """What the agent API shows (the sender id stays inside)."""
        return {
            "id": self.id,
            "state": self.state,
            "channel": self.channel,
            "reason": self.reason,
            "summary": {"messages": list(self.summary.messages), "area": self.summary.area,
                        "form": self.summary.form, "kb_last_id": self.summary.kb_last_id},
            "agent": self.agent,
            "created": int(self.created),
            "waiting_seconds": max(0, int((self.taken or now) - self.created)),
            "idle_seconds": max(0, int(now - self.updated)),
        }


# --- transitions -----------------------------------------------------------------------------


def lapsed(record: Handoff | None, now: float, idle_seconds: float) -> bool:
    """A held conversation nobody wrote in for ``idle_seconds`` is back with the bot."""
    return record is not None and record.state == HELD and now - record.updated > idle_seconds


def enqueue(record: Handoff | None, new: Handoff) -> tuple[Handoff, bool]:
    """Queues ``new`` unless the conversation is already queued or held: (record, queued?)."""
    if record is not None:
        return record, False
    return new, True


def take(record: Handoff | None, agent: str, now: float) -> Handoff:
    if record is None:
        raise TransitionError("not_found", "no such conversation in the queue")
    if record.state == HELD:
        if record.agent == agent:
            return record
        raise TransitionError("taken", f"already taken by {record.agent}")
    return replace(record, state=HELD, agent=agent, taken=now, updated=now)


def check_holder(record: Handoff | None, agent: str) -> Handoff:
    """The record if ``agent`` holds it (to write to the resident)."""
    if record is None:
        raise TransitionError("not_found", "no such conversation in the queue")
    if record.state != HELD:
        raise TransitionError("not_held", "take the conversation first")
    if record.agent != agent:
        raise TransitionError("taken", f"held by {record.agent}")
    return record


def release(record: Handoff | None, agent: str) -> None:
    """Hands the conversation back to the bot: by its holder, or by any agent while it is
    still waiting (a request nobody needs to answer)."""
    if record is None:
        raise TransitionError("not_found", "no such conversation in the queue")
    if record.state == HELD and record.agent != agent:
        raise TransitionError("taken", f"held by {record.agent}")


def touch(record: Handoff, now: float) -> Handoff:
    return replace(record, updated=now)


# --- summary ---------------------------------------------------------------------------------


def _is_payload(text: str) -> bool:
    return text.startswith("/")


def build_summary(
    events: Iterable[Mapping[str, Any]],
    slots: Mapping[str, Any],
    active_form: str | None = None,
    *,
    redact: Callable[[str], str] = lambda text: text,
    max_messages: int = SUMMARY_MESSAGES,
    max_chars: int = SUMMARY_MESSAGE_CHARS,
) -> Summary:
    """The resident's last typed messages (not button payloads, each cut to ``max_chars`` and
    passed through ``redact``), the area they chose and the form they were in."""
    said = [str(e.get("text") or "").strip() for e in events if e.get("event") == "user"]
    typed = [t for t in said if t and not _is_payload(t)]
    messages = tuple(redact(t)[:max_chars] for t in typed[-max_messages:])
    area = slots.get("area")
    kb_last_id = slots.get("kb_last_id")
    return Summary(
        messages=messages,
        area=area if isinstance(area, str) and area else None,
        form=active_form or None,
        kb_last_id=kb_last_id if isinstance(kb_last_id, str) and kb_last_id else None,
    )


def failure_streak(previous: object, outcome: str) -> int:
    """Knowledge outcomes in a row that found nothing: ``none`` adds one, anything else
    starts again."""
    count = int(previous) if isinstance(previous, int | float) and previous > 0 else 0
    return count + 1 if outcome == "none" else 0
