"""What every task form shares: reading the resident's turn, the phone / name / confirmation
slots, the idempotency key of a submission, cancelling, and the submit step.

A task form (``ticket_form``, ``appointment_form`` …) is declared in ``bot/domain/<service>.yml``;
its ``validate_<form>`` action is a :class:`TaskFormValidator` in ``actions/<service>.py`` and the
action run after it is a :class:`FormSubmitAction`. Both base classes are abstract, so the
rasa-sdk executor does not register them.

Slots are filled by ``extract_<slot>`` methods (custom mappings), from the turn that started
the form and from the answers to the form's questions, and checked by ``validate_<slot>``. A
validator that cannot go on (a backend is down, the resident said no at the confirmation, an
emergency) stops the form with :meth:`TaskFormValidator.stop`; the submit action then sees no
confirmation and writes nothing. After a submission every slot of the form is cleared, so a
second "确认" does not submit again; the idempotency key (conversation, form, the moment the
form started) makes a retried submission return the first result instead of a second one.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
import time
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import date
from typing import Any, ClassVar, Generic, TypeVar

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.clients import BackendError, Street, idempotency_key, mask_phone, normalize_phone
from actions.responses import response_template
from actions.vault import VaultError, VaultMiss, get_vault, is_reference

logger = logging.getLogger(__name__)
T = TypeVar("T")
FAILURE_MEMORY = 5.0  # seconds a failed reference-data load is not retried

REQUESTED_SLOT = "requested_slot"
CONFIRM = "confirm"
PHONE = "phone"
PHONE_MASKED = "phone_masked"
CONTACT_NAME = "contact_name"

# Intents that are never an answer to a form's question: Rasa then lets the rules answer them
# (a question is answered and the form resumes; "算了" cancels).
DIGRESSION_INTENTS = frozenset({
    "ask_question", "cancel_form", "request_human", "bot_challenge", "ask_capabilities",
    "greet", "goodbye", "thank", "out_of_scope", "choose_area", "message_too_long",
    "voice_repeat", "emergency",
})
# Digressions no answer to a form's question can be, whatever it contains.
HARD_DIGRESSIONS = DIGRESSION_INTENTS - {"ask_question", "out_of_scope"}
# Intents that start another task.
TASK_INTENTS = frozenset({
    "file_ticket", "ask_ticket_status", "book_appointment", "list_appointments",
    "cancel_appointment", "check_allowance", "find_station", "book_home_service",
    "ask_attraction", "ask_crowd", "reserve_ticket", "ask_application_status",
})

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
              "六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100}
# A run of (spoken) digits that is a token of its own: the tail of "订单A20240915" or of a code
# like "rb-6c71783798" is no phone number, even when eight of its digits look like one.
_DIGIT_RUN = re.compile(
    r"(?<![0-9A-Za-z])[+＋]?[0-9零〇一幺二两三四五六七八九\s\-()（）]{7,}(?![0-9A-Za-z])"
)
_NUMBER = re.compile(r"[0-9]+|[零〇一二两三四五六七八九十百]+")
_REQUEST = re.compile(r"帮我|帮忙|我要|我想|给我|麻烦|请你|查一下|查查|预约|挂号|投诉|反映")
_QUESTION = re.compile(r"[?？]|吗|怎么|如何|什么|哪里|哪儿|哪个|多少|能不能|可不可以|是否|咋")
_NAME = re.compile(r"[\u4e00-\u9fff·•]{2,10}|[A-Za-z][A-Za-z .'-]{1,29}")
_NAME_PREFIX = re.compile(
    r"^(?:我(?:的名字)?(?:叫|是)|名字(?:叫|是)?|姓名(?:是|叫)?|叫|就诊人(?:是|叫)?|患者(?:是|叫)?"
    r"|病人(?:是|叫)?|联系人(?:是|叫)?|预约人(?:是|叫)?|本人)[:：]?"
)
_NAME_SUFFIX = re.compile(r"(?:就行|就可以|吧|啊|呀|哈|的)$")
# form → the slots its submit action clears (filled in by FormSubmitAction subclasses).
FORM_SLOTS: dict[str, tuple[str, ...]] = {}
_NOT_NAMES = frozenset({"不知道", "不告诉你", "算了", "不用了", "匿名", "没有", "确认", "好的"})


# ---------------------------------------------------------------- reading the resident's turn

def latest_text(tracker: Tracker) -> str:
    return str((tracker.latest_message or {}).get("text") or "").strip()


def latest_intent(tracker: Tracker) -> str | None:
    intent = (tracker.latest_message or {}).get("intent") or {}
    return intent.get("name")


def entity_values(tracker: Tracker, entity: str) -> list[str]:
    return [str(v) for v in tracker.get_latest_entity_values(entity) if v not in (None, "")]


def is_activation(tracker: Tracker, form: str) -> bool:
    """True while ``form`` is being started by this message. Rasa already shows the form as
    active then, with the message that started it as its trigger and no slot asked yet."""
    loop = tracker.active_loop or {}
    if loop.get("name") != form or tracker.get_slot(REQUESTED_SLOT) is None:
        return True
    trigger = (loop.get("trigger_message") or {}).get("message_id")
    return bool(trigger) and trigger == (tracker.latest_message or {}).get("message_id")


def asking(tracker: Tracker, form: str, slot: str) -> bool:
    """True when ``form`` asked for ``slot`` and this turn is the answer."""
    return not is_activation(tracker, form) and tracker.get_slot(REQUESTED_SLOT) == slot


def may_fill(tracker: Tracker, form: str, slot: str) -> bool:
    """A slot is filled from this turn when it was asked for, or it is still empty (a resident
    may say several things at once: "协和医院眼科，明天上午")."""
    return asking(tracker, form, slot) or tracker.get_slot(slot) in (None, "")


def is_digression(tracker: Tracker) -> bool:
    """Is this turn something else than an answer to the form's question? Small talk, "算了"
    and "转人工" always are; a question or a request for another task ("帮我挂个号") is when
    it reads like one — a bare "王府井大街" is an answer, whatever the NLU thought of it."""
    intent = latest_intent(tracker)
    if intent in HARD_DIGRESSIONS:
        return True
    if intent in TASK_INTENTS or intent in ("ask_question", "out_of_scope"):
        text = latest_text(tracker)
        return looks_like_question(text) or bool(_REQUEST.search(text))
    return False


def stopped(values: dict[str, Any]) -> bool:
    """Do these slot values stop the form (``requested_slot`` set to None)?"""
    return REQUESTED_SLOT in values and values[REQUESTED_SLOT] is None


def extract_reference(
    tracker: Tracker, form: str, slot: str, find: Callable[[str], str | None], looks_like: str
) -> dict[str, Any]:
    """A reference number (ticket, booking, application) for ``slot``.

    The whole message is searched first (NLU's entity can cut a number written with blanks,
    "SQ2026 1115…"), then NLU's entity, each through ``find``. While the form asks for the
    number, a message matching ``looks_like`` (after dropping blanks and dashes) is kept as it
    is, so the validator can tell the resident what is wrong with it."""
    if not may_fill(tracker, form, slot):
        return {}
    text = latest_text(tracker)
    for candidate in (text, *entity_values(tracker, slot)):
        found = find(candidate)
        if found:
            return {slot: found}
    clean = re.sub(r"[\s\-—_]", "", unicodedata.normalize("NFKC", text)).upper()
    if asking(tracker, form, slot) and not is_digression(tracker) and re.search(looks_like, clean):
        return {slot: text}
    return {}


def looks_like_question(text: str) -> bool:
    return bool(_QUESTION.search(text))


def activation_timestamp(tracker: Tracker, form: str) -> float | None:
    """When the current run of ``form`` started (its latest ``active_loop`` event)."""
    for event in reversed(tracker.events):
        if event.get("event") == "active_loop" and event.get("name") == form:
            return float(event.get("timestamp") or 0.0)
    return None


def submission_key(tracker: Tracker, form: str) -> str:
    """The Idempotency-Key of this run of ``form``: the same for a retried or repeated
    submission, different for the next run of the form."""
    started = activation_timestamp(tracker, form)
    return idempotency_key(tracker.sender_id, form, repr(started))


# ---------------------------------------------------------------- numbers, phones, names

def cn_to_int(text: str) -> int | None:
    """``"85"``, ``"八十五"``, ``"一百零二"``, ``"九十"`` → int; None if it is not a number."""
    if not text:
        return None
    if text.isdigit():
        return int(text)
    total, current, seen = 0, 0, False
    for char in text:
        if char in _CN_DIGITS:
            current = _CN_DIGITS[char]
            seen = True
        elif char in _CN_UNITS:
            unit = _CN_UNITS[char]
            total += (current or 1) * unit
            current = 0
            seen = True
        else:
            return None
    return total + current if seen else None


def numbers_in(text: str) -> list[int]:
    """Every number in ``text``, Arabic or Chinese, in order."""
    clean = unicodedata.normalize("NFKC", text)
    found = []
    for match in _NUMBER.finditer(clean):
        value = cn_to_int(match.group(0))
        if value is not None:
            found.append(value)
    return found


def phone_in(text: str) -> str | None:
    """A valid phone number written anywhere in ``text`` (also spoken digits: 幺三八…)."""
    clean = unicodedata.normalize("NFKC", text or "")
    for match in _DIGIT_RUN.finditer(clean):
        raw = match.group(0)
        digits = "".join(
            str(_CN_DIGITS[c]) if c in _CN_DIGITS else c for c in raw if c not in "()（）"
        )
        phone = normalize_phone(digits.strip())
        if phone:
            return phone
        compact = re.sub(r"\D", "", digits)
        phone = normalize_phone(compact)
        if phone:
            return phone
    return None


def name_in(text: str) -> str | None:
    """A person's name from an answer like "王秀英" or "就诊人是王秀英"; None if it is not one."""
    clean = re.sub(r"[\s,，。.!！?？~～]", "", unicodedata.normalize("NFKC", text or ""))
    clean = _NAME_SUFFIX.sub("", _NAME_PREFIX.sub("", clean))
    if not clean or clean in _NOT_NAMES or any(ch.isdigit() for ch in clean):
        return None
    return clean if _NAME.fullmatch(clean) else None


