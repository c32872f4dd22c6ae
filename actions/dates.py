"""Dates that residents say ("明天上午", "下周三", "5号下午", "3月5日") → a day and a half-day.

The parsing itself is JioNLP's ``ner.extract_time`` (a maintained library for Chinese time
expressions, pinned as ``jionlp``); this module only

- normalises colloquial words the library does not know (明儿 → 明天, 礼拜天 → 周日 …),
- prefers the future: "5号" said on the 20th is next month's 5th, "3月5日" said in June is next
  year's, "周一" said on a Wednesday is next Monday,
- reduces the library's answer to what the forms need: a day and ``am``/``pm`` or None.

Everything is relative to an explicit ``now`` (Beijing time), so it is pure and testable; the
library is imported on first use, never at import time.
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache
from typing import Any

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
AM, PM = "am", "pm"

# Colloquial words → what the library understands (longest first where they overlap).
_COLLOQUIAL: tuple[tuple[str, str], ...] = (
    ("大后儿", "大后天"),
    ("明儿个", "明天"),
    ("今儿个", "今天"),
    ("后儿个", "后天"),
    ("明个", "明天"),
    ("明儿", "明天"),
    ("今儿", "今天"),
    ("后儿", "后天"),
    ("明早", "明天上午"),
    ("今早", "今天上午"),
    ("礼拜天", "周日"),
    ("礼拜日", "周日"),
    ("星期天", "周日"),
    ("周天", "周日"),
    ("礼拜", "周"),
    ("早上", "上午"),
    ("早晨", "上午"),
    ("晌午", "中午"),
    ("下半天", "下午"),
    ("上半天", "上午"),
)
_PERIOD_WORDS = ((PM, ("下午", "午后", "傍晚", "晚上")), (AM, ("上午", "早上", "早晨", "清早")))
_HAS_YEAR = re.compile(r"\d{2,4}\s*年|[今明去]年")
_HAS_MONTH = re.compile(r"月")
_HAS_DAY_OF_MONTH = re.compile(r"[号日](?!期)")
_WEEKDAY_ONLY = re.compile(r"^(?:周|星期)[一二三四五六日天1-7]$")


@dataclass(frozen=True)
class ParsedDate:
    """A day the resident named, with ``am``/``pm`` when they named a half-day."""

    day: date
    period: str | None
    text: str

    def iso(self) -> str:
        return self.day.isoformat()


def now_beijing() -> datetime:
    """The current time in Beijing, as the backends count days."""
    return datetime.now(BEIJING)


def normalise(text: str) -> str:
    """NFKC (full-width digits), no blanks, colloquial words replaced."""
    out = unicodedata.normalize("NFKC", text or "")
    out = re.sub(r"\s+", "", out)
    for word, replacement in _COLLOQUIAL:
        out = out.replace(word, replacement)
    return out


@cache
def _library() -> Any:
    import logging

    import jionlp

    # JioNLP logs a banner and per-call warnings at INFO; residents' dates are not worth it.
    logging.getLogger("jionlp").setLevel(logging.ERROR)
    return jionlp


def warm_up() -> None:
    """Imports the library and parses once (about a second), e.g. before serving."""
    parse_date("明天上午", datetime(2025, 1, 1, 9, 0, tzinfo=BEIJING))


def parse_date(text: str, now: datetime) -> ParsedDate | None:
    """The first day named in ``text``, relative to ``now``; None when there is none.

    The day may be in the past only when the resident named a year; forms check windows.
    """
    if not text or len(text) > 200:
        return None
    clean = normalise(text)
    if not clean:
        return None
    local = now.astimezone(BEIJING) if now.tzinfo else now.replace(tzinfo=BEIJING)
    base = time.mktime(local.replace(tzinfo=None).timetuple())
    try:
        found = _library().ner.extract_time(clean, time_base=base, with_parsing=True)
    except Exception:  # a library failure on odd input is "no date"
        return None
    for entity in found or ():
        parsed = _from_entity(entity, local)
        if parsed is not None:
            return parsed
    return None


def _from_entity(entity: dict[str, Any], now: datetime) -> ParsedDate | None:
    detail = entity.get("detail") or {}
    if detail.get("type") != "time_point":
        return None
    span = detail.get("time")
    if not isinstance(span, list) or len(span) != 2:
        return None
    try:
        start = datetime.strptime(span[0], "%Y-%m-%d %H:%M:%S")
        end = datetime.strptime(span[1], "%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError):
        return None
    if end.date() != start.date():
        return None  # a span of days ("下周"): not one day
    expression = str(entity.get("text") or "")
    day = _prefer_future(start.date(), expression, now.date())
    return ParsedDate(day=day, period=_period(expression, start, end), text=expression)


def _prefer_future(day: date, expression: str, today: date) -> date:
    if day >= today or _HAS_YEAR.search(expression):
        return day
    if _HAS_MONTH.search(expression):
        try:
            return day.replace(year=day.year + 1)
        except ValueError:  # 29 February
            return day + timedelta(days=365)
    if _HAS_DAY_OF_MONTH.search(expression):
        month, year = day.month + 1, day.year
        if month == 13:
            month, year = 1, year + 1
        try:
            return day.replace(year=year, month=month)
        except ValueError:  # the 31st of a short month
            return day
    if _WEEKDAY_ONLY.match(expression) or "周" in expression or "星期" in expression:
        while day < today:
            day += timedelta(days=7)
    return day


def _period(expression: str, start: datetime, end: datetime) -> str | None:
    for period, words in _PERIOD_WORDS:
        if any(word in expression for word in words):
            return period
    if start.hour == 0 and end.hour == 23:
        return None  # the whole day
    if start.hour >= 12:
        return PM
    if end.hour < 12 or (end.hour == 12 and end.minute == 0):
        return AM
    return None


def describe(day: date) -> dict[str, str]:
    """Parameters for responses: ``date`` (2025-06-05), ``month`` and ``day``."""
    return {
        "date": day.isoformat(),
        "month": str(day.month),
        "day": str(day.day),
    }
