"""Elderly care: 高龄津贴 eligibility (allowance_form → action_check_allowance), the nearest
养老驿站 by street or a shared location (station_form → action_find_stations), and a home
service 助餐/助浴/助洁/助医 (home_service_form → action_book_home_service).

The allowance rule is data (:data:`GAOLING_ALLOWANCE`) whose source is the knowledge base entry
that states it (``yl-gaoling-amount`` in ``knowledge/kb/养老/高龄津贴.yml``); answers cite that
entry's source through the domain's ``utter_source_line``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients import (
    HOME_SERVICES,
    BackendError,
    BackendRejected,
    CapacityExhausted,
    Conflict,
    HomeService,
    Station,
    Street,
    get_backends,
)
from actions.dates import now_beijing, parse_date
from actions.forms import (
    CONTACT_NAME,
    HARD_DIGRESSIONS,
    PHONE,
    FormSubmitAction,
    Reference,
    TaskFormValidator,
    asking,
    day_label,
    entity_values,
    is_activation,
    is_digression,
    joined,
    latest_intent,
    latest_text,
    match_street,
    may_fill,
    numbers_in,
    submission_key,
)
from actions.responses import response_template

ALLOWANCE_FORM, STATION_FORM, SERVICE_FORM = "allowance_form", "station_form", \
    "home_service_form"
AGE, HUKOU = "elder_age", "elder_hukou"
STREET, STATION_ID, STATION_NAME = "station_street", "station_id", "station_name"
SERVICE, SERVICE_NAME = "home_service", "home_service_name"
SERVICE_DATE, SERVICE_WHEN, ADDRESS = "service_date", "service_when", "service_address"
AT_LOCATION = "@location"
FIRST_DAY, LAST_DAY = 1, 14  # home services: from tomorrow to 14 days ahead

# ---------------------------------------------------------------- the 高龄津贴 rule, as data


@dataclass(frozen=True)
class AllowanceTier:
    low: int
    high: int | None  # None: and above
    monthly_yuan: int

    def holds(self, age: int) -> bool:
        return age >= self.low and (self.high is None or age <= self.high)


@dataclass(frozen=True)
class AllowanceRule:
    """An age-based allowance. ``kb_file``/``kb_id`` name the knowledge entry that states the
    rule and carries its source (issuer, title, date), cited with every answer."""

    kb_file: str
    kb_id: str
    min_age: int
    beijing_hukou_only: bool
    tiers: tuple[AllowanceTier, ...]

    def tier_for(self, age: int) -> AllowanceTier | None:
        return next((tier for tier in self.tiers if tier.holds(age)), None)


# 北京市高龄老年人津贴: 北京户籍, 80-89 → 100 元/月, 90-99 → 500 元/月, 100+ → 800 元/月.
GAOLING_ALLOWANCE = AllowanceRule(
    kb_file="养老/高龄津贴.yml",
    kb_id="yl-gaoling-amount",
    min_age=80,
    beijing_hukou_only=True,
    tiers=(AllowanceTier(80, 89, 100), AllowanceTier(90, 99, 500), AllowanceTier(100, None, 800)),
)


@dataclass(frozen=True)
class AllowanceDecision:
    outcome: str  # eligible | too_young | not_beijing
    tier: AllowanceTier | None = None
    years_to_wait: int = 0


def decide_allowance(rule: AllowanceRule, age: int, beijing_hukou: bool) -> AllowanceDecision:
    """The rule applied to one person (pure)."""
    if rule.beijing_hukou_only and not beijing_hukou:
        return AllowanceDecision("not_beijing")
    if age < rule.min_age:
        return AllowanceDecision("too_young", years_to_wait=rule.min_age - age)
    return AllowanceDecision("eligible", tier=rule.tier_for(age))


@cache
def rule_source(kb_file: str, kb_id: str) -> tuple[Any, date | None] | None:
    """(Source, effective date) of the knowledge entry stating a rule; read once per process."""
    from knowledge.loader import KnowledgeBase, load_file
    from knowledge.settings import Settings

    root = Settings.from_env().kb_dir
    kb = KnowledgeBase(root=root)
    try:
        load_file(root / kb_file, kb)
    except OSError:
        return None
    for item in kb.items:
        if item.id == kb_id:
            return item.source, item.effective
    return None


# ---------------------------------------------------------------- reading answers

_HUKOU_NO = re.compile(r"不是北京|非北京|非京籍|外地|外省|没有北京|不是本地|老家户口|农村户口在")
_HUKOU_YES = re.compile(r"北京户|北京的户|京籍|北京人|本地户口|北京本地|户口在北京|北京户籍")
_BORN = re.compile(r"((?:19|20)\d{2})\s*年\s*(?:出生|生|生人)")
SERVICE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("bath", ("助浴", "洗澡", "洗浴", "擦身")),
    ("cleaning", ("助洁", "打扫", "保洁", "卫生", "收拾屋", "收拾家")),
    ("medical", ("助医", "陪诊", "陪同就医", "陪着看病", "陪看病", "拿药", "取药", "量血压")),
    ("meal", ("助餐", "送餐", "送饭", "做饭", "吃饭", "午饭", "老年餐")),
)
_ADDRESS_HINT = re.compile(r"楼|室|单元|院|小区|胡同|里|路|街|村|巷|层|社区|公寓|家园|苑|园|大厦")


def hukou_in(text: str) -> bool | None:
    if _HUKOU_NO.search(text):
        return False
    if _HUKOU_YES.search(text):
        return True
    return None


def age_in(text: str, today: date) -> int | None:
    """An age from "85", "八十五岁", "今年九十了", "1940年出生"; None if there is none."""
    clean = unicodedata.normalize("NFKC", text)
    born = _BORN.search(clean)
    if born:
        return today.year - int(born.group(1))
    for number in numbers_in(clean):
        if 0 < number <= 130:
            return number
    return None


def service_in(text: str) -> str | None:
    for code, words in SERVICE_WORDS:
        if any(word in text for word in words):
            return code
    return None


def location_shared(tracker: Tracker) -> bool:
    """The resident shared a location in this turn or in the one before (the WeChat channel
    sends it as /share_location{...}); then the coordinates in the slots are fresh."""
    if tracker.get_slot("latitude") is None or tracker.get_slot("longitude") is None:
        return False
    intents = [e.get("parse_data", {}).get("intent", {}).get("name")
               for e in tracker.events if e.get("event") == "user"]
    return "share_location" in intents[-2:]


async def _load_streets() -> list[Street]:
    return await get_backends().eldercare.streets()


async def _load_services() -> list[HomeService]:
    return await get_backends().eldercare.services()


STREETS: Reference[list[Street]] = Reference(_load_streets)
SERVICES: Reference[list[HomeService]] = Reference(_load_services)


# ---------------------------------------------------------------- 高龄津贴

class ValidateAllowanceForm(TaskFormValidator):
    def name(self) -> str:
        return "validate_allowance_form"

    async def extract_elder_age(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not may_fill(tracker, ALLOWANCE_FORM, AGE):
            return {}
        # The text, not the NLU entity: a tagged part of "三百岁" must not become an age.
        text = latest_text(tracker)
        age = age_in(text, now_beijing().date())
        if age is not None:
            return {AGE: age}
        if asking(tracker, ALLOWANCE_FORM, AGE) and not is_digression(tracker):
            return {AGE: -1}  # an answer without an age: validate_elder_age asks again
        return {}

    async def validate_elder_age(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not isinstance(value, (int, float)) or not 0 < value <= 130:
            dispatcher.utter_message(response="utter_elder_age_invalid")
            return {AGE: None}
        return {AGE: int(value)}

    async def extract_elder_hukou(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not may_fill(tracker, ALLOWANCE_FORM, HUKOU):
            return {}
        found = hukou_in(latest_text(tracker))
        if found is None:
            for value in entity_values(tracker, "hukou"):
                found = hukou_in(value)
        if found is None and asking(tracker, ALLOWANCE_FORM, HUKOU):
            found = {"affirm": True, "deny": False}.get(latest_intent(tracker) or "")
        return {} if found is None else {HUKOU: found}

    async def validate_elder_hukou(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return {HUKOU: value if isinstance(value, bool) else None}


class ActionCheckAllowance(FormSubmitAction):
    form = ALLOWANCE_FORM
    slots = (AGE, HUKOU)
    needs_confirmation = False

    def name(self) -> str:
        return "action_check_allowance"

    def ready(self, tracker: Tracker) -> bool:
        return tracker.get_slot(AGE) is not None and tracker.get_slot(HUKOU) is not None

    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        rule = GAOLING_ALLOWANCE
        age = int(tracker.get_slot(AGE))
        decision = decide_allowance(rule, age, bool(tracker.get_slot(HUKOU)))
        channel = tracker.get_latest_input_channel()
        if decision.outcome == "not_beijing":
            dispatcher.utter_message(response="utter_allowance_not_beijing")
        elif decision.outcome == "too_young":
            dispatcher.utter_message(response="utter_allowance_too_young", age=age,
                                     years=decision.years_to_wait)
        else:
            tier = decision.tier
            assert tier is not None
            band = (response_template(domain, "utter_allowance_band", channel)
                    if tier.high is not None
                    else response_template(domain, "utter_allowance_band_open", channel))
            dispatcher.utter_message(response="utter_allowance_eligible", age=age,
                                     band=band.format(low=tier.low, high=tier.high),
                                     amount=tier.monthly_yuan)
            dispatcher.utter_message(response="utter_allowance_how_to_apply")
        cited = rule_source(rule.kb_file, rule.kb_id)
        if cited is not None:
            from knowledge.citation import format_source_line

            source, effective = cited
            line = format_source_line(
                response_template(domain, "utter_source_line", channel), source, effective)
            if line:
                dispatcher.utter_message(response="utter_allowance_source", source=line)
        return []


# ---------------------------------------------------------------- the nearest 养老驿站

class StreetOrLocation(TaskFormValidator):
    """``station_street``: a street or community of the district, or a shared location."""

    async def extract_station_street(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        form = self.form_name()
        if not may_fill(tracker, form, STREET):
            return {}
        if latest_intent(tracker) == "share_location" or (
            is_activation(tracker, form) and location_shared(tracker)
        ):
            return {STREET: AT_LOCATION}
        for value in entity_values(tracker, "street"):
            return {STREET: value}
        text = latest_text(tracker)
        try:
            street = match_street(text, await STREETS.get())
        except BackendError:
            street = None  # reported by validate_station_street
        if street is not None:
            return {STREET: street.name}
        if asking(tracker, form, STREET) and not is_digression(tracker):
            return {STREET: text}
        return {}

    async def validate_station_street(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == AT_LOCATION:
            if tracker.get_slot("latitude") is None or tracker.get_slot("longitude") is None:
                return {STREET: None}
            return {STREET: AT_LOCATION, STATION_ID: None}
        try:
            streets = await STREETS.get()
        except BackendError as error:
            return self.unavailable(dispatcher, error, *self.reset_on_failure())
        street = match_street(str(value or ""), streets)
        if street is None:
            dispatcher.utter_message(response="utter_station_street_unknown",
                                     streets=joined(s.name for s in streets))
            return {STREET: None}
        return {STREET: street.name, STATION_ID: None}

    def reset_on_failure(self) -> tuple[str, ...]:
        return (STREET,)


def station_query(tracker: Tracker) -> dict[str, Any]:
    street = tracker.get_slot(STREET)
    if street == AT_LOCATION:
        return {"lat": float(tracker.get_slot("latitude")),
                "lng": float(tracker.get_slot("longitude"))}
    return {"street": street}


class ValidateStationForm(StreetOrLocation):
    def name(self) -> str:
        return "validate_station_form"


class ActionFindStations(FormSubmitAction):
    form = STATION_FORM
    slots = (STREET,)
    needs_confirmation = False

    def name(self) -> str:
        return "action_find_stations"

    def required(self, tracker: Tracker) -> tuple[str, ...]:
        return (STREET,)

    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        query = station_query(tracker)
        stations = await get_backends().eldercare.nearest_stations(limit=3, **query)
        if not stations:
            dispatcher.utter_message(response="utter_stations_none")
            return []
        items = self._items(domain, tracker.get_latest_input_channel(), stations)
        if "lat" in query:
            dispatcher.utter_message(response="utter_stations_near_location", items=items)
        else:
            dispatcher.utter_message(response="utter_stations_near_street", items=items,
                                     street=query["street"])
        if any(s.sample_data for s in stations):
            dispatcher.utter_message(response="utter_sample_data_notice")
        return [SlotSet("latitude", None), SlotSet("longitude", None)] if "lat" in query else []

    @staticmethod
    def _items(domain: DomainDict, channel: str | None, stations: list[Station]) -> str:
        plain = response_template(domain, "utter_station_item", channel)
        near = response_template(domain, "utter_station_item_distance", channel)
        lines = []
        for station in stations:
            template = near if station.distance_m is not None else plain
            lines.append(template.format(
                name=station.name, address=station.address, hours=station.opening_hours,
                services=joined(s.name for s in station.services), distance=station.distance_m,
            ))
        return "".join(lines)


# ---------------------------------------------------------------- home services

SERVICE_SLOTS = (SERVICE, SERVICE_NAME, STREET, STATION_ID, STATION_NAME, SERVICE_DATE,
                 SERVICE_WHEN, ADDRESS)


class ValidateHomeServiceForm(StreetOrLocation):
    def name(self) -> str:
        return "validate_home_service_form"

    def reset_on_failure(self) -> tuple[str, ...]:
        return SERVICE_SLOTS

    async def extract_home_service(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not may_fill(tracker, SERVICE_FORM, SERVICE):
            return {}
        for value in entity_values(tracker, SERVICE):
            return {SERVICE: value}
        text = latest_text(tracker)
        found = service_in(text)
        if found:
            return {SERVICE: found}
        if asking(tracker, SERVICE_FORM, SERVICE) and not is_digression(tracker):
            return {SERVICE: text}
        return {}

    async def validate_home_service(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        code = value if value in HOME_SERVICES else service_in(str(value or ""))
        if code is None:
            dispatcher.utter_message(response="utter_home_service_unknown")
            return {SERVICE: None}
        try:
            services = await SERVICES.get()
        except BackendError as error:
            return self.unavailable(dispatcher, error, *SERVICE_SLOTS)
        name = next((s.name for s in services if s.code == code), code)
        return {SERVICE: code, SERVICE_NAME: name, STATION_ID: None}

    async def extract_service_date(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not may_fill(tracker, SERVICE_FORM, SERVICE_DATE):
            return {}
        parsed = parse_date(latest_text(tracker), now_beijing())
        if parsed:
            return {SERVICE_DATE: parsed.iso()}
        if asking(tracker, SERVICE_FORM, SERVICE_DATE) and not is_digression(tracker):
            return {SERVICE_DATE: latest_text(tracker)}
        return {}

    async def validate_service_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        try:
            day = date.fromisoformat(str(value))
        except ValueError:
            dispatcher.utter_message(response="utter_invalid_date")
            return {SERVICE_DATE: None}
        today = now_beijing().date()
        if not today + timedelta(days=FIRST_DAY) <= day <= today + timedelta(days=LAST_DAY):
            dispatcher.utter_message(response="utter_service_date_out_of_window",
                                     when=day_label(domain, day))
            return {SERVICE_DATE: None}
        return {SERVICE_DATE: day.isoformat(), SERVICE_WHEN: day_label(domain, day)}

    async def extract_service_address(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not asking(tracker, SERVICE_FORM, ADDRESS):
            return {}
        text = latest_text(tracker)
        if latest_intent(tracker) in HARD_DIGRESSIONS or (
            is_digression(tracker) and not _ADDRESS_HINT.search(text)
        ):
            return {}
        return {ADDRESS: text}

    async def validate_service_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = re.sub(r"\s+", " ", str(value or "")).strip()
        if not 5 <= len(text) <= 100 or not _ADDRESS_HINT.search(text):
            dispatcher.utter_message(response="utter_service_address_invalid")
            return {ADDRESS: None}
        return {ADDRESS: text}

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Once the service and the street (or location) are known, pick the nearest station
        offering the service."""
        events = await super().get_validation_events(dispatcher, tracker, domain)
        slots = tracker.slots
        halted = any(e.get("name") == "requested_slot" and e.get("value") is None
                     for e in events if e.get("event") == "slot")
        if halted or slots.get(STATION_ID) or not (slots.get(SERVICE) and slots.get(STREET)):
            return events
        try:
            stations = await get_backends().eldercare.nearest_stations(
                limit=1, service=slots[SERVICE], **station_query(tracker))
        except BackendError as error:
            picked = self.unavailable(dispatcher, error, *SERVICE_SLOTS)
        else:
            if stations:
                picked = {STATION_ID: stations[0].id, STATION_NAME: stations[0].name}
            else:
                dispatcher.utter_message(response="utter_no_station_for_service",
                                         service=slots.get(SERVICE_NAME) or "")
                picked = self.stop(*SERVICE_SLOTS)
        tracker.slots.update(picked)
        return events + [SlotSet(slot, value) for slot, value in picked.items()]


