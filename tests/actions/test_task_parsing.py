"""Pure parts of the task forms: what a resident's message says (categories, numbers, hospitals,
departments, attraction questions) and the 高龄津贴 rule."""

import re
from datetime import date
from pathlib import Path

import pytest
import yaml

from actions.applications import application_number_in
from actions.clients.hospitals import Hospital
from actions.eldercare import (
    GAOLING_ALLOWANCE,
    age_in,
    decide_allowance,
    hukou_in,
    rule_source,
    service_in,
)
from actions.hospitals import department_in, hospital_in, period_in
from actions.tickets import category_from_text, complaint_in_trigger, ticket_number_in
from actions.tourism import attribute_in, name_residue, visitors_in
from tests.support import ROOT, domain

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "code"),
    [("楼下饭馆油烟太大了", "environment"), ("半夜装修太吵了", "noise"), ("暖气不热", "heating"),
     ("小区门口垃圾没人清", "city_appearance"), ("路灯坏了", "public_facilities"),
     ("物业乱收费", "property"), ("我想说个事", None)],
)
def test_ticket_categories_from_what_residents_say(text, code):
    assert category_from_text(text) == code


@pytest.mark.parametrize(
    ("text", "has_complaint"),
    [("我要投诉", False), ("我想反映个问题", False), ("帮我向12345反映一下", False),
     ("我要反映个问题，楼下饭馆油烟太大了", True), ("楼下烧烤摊天天半夜吵", True),
     ("/file_ticket", False)],  # the button offered outside the agents' hours
)
def test_a_complaint_in_the_message_that_starts_the_form(text, has_complaint):
    assert complaint_in_trigger(text) is has_complaint


def test_numbers_are_forgiven_blanks_dashes_and_case():
    assert ticket_number_in("工单号 js2025-0603-0000-01") == "JS20250603000001"
    assert ticket_number_in("JS2025") is None
    assert application_number_in("sq 2025 0603 0001") == "SQ202506030001"
    assert application_number_in("SQ2025060300012") is None  # 13 digits


HOSPITALS = [
    Hospital("pumch", "北京协和医院", ("协和医院", "协和"), "三级甲等", "hospital", "东城区",
             "", 0.0, 0.0, False),
    Hospital("puth", "北京大学第三医院", ("北医三院", "北大三院"), "三级甲等", "hospital", "海淀区",
             "", 0.0, 0.0, False),
]


def test_hospitals_and_departments_in_a_sentence():
    assert hospital_in("帮我挂北医三院明天的眼科", HOSPITALS).id == "puth"
    assert hospital_in("协和皮肤科", HOSPITALS).id == "pumch"
    assert hospital_in("随便哪个医院", HOSPITALS) is None
    assert hospital_in("我想去协和看看", HOSPITALS).id == "pumch"
    assert hospital_in("火星第一协和医院", HOSPITALS) is None  # another hospital's name
    assert department_in("挂个眼科") == "ophthalmology"
    assert department_in("牙科") == "stomatology"
    assert department_in("挂呼吸内科", {"respiratory": "呼吸内科"}) == "respiratory"
    assert department_in("我头疼") is None
    assert (period_in("下午吧"), period_in("早上"), period_in("都行")) == ("pm", "am", None)


@pytest.mark.parametrize(
    ("question", "attribute"),
    [("那它几点关门？", "hours"), ("开放时间上有规定吗？", "hours"), ("那它的门票呢？", "ticket"),
     ("需要买票吗", "ticket"), ("它的具体地址在哪里？", "address"),
     ("这个景点的电话是多少啊？", "phone"),
     ("那它的游玩时间要多久？", "play_time"), ("一般玩几个小时", "play_time"),
     ("坐地铁怎么去", "metro"), ("给我介绍一下", "intro"), ("嗯嗯", None),
     ("明天人多吗", "crowd"), ("有电话就方便多了，这个景点可以玩多久呢？", "play_time"),
     ("那在开放时间上有什么要求呀？", "hours")],
)
def test_what_an_attraction_question_asks(question, attribute):
    assert attribute_in(question) == attribute


@pytest.mark.parametrize(
    ("text", "name"),
    [("我想了解一下百雅轩798艺术中心", "百雅轩798艺术中心"), ("颐和园门票多少钱", "颐和园"),
     ("那它几点关门？", ""), ("这个景点的电话是多少啊？", ""), ("故宫周一开门吗", "故宫周一")],
)
def test_the_name_left_after_question_words(text, name):
    assert name_residue(text) == name


