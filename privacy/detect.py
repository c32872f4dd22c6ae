"""Finding personal numbers in free text, and masking them in place.

What is found (``Finding.kind``):

- ``mobile``: a mainland mobile, ``1[3-9]`` and 9 more digits, also written with blanks or
  dashes (``138 1234 5678``, ``138-1234-5678``), after ``+86`` / ``0086`` / ``86``, in
  full-width digits (``１３８…``) or spoken Chinese digits (``幺三八…``, as voice recognition
  writes them). Masked to ``138****5678``: the first 3 and last 4 digits stay.
- ``landline``: with an area code (``010-65123456``, ``(010)6512 3456``, ``+86 10 6512 3456``,
  ``0311-8765432``; the area code stays) or a Beijing number of 8 digits alone (``65123456``,
  ``6512-3456``). Eight digits alone are ambiguous, so they are *not* a phone when they are a
  date (``20250603``, ``2025-06-03``), an amount (``25000000元``, ``¥25000000``,
  ``25000000.00``) or a count (``21893100人``). The last 4 digits stay: ``010-****3456``.
  A foreign number needs its ``+`` (``+1 202 555 0123``).
- ``id_card``: an 18-character 公民身份号码 (GB 11643): a real province code, a real birth date
  (1800-2099; the standard's own example was born in 1880), 3 digits and the check character.
  ``checksum_ok`` says whether the check character is right (ISO 7064 MOD 11-2). **A number
  with the structure of an identity number but a wrong check character is masked all the
  same**: that is almost always a real number mistyped by one character, which still
  identifies the person. Random 18-digit numbers (an order number, a timestamp) are not
  identity numbers: their first two digits are not a province, or digits 7-14 are not a date
  (about 1 in 4,000 random numbers has both; with the check character as well, 1 in 44,000).
  The old 15-digit numbers (province, ``yymmdd``) count too. First 3 and last 4 characters
  stay: ``110***********1234``. The 社会保障号码 on a 社保卡 *is* the identity number, so
  this rule covers it.
- ``bank_card``: 16 to 19 digits passing the Luhn check (``6222 0212 3456 7890 128``); the
  first 4 and last 4 stay. A Luhn-invalid number of that length is a bank card only after a
  word such as 银行卡 / 卡号 / 账号 (the context rule below) — otherwise it is left alone.
- ``social_card``: after 社保卡 / 医保卡 / 社会保障卡 / 参保编号 / 医保编号 / 个人编号 … (and,
  as ``bank_card``, after 银行卡 / 储蓄卡 / 信用卡 / 卡号 / 账号), within 10 characters, a code of
  6-24 letters and digits with at least 6 digits: the 社保卡 card number (a letter and 8
  digits), a 医保 personal number, a bank account. Only the last 4 (2 when shorter than 8)
  characters stay.

Never masked: ticket, booking and application numbers (``JS20250603000001``,
``GH…``, ``SQ…``: a number glued to letters is a code, not a personal number), dates and
times, amounts, 5-digit hotlines (12345, 95588) and 400/800 numbers, postcodes, versions.

Masking keeps the length and every separator of the original (``+86 139-8765-4321`` →
``+86 139-****-4321``), so offsets into a message (Rasa's entity ``start``/``end``) stay valid,
and it is idempotent: masking masked text changes nothing (recently masked texts are
remembered, so a conversation masked again at every save costs little).

Pure functions, standard library only: importable from both environments (Python 3.10 and
3.11), no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

MOBILE = "mobile"
LANDLINE = "landline"
FOREIGN_PHONE = "foreign_phone"
ID_CARD = "id_card"
BANK_CARD = "bank_card"
SOCIAL_CARD = "social_card"
MASK = "*"


def _fold_table() -> dict[int, str]:
    """One character for one character (so positions stay): full-width digits, letters and
    signs to ASCII, spoken Chinese digits to digits, odd blanks and dashes to plain ones."""
    table: dict[int, str] = {}
    for i in range(10):
        table[0xFF10 + i] = str(i)
    for i in range(26):
        table[0xFF21 + i] = chr(ord("A") + i)
        table[0xFF41 + i] = chr(ord("a") + i)
    for chars, digit in (("零〇", "0"), ("一幺", "1"), ("二两", "2"), ("三", "3"), ("四", "4"),
                         ("五", "5"), ("六", "6"), ("七", "7"), ("八", "8"), ("九", "9")):
        for char in chars:
            table[ord(char)] = digit
    for char in "－—–‐‑−":
        table[ord(char)] = "-"
    table.update({ord("＋"): "+", ord("（"): "(", ord("）"): ")", 0x3000: " ", 0xA0: " ",
                  ord("\t"): " "})
    return table


_FOLD = _fold_table()
# An escape in a repr or a JSON log line (``\u8bc1``, ``\xe5``): its hex digits are not part of
# a number, and a number right after it is not glued to letters.
_ESCAPE = re.compile(r"\\(?:x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})")
# A run of digits with short separators (blank, dash, brackets) inside, not glued to letters.
_RUN = re.compile(
    r"(?<![0-9A-Za-z+])(?:\+|\(\+?)?[0-9](?:[ \-()]{0,2}[0-9])*(?:[ \-]?[Xx])?(?![0-9A-Za-z])"
)
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_AREA = re.compile(r"(?P<area>0(?:10|2[0-9])|0[3-9][0-9]{2})(?P<local>[2-9][0-9]{6,7})")
_ID_BODY = re.compile(r"[0-9]{17}[0-9Xx]")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# First two digits of a 公民身份号码 (GB/T 2260 provinces; 71 Taiwan, 81/82/83 the residence
# permits of Hong Kong, Macao and Taiwan residents; 9x the 2023 permanent residence ID of
# foreigners).
_PROVINCES = frozenset({
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
    50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83, 91, 92, 93, 94, 95, 96,
})
# After eight digits alone: an amount or a count, not a phone.
_UNITS = frozenset("元块圆角万亿千百个人次岁年月日号天时分秒米里平亩吨斤克"
                   "件台辆户位名张份本条项家所座栋套间层%‰℃度倍")
_CURRENCY = frozenset("¥￥$€£")
_SOCIAL_WORDS = ("社会保障卡", "社保卡", "医保卡", "医疗保险卡", "社会保障号", "社保号",
                 "医保号", "参保编号", "参保号", "医保编号", "个人编号")
_BANK_WORDS = ("银行卡", "银行账号", "银行帐号", "储蓄卡", "借记卡", "信用卡", "卡号", "账号",
               "帐号")
_CONTEXT = re.compile(
    "(" + "|".join(_SOCIAL_WORDS + _BANK_WORDS) + ")"
    r"[^0-9A-Za-z\n]{0,10}?(?<![0-9A-Za-z])"
    r"([A-Za-z]{0,2}[0-9](?:[ \-]?[0-9A-Za-z]){4,29})(?<=[0-9Xx])(?![0-9A-Za-z])"
)
_MIN_DIGITS, _MAX_DIGITS = 8, 24  # the shortest (a local landline) and longest numbers
# Recently masked texts: masking them again changes nothing (a stored conversation is masked
# again at every save; its old events are already masked). Masked text only, never a number in
# clear.
_CLEAN: set[str] = set()
_CLEAN_MAX, _CLEAN_LONGEST = 20_000, 4_000


@dataclass(frozen=True)
class Finding:
    """A personal number in a text: ``text[start:end]`` (the original characters), its
    canonical ``value`` (ASCII digits; ``010-65123456`` for landlines; upper-case ``X``), the
    span as masked, and — for identity and bank card numbers — whether its check digit is
    right."""

    kind: str
    start: int
    end: int
    value: str
    masked: str
    checksum_ok: bool | None = None


@dataclass(frozen=True)
class _Class:
    kind: str
    value: str
    head: int  # leading characters of the number that stay visible
    tail: int  # trailing characters that stay visible
    checksum_ok: bool | None = None


# ---------------------------------------------------------------- check digits

def id_check_char(first17: str) -> str:
    """The GB 11643 check character (ISO 7064 MOD 11-2) of the first 17 digits."""
    if not re.fullmatch(r"[0-9]{17}", first17):
        raise ValueError("need exactly 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def id_number_valid(number: str) -> bool:
    """An 18-character 公民身份号码 with a real province, birth date and check character."""
    text = number.strip().upper()
    return _id_structure(text) and id_check_char(text[:17]) == text[17]


def luhn_valid(number: str) -> bool:
    """The Luhn (mod 10) check of bank card numbers."""
    if not re.fullmatch(r"[0-9]{2,}", number):
        return False
    total = 0
    for i, char in enumerate(reversed(number)):
        digit = ord(char) - 48
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _valid_date(year: int, month: int, day: int, first_year: int = 1900) -> bool:
    if not first_year <= year <= 2099:
        return False
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _id_structure(text: str) -> bool:
    return (
        _ID_BODY.fullmatch(text) is not None
        and int(text[:2]) in _PROVINCES
        and _valid_date(int(text[6:10]), int(text[10:12]), int(text[12:14]), 1800)
    )


def _legacy_id_structure(text: str) -> bool:
    """The 15-digit numbers issued before 1999: province, ``yymmdd`` (19yy), 3 digits."""
    return (
        len(text) == 15 and text.isdigit() and int(text[:2]) in _PROVINCES
        and _valid_date(1900 + int(text[6:8]), int(text[8:10]), int(text[10:12]))
    )


def _is_date(compact: str) -> bool:
    return len(compact) == 8 and compact.isdigit() and _valid_date(
        int(compact[:4]), int(compact[4:6]), int(compact[6:8]))


def _amount_context(before: str, after: str) -> bool:
    return (before in _CURRENCY or (after[:1] in _UNITS)
            or re.match(r"[.,][0-9]", after) is not None)


# ---------------------------------------------------------------- classification

def _classify(compact: str, shape: Sequence[int], plus: bool, before: str, after: str
              ) -> _Class | None:
    """What a run of digits (joined, ``shape`` = the lengths of its groups) is, or None."""
    n = len(compact)
    if n == 18 and _id_structure(compact):
        upper = compact.upper()
        return _Class(ID_CARD, upper, 3, 4, id_check_char(upper[:17]) == upper[17])
    if not compact.isdigit():
        return None
    if n == 15 and _legacy_id_structure(compact):
        return _Class(ID_CARD, compact, 3, 4)
    if 16 <= n <= 19 and luhn_valid(compact):
        return _Class(BANK_CARD, compact, 4, 4, True)
    country, rest = "", compact
    if compact.startswith("0086"):
        country, rest = "0086", compact[4:]
    elif compact.startswith("86") and (plus or n in (12, 13)):
        country, rest = "86", compact[2:]
    elif plus:
        return _Class(FOREIGN_PHONE, "+" + compact, 0, 4) if 8 <= n <= 15 else None
    if _MOBILE.fullmatch(rest):
        return _Class(MOBILE, rest, len(country) + 3, 4)
    prepended = bool(country) and not rest.startswith("0")
    match = _AREA.fullmatch("0" + rest if prepended else rest)
    if match:
        area = match.group("area")
        return _Class(LANDLINE, f"{area}-{match.group('local')}",
                      len(country) + len(area) - int(prepended), 4)
    if (n == 8 and not country and tuple(shape) in ((8,), (4, 4)) and compact[0] in "23456789"
            and not _is_date(compact) and not _amount_context(before, after)):
        return _Class(LANDLINE, compact, 0, 4)
    return None


def _context_after(folded: str, end: int) -> str:
    return folded[end:end + 4].lstrip(" ")


@dataclass
class _Run:
    groups: list[list[int]]  # positions of the digits (and check character), by group
    start: int
    plus: bool

    def classify(self, folded: str, first: int, last: int, *, whole: bool) -> _Class | None:
        digits = sum(len(g) for g in self.groups[first:last])
        if not _MIN_DIGITS <= digits <= _MAX_DIGITS:
            return None
        positions = [p for g in self.groups[first:last] for p in g]
        begin = positions[0]
        shape = [len(g) for g in self.groups[first:last]]
        if not whole and shape != [8] and len(positions) == 8:
            return None  # inside a longer run, 8 digits are a phone only as one group
        return _classify(
            "".join(folded[p] for p in positions), shape,
            self.plus and first == 0 and begin - self.start <= 2,
            folded[begin - 1] if begin > 0 else "", _context_after(folded, positions[-1] + 1))


Found = list[tuple[_Class, list[int]]]


def _find_runs(folded: str) -> tuple[Found, list[_Run]]:
    """Runs of digits that are one personal number, and the runs that are not (yet)."""
    found: Found = []
    rest: list[_Run] = []
    for match in _RUN.finditer(folded):
        if match.end() - match.start() < _MIN_DIGITS:
            continue  # too short for any personal number
        groups: list[list[int]] = [[]]
        for pos in range(match.start(), match.end()):
            char = folded[pos]
            if char in "0123456789Xx":
                groups[-1].append(pos)
            elif groups[-1]:
                groups.append([])
        run = _Run([g for g in groups if g], match.start(), "+" in match.group(0)[:2])
        whole = run.classify(folded, 0, len(run.groups), whole=True)
        if whole is not None:
            found.append((whole, [p for g in run.groups for p in g]))
        elif len(run.groups) > 1 and sum(map(len, run.groups)) >= _MIN_DIGITS:
            rest.append(run)
    return found, rest


def _split_runs(folded: str, runs: list[_Run], taken: list[tuple[int, int]]) -> Found:
    """Several numbers in one run ("13812345678 65123456"): the longest from the left first."""
    found: Found = []
    for run in runs:
        if any(s <= run.groups[-1][-1] and run.groups[0][0] < e for s, e in taken):
            continue
        i = 0
        while i < len(run.groups):
            for j in range(len(run.groups), i, -1):
                got = run.classify(folded, i, j, whole=False)
                if got is not None:
                    found.append((got, [p for g in run.groups[i:j] for p in g]))
                    i = j
                    break
            else:
                i += 1
    return found


def _contexts(folded: str, taken: list[tuple[int, int]]) -> Found:
    """Card and account numbers named by the words before them (社保卡号 …, 银行卡 …)."""
    found: Found = []
    for match in _CONTEXT.finditer(folded):
        start, end = match.span(2)
        if any(s < end and start < e for s, e in taken):
            continue
        positions = [p for p in range(start, end) if folded[p].isascii() and folded[p].isalnum()]
        compact = "".join(folded[p] for p in positions).upper()
        digits = sum(c.isdigit() for c in compact)
        before = folded[start - 1] if start else ""
        if (digits < 6 or len(compact) > _MAX_DIGITS or _is_date(compact)
                or _amount_context(before, _context_after(folded, end))):
            continue
        tail = 4 if len(compact) >= 8 else 2
        if match.group(1) in _SOCIAL_WORDS:
            found.append((_Class(SOCIAL_CARD, compact, 0, tail), positions))
        else:
            found.append((_Class(BANK_CARD, compact, 0, tail, luhn_valid(compact)), positions))
    return found


# ---------------------------------------------------------------- the public functions

def _folded(text: str) -> str:
    """The text as the rules read it, position for position (see _fold_table, _ESCAPE)."""
    folded = text if text.isascii() and "\t" not in text else text.translate(_FOLD)
    if "\\" in folded:
        folded = _ESCAPE.sub(lambda m: "~" * len(m.group(0)), folded)
    return folded


def _spans(found: Found) -> list[tuple[int, int]]:
    return [(positions[0], positions[-1] + 1) for _, positions in found]


def find_pii(text: str) -> list[Finding]:
    """Every phone, identity, bank card and 社保/医保 card number in ``text``, in order."""
    if not text:
        return []
    folded = _folded(text)
    found, unclassified = _find_runs(folded)
    found += _contexts(folded, _spans(found))
    found += _split_runs(folded, unclassified, _spans(found))
    findings = []
    for cls, positions in sorted(found, key=lambda f: f[1][0]):
        start, end = positions[0], positions[-1] + 1
        hidden = set(positions[cls.head:len(positions) - cls.tail])
        masked = "".join(MASK if p in hidden else text[p] for p in range(start, end))
        findings.append(Finding(cls.kind, start, end, cls.value, masked, cls.checksum_ok))
    return findings


def mask_text(text: str) -> str:
    """``text`` with every personal number masked in place (same length, same separators).

    Idempotent: masking can change how the digits left visible group with their neighbours
    (``13000000000 030000000015``), so it is repeated until nothing more is found — in
    practice once more, and only for a text that had something to mask."""
    if not text or text in _CLEAN:
        return text
    for _ in range(8):
        findings = find_pii(text)
        if not findings:
            break
        parts, last = [], 0
        for finding in findings:
            parts += [text[last:finding.start], finding.masked]
            last = finding.end
        parts.append(text[last:])
        text = "".join(parts)
    if len(text) <= _CLEAN_LONGEST:
        if len(_CLEAN) >= _CLEAN_MAX:
            _CLEAN.clear()
        _CLEAN.add(text)
    return text


def mask_data(value: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings, numbers) with every string masked.
    Keys are kept as they are."""
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {key: mask_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_data(item) for item in value]
    return value
