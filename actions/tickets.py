"""12345 接诉即办: filing a ticket (ticket_form → action_submit_ticket) and its status by number
(ticket_status_form → action_ticket_status)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients import (
    BackendError,
    BackendRejected,
    NotFound,
    Street,
    TicketCategory,
    get_backends,
    mask_phone,
)
from actions.forms import (
    HARD_DIGRESSIONS,
    PHONE,
    PHONE_MASKED,
    FormSubmitAction,
    Reference,
    TaskFormValidator,
    asking,
    entity_values,
    extract_reference,
    is_activation,
    is_digression,
    joined,
    latest_intent,
    latest_text,
    looks_like_question,
    match_street,
    may_fill,
    phone_in,
    submission_key,
)

FORM, STATUS_FORM = "ticket_form", "ticket_status_form"
DESCRIPTION, CATEGORY = "ticket_description", "ticket_category"
CATEGORY_NAME = "ticket_category_name"
STREET, LOCATION = "ticket_street", "ticket_location"
CONTACT, ANONYMOUS, NUMBER = "ticket_contact", "ticket_anonymous", "ticket_number"
DESCRIPTION_MIN, DESCRIPTION_MAX = 5, 1000

# What residents say → category code. Checked in order; input parsing only (the names shown to
# residents come from the backend).
CATEGORY_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("heating", ("暖气", "供暖", "不热", "室温")),
    ("noise", ("噪音", "噪声", "扰民", "太吵", "很吵", "吵得", "吵死", "广场舞", "装修声", "喇叭",
               "音响", "放音乐", "施工声", "夜间施工")),
    ("environment", ("油烟", "污染", "排污", "臭味", "异味", "烧烤", "烟尘", "污水", "扬尘",
                     "冒黑烟")),
    ("public_facilities", ("路灯", "井盖", "健身器材", "座椅", "公厕", "厕所", "长椅", "护栏")),
    ("utilities", ("停水", "停电", "水压", "燃气", "煤气", "自来水", "没水", "没电", "天然气")),
    ("property", ("物业", "电梯", "门禁", "保安", "小区大门")),
    ("traffic", ("停车", "红绿灯", "信号灯", "公交", "堵车", "乱停", "共享单车", "占用车道",
                 "地铁")),
    ("city_appearance", ("垃圾", "乱扔", "占道", "小广告", "违建", "违章建筑", "乱摆", "摆摊",
                         "堆放", "脏乱", "杂物")),
    ("housing", ("房屋", "漏雨", "房顶", "租房", "房东", "墙皮", "裂缝")),
    ("labour", ("工资", "欠薪", "拖欠", "劳动合同", "加班费")),
    ("elderly", ("养老", "驿站", "养老院")),
    ("education", ("学校", "幼儿园", "入学", "学位")),
    ("health", ("医院", "诊所", "大夫")),
    ("market", ("商家", "假货", "食品安全", "过期", "退款", "缺斤少两", "乱收费")),
    ("other", ("其他", "其它", "别的")),
)
ANONYMOUS_WORDS = ("匿名", "不留电话", "不想留", "不方便留", "不留", "不用留", "保密")
# The words around a complaint ("我要向12345反映一下"); what is left is the complaint itself.
_TRIGGER = re.compile(
    r"喂|你好|您好|那个|我说|我要|我想|想要|想|要|帮我|麻烦|给我|帮忙|找|向|给|跟|对|"
    r"12345|热线|政府|街道|有关部门|相关部门|接诉即办|"
    r"投诉|反映|举报|报修|反馈|提个意见|提意见|报个事|登记|提交|"
    r"一下|一个|个|问题|情况|事儿|事情|件事|事|诉求|工单|意见"
)
_TICKET_NUMBER = re.compile(r"JS\d{14}")
_CHANNELS = {"wechat": "wechat", "voice": "voice", "rest": "web", "socketio": "web"}


async def _load_streets() -> list[Street]:
    return await get_backends().tickets.streets()


async def _load_categories() -> list[TicketCategory]:
    return await get_backends().tickets.categories()


STREETS: Reference[list[Street]] = Reference(_load_streets)
CATEGORIES: Reference[list[TicketCategory]] = Reference(_load_categories)


def category_from_text(text: str) -> str | None:
    """A category code from what the resident said, or None."""
    for code, words in CATEGORY_KEYWORDS:
        if any(word in text for word in words):
            return code
    return None


def complaint_in_trigger(text: str) -> bool:
    """Did the message that started the form already say what the problem is? (A button
    payload such as ``/file_ticket`` never does.)"""
    if text.startswith("/"):
        return False
    rest = re.sub(r"[\s，,。.!！?？:：、]", "", text)
    rest = _TRIGGER.sub("", rest)
    return len(rest) >= 6


def normalise_number(text: str) -> str:
    return re.sub(r"[\s\-—_]", "", unicodedata.normalize("NFKC", text)).upper()


def ticket_number_in(text: str) -> str | None:
    match = _TICKET_NUMBER.search(normalise_number(text))
    return match.group(0) if match else None


class ValidateTicketForm(TaskFormValidator):
    def name(self) -> str:
        return "validate_ticket_form"

    # -- description

    async def extract_ticket_description(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text, intent = latest_text(tracker), latest_intent(tracker)
        if is_activation(tracker, FORM):
            if tracker.get_slot(DESCRIPTION) is None and complaint_in_trigger(text):
                return {DESCRIPTION: text}
            return {}
        if not asking(tracker, FORM, DESCRIPTION):
            return {}
        # Asked "what is the problem?", nearly anything is the answer; not a question.
        if intent in HARD_DIGRESSIONS or looks_like_question(text):
            return {}
        return {DESCRIPTION: text}

    async def validate_ticket_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        if len(re.sub(r"[\s，,。.!！?？]", "", text)) < DESCRIPTION_MIN:
            dispatcher.utter_message(response="utter_ticket_description_too_short")
            return {DESCRIPTION: None}
        return {DESCRIPTION: text[:DESCRIPTION_MAX]}

    # -- category

    async def extract_ticket_category(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not may_fill(tracker, FORM, CATEGORY):
            return {}
        for value in entity_values(tracker, CATEGORY):
            return {CATEGORY: value}
        text = latest_text(tracker)
        found = category_from_text(text)
        if found:
            return {CATEGORY: found}
        if asking(tracker, FORM, CATEGORY) and not _digression(tracker):
            return {CATEGORY: text}  # validate_ticket_category tries the backend's names
        return {}

    async def validate_ticket_category(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        try:
            categories = await CATEGORIES.get()
        except BackendError as error:
            return self.unavailable(dispatcher, error, *TICKET_SLOTS)
        text = str(value or "")
        for category in categories:
            if text in (category.code, category.name) or category.name in text:
                return {CATEGORY: category.code, CATEGORY_NAME: category.name}
        dispatcher.utter_message(response="utter_ticket_category_unknown")
        return {CATEGORY: None}

    # -- street / location

    async def extract_ticket_street(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not may_fill(tracker, FORM, STREET):
            return {}
        text = latest_text(tracker)
        asked = asking(tracker, FORM, STREET)
        try:
            street = match_street(text, await STREETS.get())
        except BackendError:
            street = None  # reported by validate_ticket_street
        if street is not None:
            # asked "where?", the whole answer is the place ("明德里小区5号楼")
            return {STREET: text if asked else street.name}
        for value in entity_values(tracker, "street"):
            return {STREET: value}
        if asked and not _digression(tracker):
            return {STREET: text}
        return {}

    async def validate_ticket_street(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        try:
            streets = await STREETS.get()
        except BackendError as error:
            return self.unavailable(dispatcher, error, *TICKET_SLOTS)
        text = str(value or "").strip()
        street = match_street(text, streets)
        if street is None:
            dispatcher.utter_message(response="utter_ticket_street_unknown",
                                     streets=joined(s.name for s in streets))
            return {STREET: None}
        location = text if len(text) > len(street.name) and len(text) <= 100 else street.name
        return {STREET: street.name, LOCATION: location}

    # -- contact: a phone, or anonymous

    async def extract_ticket_contact(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not may_fill(tracker, FORM, CONTACT):
            return {}
        text = latest_text(tracker)
        if any(word in text for word in ANONYMOUS_WORDS) or phone_in(text):
            return {CONTACT: text}
        for value in entity_values(tracker, PHONE):
            return {CONTACT: value}
        if asking(tracker, FORM, CONTACT) and not _digression(tracker):
            return {CONTACT: text}
        return {}

    async def validate_ticket_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "")
        phone = phone_in(text)
        if phone:
            return {CONTACT: "phone", ANONYMOUS: False, PHONE: phone,
                    PHONE_MASKED: mask_phone(phone)}
        if any(word in text for word in ANONYMOUS_WORDS):
            return {CONTACT: "anonymous", ANONYMOUS: True}
        dispatcher.utter_message(response="utter_invalid_phone")
        return {CONTACT: None}


FORM_INTENT = "file_ticket"
TICKET_SLOTS = (DESCRIPTION, CATEGORY, CATEGORY_NAME, STREET, LOCATION, CONTACT, ANONYMOUS)


def _digression(tracker: Tracker) -> bool:
    return is_digression(tracker)


class ActionSubmitTicket(FormSubmitAction):
    form = FORM
    slots = TICKET_SLOTS

    def name(self) -> str:
        return "action_submit_ticket"

    def required(self, tracker: Tracker) -> tuple[str, ...]:
        return (DESCRIPTION, CATEGORY, STREET, CONTACT)

    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        anonymous = tracker.get_slot(ANONYMOUS) is True
        phone = None if anonymous else tracker.get_slot(PHONE)
        if not anonymous and not phone:
            return []
        try:
            ticket = await get_backends().tickets.create_ticket(
                idempotency_key=submission_key(tracker, FORM),
                category=tracker.get_slot(CATEGORY),
                street=tracker.get_slot(STREET),
                description=tracker.get_slot(DESCRIPTION),
                location=tracker.get_slot(LOCATION),
                phone=phone,
                anonymous=anonymous,
                channel=_CHANNELS.get(tracker.get_latest_input_channel() or "", "other"),
            )
        except (NotFound, BackendRejected):
            dispatcher.utter_message(response="utter_backend_rejected")
            return []
        dispatcher.utter_message(
            response="utter_ticket_created", number=ticket.number, state=ticket.state,
            street=ticket.handling_office or ticket.street,
        )
        return []


class ValidateTicketStatusForm(TaskFormValidator):
    def name(self) -> str:
        return "validate_ticket_status_form"

    async def extract_ticket_number(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return extract_reference(tracker, STATUS_FORM, NUMBER, ticket_number_in, r"\d{4,}|JS")

    async def validate_ticket_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        number = ticket_number_in(str(value or ""))
        if not number:
            dispatcher.utter_message(response="utter_ticket_number_invalid")
            return {NUMBER: None}
        return {NUMBER: number}


class ActionTicketStatus(FormSubmitAction):
    form = STATUS_FORM
    slots = (NUMBER,)
    needs_confirmation = False

    def name(self) -> str:
        return "action_ticket_status"

    def required(self, tracker: Tracker) -> tuple[str, ...]:
        return (NUMBER,)

    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        number = str(tracker.get_slot(NUMBER))
        try:
            ticket = await get_backends().tickets.get_ticket(number)
        except (NotFound, BackendRejected):
            dispatcher.utter_message(response="utter_ticket_not_found", number=number)
            return []
        params = {
            "number": ticket.number, "category": ticket.category.name, "street": ticket.street,
            "state": ticket.state, "created_at": ticket.created_at.strftime("%Y-%m-%d %H:%M"),
        }
        if ticket.handling_office:
            dispatcher.utter_message(response="utter_ticket_status",
                                     office=ticket.handling_office, **params)
        else:
            dispatcher.utter_message(response="utter_ticket_status_pending", **params)
        return []
