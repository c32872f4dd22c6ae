"""Every button of the domain, rendered by Rasa as in a conversation: its payload reaches the
resident as ``/intent`` or ``/intent{"entity": "value"}`` with a known intent and entity (or
as plain words, sent back as if typed: "上午"), and
rendering it logs nothing (a single-brace payload makes Rasa log an ERROR with a traceback at
every rendering: it reads ``{"area": "养老"}`` as a slot name; bot/domain/basics.yml)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from rasa.core.nlg import interpolator
from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain

from tests.support import ROOT

PAYLOAD = re.compile(r"^/(?P<intent>\w+)(?P<entities>\{.*\})?$")


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "bot" / "domain"))


class LoggedErrors:
    """Stands in for the interpolator's structlog logger and keeps what it was asked to log."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def exception(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    error = warning = exception


def rendered_buttons(domain: Domain) -> list[tuple[str, str | None, dict[str, str]]]:
    """(response, channel, button) for every button, rendered with every slot empty (the
    buttons only: a text's placeholders may be filled by the action that sends it)."""
    slots = {slot.name: None for slot in domain.slots}
    found = []
    for name, variants in domain.responses.items():
        for variant in variants:
            if not variant.get("buttons"):
                continue
            channel = variant.get("channel")
            only_buttons = {"text": "", "buttons": variant["buttons"]}
            nlg = TemplatedNaturalLanguageGenerator({name: [only_buttons]})
            message = nlg.generate_from_slots(name, slots, channel or "rest")
            found.extend((name, channel, b) for b in (message or {}).get("buttons") or [])
    return found


def test_every_payload_is_an_intent_with_known_entities(domain, monkeypatch):
    logged = LoggedErrors()
    monkeypatch.setattr(interpolator, "structlogger", logged)
    buttons = rendered_buttons(domain)
    assert len(buttons) > 40  # the menus, the ticket categories, the home services …
    for name, channel, button in buttons:
        where = f"{name} (channel {channel}): {button['payload']}"
        if not button["payload"].startswith("/"):
            assert not re.search(r"[{}]", button["payload"]), where  # typed words
            continue
        match = PAYLOAD.match(button["payload"])
        assert match, where
        assert match["intent"] in domain.intents, where
        if match["entities"]:
            entities = json.loads(match["entities"])
            assert isinstance(entities, dict) and set(entities) <= set(domain.entities), where
    assert logged.events == []


def test_a_single_brace_payload_is_what_the_check_catches(domain, monkeypatch):
    logged = LoggedErrors()
    monkeypatch.setattr(interpolator, "structlogger", logged)
    nlg = TemplatedNaturalLanguageGenerator(
        {"utter_x": [{"text": "选", "buttons": [{"title": "养老",
                                                 "payload": '/choose_area{"area": "养老"}'}]}]})
    message = nlg.generate_from_slots("utter_x", {"area": None}, "rest")
    assert message["buttons"][0]["payload"] == '/choose_area{"area": "养老"}'
    assert [event for event, _ in logged.events] == ["interpolator.interpolate.text"]
