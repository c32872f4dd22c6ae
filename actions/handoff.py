""""转人工", and the handoff after repeated failures: queue the conversation for an agent, or
say when agents are available and offer a 12345 ticket instead.

What happens (``decide``), and what the resident hears (:data:`RESPONSES`):

- ``voice``: the gateway transfers the call to the hotline's own queue (the ``channel: voice``
  variant of ``utter_human_handoff``); nothing is queued here.
- ``no_desk``: no agent desk (``MINSHENG_AGENT_HOURS=off``, no Rasa server serving the agent
  API, or no Redis): the 12345 hotline instead.
- ``closed``: outside the service hours: when agents are back, and a 12345 ticket button.
- ``queued`` / ``already``: queued now (with a summary of the conversation), or earlier.

The queue is :mod:`handoff`; the service hours :mod:`handoff.hours`.
"""

from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timezone
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.responses import response_template
from handoff import model
from handoff.hours import HoursError, Schedule, schedule_from_env
from handoff.store import HandoffStore, StoreUnavailable
from privacy import mask_text

logger = logging.getLogger(__name__)

FAILURES_SLOT = "kb_failures"
FAILURES_BEFORE_HANDOFF = 2
VOICE, NO_DESK, CLOSED, QUEUED, ALREADY = "voice", "no_desk", "closed", "queued", "already"

RESPONSES: dict[tuple[str, str], tuple[str, ...]] = {
    (model.REASON_REQUEST, VOICE): ("utter_human_handoff",),
    (model.REASON_REQUEST, NO_DESK): ("utter_human_handoff",),
    (model.REASON_REQUEST, CLOSED): ("utter_human_out_of_hours",),
    (model.REASON_REQUEST, QUEUED): ("utter_human_queued",),
    (model.REASON_REQUEST, ALREADY): ("utter_human_already_queued",),
    (model.REASON_REPEATED_FAILURE, VOICE): ("utter_knowledge_none",),
    (model.REASON_REPEATED_FAILURE, NO_DESK): ("utter_knowledge_none",),
    (model.REASON_REPEATED_FAILURE, CLOSED): ("utter_knowledge_none", "utter_human_out_of_hours"),
    (model.REASON_REPEATED_FAILURE, QUEUED): ("utter_human_queued_after_failures",),
    (model.REASON_REPEATED_FAILURE, ALREADY): ("utter_knowledge_none",),
}

_store: HandoffStore | None = None


def now() -> datetime:
    """The current time (tests replace it)."""
    return datetime.now(timezone.utc)


def store() -> HandoffStore:
    global _store
    if _store is None:
        _store = HandoffStore.from_env(os.environ)
    return _store


async def close() -> None:
    global _store
    if _store is not None:
        await _store.close()
        _store = None


def schedule() -> Schedule | None:
    try:
        return schedule_from_env(os.environ)
    except HoursError as error:
        logger.error("handoff: %s; no agent desk until it is fixed", error)
        return None


# --- wording pieces from the domain (no Chinese in Python) -----------------------------------


def describe_hours(sched: Schedule, domain: dict[str, Any], channel: str | None) -> str:
    """``周一至周五 09:00-18:00`` from the domain's day names and templates."""
    names = response_template(domain, "utter_human_day_names", channel).split()
    span = response_template(domain, "utter_human_day_span", channel)
    separator = response_template(domain, "utter_human_hours_separator", channel)
    grouped: dict[tuple[int, int], list[str]] = {}
    for first, last, start, end in sched.spans():
        grouped.setdefault((first, last), []).append(f"{start}-{end}")
    parts = []
    for (first, last), times in sorted(grouped.items()):
        days = names[first] if first == last else span.format(first=names[first],
                                                               last=names[last])
        parts.append(f"{days} {' '.join(times)}")
    return separator.join(parts)


def describe_moment(moment: datetime, domain: dict[str, Any], channel: str | None) -> str:
    """``周一 09:00``."""
    names = response_template(domain, "utter_human_day_names", channel).split()
    return f"{names[moment.weekday()]} {moment:%H:%M}"


# --- the decision ----------------------------------------------------------------------------


async def hand_over(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], reason: str
) -> str:
    """Queues the conversation if agents can take it, says what happened; returns the case."""
    channel = tracker.get_latest_input_channel()
    sched = schedule()
    params: dict[str, Any] = {}
    case = await _decide(tracker, reason, channel, sched)
    if case == CLOSED and sched is not None:
        opens = sched.next_open(now())
        if opens is None:
            case = NO_DESK
        else:
            params = {"hours": describe_hours(sched, domain, channel),
                      "next_open": describe_moment(opens, domain, channel)}
    logger.info("handoff: %s on %s (%s)", case, channel, reason)
    for name in RESPONSES[(reason, case)]:
        dispatcher.utter_message(response=name, **(params if name.endswith("hours") else {}))
    return case


async def _decide(tracker: Tracker, reason: str, channel: str | None,
                  sched: Schedule | None) -> str:
    if channel == "voice":
        return VOICE
    queue = store()
    if sched is None or not sched.desk or not queue.available:
        return NO_DESK
    try:
        if not await queue.desk_served():
            return NO_DESK
        if not sched.is_open(now()):
            return CLOSED
        stamp = time.time()
        record = model.Handoff(
            id=model.conversation_id(tracker.sender_id),
            sender=tracker.sender_id,
            channel=channel or "rest",
            reason=reason,
            summary=model.build_summary(tracker.events, tracker.slots, tracker.active_loop_name,
                                        redact=mask_text),
            created=stamp,
            updated=stamp,
        )
        _, queued = await queue.enqueue(record)
    except StoreUnavailable as error:
        logger.error("handoff: the agent queue is unavailable: %s", error)
        return NO_DESK
    return QUEUED if queued else ALREADY


class ActionRequestHuman(Action):
    """The resident asked for a person ("转人工", the 转人工 button or menu, DTMF 0)."""

    def name(self) -> str:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        await hand_over(dispatcher, tracker, domain, model.REASON_REQUEST)
        return [SlotSet(FAILURES_SLOT, 0)]
