"""办件进度: the progress of a government-service application by its number
(application_form → action_application_status)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients import BackendRejected, NotFound, get_backends
from actions.forms import (
    FormSubmitAction,
    TaskFormValidator,
    day_label,
    extract_reference,
)

FORM, NUMBER = "application_form", "application_number"
_NUMBER = re.compile(r"SQ\d{12}")


def application_number_in(text: str) -> str | None:
    clean = re.sub(r"[\s\-—_]", "", unicodedata.normalize("NFKC", text or "")).upper()
    match = _NUMBER.search(clean)
    if match and not re.match(r"\d", clean[match.end():match.end() + 1]):
        return match.group(0)
    return None


class ValidateApplicationForm(TaskFormValidator):
    def name(self) -> str:
        return "validate_application_form"

    async def extract_application_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return extract_reference(tracker, FORM, NUMBER, application_number_in, r"\d{3,}|SQ")

    async def validate_application_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        number = application_number_in(str(value or ""))
        if not number:
            dispatcher.utter_message(response="utter_application_number_invalid")
        return {NUMBER: number}


class ActionApplicationStatus(FormSubmitAction):
    form = FORM
    slots = (NUMBER,)
    needs_confirmation = False

    def name(self) -> str:
        return "action_application_status"

    def required(self, tracker: Tracker) -> tuple[str, ...]:
        return (NUMBER,)

    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        number = str(tracker.get_slot(NUMBER))
        try:
            application = await get_backends().applications.get_application(number)
        except (NotFound, BackendRejected):
            dispatcher.utter_message(response="utter_application_not_found", number=number)
            return []
        params = {
            "number": application.number, "matter": application.matter,
            "department": application.department, "applicant": application.applicant_masked,
            "state": application.state,
            "accepted_at": application.accepted_at.strftime("%Y-%m-%d %H:%M"),
        }
        if application.closed:
            dispatcher.utter_message(response="utter_application_closed", **params)
        else:
            dispatcher.utter_message(response="utter_application_status",
                                     promised_by=day_label(domain, application.promised_by),
                                     **params)
        if application.state_code == "supplement":
            dispatcher.utter_message(response="utter_application_supplement",
                                     department=application.department)
        return []
