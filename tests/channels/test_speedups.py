"""channels.speedups: the action server's answers are validated as Rasa validates them (same
verdicts, same error), with the schema compiled and checked once per process; slots are copied
as ``copy.copy`` copies them."""

from __future__ import annotations

import copy

import jsonschema
import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.slots import (
    AnySlot,
    BooleanSlot,
    CategoricalSlot,
    FloatSlot,
    ListSlot,
    Slot,
    TextSlot,
)
from rasa.shared.core.trackers import DialogueStateTracker

from channels import speedups
from channels.tracker_store import MaskingInMemoryTrackerStore

VALID = {
    "events": [
        {"event": "slot", "name": "phone", "value": "138****5678", "timestamp": None},
        {"event": "active_loop", "name": None},
        {"event": "followup", "name": "action_listen"},
    ],
    "responses": [{"text": "已为您登记，工单号 MS-0001。", "buttons": [], "custom": {}}],
}
INVALID = [
    {"events": [{"name": "phone", "value": "x"}]},  # an event without "event"
    {"events": [{"event": "slot", "value": "x"}]},  # a slot without its name
    {"events": "SlotSet(phone)"},  # events not a list
    {"responses": [{"text": "好"}, "好"]},  # a response that is not an object
    {"events": [{"event": "user", "text": 5}]},  # a user text that is not a string
]


def remote_action() -> RemoteAction:
    return RemoteAction("action_answer_question", None)


def test_building_a_tracker_store_installs_the_compiled_validator() -> None:
    MaskingInMemoryTrackerStore(Domain.empty())
    assert RemoteAction._validate_action_result is speedups._validate_action_result


def test_a_valid_answer_passes() -> None:
    speedups.install()
    assert remote_action()._validate_action_result(VALID) is True
    assert remote_action()._validate_action_result({}) is True


@pytest.mark.parametrize("answer", INVALID)
def test_an_invalid_answer_raises_what_rasa_raises(answer: dict) -> None:
    speedups.install()
    with pytest.raises(jsonschema.ValidationError) as rasa_error:
        jsonschema.validate(answer, RemoteAction.action_response_format_spec())
    with pytest.raises(jsonschema.ValidationError) as ours:
        remote_action()._validate_action_result(answer)
    assert ours.value.message.startswith(rasa_error.value.message)
    assert "Failed to validate Action server response" in ours.value.message
    assert list(ours.value.absolute_path) == list(rasa_error.value.absolute_path)


def test_the_schema_is_checked_once_per_process() -> None:
    speedups.install()
    for _ in range(20):
        remote_action()._validate_action_result(VALID)
    info = speedups._action_response_validator.cache_info()
    assert info.misses == 1
    assert info.hits >= 19


@pytest.mark.parametrize("slot", [
    TextSlot("phone", [{"type": "custom"}], initial_value="138****5678"),
    CategoricalSlot("area", [{"type": "from_entity", "entity": "area"}],
                    values=["政务服务", "养老"], initial_value="养老"),
    ListSlot("dates", [{"type": "custom"}], initial_value=["6月5日"]),
    FloatSlot("age", [{"type": "custom"}], max_value=120, min_value=0),
    BooleanSlot("confirmed", [{"type": "custom"}], initial_value=True),
    AnySlot("scratch", [{"type": "custom"}], influence_conversation=False),
])
def test_a_slot_copy_is_the_copy_python_makes(slot) -> None:
    speedups.install()
    ours = copy.copy(slot)
    del Slot.__copy__  # Python's own shallow copy, through the pickle protocol
    try:
        python = copy.copy(slot)
    finally:
        speedups._installed = False
        speedups.install()
    assert type(ours) is type(python) is type(slot) and ours is not slot
    assert ours.__dict__ == python.__dict__ == slot.__dict__
    ours.value = "changed"  # a copy: setting it leaves the original alone
    assert slot.value != "changed"
    assert ours.mappings is slot.mappings  # shallow, as copy.copy is


def test_a_tracker_keeps_its_own_slot_values() -> None:
    speedups.install()
    domain = Domain.from_dict({"slots": {"phone": {
        "type": "text", "mappings": [{"type": "custom"}]}}})
    first = DialogueStateTracker.from_events("a", [SlotSet("phone", "138****5678")], domain.slots)
    second = DialogueStateTracker.from_events("b", [], domain.slots)
    assert first.get_slot("phone") == "138****5678"
    assert second.get_slot("phone") is None
    assert domain.slots[0].value is None
