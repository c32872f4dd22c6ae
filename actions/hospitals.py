"""Hospital appointments: appointment_form (hospital, department by name or from symptoms, a
free half-day by date, patient, phone, confirmation) → action_book_appointment;
appointment_list_form → action_list_appointments; appointment_cancel_form →
action_cancel_appointment. Symptom guidance is guidance only, never a diagnosis (the responses
say so), and an emergency sign ends the form with the advice to call 120."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients import (
    BackendError,
    BackendRejected,
    CapacityExhausted,
    Conflict,
    Hospital,
    NotFound,
    Slot,
    get_backends,
)
from actions.dates import AM, PM, now_beijing, parse_date
from actions.forms import (
    CONTACT_NAME,
    PHONE,
    PHONE_MASKED,
    FormSubmitAction,
    Reference,
    TaskFormValidator,
    asking,
    day_label,
    entity_values,
    extract_reference,
    is_digression,
    joined,
    latest_intent,
    latest_text,
    may_fill,
    submission_key,
)
from actions.responses import response_template

FORM, LIST_FORM = "appointment_form", "appointment_list_form"
CANCEL_FORM = "appointment_cancel_form"
HOSPITAL, HOSPITAL_ID = "hospital", "hospital_id"
DEPARTMENT, DEPARTMENT_NAME = "department", "department_name"
DATE, PERIOD, WHEN, SLOT_ID = "appointment_date", "appointment_period", "appointment_when", \
    "appointment_slot_id"
BOOKING_ID = "booking_id"
WINDOW_DAYS = 7
APPOINTMENT_SLOTS = (HOSPITAL, HOSPITAL_ID, DEPARTMENT, DEPARTMENT_NAME, DATE, PERIOD, WHEN,
                     SLOT_ID)

# Colloquial department names → code (input parsing; names shown come from the backend).
DEPARTMENT_ALIASES: tuple[tuple[str, str], ...] = (
    ("耳鼻咽喉", "ent"), ("耳鼻喉", "ent"), ("口腔", "stomatology"), ("牙科", "stomatology"),
    ("心血管", "cardiology"), ("心内科", "cardiology"), ("心脏科", "cardiology"),
    ("呼吸科", "respiratory"), ("呼吸内科", "respiratory"), ("消化科", "gastroenterology"),
    ("消化内科", "gastroenterology"), ("胃肠科", "gastroenterology"), ("神经内科", "neurology"),
    ("神内", "neurology"), ("神经科", "neurology"), ("内分泌", "endocrinology"),
    ("普外", "general_surgery"), ("普通外科", "general_surgery"), ("骨科", "orthopedics"),
    ("泌尿", "urology"), ("妇产科", "gynecology"), ("妇科", "gynecology"), ("产科", "obstetrics"),
    ("儿科", "pediatrics"), ("小儿科", "pediatrics"), ("皮肤科", "dermatology"),
    ("皮肤", "dermatology"), ("眼科", "ophthalmology"), ("心理", "psychology"),
    ("精神科", "psychology"), ("中医", "tcm"), ("康复", "rehabilitation"),
    ("全科", "general_practice"), ("预防保健", "preventive_care"), ("保健科", "preventive_care"),
    ("发热门诊", "fever_clinic"), ("发烧门诊", "fever_clinic"), ("急诊", "emergency"),
)
_PERIOD_WORDS = ((PM, ("下午", "午后", "傍晚")), (AM, ("上午", "早上", "早晨", "上半天")))
_BOOKING_ID = re.compile(r"GH\d{14}")


async def _load_hospitals() -> list[Hospital]:
    return await get_backends().hospitals.hospitals()


HOSPITALS: Reference[list[Hospital]] = Reference(_load_hospitals)


# Characters that may stand right before a hospital's short name ("挂协和", "去朝阳医院");
# any other Chinese character there means a different hospital ("火星第一人民医院").
_BEFORE_NAME = frozenset("去挂在的约是到找想要帮我给从和跟个家看上说北京市")


def hospital_in(text: str, hospitals: list[Hospital]) -> Hospital | None:
    """The hospital named in ``text`` (its name or an alias; the longest match wins)."""
    clean = re.sub(r"\s", "", unicodedata.normalize("NFKC", text or ""))
    best: tuple[int, Hospital] | None = None
    for hospital in hospitals:
        for name in (hospital.name, *hospital.aliases):
            if len(name) < 2 or (best is not None and len(name) <= best[0]):
                continue
            for found in re.finditer(re.escape(name), clean):
                before = clean[found.start() - 1] if found.start() else ""
                if name == hospital.name or not before or before in _BEFORE_NAME or not (
                    "\u4e00" <= before <= "\u9fff"
                ):
                    best = (len(name), hospital)
                    break
    return best[1] if best else None


def department_in(text: str, names: dict[str, str] | None = None) -> str | None:
    """A department code named in ``text``: a department's own name first, then aliases."""
    clean = re.sub(r"\s", "", text or "")
    if names:
        for code, name in sorted(names.items(), key=lambda item: -len(item[1])):
            if name in clean:
                return code
    for alias, code in DEPARTMENT_ALIASES:
        if alias in clean:
            return code
    return None


