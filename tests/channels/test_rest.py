import json

import pytest

from channels.rest import BadRequest, RestInput, parse_rest_body

pytestmark = pytest.mark.unit


def body(**fields) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8")


def rejected(raw: bytes, **limits) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        parse_rest_body(raw, **limits)
    return caught.value


def test_a_valid_request_is_parsed():
    parsed = parse_rest_body(body(sender="u1", message="你好", metadata={"page": "/x"}))
    assert (parsed.sender, parsed.text, parsed.too_long) == ("u1", "你好", False)
    assert parsed.metadata == {"page": "/x"}


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"not json", 400, "invalid_json"),
        (b"\xff\xfe\x00", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b'"just a string"', 400, "invalid_json"),
        (body(message="你好"), 400, "missing_sender"),
        (body(sender="  ", message="你好"), 400, "missing_sender"),
        (body(sender=12, message="你好"), 400, "invalid_sender"),
        (body(sender="a b", message="你好"), 400, "invalid_sender"),
        (body(sender="x" * 129, message="你好"), 400, "invalid_sender"),
        (body(sender="u1"), 400, "missing_message"),
        (body(sender="u1", message=["你好"]), 400, "invalid_message"),
        (body(sender="u1", message=""), 400, "empty_message"),
        (body(sender="u1", message=" \n\t "), 400, "empty_message"),
        (body(sender="u1", message="\u200b\x00"), 400, "empty_message"),
        (body(sender="u1", message="你好", metadata="x"), 400, "invalid_metadata"),
    ],
)
def test_bad_requests_get_a_clear_4xx(raw, status, code):
    error = rejected(raw)
    assert (error.status, error.code) == (status, code)
    assert error.as_json()["error"] == code
    assert error.as_json()["detail"]


def test_an_oversized_body_is_refused_before_parsing():
    error = rejected(b"{" + b" " * 2000 + b"}", max_body_bytes=1000)
    assert (error.status, error.code) == (413, "body_too_large")


def test_an_over_long_message_is_accepted_as_too_long():
    parsed = parse_rest_body(body(sender="u1", message="字" * 5000), max_message_chars=2000)
    assert parsed.too_long
    assert parsed.text == "/message_too_long"


def test_emoji_only_message_is_accepted():
    assert parse_rest_body(body(sender="u1", message="😀😀😀")).text == "😀😀😀"


def test_channel_keeps_the_standard_name_and_reads_its_limits():
    channel = RestInput.from_credentials({"max_message_chars": 300, "max_body_bytes": 4096})
    assert RestInput.name() == "rest"
    assert (channel.max_message_chars, channel.max_body_bytes) == (300, 4096)
    with pytest.raises(ValueError):
        RestInput(max_message_chars=0)