class ActionBookHomeService(FormSubmitAction):
    form = SERVICE_FORM
    slots = SERVICE_SLOTS

    def name(self) -> str:
        return "action_book_home_service"

    def required(self, tracker: Tracker) -> tuple[str, ...]:
        return (SERVICE, STATION_ID, SERVICE_DATE, ADDRESS, CONTACT_NAME, PHONE)

    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        day = date.fromisoformat(tracker.get_slot(SERVICE_DATE))
        when = day_label(domain, day)
        try:
            booking = await get_backends().eldercare.book_service(
                idempotency_key=submission_key(tracker, SERVICE_FORM),
                station_id=tracker.get_slot(STATION_ID), service=tracker.get_slot(SERVICE),
                day=day, address=tracker.get_slot(ADDRESS),
                contact_name=tracker.get_slot(CONTACT_NAME), phone=tracker.get_slot(PHONE),
            )
        except CapacityExhausted:
            dispatcher.utter_message(response="utter_home_service_full", when=when)
            return []
        except Conflict as error:
            response = ("utter_home_service_duplicate" if error.code == "duplicate_booking"
                        else "utter_backend_rejected")
            dispatcher.utter_message(response=response)
            return []
        except BackendRejected:
            dispatcher.utter_message(response="utter_backend_rejected")
            return []
        dispatcher.utter_message(
            response="utter_home_service_booked", booking_id=booking.booking_id,
            station=booking.station_name, when=day_label(domain, booking.date),
            service=booking.service_name,
        )
        return []