def day_label(domain: DomainDict, day: date, channel: str | None = None) -> str:
    """``6月5日`` from the domain's utter_date_label."""
    return response_template(domain, "utter_date_label", channel).format(
        month=day.month, day=day.day
    )


def joined(items: Iterable[str]) -> str:
    """Items for a list inside a response (the separator is punctuation, not wording)."""
    return "、".join(items)


class Reference(Generic[T]):
    """Reference data of a backend (streets, categories, hospitals), loaded on first use and
    kept ``ttl`` seconds per process. A failed load raises the client's BackendError."""

    def __init__(self, load: Callable[[], Awaitable[T]], ttl: float = 300.0) -> None:
        self._load = load
        self._ttl = ttl
        self._value: T | None = None
        self._loaded_at = 0.0
        self._failure: BackendError | None = None
        self._failed_at = 0.0
        self._lock: asyncio.Lock | None = None

    async def get(self) -> T:
        """The data; a load that failed moments ago fails again at once (one slow backend
        must not cost a resident's turn two timeouts)."""
        now = time.monotonic()
        if self._value is not None and now - self._loaded_at < self._ttl:
            return self._value
        if self._failure is not None and now - self._failed_at < FAILURE_MEMORY:
            raise self._failure
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._value is None or time.monotonic() - self._loaded_at >= self._ttl:
                try:
                    self._value = await self._load()
                except BackendError as error:
                    self._failure, self._failed_at = error, time.monotonic()
                    raise
                self._failure = None
                self._loaded_at = time.monotonic()
        return self._value

    def clear(self) -> None:
        self._value = None


