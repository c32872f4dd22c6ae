"""Tourism: facts of an attraction and its crowd level on a day (attraction_form →
action_attraction_info), ticket reservations (reservation_form → action_reserve_ticket).

The attraction stays in its slot after an answer, so a follow-up that names none ("那它几点
关门？") is about the last one. A message that names another attraction switches to it: the
name comes from the NLU entity or, failing that, from what is left of the message once the
question words are taken out, and it counts only when the tourism backend knows it well
(exact name, alias or prefix). Facts are 2019 reference data: every answer ends with the
reference notice.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients import (
    Attraction,
    AttractionMatch,
    BackendError,
    BackendRejected,
    CapacityExhausted,
    Conflict,
    NotFound,
    get_backends,
)
from actions.dates import now_beijing, parse_date
from actions.forms import (
    CONTACT_NAME,
    HARD_DIGRESSIONS,
    PHONE,
    FormSubmitAction,
    TaskFormValidator,
    asking,
    day_label,
    entity_values,
    is_activation,
    is_digression,
    latest_intent,
    latest_text,
    may_fill,
    numbers_in,
    submission_key,
)
from actions.responses import response_template

INFO_FORM, RESERVATION_FORM = "attraction_form", "reservation_form"
ATTRACTION, ATTRACTION_ID = "attraction", "attraction_id"
VISIT_DATE, VISIT_WHEN, VISITORS = "visit_date", "visit_when", "visitors"
CROWD_DAYS, RESERVATION_DAYS, MAX_VISITORS = 30, 7, 5

# What a question asks about → the words that say so, checked in this order (input parsing).
ATTRIBUTE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("crowd", ("人多", "人少", "挤", "排队", "人流", "客流", "游客多", "人山人海", "堵不堵")),
    ("phone", ("电话", "联系方式", "号码", "热线", "怎么联系", "联系电话")),
    ("play_time", ("游玩时间", "游览时间", "游玩时长", "玩多久", "玩多长", "逛多久", "逛多长",
                   "待多久", "呆多久", "待多长", "呆多长", "多长时间", "多久", "几个小时",
                   "时长", "玩几天", "玩几个", "玩一天", "玩半天", "参观多久", "游玩是时间",
                   "多少时间", "多长", "需要多久", "要多久",
                   "游玩的时间", "玩的时间", "游玩要", "逛完", "玩完")),
    ("hours", ("开放时间", "营业时间", "几点", "开门", "关门", "闭馆", "闭园", "开馆", "开园",
               "营业", "开放", "什么时候开", "几时", "时间")),
    ("ticket", ("门票", "票价", "多少钱", "收费", "要钱", "花钱", "免费", "价格", "价钱",
                "几块", "费用", "多钱", "票")),
    ("metro", ("地铁", "坐车", "公交", "怎么去", "怎么走", "交通", "几号线")),
    ("address", ("地址", "在哪", "哪里", "位置", "什么地方", "哪个区", "坐落", "地点", "哪儿",
                 "在什么", "方位")),
    ("intro", ("介绍", "怎么样", "好玩", "有什么", "特色", "历史", "值得", "简介")),
)
# Words around an attraction's name in a question, removed to find the name itself.
_FILLERS = re.compile(
    r"我想(?:要)?(?:去)?|想要|了解一下|了解|介绍一下|介绍|给我|跟我|说说|讲讲|查一下|查查|帮我|"
    r"请问一下|请问|你好|您好|知道|一下|关于|这个|那个|景点|地方|的|呢|吗|吧|啊|呀|么|"
    r"那它|它|那里|这里|那儿|这儿|那|去|呀|还有|是|有|要|需要|多少|几|可以|能|我|你"
)
# Words of the crowd and reservation questions and days, removed in a second pass.
_TASK_WORDS = re.compile(
    r"预约|预定|预订|订票|订|买|抢|人多|人流量|人流|客流|拥挤|挤不挤|挤|排队|多不多|会不会|"
    r"大后天|今天|明天|后天|周末|现在|这周|下周|本周|周[一二三四五六日天]|星期[一二三四五六日天]|"
    r"[0-9一二两三四五]+\s*(?:个人|张|位|人)|[0-9]+月[0-9]+[日号]?|[0-9]+[日号]|带孩子|老人|孩子"
)
_PUNCT = re.compile(r"[\s，,。.!！?？、：:；;“”\"'（）()~～]")
_VISITORS = re.compile(r"([0-9一二两三四五六七八九十]+)\s*(?:张|个人|个|人|位|口|大人)")


def attribute_in(text: str) -> str | None:
    """Which fact a question asks for (crowd, phone, play_time, hours, ticket, metro, address,
    intro), or None. When several are named, the one named last is the question ("有电话就
    方便多了，这个景点可以玩多久呢？" asks for the visit time)."""
    clean = _PUNCT.sub("", unicodedata.normalize("NFKC", text or ""))
    best: tuple[int, int, int] | None = None  # (end, length, -order)
    found = None
    for order, (attribute, words) in enumerate(ATTRIBUTE_WORDS):
        if attribute == "intro" and found is not None:
            break  # "有什么/怎么样" only when nothing more specific was asked
        for word in words:
            end = clean.rfind(word)
            if end < 0:
                continue
            key = (end + len(word), len(word), -order)
            if best is None or key > best:
                best, found = key, attribute
    return found


def name_residue(text: str) -> str:
    """What is left of a message without question words: usually the attraction's name."""
    clean = _PUNCT.sub("", unicodedata.normalize("NFKC", text or ""))
    for _, words in ATTRIBUTE_WORDS:
        for word in sorted(words, key=len, reverse=True):
            clean = clean.replace(word, " ")
    clean = _FILLERS.sub(" ", clean)
    parts = [p for p in clean.split() if len(p) >= 2]
    return max(parts, key=len) if parts else ""


_LEAD = re.compile(
    r"^(?:你好|您好|请问)?(?:我想(?:要)?|想)?(?:了解一下|了解|介绍一下|知道|问问|问一下|查一下)?"
)
_TAIL = re.compile(r"(?:这个景点|景点)?(?:呢|吗|吧|啊|呀)*$")


def name_candidates(text: str) -> list[str]:
    """Strings that may be the attraction's name, most likely first: the message without
    its lead-in ("我想了解一下…"), then what is left without question words."""
    plain = _PUNCT.sub("", unicodedata.normalize("NFKC", text or ""))
    minimal = _TAIL.sub("", _LEAD.sub("", plain))
    first = name_residue(text)
    clean = _PUNCT.sub("", unicodedata.normalize("NFKC", text or ""))
    for _, words in ATTRIBUTE_WORDS:
        for word in sorted(words, key=len, reverse=True):
            clean = clean.replace(word, " ")
    clean = _FILLERS.sub(" ", _TASK_WORDS.sub(" ", clean))
    parts = sorted((p for p in clean.split() if len(p) >= 2), key=len, reverse=True)
    return list(dict.fromkeys([c for c in (minimal, first, *parts) if len(c) >= 2]))


def visitors_in(text: str, asked: bool) -> int | None:
    clean = unicodedata.normalize("NFKC", text or "")
    match = _VISITORS.search(clean)
    if match:
        numbers = numbers_in(match.group(1))
        return numbers[0] if numbers else None
    if asked:
        numbers = numbers_in(clean)
        return numbers[0] if numbers else None
    return None


async def resolve(candidates: list[str]) -> AttractionMatch | None:
    """The attraction the candidates name: the first one the backend knows by its exact name,
    an alias, or a prefix covering at least half of the name ("颐和园" for "颐和园公园"). A
    substring or a look-alike is not enough: "美术馆" must not become some 美术馆."""
    client = get_backends().tourism
    for candidate in candidates:
        candidate = candidate.strip()
        if not 2 <= len(candidate) <= 40:
            continue
        matches = await client.search(candidate, limit=1)
        if matches and strong(matches[0], candidate):
            return matches[0]
    return None


def strong(match: AttractionMatch, candidate: str) -> bool:
    if match.match in ("exact", "alias"):
        return True
    return match.match == "prefix" and len(candidate) >= 2 and len(candidate) * 2 >= len(
        match.name)


def info_question(tracker: Tracker) -> str:
    """The text of the question this answer is for: the latest message, or — when the form
    had to ask which attraction — the message that started the form."""
    turns: list[tuple[str, Any]] = []  # (text, the slot the form was asking for then)
    requested: Any = None
    for event in tracker.events:
        if event.get("event") == "slot" and event.get("name") == "requested_slot":
            requested = event.get("value")
        elif event.get("event") == "user":
            turns.append((str(event.get("text") or ""), requested))
    latest = latest_text(tracker)
    if attribute_in(latest) or not turns:
        return latest
    for text, asked_for in reversed(turns):
        if asked_for != ATTRACTION:
            return text
    return latest


class AttractionSlot(TaskFormValidator):
    """The attraction slot, shared by the three tourism forms."""

    async def extract_attraction(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        form = self.form_name()
        text = latest_text(tracker)
        asked = asking(tracker, form, ATTRACTION)
        if asked and latest_intent(tracker) in HARD_DIGRESSIONS:
            return {}
        if not (asked or is_activation(tracker, form) or entity_values(tracker, ATTRACTION)):
            return {}
        candidates = name_candidates(text)
        # the whole name as said first ("鸟巢空中走廊"), then what the NLU tagged ("鸟巢")
        ordered = [*candidates[:1], *entity_values(tracker, ATTRACTION), *candidates[1:]]
        try:
            found = await resolve(list(dict.fromkeys(ordered)))
        except BackendError as error:
            return self.unavailable(dispatcher, error, ATTRACTION, ATTRACTION_ID)
        if found is not None:
            if found.name == tracker.get_slot(ATTRACTION) and tracker.get_slot(ATTRACTION_ID):
                return {}
            return {ATTRACTION: found.name}
        if asked and not is_digression(tracker):
            return {ATTRACTION: "?" + text[:40]}  # unknown: validate_attraction says so
        return {}

    async def validate_attraction(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        name = str(value or "")
        if name.startswith("?") or not name:
            dispatcher.utter_message(response="utter_attraction_not_found")
            return {ATTRACTION: None, ATTRACTION_ID: None}
        try:
            matches = await get_backends().tourism.search(name, limit=1)
        except BackendError as error:
            return self.unavailable(dispatcher, error, ATTRACTION, ATTRACTION_ID)
        if not matches:
            dispatcher.utter_message(response="utter_attraction_not_found")
            return {ATTRACTION: None, ATTRACTION_ID: None}
        return {ATTRACTION: matches[0].name, ATTRACTION_ID: matches[0].id}


class ValidateAttractionForm(AttractionSlot):
    def name(self) -> str:
        return "validate_attraction_form"


class ActionAttractionInfo(FormSubmitAction):
    form = INFO_FORM
    needs_confirmation = False

    def name(self) -> str:
        return "action_attraction_info"

    def required(self, tracker: Tracker) -> tuple[str, ...]:
        return (ATTRACTION_ID,)

    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        try:
            attraction = await get_backends().tourism.attraction(tracker.get_slot(ATTRACTION_ID))
        except (NotFound, BackendRejected):
            dispatcher.utter_message(response="utter_attraction_not_found")
            return []
        question = info_question(tracker)
        attribute = attribute_in(question)
        channel = tracker.get_latest_input_channel()
        if attribute == "crowd":
            await answer_crowd(dispatcher, domain, channel, attraction, question)
            return []
        answer_facts(dispatcher, domain, channel, attraction, attribute)
        dispatcher.utter_message(response="utter_attraction_reference", year=attraction.data_year)
        return []


async def answer_crowd(
    dispatcher: CollectingDispatcher, domain: DomainDict, channel: str | None,
    attraction: Attraction, question: str,
) -> None:
    """The simulated crowd level on the day the question names (today if none)."""
    today = now_beijing().date()
    parsed = parse_date(question, now_beijing())
    day = parsed.day if parsed else today
    if not today <= day < today + timedelta(days=CROWD_DAYS):
        dispatcher.utter_message(response="utter_crowd_date_out_of_window",
                                 when=day_label(domain, day))
        return
    crowd = await get_backends().tourism.crowd(attraction.id, day)
    when = day_label(domain, day)
    if crowd.closed:
        dispatcher.utter_message(response="utter_crowd_closed", name=crowd.name, when=when)
        return
    level = response_template(domain, f"utter_crowd_name_{crowd.level_code}", channel)
    dispatcher.utter_message(response="utter_crowd_level", name=crowd.name, when=when,
                             level=level, reserved=crowd.reserved, capacity=crowd.capacity)


_FIELDS = {
    "hours": "opening_hours", "ticket": "ticket_text", "address": "address", "metro": "metro",
    "play_time": "play_time", "phone": "phone", "intro": "intro",
}


def answer_facts(
    dispatcher: CollectingDispatcher, domain: DomainDict, channel: str | None,
    attraction: Attraction, attribute: str | None,
) -> None:
    """One fact when the question asked for one the data has; else the overview."""
    if attribute in _FIELDS:
        value = getattr(attraction, _FIELDS[attribute])
        if attribute == "ticket" and not value and attraction.ticket_price is not None:
            value = str(attraction.ticket_price)
        if value:
            dispatcher.utter_message(response=f"utter_attraction_{attribute}",
                                     name=attraction.name, value=value)
            if attribute == "metro" and attraction.address:
                dispatcher.utter_message(response="utter_attraction_address",
                                         name=attraction.name, value=attraction.address)
            return
        if attribute != "intro":
            dispatcher.utter_message(response="utter_attraction_missing_value",
                                     name=attraction.name)
    none = response_template(domain, "utter_attraction_no_value", channel)
    dispatcher.utter_message(
        response="utter_attraction_overview", name=attraction.name,
        address=attraction.address or none, hours=attraction.opening_hours or none,
        ticket=attraction.ticket_text or none, play_time=attraction.play_time or none,
        phone=attraction.phone or none,
    )


# ---------------------------------------------------------------- ticket reservations

RESERVATION_SLOTS = (VISIT_DATE, VISIT_WHEN, VISITORS)


class ValidateReservationForm(AttractionSlot):
    def name(self) -> str:
        return "validate_reservation_form"

    async def extract_visit_date(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return _extract_day(tracker, RESERVATION_FORM, VISIT_DATE)

    async def validate_visit_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        day = _day(value)
        if day is None:
            dispatcher.utter_message(response="utter_invalid_date")
            return {VISIT_DATE: None}
        today = now_beijing().date()
        when = day_label(domain, day)
        if not today <= day < today + timedelta(days=RESERVATION_DAYS):
            dispatcher.utter_message(response="utter_visit_date_out_of_window", when=when)
            return {VISIT_DATE: None}
        attraction_id = tracker.get_slot(ATTRACTION_ID)
        if attraction_id:
            try:
                crowd = await get_backends().tourism.crowd(attraction_id, day)
            except BackendError as error:
                return self.unavailable(dispatcher, error, *RESERVATION_SLOTS)
            if crowd.closed:
                dispatcher.utter_message(response="utter_visit_date_closed",
                                         name=crowd.name, when=when)
                return {VISIT_DATE: None}
        return {VISIT_DATE: day.isoformat(), VISIT_WHEN: when}

    async def extract_visitors(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not may_fill(tracker, RESERVATION_FORM, VISITORS):
            return {}
        asked = asking(tracker, RESERVATION_FORM, VISITORS)
        found = visitors_in(latest_text(tracker), asked)
        if found is not None:
            return {VISITORS: str(found)}
        return {VISITORS: "0"} if asked and not is_digression(tracker) else {}

    async def validate_visitors(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        try:
            count = int(str(value))
        except ValueError:
            count = 0
        if not 1 <= count <= MAX_VISITORS:
            dispatcher.utter_message(response="utter_visitors_invalid")
            return {VISITORS: None}
        return {VISITORS: str(count)}


class ActionReserveTicket(FormSubmitAction):
    form = RESERVATION_FORM
    slots = RESERVATION_SLOTS

    def name(self) -> str:
        return "action_reserve_ticket"

    def required(self, tracker: Tracker) -> tuple[str, ...]:
        return (ATTRACTION_ID, VISIT_DATE, VISITORS, CONTACT_NAME, PHONE)

    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        day = date.fromisoformat(tracker.get_slot(VISIT_DATE))
        when = day_label(domain, day)
        name = tracker.get_slot(ATTRACTION) or ""
        try:
            reservation = await get_backends().tourism.reserve(
                idempotency_key=submission_key(tracker, RESERVATION_FORM),
                attraction_id=tracker.get_slot(ATTRACTION_ID), day=day,
                visitors=int(tracker.get_slot(VISITORS)), name=tracker.get_slot(CONTACT_NAME),
                phone=tracker.get_slot(PHONE),
            )
        except CapacityExhausted:
            dispatcher.utter_message(response="utter_reservation_full", when=when)
            return []
        except Conflict as error:
            response = {"duplicate_booking": "utter_reservation_duplicate",
                        "closed": "utter_reservation_closed"}.get(error.code or "",
                                                                  "utter_backend_rejected")
            dispatcher.utter_message(response=response, name=name, when=when)
            return []
        except BackendRejected:
            dispatcher.utter_message(response="utter_backend_rejected")
            return []
        dispatcher.utter_message(
            response="utter_reservation_booked", reservation_id=reservation.reservation_id,
            name=reservation.attraction_name, when=day_label(domain, reservation.date),
            visitors=reservation.visitors,
        )
        return []


def _extract_day(tracker: Tracker, form: str, slot: str) -> dict[str, Any]:
    if not may_fill(tracker, form, slot):
        return {}
    text = latest_text(tracker)
    parsed = parse_date(text, now_beijing())
    if parsed:
        return {slot: parsed.iso()}
    if asking(tracker, form, slot) and not is_digression(tracker):
        return {slot: text}
    return {}


def _day(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        parsed = parse_date(value, now_beijing())
        return parsed.day if parsed else None
