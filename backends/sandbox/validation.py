"""Pure validation, normalisation and masking helpers of the sandbox (no I/O, tested alone)."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
"""China has no daylight saving time, so a fixed +08:00 offset is exact."""

_PHONE_CHARS = re.compile(r"[0-9\s\-+()]+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_BEIJING_LOCAL = re.compile(r"[2-9]\d{7}")
_ID_NUMBER = re.compile(r"\d{17}[0-9X]")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CONTROL = re.compile(
    r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\u202a-\u202e\ufeff]"
)


def normalize_phone(raw: object) -> str | None:
    """A mainland mobile (``13800138000``) or a Beijing landline (``010-65123456``), or None.

    Accepts the forms people type or a speech gateway produces: spaces, dashes, brackets,
    full-width digits, a ``+86``/``0086`` prefix, and an 8-digit Beijing number without area code.
    """
    if not isinstance(raw, str) or len(raw) > 32:
        return None
    text = unicodedata.normalize("NFKC", raw).strip()
    if not text or not _PHONE_CHARS.fullmatch(text):
        return None
    digits = re.sub(r"\D", "", text)
    if text.startswith("+") and not digits.startswith("86"):
        return None
    for prefix in ("0086", "86"):
        if digits.startswith(prefix):
            rest = digits[len(prefix):]
            if _MOBILE.fullmatch(rest):
                return rest
            # the international form drops the trunk 0: +86 10 6512 3456
            for area in ("10", "010"):
                if rest.startswith(area) and _BEIJING_LOCAL.fullmatch(rest[len(area):]):
                    return f"010-{rest[len(area):]}"
    # "86123456" is also a plain 8-digit Beijing number, so fall through
    if _MOBILE.fullmatch(digits):
        return digits
    if digits.startswith("010") and _BEIJING_LOCAL.fullmatch(digits[3:]):
        return f"010-{digits[3:]}"
    if _BEIJING_LOCAL.fullmatch(digits):
        return f"010-{digits}"
    return None


def mask_phone(phone: str) -> str:
    """``13800138000`` → ``138****8000``; ``010-65123456`` → ``010-****3456``."""
    if _MOBILE.fullmatch(phone):
        return f"{phone[:3]}****{phone[-4:]}"
    if phone.startswith("010-") and len(phone) == 12:
        return f"010-****{phone[-4:]}"
    return "*" * max(len(phone) - 4, 4) + phone[-4:] if len(phone) > 4 else "****"


def normalize_id_number(raw: object) -> str | None:
    """An 18-character resident identity number with a valid birth date and check digit."""
    if not isinstance(raw, str) or len(raw) > 32:
        return None
    text = re.sub(r"\s", "", unicodedata.normalize("NFKC", raw)).upper()
    if not _ID_NUMBER.fullmatch(text):
        return None
    try:
        born = date(int(text[6:10]), int(text[10:12]), int(text[12:14]))
    except ValueError:
        return None
    if born.year < 1900:
        return None
    total = sum(int(digit) * weight for digit, weight in zip(text[:17], _ID_WEIGHTS, strict=True))
    return text if _ID_CHECK[total % 11] == text[17] else None


def mask_id_number(number: str) -> str:
    """``110101199003071234`` → ``110***********1234``."""
    if len(number) <= 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def mask_name(name: str) -> str:
    """``王建国`` → ``王*国``; ``张三`` → ``张*``; ``欧阳小华`` → ``欧**华``."""
    if len(name) <= 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def clean_text(raw: str, *, multiline: bool = False) -> str:
    """NFC, without control or invisible formatting characters, trimmed; newlines only if
    ``multiline``, and runs of blank space folded."""
    text = unicodedata.normalize("NFC", raw)
    text = _CONTROL.sub("", text)
    if multiline:
        text = re.sub(r"\r\n?", "\n", text)
        text = re.sub(r"[ \t]+", " ", text)
        text = re.sub(r"\n{3,}", "\n\n", text)
    else:
        text = re.sub(r"\s+", " ", text)
    return text.strip()


def parse_iso_date(raw: object) -> date | None:
    """``YYYY-MM-DD`` only (no week dates, no times), or None."""
    if not isinstance(raw, str) or not _ISO_DATE.fullmatch(raw):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def beijing_now() -> datetime:
    """The current time in Beijing, timezone-aware."""
    return datetime.now(BEIJING)


def iso(moment: datetime) -> str:
    """``2025-06-02T09:00:00+08:00``: second precision, Beijing time."""
    return moment.astimezone(BEIJING).replace(microsecond=0).isoformat()


def parse_iso(text: str) -> datetime:
    """The inverse of :func:`iso` for values read back from the database."""
    return datetime.fromisoformat(text).astimezone(BEIJING)


def normalize_key(text: str) -> str:
    """A lookup key for names: NFKC, lower case, without blanks and common punctuation."""
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"[\s·・\-_,.，。、:：;；!！?？'\"“”‘’()（）\[\]【】《》<>]+", "", text)
