"""Fuzzing the voice gateway's AC Bot API parsing (channels/voice/protocol.py): any body is
parsed or refused with :class:`BadRequest` (400/413), and accepted values keep their shapes
(ids usable in Redis keys and logs, confidence in [0, 1], DTMF digits, no-input counts)."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from channels.voice.protocol import (
    MAX_ACTIVITIES,
    MAX_TEXT_CHARS,
    BadRequest,
    dtmf_digits,
    no_input_count,
    parse_activities,
    parse_create_conversation,
    parse_disconnect,
    parse_refresh,
)
from tests.channels.fuzz.strategies import bodies, dumps, json_values, nested
from tests.fuzzing import fuzz_settings

pytestmark = pytest.mark.unit

ID = re.compile(r"[A-Za-z0-9._:@\-]{1,128}")
ids = st.one_of(st.from_regex(ID, fullmatch=True), st.text(max_size=140))
activity = st.fixed_dictionaries(
    {"type": st.sampled_from(["message", "event", "MESSAGE", "other", ""]) | json_values},
    optional={
        "id": ids | json_values,
        "text": st.text(max_size=50) | st.text(min_size=4000, max_size=4100) | json_values,
        "name": st.sampled_from(["start", "DTMF", "noUserInput", "hangup"]) | json_values,
        "value": json_values,
        "parameters": st.dictionaries(
            st.sampled_from(["confidence", "sttConfidence", "x"]),
            st.floats(allow_nan=True, allow_infinity=True) | json_values, max_size=2,
        ) | json_values,
        "language": st.text(max_size=20) | json_values,
    },
)
CONVERSATION = "conv-1"
activities_bodies = bodies({
    "conversation": st.just(CONVERSATION) | ids,
    "activities": st.lists(activity, max_size=MAX_ACTIVITIES + 2) | json_values,
})


@fuzz_settings(150)
@given(body=activities_bodies)
@example(body=nested(30_000))
@example(body=dumps({"conversation": "conv-1\n", "activities": [{"type": "message"}]}))
def test_any_activities_body_is_parsed_or_refused(body: bytes) -> None:
    try:
        request = parse_activities(body, CONVERSATION)
    except BadRequest as error:
        assert error.status in (400, 413) and error.as_json()["error"]
        return
    assert request.conversation == CONVERSATION
    assert 1 <= len(request.activities) <= MAX_ACTIVITIES
    for item in request.activities:
        assert item.id is None or ID.fullmatch(item.id)
        assert isinstance(item.text, str) and len(item.text) <= MAX_TEXT_CHARS
        confidence = item.confidence
        assert confidence is None or (0.0 <= confidence <= 1.0 and not math.isnan(confidence))
        assert item.language is None or len(item.language) <= 16


@fuzz_settings(100)
@given(body=bodies({"conversation": ids, "reason": json_values, "reasonCode": json_values}))
@example(body=b'{"conversation": "a\\n"}')
def test_create_refresh_and_disconnect_bodies_are_parsed_or_refused(body: bytes) -> None:
    for parse in (lambda b: parse_create_conversation(b),
                  lambda b: parse_refresh(b, CONVERSATION),
                  lambda b: parse_disconnect(b, CONVERSATION)):
        try:
            result = parse(body)
        except BadRequest as error:
            assert error.status in (400, 413)
            continue
        conversation = result if isinstance(result, str) else result.conversation
        assert ID.fullmatch(conversation), conversation


@fuzz_settings(100)
@given(value=json_values | st.floats(allow_nan=True, allow_infinity=True))
@example(value="12\n")
@example(value=float("inf"))
def test_dtmf_and_no_input_values_keep_their_shapes(value: object) -> None:
    digits = dtmf_digits(value)
    assert digits is None or re.fullmatch(r"[0-9*#A-D]{1,32}", digits)
    assert 1 <= no_input_count(value) <= 99
