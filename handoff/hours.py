"""The agents' service hours: parsed from one setting, asked "open now?" and "open when?".

``MINSHENG_AGENT_HOURS`` (default ``Mon-Fri 09:00-18:00``)::

    Mon-Fri 09:00-18:00                     one segment: days, then one or more time ranges
    Mon-Fri 09:00-12:00 13:30-18:00; Sat 09:00-12:00   segments separated by ";"
    Mon,Wed,Fri 08:30-17:00                 days as a list or a range ("Fri-Mon" wraps)
    always                                  agents around the clock (closed days still apply)
    off                                     no agent desk: residents are offered 12345 instead

``MINSHENG_AGENT_TZ`` (default ``Asia/Shanghai``) is the time zone of the times;
``MINSHENG_AGENT_CLOSED`` lists whole days without agents (public holidays), as
``2025-10-01..2025-10-08,2026-01-01``. ``24:00`` ends a range at midnight. Pure: no clock is
read here, the caller passes ``now``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_HOURS = "Mon-Fri 09:00-18:00"
DEFAULT_TZ = "Asia/Shanghai"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TIME_RANGE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
_SEARCH_DAYS = 15


class HoursError(ValueError):
    """The setting cannot be read; the message says where and what is expected."""


@dataclass(frozen=True)
class Window:
    """Open on ``days`` (0 = Monday) from ``start`` to ``end`` minutes after midnight."""

    days: frozenset[int]
    start: int
    end: int


@dataclass(frozen=True)
class Schedule:
    windows: tuple[Window, ...]
    tz: tzinfo
    closed: frozenset[date] = field(default_factory=frozenset)

    @property
    def desk(self) -> bool:
        """False for ``off``: there is no agent desk at all."""
        return bool(self.windows)

    def _local(self, now: datetime) -> datetime:
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return now.astimezone(self.tz)

    def is_open(self, now: datetime) -> bool:
        local = self._local(now)
        if local.date() in self.closed:
            return False
        minute = local.hour * 60 + local.minute
        return any(local.weekday() in w.days and w.start <= minute < w.end
                   for w in self.windows)

    def next_open(self, now: datetime) -> datetime | None:
        """The next moment the desk opens (``now`` itself if open), in the schedule's time
        zone; None when it never opens within two weeks (``off``, or closed days only)."""
        if self.is_open(now):
            return self._local(now)
        local = self._local(now)
        minute = local.hour * 60 + local.minute
        for offset in range(_SEARCH_DAYS):
            day = local.date() + timedelta(days=offset)
            if day in self.closed:
                continue
            starts = sorted(w.start for w in self.windows if day.weekday() in w.days
                            and (offset > 0 or w.start > minute))
            if starts:
                opens = datetime.combine(day, time(starts[0] // 60, starts[0] % 60))
                return opens.replace(tzinfo=self.tz)
        return None

    def spans(self) -> list[tuple[int, int, str, str]]:
        """The hours for people: ``(first day, last day, "09:00", "18:00")`` for each run of
        consecutive days sharing a time range, in weekday order."""
        out: list[tuple[int, int, str, str]] = []
        for window in sorted(self.windows, key=lambda w: (min(w.days), w.start)):
            days = sorted(window.days)
            run_start = previous = days[0]
            for day in [*days[1:], None]:
                if day is not None and day == previous + 1:
                    previous = day
                    continue
                out.append((run_start, previous, _clock(window.start), _clock(window.end)))
                if day is not None:
                    run_start = previous = day
        return sorted(out)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _day(token: str, where: str) -> int:
    name = token.strip().lower()[:3]
    if name not in DAYS or token.strip().lower() not in (name, _full_name(name)):
        raise HoursError(f"{where}: unknown day {token.strip()!r} (use Mon … Sun)")
    return DAYS.index(name)


def _full_name(short: str) -> str:
    return {"mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday",
            "fri": "friday", "sat": "saturday", "sun": "sunday"}[short]


def _days(spec: str, where: str) -> frozenset[int]:
    days: set[int] = set()
    for part in spec.split(","):
        if "-" in part:
            first, last = (_day(p, where) for p in part.split("-", 1))
            day = first
            while True:
                days.add(day)
                if day == last:
                    break
                day = (day + 1) % 7
        else:
            days.add(_day(part, where))
    return frozenset(days)


def _minutes(hours: str, minutes: str, where: str, *, end: bool) -> int:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and (m or not end)):
        raise HoursError(f"{where}: {hours}:{minutes} is not a time of day")
    return h * 60 + m


ALL_DAY = Window(frozenset(range(7)), 0, 24 * 60)


def parse_hours(spec: str) -> tuple[Window, ...]:
    """The windows of a ``MINSHENG_AGENT_HOURS`` value (``()`` for ``off``). Raises
    :class:`HoursError`."""
    text = " ".join(spec.split())
    if text.lower() in ("always", "24/7"):
        return (ALL_DAY,)
    if text.lower() in ("off", "none", "never"):
        return ()
    windows: list[Window] = []
    for number, segment in enumerate(s.strip() for s in text.split(";")):
        where = f"MINSHENG_AGENT_HOURS segment {number + 1} ({segment!r})"
        parts = segment.split()
        if len(parts) < 2:
            raise HoursError(f"{where}: expected days and times, like 'Mon-Fri 09:00-18:00'")
        days = _days(parts[0], where)
        for rng in parts[1:]:
            match = _TIME_RANGE.fullmatch(rng)
            if not match:
                raise HoursError(f"{where}: {rng!r} is not a time range like 09:00-18:00")
            start = _minutes(match[1], match[2], where, end=False)
            end = _minutes(match[3], match[4], where, end=True)
            if end <= start:
                raise HoursError(f"{where}: {rng!r} ends before it starts")
            windows.append(Window(days, start, end))
    return tuple(windows)


def parse_closed(spec: str) -> frozenset[date]:
    """``2025-10-01..2025-10-08,2026-01-01`` → the set of days. Raises :class:`HoursError`."""
    days: set[date] = set()
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        try:
            if ".." in part:
                first, last = (date.fromisoformat(p.strip()) for p in part.split("..", 1))
            else:
                first = last = date.fromisoformat(part)
        except ValueError:
            raise HoursError(f"MINSHENG_AGENT_CLOSED: {part!r} is not a date or "
                             "a range like 2025-10-01..2025-10-08") from None
        if last < first or (last - first).days > 366:
            raise HoursError(f"MINSHENG_AGENT_CLOSED: {part!r} is not a valid range")
        days.update(first + timedelta(days=i) for i in range((last - first).days + 1))
    return frozenset(days)


def schedule_from_env(environ: Mapping[str, str]) -> Schedule:
    """The schedule the settings describe. Raises :class:`HoursError` with a clear message."""
    zone = (environ.get("MINSHENG_AGENT_TZ") or DEFAULT_TZ).strip()
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise HoursError(f"MINSHENG_AGENT_TZ: unknown time zone {zone!r}") from None
    windows = parse_hours(environ.get("MINSHENG_AGENT_HOURS") or DEFAULT_HOURS)
    return Schedule(windows, tz, parse_closed(environ.get("MINSHENG_AGENT_CLOSED") or ""))