def match_street(text: str, streets: Sequence[Street]) -> Street | None:
    """The street of the district named in ``text``: by a community (明德里社区, 明德里), the
    street's name (明德街道) or its short name (明德)."""
    clean = re.sub(r"\s", "", unicodedata.normalize("NFKC", text or ""))
    if not clean:
        return None
    candidates: list[tuple[int, Street]] = []
    for street in streets:
        names = [street.name, *street.communities]
        names += [community.removesuffix("社区") for community in street.communities]
        short = street.name.removesuffix("街道")
        if len(short) >= 2:
            names += [short + "街", short]
        for name in names:
            if len(name) >= 2 and name in clean:
                candidates.append((len(name), street))
    if not candidates:
        return None
    return max(candidates, key=lambda c: c[0])[1]


# ---------------------------------------------------------------- the validators' base class

class TaskFormValidator(FormValidationAction, ABC):
    """``validate_<form>`` of a task form: phone, contact name and confirmation are handled
    here for every form that requires them; subclasses add their own slots."""

    @abstractmethod
    def name(self) -> str:
        """``validate_<form>``."""

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Nothing is taken from an emergency (the intent set by safety/nlu.py): no slot is
        filled, so Rasa rejects the form and the emergency rule answers first."""
        if latest_intent(tracker) == "emergency":
            return []
        return await super().run(dispatcher, tracker, domain)

    async def get_validation_events(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """rasa-sdk's validation loop, except that a slot cleared this turn is not validated,
        and once a validator (or an extractor) stopped the form nothing else is checked or
        said."""
        required = await self.required_slots(
            self.domain_slots(domain), dispatcher, tracker, domain)
        slots: dict[str, Any] = tracker.slots_to_validate()
        for slot in list(slots):
            if slot not in required and slot != REQUESTED_SLOT:
                slots.pop(slot)
        for slot, value in list(slots.items()):
            if stopped(slots):
                break
            validate = getattr(self, f"validate_{slot}", None)
            if value is None or slot == REQUESTED_SLOT or validate is None:
                continue
            output = await validate(value, dispatcher, tracker, domain)
            if isinstance(output, dict):
                slots.update(output)
                tracker.slots.update(output)
        phone = slots.get(PHONE)
        if phone is not None and not is_reference(phone):
            # The stored conversation is masked: the real number goes to the vault and the
            # slot holds its reference, resolved again by FormSubmitAction (actions/vault.py).
            try:
                slots[PHONE] = await get_vault().put(tracker.sender_id, PHONE, str(phone))
            except VaultError as error:
                slots.update(self.unavailable(dispatcher, error, PHONE, PHONE_MASKED))
        return [SlotSet(slot, value) for slot, value in slots.items()]

    # -- helpers for subclasses

    @staticmethod
    def stop(*reset: str) -> dict[str, Any]:
        """Slot values that end the form now (nothing is submitted), clearing ``reset``."""
        values: dict[str, Any] = {slot: None for slot in reset}
        values[REQUESTED_SLOT] = None
        values[CONFIRM] = None
        return values

    def unavailable(
        self, dispatcher: CollectingDispatcher, error: BackendError, *reset: str
    ) -> dict[str, Any]:
        logger.warning("%s: backend %s failed: %s", self.form_name(), error.service,
                       type(error).__name__)
        dispatcher.utter_message(response="utter_backend_unavailable")
        return self.stop(*reset)

    # -- phone

    async def extract_phone(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        form = self.form_name()
        text = latest_text(tracker)
        if asking(tracker, form, PHONE):
            for value in entity_values(tracker, PHONE):
                phone = normalize_phone(value) or phone_in(value)
                if phone:
                    return {PHONE: phone}
            if phone_in(text):
                return {PHONE: phone_in(text)}
            if latest_intent(tracker) in HARD_DIGRESSIONS:
                return {}
            if re.search(r"\d{5,}", unicodedata.normalize("NFKC", text)):
                return {PHONE: text}  # digits but no valid number: validate_phone says so
            return {}
        found = phone_in(text)
        current = tracker.get_slot(PHONE)
        if found and current not in (found, get_vault().reference(tracker.sender_id, PHONE, found)):
            return {PHONE: found}
        return {}

    async def validate_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if is_reference(value):  # a phone given earlier in this conversation, in the vault
            try:
                known = await get_vault().get(tracker.sender_id, value)
            except VaultError as error:
                return self.unavailable(dispatcher, error, PHONE, PHONE_MASKED)
            if known is None:  # its time ran out: the form asks for it again
                return {PHONE: None, PHONE_MASKED: None}
            return {PHONE: value, PHONE_MASKED: mask_phone(known)}
        phone = normalize_phone(value) if isinstance(value, str) else None
        if not phone:
            dispatcher.utter_message(response="utter_invalid_phone")
            return {PHONE: None, PHONE_MASKED: None}
        return {PHONE: phone, PHONE_MASKED: mask_phone(phone)}

    # -- contact name

    async def extract_contact_name(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not asking(tracker, self.form_name(), CONTACT_NAME):
            return {}
        for value in [*entity_values(tracker, "person_name"), latest_text(tracker)]:
            if name_in(value):
                return {CONTACT_NAME: name_in(value)}
        if is_digression(tracker):
            return {}
        return {CONTACT_NAME: latest_text(tracker)}  # not a name: validate says so

    async def validate_contact_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        name = name_in(value) if isinstance(value, str) else None
        if not name:
            dispatcher.utter_message(response="utter_invalid_contact_name")
            return {CONTACT_NAME: None}
        return {CONTACT_NAME: name}

    # -- confirmation

    async def extract_confirm(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not asking(tracker, self.form_name(), CONFIRM):
            return {}
        intent = latest_intent(tracker)
        if intent == "affirm":
            return {CONFIRM: True}
        if intent == "deny":
            return {CONFIRM: False}
        if intent in DIGRESSION_INTENTS | TASK_INTENTS:
            return {}
        # Anything else at the confirmation is neither yes nor no: the summary is asked again.
        return {CONFIRM: None, REQUESTED_SLOT: CONFIRM}

    async def validate_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is True:
            return {CONFIRM: True}
        if value is False:
            dispatcher.utter_message(response="utter_form_not_submitted")
            return self.stop()
        return {CONFIRM: None}


# ---------------------------------------------------------------- the submit step

class FormSubmitAction(Action, ABC):
    """Runs after a form ends. Writes only when the resident confirmed (``confirm`` is true),
    turns every backend error into a domain response, and clears the form's slots in any case.
    """

    form: ClassVar[str] = ""
    # The form's own slots, cleared after the form (phone and name are kept for the next form).
    slots: ClassVar[tuple[str, ...]] = ()
    needs_confirmation: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.form:
            FORM_SLOTS[cls.form] = cls.slots

    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        """Does the form's work; may raise BackendError."""

    def ready(self, tracker: Tracker) -> bool:
        if self.needs_confirmation and tracker.get_slot(CONFIRM) is not True:
            return False
        return all(tracker.get_slot(slot) not in (None, "") for slot in self.required(tracker))

    def required(self, tracker: Tracker) -> Iterable[str]:
        return ()

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events: list[EventType] = []
        if self.ready(tracker):
            try:
                events = list(await self.submit(dispatcher, await self.with_phone(tracker),
                                                domain))
            except BackendError as error:
                logger.warning("%s: backend %s failed: %s", self.name(), error.service,
                               type(error).__name__)
                dispatcher.utter_message(response="utter_backend_unavailable")
                if isinstance(error, VaultMiss):  # asked again next time
                    events = [SlotSet(PHONE, None), SlotSet(PHONE_MASKED, None)]
        return events + self.reset_events()

    async def with_phone(self, tracker: Tracker) -> Tracker:
        """``tracker`` with the real phone in the ``phone`` slot, which holds a vault reference
        (actions/vault.py), for the backend call; raises VaultMiss when the form requires the
        phone and it is no longer in the vault."""
        reference = tracker.get_slot(PHONE)
        if not is_reference(reference):
            return tracker
        phone = await get_vault().get(tracker.sender_id, reference)
        if phone is None and PHONE in self.required(tracker):
            raise VaultMiss("vault: the phone of this form is no longer kept")
        resolved = copy.copy(tracker)
        resolved.slots = {**tracker.slots, PHONE: phone}
        return resolved

    def reset_events(self) -> list[EventType]:
        return [SlotSet(slot, None) for slot in (*self.slots, CONFIRM)]


def leave_form_events(tracker: Tracker, domain: DomainDict) -> list[EventType]:
    """Events that end the active form and clear its slots (phone and name are kept)."""
    form = (tracker.active_loop or {}).get("name")
    if not form:
        return []
    required = ((domain.get("forms") or {}).get(form) or {}).get("required_slots") or []
    keep = {PHONE, PHONE_MASKED, CONTACT_NAME}
    slots = dict.fromkeys([*required, *FORM_SLOTS.get(form, ()), CONFIRM])
    events: list[EventType] = [ActiveLoop(None), SlotSet(REQUESTED_SLOT, None)]
    events += [SlotSet(slot, None) for slot in slots if slot not in keep]
    return events


class ActionCancelForm(Action):
    """"算了" / "不办了": ends the active form without writing anything and clears its slots."""

    def name(self) -> str:
        return "action_cancel_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        events = leave_form_events(tracker, domain)
        dispatcher.utter_message(
            response="utter_form_cancelled" if events else "utter_nothing_to_cancel")
        return events


class ActionLeaveForm(Action):
    """Leaves the active form silently (after handing over to a human, or a goodbye)."""

    def name(self) -> str:
        return "action_leave_form"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        return leave_form_events(tracker, domain)
