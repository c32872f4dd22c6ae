"""Fuzzing the REST channel's request parsing (channels/rest.py ``parse_rest_body``): any body
is parsed or refused with :class:`BadRequest` (400/413); an accepted request keeps the
documented shapes (sender: 1-128 letters, digits or ``. : @ _ -``, no line break; a cleaned,
non-empty message)."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from channels.rest import BadRequest, parse_rest_body
from tests.channels.fuzz.strategies import bodies, dumps, json_values, nested
from tests.fuzzing import fuzz_settings

pytestmark = pytest.mark.unit

SENDER = re.compile(r"[\w.:@\-]{1,128}")
senders = st.one_of(st.from_regex(SENDER, fullmatch=True), st.text(max_size=140))
messages = st.one_of(st.text(max_size=300), st.text(max_size=3000))


@fuzz_settings(150)
@given(body=bodies({"sender": senders, "message": messages, "metadata": json_values}))
@example(body=nested(30_000))  # found while fuzzing: a RecursionError escaped as a 500
@example(body=nested(10_000, "{\"a\":", "}"))
# found while fuzzing: "$" let a trailing line break through
@example(body=dumps({"sender": "u1\n", "message": "你好"}))
@example(body=dumps({"sender": "u1", "message": "/restart"}))
def test_any_body_is_parsed_or_refused(body: bytes) -> None:
    try:
        parsed = parse_rest_body(body, max_message_chars=2000)
    except BadRequest as error:
        assert error.status in (400, 413)
        assert error.as_json()["error"]
        return
    assert SENDER.fullmatch(parsed.sender), parsed.sender
    assert parsed.text and parsed.text == parsed.text.strip()
    assert len(parsed.text) <= 2000 or parsed.too_long
    assert isinstance(parsed.metadata, dict)


def test_deeply_nested_json_is_a_400_not_a_500():
    with pytest.raises(BadRequest) as caught:
        parse_rest_body(nested(30_000))
    assert (caught.value.status, caught.value.code) == (400, "invalid_json")


def test_a_sender_with_a_trailing_line_break_is_refused():
    with pytest.raises(BadRequest) as caught:
        parse_rest_body(dumps({"sender": "u1\n", "message": "你好"}))
    assert caught.value.code == "invalid_sender"
