"""Fuzzing the web chat channel's payload parsing (channels/webchat.py): socket.io
``user_uttered`` events, metadata, bot-message rendering and feedback bodies. Events are
turned into an utterance or ignored; feedback is parsed or refused with ``BadRequest``; what is
accepted keeps the documented shapes."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from channels.rest import BadRequest
from channels.webchat import (
    clean_metadata,
    parse_feedback,
    parse_user_uttered,
    render_bot_message,
    valid_session_id,
)
from tests.channels.fuzz.strategies import bodies, dumps, json_values, nested
from tests.fuzzing import fuzz_settings

pytestmark = pytest.mark.unit

SESSION = re.compile(r"[A-Za-z0-9_.:@\-]{1,128}")
events = st.one_of(
    json_values,
    st.fixed_dictionaries({}, optional={
        "message": st.text(max_size=200) | json_values,
        "session_id": st.text(max_size=20) | json_values,
        "metadata": json_values | st.text(max_size=50),
    }),
)


@fuzz_settings(150)
@given(data=events, session=st.none() | st.from_regex(SESSION, fullmatch=True))
@example(data={"message": "你好", "metadata": "[" * 5000 + "]" * 5000}, session="s1")
def test_user_uttered_events_become_an_utterance_or_nothing(data: object,
                                                            session: str | None) -> None:
    utterance = parse_user_uttered(data, session, max_message_chars=2000)
    if utterance is None:
        return
    assert utterance.session_id == session  # never the event's own session_id
    assert (utterance.text and len(utterance.text) <= 2000) or utterance.too_long
    assert len(utterance.metadata) <= 20
    json.dumps(utterance.metadata)  # plain JSON scalars only


@fuzz_settings(100)
@given(value=json_values | st.text(max_size=140))
@example(value="s1\n")
def test_session_ids_are_exactly_the_documented_shape(value: object) -> None:
    accepted = valid_session_id(value)
    assert accepted is None or SESSION.fullmatch(accepted), accepted


@fuzz_settings(100)
@given(raw=json_values | st.text(max_size=100))
def test_metadata_is_cleaned_to_short_scalars(raw: object) -> None:
    cleaned = clean_metadata(raw)
    assert len(cleaned) <= 20
    for value in cleaned.values():
        assert value is None or isinstance(value, (bool, int, float, str))
        assert not isinstance(value, str) or len(value) <= 200


@fuzz_settings(100)
@given(message=st.dictionaries(
    st.sampled_from(["text", "buttons", "quick_replies", "image", "attachment", "custom",
                     "kb_id", "utter_action", "response", "template_name"]),
    json_values, max_size=6))
def test_any_bot_message_renders_to_json_or_nothing(message: dict) -> None:
    rendered = render_bot_message(message, "msg-00000001")
    if rendered is not None:
        json.dumps(rendered)
        assert rendered["metadata"]["message_id"] == "msg-00000001"


@fuzz_settings(150)
@given(body=bodies({
    "sender": st.from_regex(SESSION, fullmatch=True) | st.text(max_size=20),
    "message_id": st.from_regex(r"[A-Za-z0-9_\-]{8,64}", fullmatch=True),
    "answer_hash": st.from_regex(r"[0-9a-f]{8,64}", fullmatch=True),
    "kb_id": st.text(max_size=20),
    "rating": st.sampled_from(["up", "down", "UP", ""]),
}))
@example(body=nested(2000))
@example(body=dumps({"sender": "s1\n", "message_id": "abcdefgh", "rating": "up"}))
def test_feedback_bodies_are_parsed_or_refused(body: bytes) -> None:
    try:
        feedback = parse_feedback(body)
    except BadRequest as error:
        assert error.status in (400, 413)
        return
    assert SESSION.fullmatch(feedback.sender), feedback.sender
    assert feedback.rating in ("up", "down")
    assert (feedback.message_id is None) != (feedback.answer_hash is None)