def period_in(text: str) -> str | None:
    for period, words in _PERIOD_WORDS:
        if any(word in text for word in words):
            return period
    return None


def booking_id_in(text: str) -> str | None:
    match = _BOOKING_ID.search(re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", text)).upper())
    return match.group(0) if match else None


def in_window(day: date, today: date) -> bool:
    return today <= day < today + timedelta(days=WINDOW_DAYS)


def when_label(domain: DomainDict, day: date, period_name: str) -> str:
    return day_label(domain, day) + period_name


class ValidateAppointmentForm(TaskFormValidator):
    def name(self) -> str:
        return "validate_appointment_form"

    # -- hospital

    async def extract_hospital(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not may_fill(tracker, FORM, HOSPITAL):
            return {}
        # The resident's own words, not NLU's entity: a synonym can map part of an unknown
        # name ("火星第一人民医院") onto a real hospital.
        text = latest_text(tracker)
        try:
            found = hospital_in(text, await HOSPITALS.get())
        except BackendError:
            found = None
        if found:
            return {HOSPITAL: found.name}
        if asking(tracker, FORM, HOSPITAL) and not is_digression(tracker):
            return {HOSPITAL: text}
        return {}

    async def validate_hospital(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        try:
            hospitals = await HOSPITALS.get()
        except BackendError as error:
            return self.unavailable(dispatcher, error, *APPOINTMENT_SLOTS)
        hospital = hospital_in(str(value or ""), hospitals)
        if hospital is None and value:
            key = str(value).strip()
            matches = [h for h in hospitals if len(key) >= 2
                       and any(key in name for name in (h.name, *h.aliases))]
            if len(matches) == 1:
                hospital = matches[0]
            elif len(matches) > 1:
                dispatcher.utter_message(response="utter_hospital_choose", buttons=[
                    {"title": h.name, "payload": h.name} for h in matches[:6]])
                return {HOSPITAL: None, HOSPITAL_ID: None}
        if hospital is None:
            dispatcher.utter_message(response="utter_hospital_not_found")
            return {HOSPITAL: None, HOSPITAL_ID: None}
        values: dict[str, Any] = {HOSPITAL: hospital.name, HOSPITAL_ID: hospital.id}
        department = tracker.get_slot(DEPARTMENT)
        if department:  # named before the hospital: check this hospital has it
            values.update(await self._check_department(
                dispatcher, domain, hospital.id, hospital.name, department))
        return values

    # -- department (a name, or guidance from a symptom)

    async def extract_department(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not may_fill(tracker, FORM, DEPARTMENT):
            return {}
        for value in entity_values(tracker, DEPARTMENT):
            return {DEPARTMENT: value}
        text = latest_text(tracker)
        code = department_in(text)
        if code:
            return {DEPARTMENT: code}
        if asking(tracker, FORM, DEPARTMENT) and latest_intent(tracker) not in (
            "cancel_form", "request_human", "goodbye", "greet", "thank", "bot_challenge"
        ):
            return {DEPARTMENT: text}  # a symptom, or a name the backend may know
        if latest_intent(tracker) == "book_appointment" and len(text) >= 4:
            return {DEPARTMENT: text}  # "我头疼想挂个号": guidance from the symptom
        return {}

    async def validate_department(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        hospital_id = tracker.get_slot(HOSPITAL_ID)
        backends = get_backends()
        try:
            names: dict[str, str] = {}
            if hospital_id:
                departments = await backends.hospitals.departments(hospital_id)
                names = {d.code: d.name for d in departments}
            code = text if re.fullmatch(r"[a-z_]+", text) else department_in(text, names)
            guided = False
            if code is None:
                guidance = await backends.hospitals.guidance(text[:200])
                if guidance.urgent:
                    dispatcher.utter_message(response="utter_symptom_urgent")
                    return self.stop(*APPOINTMENT_SLOTS)
                offered = [d for d in guidance.departments if not names or d.code in names]
                if offered:
                    code, guided = offered[0].code, True
        except BackendError as error:
            return self.unavailable(dispatcher, error, *APPOINTMENT_SLOTS)
        if code is None:
            if asking(tracker, FORM, DEPARTMENT):
                dispatcher.utter_message(response="utter_department_unknown")
            return {DEPARTMENT: None, DEPARTMENT_NAME: None}
        values: dict[str, Any] = {DEPARTMENT: code}
        if hospital_id:
            checked = await self._check_department(
                dispatcher, domain, hospital_id, tracker.get_slot(HOSPITAL), code, guided=guided)
            values.update(checked)
        elif guided:
            values[DEPARTMENT_NAME] = _department_name(code, guidance.departments)
            dispatcher.utter_message(response="utter_department_guidance",
                                     department_name=values[DEPARTMENT_NAME])
        return values

    async def _check_department(
        self, dispatcher: CollectingDispatcher, domain: DomainDict, hospital_id: str,
        hospital_name: str | None, code: str, guided: bool = False,
    ) -> dict[str, Any]:
        try:
            departments = await get_backends().hospitals.departments(hospital_id)
        except BackendError as error:
            return self.unavailable(dispatcher, error, *APPOINTMENT_SLOTS)
        offered = {d.code: d for d in departments}
        department = offered.get(code)
        if department is None:
            dispatcher.utter_message(
                response="utter_department_not_offered", hospital=hospital_name or "",
                department_name=_any_department_name(code),
                departments=joined(d.name for d in departments if d.bookable))
            return {DEPARTMENT: None, DEPARTMENT_NAME: None}
        if not department.bookable:
            dispatcher.utter_message(response="utter_department_walk_in",
                                     department_name=department.name)
            return self.stop(*APPOINTMENT_SLOTS)
        if guided:
            dispatcher.utter_message(response="utter_department_guidance",
                                     department_name=department.name)
        return {DEPARTMENT: code, DEPARTMENT_NAME: department.name}

    # -- date and half-day

    async def extract_appointment_date(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not may_fill(tracker, FORM, DATE):
            return {}
        text = latest_text(tracker)
        parsed = parse_date(text, now_beijing())
        if parsed:
            values: dict[str, Any] = {DATE: parsed.iso()}
            if parsed.period:
                values[PERIOD] = parsed.period
            return values
        if asking(tracker, FORM, DATE) and not is_digression(tracker):
            return {DATE: text}
        return {}

    async def validate_appointment_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        day = _as_day(value)
        if day is None:
            dispatcher.utter_message(response="utter_invalid_date")
            return {DATE: None, SLOT_ID: None}
        if not in_window(day, now_beijing().date()):
            dispatcher.utter_message(response="utter_appointment_date_out_of_window",
                                     when=day_label(domain, day))
            return {DATE: None, PERIOD: None, SLOT_ID: None}
        return {DATE: day.isoformat(), SLOT_ID: None}

    async def extract_appointment_period(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not may_fill(tracker, FORM, PERIOD):
            return {}
        found = period_in(latest_text(tracker))
        return {PERIOD: found} if found else {}

    async def validate_appointment_period(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value not in (AM, PM):
            return {PERIOD: None}
        return {PERIOD: value, SLOT_ID: None}

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """After the slots of this turn are checked: once hospital, department and date are
        known, find a free half-day (or ask for the half-day, or another date)."""
        events = await super().get_validation_events(dispatcher, tracker, domain)
        halted = any(e.get("name") == "requested_slot" and e.get("value") is None
                     for e in events if e.get("event") == "slot")
        slots = tracker.slots
        if halted or slots.get(SLOT_ID) or not all(
            slots.get(s) for s in (HOSPITAL_ID, DEPARTMENT, DATE)
        ):
            return events
        try:
            settled = await self._settle(dispatcher, tracker, domain)
        except BackendError as error:
            settled = self.unavailable(dispatcher, error, *APPOINTMENT_SLOTS)
        tracker.slots.update(settled)
        return events + [SlotSet(slot, value) for slot, value in settled.items()]

    async def _settle(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        client = get_backends().hospitals
        hospital_id, department = tracker.get_slot(HOSPITAL_ID), tracker.get_slot(DEPARTMENT)
        day = date.fromisoformat(tracker.get_slot(DATE))
        wanted = tracker.get_slot(PERIOD)
        slots = await client.free_slots(hospital_id, department=department, day=day)
        if not slots:
            later = await client.free_slots(hospital_id, department=department)
            if not later:
                dispatcher.utter_message(response="utter_no_slots_at_all",
                                         hospital=tracker.get_slot(HOSPITAL) or "",
                                         department_name=tracker.get_slot(DEPARTMENT_NAME) or "")
                return self.stop(*APPOINTMENT_SLOTS)
            days = sorted({s.date for s in later})[:5]
            dispatcher.utter_message(
                response="utter_no_slots_on_date", when=day_label(domain, day),
                department_name=tracker.get_slot(DEPARTMENT_NAME) or "",
                dates=joined(day_label(domain, d) for d in days),
                buttons=[{"title": day_label(domain, d), "payload": day_label(domain, d)}
                         for d in days])
            return {DATE: None, PERIOD: None, SLOT_ID: None}
        by_period: dict[str, Slot] = {s.period_code: s for s in slots}
        if wanted and wanted not in by_period:
            dispatcher.utter_message(
                response="utter_period_unavailable",
                buttons=[{"title": s.period, "payload": s.period} for s in by_period.values()])
            return {PERIOD: None}
        if not wanted and len(by_period) > 1:
            return {}  # the form asks: 上午还是下午
        chosen = by_period[wanted] if wanted else next(iter(by_period.values()))
        return {PERIOD: chosen.period_code, SLOT_ID: chosen.slot_id,
                WHEN: when_label(domain, chosen.date, chosen.period)}


def _as_day(value: Any) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        parsed = parse_date(value, now_beijing())
        return parsed.day if parsed else None


def _department_name(code: str, departments: Any) -> str:
    for department in departments:
        if department.code == code:
            return str(department.name)
    return code


def _any_department_name(code: str) -> str:
    for alias, alias_code in DEPARTMENT_ALIASES:
        if alias_code == code and alias.endswith("科"):
            return alias
    return code


class ActionBookAppointment(FormSubmitAction):
    form = FORM
    slots = APPOINTMENT_SLOTS

    def name(self) -> str:
        return "action_book_appointment"

    def required(self, tracker: Tracker) -> tuple[str, ...]:
        return (SLOT_ID, CONTACT_NAME, PHONE)

    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        try:
            booking = await get_backends().hospitals.book(
                idempotency_key=submission_key(tracker, FORM),
                slot_id=tracker.get_slot(SLOT_ID),
                patient_name=tracker.get_slot(CONTACT_NAME),
                phone=tracker.get_slot(PHONE),
            )
        except CapacityExhausted:
            dispatcher.utter_message(response="utter_appointment_full")
            return []
        except Conflict as error:
            response = {"duplicate_booking": "utter_appointment_duplicate",
                        "slot_closed": "utter_appointment_slot_closed"}.get(
                error.code or "", "utter_backend_rejected")
            dispatcher.utter_message(response=response)
            return []
        except BackendRejected:
            dispatcher.utter_message(response="utter_backend_rejected")
            return []
        dispatcher.utter_message(
            response="utter_appointment_booked", booking_id=booking.booking_id,
            hospital=booking.hospital_name, department=booking.department_name,
            when=when_label(domain, booking.date, booking.period), queue=booking.queue_number,
        )
        return []


class ValidateAppointmentListForm(TaskFormValidator):
    def name(self) -> str:
        return "validate_appointment_list_form"


class ActionListAppointments(FormSubmitAction):
    form = LIST_FORM
    needs_confirmation = False

    def name(self) -> str:
        return "action_list_appointments"

    def required(self, tracker: Tracker) -> tuple[str, ...]:
        return (PHONE,)

    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        bookings = await get_backends().hospitals.bookings(tracker.get_slot(PHONE))
        masked = tracker.get_slot(PHONE_MASKED) or ""
        if not bookings:
            dispatcher.utter_message(response="utter_appointments_none", phone_masked=masked)
            return []
        channel = tracker.get_latest_input_channel()
        item = response_template(domain, "utter_appointment_item", channel)
        items = "".join(
            item.format(booking_id=b.booking_id, when=when_label(domain, b.date, b.period),
                        hospital=b.hospital_name, department=b.department_name, state=b.state)
            for b in bookings[:10]
        )
        dispatcher.utter_message(response="utter_appointments_list", phone_masked=masked,
                                 items=items)
        return []


class ValidateAppointmentCancelForm(TaskFormValidator):
    def name(self) -> str:
        return "validate_appointment_cancel_form"

    async def extract_booking_id(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        return extract_reference(tracker, CANCEL_FORM, BOOKING_ID, booking_id_in, r"\d{4,}|GH")

    async def validate_booking_id(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        found = booking_id_in(str(value or ""))
        if not found:
            dispatcher.utter_message(response="utter_booking_id_invalid")
        return {BOOKING_ID: found}


class ActionCancelAppointment(FormSubmitAction):
    form = CANCEL_FORM
    slots = (BOOKING_ID,)

    def name(self) -> str:
        return "action_cancel_appointment"

    def required(self, tracker: Tracker) -> tuple[str, ...]:
        return (BOOKING_ID, PHONE)

    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        booking_id = str(tracker.get_slot(BOOKING_ID))
        try:
            booking = await get_backends().hospitals.cancel(booking_id, tracker.get_slot(PHONE))
        except NotFound:
            dispatcher.utter_message(response="utter_appointment_cancel_not_found",
                                     booking_id=booking_id)
            return []
        except Conflict as error:
            response = ("utter_appointment_too_late" if error.code == "too_late_to_cancel"
                        else "utter_backend_rejected")
            dispatcher.utter_message(response=response)
            return []
        except BackendRejected:
            dispatcher.utter_message(response="utter_appointment_cancel_not_found",
                                     booking_id=booking_id)
            return []
        dispatcher.utter_message(
            response="utter_appointment_cancelled", booking_id=booking.booking_id,
            hospital=booking.hospital_name, department=booking.department_name,
            when=when_label(domain, booking.date, booking.period),
        )
        return []
