"""The NLU component that turns a certain emergency into the ``emergency`` intent (safety/nlu.py).
Rasa's own classes, no server; the component's place in config.yml is checked too."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from rasa.shared.nlu.training_data.message import Message

from safety.nlu import EMERGENCY_INTENT, KIND_ENTITY, EmergencyDetector, override

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[2]


def classified(text: str, intent: str = "ask_question") -> Message:
    message = Message(data={"text": text})
    message.set("intent", {"name": intent, "confidence": 0.93}, add_to_output=True)
    message.set("intent_ranking", [{"name": intent, "confidence": 0.93},
                                   {"name": "greet", "confidence": 0.07}], add_to_output=True)
    message.set("entities", [{"entity": "area", "value": "医疗"}], add_to_output=True)
    return message


def test_a_certain_emergency_overrides_the_intent_and_adds_its_kind() -> None:
    [message] = EmergencyDetector().process([classified("我爸晕倒了叫不醒")])
    assert message.get("intent") == {"name": EMERGENCY_INTENT, "confidence": 1.0}
    ranking = [r["name"] for r in message.get("intent_ranking")]
    assert ranking == [EMERGENCY_INTENT, "ask_question", "greet"]
    kinds = [e for e in message.get("entities") if e["entity"] == KIND_ENTITY]
    assert [(e["value"], e["extractor"]) for e in kinds] == [("medical", "EmergencyDetector")]
    assert {"entity": "area", "value": "医疗"} in message.get("entities")


@pytest.mark.parametrize("text", ["心脏病报销比例是多少", "/greet", "老人走失了怎么办"])
def test_other_messages_and_possible_emergencies_keep_their_intent(text: str) -> None:
    [message] = EmergencyDetector().process([classified(text)])
    assert message.get("intent")["name"] == "ask_question"


def test_inside_a_form_a_free_text_answer_is_overridden_too() -> None:
    parse = {"intent": {"name": "inform", "confidence": 0.6}, "intent_ranking": [],
             "entities": []}
    assert override(parse, "我家楼道里着火了") == "fire"
    assert parse["intent"]["name"] == EMERGENCY_INTENT


def test_the_component_is_last_in_the_pipeline() -> None:
    config = yaml.safe_load((ROOT / "config.yml").read_text(encoding="utf-8"))
    assert config["pipeline"][-1]["name"] == "safety.nlu.EmergencyDetector"
