"""actions.forms: reading numbers, phones and names; idempotency keys; the cancel action."""

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.clients.tickets import Street
from actions.forms import (
    ActionCancelForm,
    ActionLeaveForm,
    cn_to_int,
    match_street,
    name_in,
    numbers_in,
    phone_in,
    submission_key,
)
from tests.support import domain

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "value"),
    [("85", 85), ("八十五", 85), ("九十", 90), ("一百零二", 102), ("十", 10), ("两", 2),
     ("abc", None), ("", None)],
)
def test_chinese_numbers(text, value):
    assert cn_to_int(text) == value


def test_numbers_in_text():
    assert numbers_in("我妈今年八十八了，住3号楼") == [88, 3]


@pytest.mark.parametrize(
    ("text", "phone"),
    [
        ("13812345678", "13812345678"),
        ("我的电话是138 1234 5678", "13812345678"),
        ("手机：138-1234-5678 谢谢", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("010-65123456", "010-65123456"),
        ("幺三八一二三四五六七八", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("12345", None),
        ("1381234567", None),  # ten digits
        ("没有电话", None),
        ("电话13812345678", "13812345678"),
        ("tel:65123456", "010-65123456"),
        # digits inside a code are not a phone number (eight of them look like a landline)
        ("楼上半夜拖椅子（roundrobin-6c71783798）", None),
        ("订单号A65123456", None),
        ("13812345678abc", None),
    ],
)
def test_phones_in_text(text, phone):
    assert phone_in(text) == phone


@pytest.mark.parametrize(
    ("text", "name"),
    [("王秀英", "王秀英"), ("我叫张建国", "张建国"), ("就诊人是李桂兰", "李桂兰"),
     ("名字：刘志强吧", "刘志强"), ("13812345678", None), ("算了", None), ("", None),
     ("我叫王秀英我住在明德街道明德里小区", None)],
)
def test_names(text, name):
    assert name_in(text) == name


STREETS = [
    Street("明德街道", "明德街道办事处", 39.9, 116.4, ("明德里社区", "青年路社区")),
    Street("和畅街道", "和畅街道办事处", 39.9, 116.4, ("和畅园社区", "东湖社区")),
]


@pytest.mark.parametrize(
    ("text", "street"),
    [("明德街道", "明德街道"), ("青年路社区5号楼", "明德街道"), ("在和畅那边", "和畅街道"),
     ("东湖北路8号", "和畅街道"), ("明德里小区12号楼", "明德街道"), ("朝阳门", None)],
)
def test_streets_by_name_community_or_short_name(text, street):
    found = match_street(text, STREETS)
    assert (found.name if found else None) == street


def tracker(events, active_loop=None, slots=None, sender="u1"):
    return Tracker(sender, slots or {}, {"text": "", "intent": {"name": "inform"}}, events,
                   False, None, active_loop or {}, "action_listen")


def test_the_key_is_stable_for_one_run_of_a_form_and_new_for_the_next():
    first = [{"event": "active_loop", "name": "ticket_form", "timestamp": 100.0}]
    again = [*first, {"event": "user", "timestamp": 101.0}]
    second = [*again, {"event": "active_loop", "name": "ticket_form", "timestamp": 200.0}]
    assert submission_key(tracker(first), "ticket_form") == submission_key(tracker(again),
                                                                           "ticket_form")
    assert submission_key(tracker(first), "ticket_form") != submission_key(tracker(second),
                                                                           "ticket_form")
    assert submission_key(tracker(first), "ticket_form") != submission_key(
        tracker(first, sender="u2"), "ticket_form")


async def test_cancel_ends_the_form_and_clears_its_slots_but_keeps_the_phone():
    dispatcher = CollectingDispatcher()
    events = await ActionCancelForm().run(
        dispatcher, tracker([], {"name": "ticket_form"}), domain())
    assert [m["response"] for m in dispatcher.messages] == ["utter_form_cancelled"]
    assert ActiveLoop(None) in events and SlotSet("ticket_description", None) in events
    assert SlotSet("confirm", None) in events
    assert not any(e.get("name") in ("phone", "phone_masked") for e in events)


async def test_cancel_outside_a_form_says_there_is_nothing_to_cancel():
    dispatcher = CollectingDispatcher()
    assert await ActionCancelForm().run(dispatcher, tracker([]), domain()) == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_nothing_to_cancel"]


async def test_leaving_a_form_is_silent():
    dispatcher = CollectingDispatcher()
    events = await ActionLeaveForm().run(
        dispatcher, tracker([], {"name": "appointment_form"}), domain())
    assert dispatcher.messages == [] and ActiveLoop(None) in events


def test_activation_is_told_apart_from_an_answer():
    from actions.forms import asking, is_activation

    trigger = {"text": "我要投诉", "message_id": "m1", "intent": {"name": "file_ticket"}}
    loop = {"name": "ticket_form", "trigger_message": trigger}
    starting = Tracker("u", {"requested_slot": None}, trigger, [], False, None, loop, "")
    assert is_activation(starting, "ticket_form")
    answer = {"text": "明德街道", "message_id": "m2", "intent": {"name": "inform"}}
    answering = Tracker("u", {"requested_slot": "ticket_street"}, answer, [], False, None, loop,
                        "action_listen")
    assert not is_activation(answering, "ticket_form")
    assert asking(answering, "ticket_form", "ticket_street")
    assert not asking(answering, "ticket_form", "ticket_contact")
    other = Tracker("u", {"requested_slot": "phone"}, answer, [], False, None,
                    {"name": "appointment_form"}, "")
    assert is_activation(other, "ticket_form")  # another form is active: this one starts
