"""The agent queue's transitions, the conversation summary and the failure count (pure)."""

from __future__ import annotations

import pytest

from handoff.model import (
    HELD,
    WAITING,
    Handoff,
    Summary,
    TransitionError,
    build_summary,
    check_holder,
    conversation_id,
    enqueue,
    failure_streak,
    lapsed,
    release,
    take,
    valid_agent,
    valid_conversation_id,
)

pytestmark = pytest.mark.unit


def record(**changes) -> Handoff:
    values = {"id": conversation_id("resident-1"), "sender": "resident-1", "channel": "webchat",
              "reason": "request", "created": 100.0, "updated": 100.0}
    values.update(changes)
    return Handoff(**values)


def test_conversation_ids_hide_the_sender():
    cid = conversation_id("oWeChatOpenId123")
    assert valid_conversation_id(cid) == cid and "oWeChat" not in cid
    assert conversation_id("oWeChatOpenId123") == cid != conversation_id("other")
    assert valid_conversation_id("../etc") is None and valid_conversation_id(7) is None


def test_enqueue_once():
    new = record()
    queued, fresh = enqueue(None, new)
    assert queued is new and fresh and queued.state == WAITING
    again, fresh = enqueue(queued, record(created=200.0))
    assert again is queued and not fresh
    held = take(queued, "li", 150.0)
    assert enqueue(held, new) == (held, False)


def test_take_hold_and_release():
    waiting = record()
    held = take(waiting, "li", 150.0)
    assert (held.state, held.agent, held.taken, held.updated) == (HELD, "li", 150.0, 150.0)
    assert take(held, "li", 160.0) is held  # taking it again changes nothing
    with pytest.raises(TransitionError) as error:
        take(held, "wang", 160.0)
    assert error.value.code == "taken"
    assert check_holder(held, "li") is held
    with pytest.raises(TransitionError) as error:
        check_holder(held, "wang")
    assert error.value.code == "taken"
    with pytest.raises(TransitionError) as error:
        check_holder(waiting, "li")
    assert error.value.code == "not_held"
    with pytest.raises(TransitionError) as error:
        release(held, "wang")
    assert error.value.code == "taken"
    assert release(held, "li") is None
    assert release(waiting, "wang") is None  # any agent may dismiss a waiting request


def test_nothing_to_take_or_release():
    for step in (lambda: take(None, "li", 1.0), lambda: release(None, "li"),
                 lambda: check_holder(None, "li")):
        with pytest.raises(TransitionError) as error:
            step()
        assert error.value.code == "not_found"


def test_a_forgotten_hold_lapses():
    held = take(record(), "li", 150.0)
    assert not lapsed(held, 150.0 + 1800, 1800)
    assert lapsed(held, 150.0 + 1801, 1800)
    assert not lapsed(record(updated=0.0), 10_000.0, 1800)  # waiting never lapses
    assert not lapsed(None, 1.0, 1.0)


def test_records_survive_json():
    held = take(record(summary=Summary(("社保卡丢了", "转人工"), "政务服务", "ticket_form", "x")),
                "li", 150.0)
    assert Handoff.from_json(held.to_json()) == held
    shown = held.public(now=400.0)
    assert "sender" not in shown and shown["summary"]["messages"] == ["社保卡丢了", "转人工"]
    assert shown["waiting_seconds"] == 50 and shown["idle_seconds"] == 250


def test_agent_names():
    assert valid_agent("li.na@desk-3") == "li.na@desk-3"
    assert valid_agent("李娜") == "李娜"
    for bad in ("", "a b", "x" * 65, None, 3, "evil\n"):
        assert valid_agent(bad) is None


def test_summary_keeps_the_last_typed_messages_masked_and_cut():
    events = [
        {"event": "user", "text": "/greet"},
        {"event": "bot", "text": "您好"},
        *({"event": "user", "text": f"问题{i}"} for i in range(6)),
        {"event": "user", "text": "我的电话是13812345678" + "长" * 300},
        {"event": "slot", "name": "area", "value": "养老"},
    ]
    summary = build_summary(events, {"area": "养老", "kb_last_id": "yl-1"}, "ticket_form",
                            redact=lambda t: t.replace("13812345678", "138****5678"))
    assert summary.messages[:4] == ("问题2", "问题3", "问题4", "问题5")
    assert summary.messages[-1].startswith("我的电话是138****5678")
    assert len(summary.messages) == 5 and len(summary.messages[-1]) == 200
    assert (summary.area, summary.form, summary.kb_last_id) == ("养老", "ticket_form", "yl-1")
    assert build_summary([], {}) == Summary()


@pytest.mark.parametrize(("previous", "outcome", "expected"), [
    (None, "none", 1), (1.0, "none", 2), (2, "none", 3), (1.0, "answer", 0),
    (1.0, "clarify", 0), ("x", "none", 1), (-3, "none", 1),
])
def test_failures_in_a_row(previous, outcome, expected):
    assert failure_streak(previous, outcome) == expected
