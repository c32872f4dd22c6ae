"""Personal data in and around backend calls: normalising what residents type, and masking
phone and identity numbers before anything is logged."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date

SENSITIVE_KEYS = frozenset({"phone", "id_number", "patient_name", "name", "contact_name"})
_PHONE_CHARS = re.compile(r"[0-9\s\-+()]+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_BEIJING_LOCAL = re.compile(r"[2-9]\d{7}")
_ID_NUMBER = re.compile(r"\d{17}[0-9Xx]")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# What scrub() hides inside free text: identity numbers, mobiles (also written with blanks or
# dashes, or after +86), Beijing landlines.
_SCRUB = re.compile(
    r"(?<![0-9A-Za-z])(?:"
    r"\d{6}(?:19|20)\d{2}[01]\d[0-3]\d\d{3}[0-9Xx]"
    r"|(?:\+?86[\s-]?)?1[3-9]\d(?:[\s-]?\d){8}"
    r"|(?:\(?010\)?[\s-]?)?[2-9]\d{3}[\s-]?\d{4}"
    r")(?![0-9A-Za-z])"
)


def normalize_phone(raw: object) -> str | None:
    """A mainland mobile (``13800138000``) or Beijing landline (``010-65123456``), or None.
    The same rules as the backends: a form can check a number before calling."""
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
            for area in ("10", "010"):
                if rest.startswith(area) and _BEIJING_LOCAL.fullmatch(rest[len(area):]):
                    return f"010-{rest[len(area):]}"
    if _MOBILE.fullmatch(digits):
        return digits
    if digits.startswith("010") and _BEIJING_LOCAL.fullmatch(digits[3:]):
        return f"010-{digits[3:]}"
    if _BEIJING_LOCAL.fullmatch(digits):
        return f"010-{digits}"
    return None


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


def mask_phone(phone: str) -> str:
    """``13800138000`` → ``138****8000``; anything else keeps only its last 4 characters."""
    digits = re.sub(r"\D", "", phone)
    if _MOBILE.fullmatch(digits[-11:]) and len(digits) >= 11:
        return f"{digits[-11:-8]}****{digits[-4:]}"
    return "****" + digits[-4:] if len(digits) > 4 else "****"


def mask_id_number(number: str) -> str:
    """``110101199003071234`` → ``110***********1234``."""
    if len(number) <= 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def scrub(text: str) -> str:
    """``text`` with every phone or identity number in it masked, for log lines."""

    def hide(match: re.Match[str]) -> str:
        found = match.group(0)
        compact = re.sub(r"[\s\-()+]", "", found)
        if len(compact) == 18:
            return mask_id_number(compact)
        return mask_phone(compact)

    return _SCRUB.sub(hide, text)


def safe_params(params: Mapping[str, object] | None) -> str:
    """Query parameters for a log line, personal values masked."""
    if not params:
        return ""
    shown = []
    for key, value in params.items():
        if key in ("phone",):
            shown.append(f"{key}={mask_phone(str(value))}")
        elif key in SENSITIVE_KEYS:
            shown.append(f"{key}=***")
        else:
            shown.append(f"{key}={scrub(str(value))[:40]}")
    return "?" + "&".join(shown)
