import json

import pytest

from channels.voice.protocol import (
    MAX_ACTIVITIES,
    BadRequest,
    bearer_token,
    conversation_urls,
    dtmf_digits,
    no_input_count,
    parse_activities,
    parse_create_conversation,
    parse_disconnect,
    parse_refresh,
    token_matches,
)

pytestmark = pytest.mark.unit

CID = "4a6ae2c6-0d0c-4e1f-9a55-0c3b2d7e9f10"


def body(**fields) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8")


def rejected(call, *args) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        call(*args)
    return caught.value


def test_bearer_tokens_are_compared_exactly():
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer  abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None
    assert token_matches("Bearer s3cret", "s3cret")
    assert not token_matches("Bearer s3cre", "s3cret")
    assert not token_matches("Bearer 密码", "s3cret")
    assert not token_matches("Bearer s3cret", "")
    assert not token_matches(None, "s3cret")


def test_create_conversation_returns_the_id_and_the_urls_follow_the_spec():
    assert parse_create_conversation(body(conversation=CID, id="x", timestamp="t")) == CID
    urls = conversation_urls(CID, 120)
    assert urls == {
        "activitiesURL": f"conversation/{CID}/activities",
        "refreshURL": f"conversation/{CID}/refresh",
        "disconnectURL": f"conversation/{CID}/disconnect",
        "expiresSeconds": 120,
    }
    absolute = conversation_urls(CID, 60, "https://bot.example/webhooks/voice/")
    assert absolute["activitiesURL"] == (
        f"https://bot.example/webhooks/voice/conversation/{CID}/activities"
    )


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (b"[]", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (body(id="x"), 400, "missing_conversation"),
        (body(conversation=12), 400, "invalid_conversation"),
        (body(conversation="a/b"), 400, "invalid_conversation"),
        (body(conversation="x" * 129), 400, "invalid_conversation"),
        (b"{" + b" " * 70_000 + b"}", 413, "body_too_large"),
    ],
)
def test_a_bad_create_request_gets_a_clear_4xx(raw, status, code):
    error = rejected(parse_create_conversation, raw)
    assert (error.status, error.code) == (status, code)
    assert error.as_json() == {"error": code, "detail": error.detail}


def test_activities_are_parsed_with_their_confidence_and_events():
    parsed = parse_activities(
        body(
            conversation=CID,
            activities=[
                {"id": "a1", "timestamp": "2024-03-05T08:30:00.000Z", "language": "zh-CN",
                 "type": "message", "text": "社保卡怎么补办",
                 "parameters": {"confidence": 0.87, "recognitionOutput": {}}},
                {"id": "a2", "type": "event", "name": "DTMF", "value": "1"},
                {"id": "a3", "type": "event", "name": "noUserInput", "value": 2},
                {"id": "a4", "type": "typing"},
            ],
        ),
        CID,
    )
    assert parsed.conversation == CID
    message, dtmf, silence, other = parsed.activities
    assert (message.type, message.id, message.text, message.confidence) == (
        "message", "a1", "社保卡怎么补办", 0.87,
    )
    assert message.language == "zh-CN"
    assert (dtmf.type, dtmf.name, dtmf.value) == ("event", "DTMF", "1")
    assert (silence.name, silence.value) == ("noUserInput", 2)
    assert other.type == "typing"


@pytest.mark.parametrize(
    ("parameters", "confidence"),
    [
        ({}, None),
        ({"confidence": 0.42}, 0.42),
        ({"sttConfidence": 0.5}, 0.5),
        ({"confidence": 87}, 0.87),
        ({"confidence": 1000}, 1.0),
        ({"confidence": -3}, 0.0),
        ({"confidence": "high"}, None),
        ({"confidence": True}, None),
    ],
)
def test_confidence_is_read_defensively(parameters, confidence):
    parsed = parse_activities(
        body(conversation=CID, activities=[{"type": "message", "text": "x",
                                            "parameters": parameters}]),
        CID,
    )
    assert parsed.activities[0].confidence == confidence


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"conversation": CID}, "missing_activities"),
        ({"conversation": CID, "activities": []}, "missing_activities"),
        ({"conversation": CID, "activities": {"type": "message"}}, "missing_activities"),
        ({"conversation": "other", "activities": [{"type": "message"}]}, "conversation_mismatch"),
        ({"conversation": CID, "activities": ["hi"]}, "invalid_activity"),
        ({"conversation": CID, "activities": [{"text": "hi"}]}, "invalid_activity"),
        ({"conversation": CID, "activities": [{"type": "message", "text": 5}]},
         "invalid_activity"),
        ({"conversation": CID, "activities": [{"type": "event"}]}, "invalid_activity"),
        ({"conversation": CID, "activities": [{"type": "event", "name": "start",
                                               "parameters": []}]}, "invalid_activity"),
        ({"conversation": CID, "activities": [{"type": "message", "id": "a b"}]},
         "invalid_activity"),
        ({"conversation": CID, "activities": [{"type": "message"}] * (MAX_ACTIVITIES + 1)},
         "too_many_activities"),
    ],
)
def test_malformed_activities_get_a_400(payload, code):
    error = rejected(parse_activities, body(**payload), CID)
    assert (error.status, error.code) == (400, code)


def test_the_conversation_may_be_omitted_from_the_body():
    parsed = parse_activities(body(activities=[{"type": "message", "text": "你好"}]), CID)
    assert parsed.conversation == CID


def test_refresh_and_disconnect_bodies():
    assert parse_refresh(body(conversation=CID), CID) == CID
    ended = parse_disconnect(
        body(conversation=CID, reason="Client Side", reasonCode="client-disconnected"), CID
    )
    assert (ended.reason, ended.reason_code) == ("Client Side", "client-disconnected")
    assert rejected(parse_disconnect, b"nope", CID).code == "invalid_json"


@pytest.mark.parametrize(
    ("value", "digits"),
    [("1", "1"), ("123#", "123#"), (" 0 ", "0"), (5, "5"), ("*", "*"), ("1a", "1A"),
     ("", None), ("12x", None), (None, None), ([1], None), ("1" * 40, None), (True, None)],
)
def test_dtmf_digits(value, digits):
    assert dtmf_digits(value) == digits


@pytest.mark.parametrize(
    ("value", "count"), [(1, 1), (2, 2), ("3", 3), (2.0, 2), (0, 1), (-1, 1), ("x", 1),
                         (None, 1), (True, 1), (10_000, 99)],
)
def test_no_input_count(value, count):
    assert no_input_count(value) == count
