"""Answers residents' questions from the knowledge base: answer, clarify, or an honest none."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import analytics
from actions.responses import response_template
from knowledge.citation import format_source_line
from knowledge.model import Hit, SearchResult
from knowledge.service import KnowledgeService, KnowledgeUnavailable

logger = logging.getLogger(__name__)

MEDICAL_AREA = "医疗"


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
        if result.outcome == "answer" and result.hits:
            hit = result.hits[0]
            self._answer(dispatcher, domain, channel, hit)
            return [SlotSet("kb_last_id", hit.id)]
        if result.outcome == "clarify" and result.hits:
            buttons = [
                {"title": h.question or h.title, "payload": f'/ask_question{{"kb_id": "{h.id}"}}'}
                for h in result.hits[:3]
            ]
            dispatcher.utter_message(response="utter_knowledge_clarify", buttons=buttons)
            return [SlotSet("kb_last_id", None)]
        dispatcher.utter_message(response="utter_knowledge_none")
        await analytics.record_unanswered(query, channel, tracker.sender_id)
        return [SlotSet("kb_last_id", None)]

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
