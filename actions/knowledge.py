"""Answers residents' questions from the knowledge base: answer, clarify, or an honest none."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import analytics, handoff
from actions.responses import response_template
from handoff.model import REASON_REPEATED_FAILURE, failure_streak
from knowledge.citation import format_source_line
from knowledge.model import Hit, SearchResult
from knowledge.service import KnowledgeService, KnowledgeUnavailable

logger = logging.getLogger(__name__)

MEDICAL_AREA = "医疗"
HUMAN_PAYLOAD = "/request_human"  # the intent that hands over to an agent (bot/domain)


class ActionAnswerQuestion(Action):
    """Searches the knowledge base with the resident's message and replies with one of three
    outcomes. It never writes an answer of its own: the text is the entry's, the wording around
    it is the domain's."""

    def name(self) -> str:
        return "action_answer_question"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        service = KnowledgeService.shared()
        picked = next(tracker.get_latest_entity_values("kb_id"), None)
        query = (tracker.latest_message.get("text") or "").strip()
        try:
            if picked:
                hit = await service.get(str(picked))
                result = SearchResult(query=query, outcome="answer" if hit else "none",
                                      hits=[hit] if hit else [])
            else:
                result = await service.search(query, top_k=3)
        except KnowledgeUnavailable:
            logger.exception("knowledge index unavailable")
            dispatcher.utter_message(response="utter_knowledge_unavailable")
            return []

        channel = tracker.get_latest_input_channel()
        outcome = result.outcome if result.hits or result.outcome == "none" else "none"
        top = result.hits[0] if result.hits and outcome != "none" else None
        area = top.area if top is not None else tracker.get_slot("area")
        await analytics.record_question(
            query, outcome, kb_id=top.id if top else None, area=area, channel=channel,
            sender_id=tracker.sender_id)
        failures = failure_streak(tracker.get_slot(handoff.FAILURES_SLOT), outcome)
        events = self._failures(tracker, failures)
        if outcome == "answer" and top is not None:
            self._answer(dispatcher, domain, channel, top)
            return [SlotSet("kb_last_id", top.id), *events]
        if outcome == "clarify":
            buttons = [
                {"title": h.question or h.title, "payload": f'/ask_question{{"kb_id": "{h.id}"}}'}
                for h in result.hits[:3]
            ]
            # "none of these": the way out for a question the base probably does not cover
            buttons.append({
                "title": response_template(domain, "utter_knowledge_clarify_human", channel),
                "payload": HUMAN_PAYLOAD,
            })
            dispatcher.utter_message(response="utter_knowledge_clarify", buttons=buttons)
            return [SlotSet("kb_last_id", None), *events]
        await analytics.record_unanswered(query, channel, tracker.sender_id, area)
        if failures >= handoff.FAILURES_BEFORE_HANDOFF:
            # Repeated failure: an agent takes over (or, outside the hours, a ticket is offered).
            await handoff.hand_over(dispatcher, tracker, domain, REASON_REPEATED_FAILURE)
            events = self._failures(tracker, 0)
        elif result.elsewhere:
            dispatcher.utter_message(response="utter_knowledge_elsewhere",
                                     place=result.elsewhere)
        else:
            dispatcher.utter_message(response="utter_knowledge_none")
        return [SlotSet("kb_last_id", None), *events]

    @staticmethod
    def _failures(tracker: Tracker, count: int) -> list[dict[str, Any]]:
        """Sets the count of failures in a row, only when it changes."""
        previous = tracker.get_slot(handoff.FAILURES_SLOT)
        if (previous or 0) == count:
            return []
        return [SlotSet(handoff.FAILURES_SLOT, count)]

    @staticmethod
    def _answer(
        dispatcher: CollectingDispatcher, domain: dict[str, Any], channel: str | None, hit: Hit
    ) -> None:
        source = format_source_line(
            response_template(domain, "utter_source_line", channel), hit.source, hit.effective
        )
        link_template = response_template(domain, "utter_knowledge_link", channel)
        links = "".join(
            link_template.format(title=link.title, url=link.url) for link in hit.links
        )
        dispatcher.utter_message(
            response="utter_knowledge_answer",
            answer=hit.answer.strip(),
            spoken=(hit.spoken or hit.answer).strip(),
            source=source,
            issuer=hit.source.issuer,
            links=links,
            kb_id=hit.id,
        )
        if hit.uncertain:
            dispatcher.utter_message(response="utter_knowledge_uncertain")
        if hit.area == MEDICAL_AREA:
            dispatcher.utter_message(response="utter_medical_notice")