def test_visitors():
    assert visitors_in("我们两个人", asked=False) == 2
    assert visitors_in("3", asked=True) == 3
    assert visitors_in("明天去", asked=False) is None


# ---------------------------------------------------------------- 高龄津贴

@pytest.mark.parametrize(
    ("age", "beijing", "outcome", "monthly"),
    [(79, True, "too_young", None), (80, True, "eligible", 100), (89, True, "eligible", 100),
     (90, True, "eligible", 500), (99, True, "eligible", 500), (100, True, "eligible", 800),
     (105, True, "eligible", 800), (85, False, "not_beijing", None)],
)
def test_the_allowance_rule(age, beijing, outcome, monthly):
    decision = decide_allowance(GAOLING_ALLOWANCE, age, beijing)
    assert decision.outcome == outcome
    assert (decision.tier.monthly_yuan if decision.tier else None) == monthly


def test_the_rule_agrees_with_the_knowledge_entry_that_states_it():
    path = ROOT / "knowledge" / "kb" / GAOLING_ALLOWANCE.kb_file
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))["entries"]
    answer = next(e["answer"] for e in entries if e["id"] == GAOLING_ALLOWANCE.kb_id)
    for tier in GAOLING_ALLOWANCE.tiers:
        band = (f"{tier.low}至{tier.high}周岁" if tier.high else f"{tier.low}周岁及以上")
        assert re.search(band + r"：每人每月" + str(tier.monthly_yuan) + "元", answer), band
    source, effective = rule_source(GAOLING_ALLOWANCE.kb_file, GAOLING_ALLOWANCE.kb_id)
    assert "北京市老年人养老服务补贴津贴管理实施办法" in source.title
    assert source.issuer and effective is not None
    assert Path(path).is_file()


def test_reading_age_hukou_and_services():
    today = date(2025, 6, 4)
    assert age_in("我妈今年八十五了", today) == 85
    assert age_in("1940年出生的", today) == 85
    assert age_in("不知道", today) is None
    assert (hukou_in("是北京户口"), hukou_in("不是北京户口"), hukou_in("外地的")) == (
        True, False, False)
    assert (service_in("上门洗澡"), service_in("送饭"), service_in("陪诊")) == (
        "bath", "meal", "medical")


# ---------------------------------------------------------------- the domain has every response

def test_every_response_an_action_names_is_in_the_domain():
    names = set()
    for module in ("forms", "tickets", "hospitals", "eldercare", "tourism", "applications"):
        source = (ROOT / "actions" / f"{module}.py").read_text(encoding="utf-8")
        names |= set(re.findall(r"\"(utter_[a-z_]+)\"", source))
    names.discard("utter_attraction_")  # built from the attribute
    missing = sorted(n for n in names if n not in domain()["responses"])
    assert not missing, missing
    for attribute in ("hours", "ticket", "address", "metro", "play_time", "phone", "intro"):
        assert f"utter_attraction_{attribute}" in domain()["responses"]


def test_every_form_asks_for_each_of_its_slots():
    responses = domain()["responses"]
    for form, spec in domain()["forms"].items():
        for slot in spec["required_slots"]:
            assert f"utter_ask_{form}_{slot}" in responses or f"utter_ask_{slot}" in responses, (
                form, slot)


def test_the_question_is_the_one_that_started_the_form_when_it_asked_for_the_attraction():
    from rasa_sdk import Tracker

    from actions.tourism import info_question

    events = [
        {"event": "user", "text": "门票多少钱"},
        {"event": "slot", "name": "requested_slot", "value": "attraction"},
        {"event": "user", "text": "查无此景点"},
        {"event": "user", "text": "天坛"},
        {"event": "slot", "name": "requested_slot", "value": None},
    ]
    asked = Tracker("u", {}, {"text": "天坛"}, events[:4], False, None, {}, "")
    assert info_question(asked) == "门票多少钱"
    later = Tracker("u", {}, {"text": "我想了解一下故宫"},
                    [*events, {"event": "user", "text": "我想了解一下故宫"}], False, None, {}, "")
    assert info_question(later) == "我想了解一下故宫"
