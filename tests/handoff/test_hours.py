"""Service hours: the setting's grammar, "open now?", "open when?" and the description."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from handoff.hours import DAYS, HoursError, parse_closed, parse_hours, schedule_from_env

pytestmark = pytest.mark.unit

UTC = timezone.utc


def schedule(hours: str | None = None, **env: str):
    environ = {"MINSHENG_AGENT_HOURS": hours} if hours is not None else {}
    environ.update({f"MINSHENG_AGENT_{k.upper()}": v for k, v in env.items()})
    return schedule_from_env(environ)


def test_the_default_is_office_hours_in_beijing():
    s = schedule()
    # 2025-06-09 is a Monday.
    assert s.is_open(datetime.fromisoformat("2025-06-09T09:00+08:00"))
    assert s.is_open(datetime.fromisoformat("2025-06-09T17:59+08:00"))
    assert not s.is_open(datetime.fromisoformat("2025-06-09T18:00+08:00"))
    assert not s.is_open(datetime.fromisoformat("2025-06-09T08:59+08:00"))
    assert not s.is_open(datetime.fromisoformat("2025-06-07T10:00+08:00"))  # Saturday
    # The same moment in UTC: 01:30 UTC is 09:30 in Beijing.
    assert s.is_open(datetime(2025, 6, 9, 1, 30, tzinfo=UTC))


def test_several_segments_and_ranges():
    s = schedule("Mon-Fri 09:00-12:00 13:30-18:00; Sat 09:00-12:00")
    assert not s.is_open(datetime.fromisoformat("2025-06-09T12:30+08:00"))  # lunch
    assert s.is_open(datetime.fromisoformat("2025-06-09T13:30+08:00"))
    assert s.is_open(datetime.fromisoformat("2025-06-07T11:59+08:00"))  # Saturday morning
    assert not s.is_open(datetime.fromisoformat("2025-06-08T10:00+08:00"))  # Sunday


def test_next_open_is_the_next_start_in_the_schedule_zone():
    s = schedule("Mon-Fri 09:00-12:00 13:30-18:00; Sat 09:00-12:00")
    lunch = datetime.fromisoformat("2025-06-09T12:30+08:00")
    assert s.next_open(lunch) == datetime.fromisoformat("2025-06-09T13:30+08:00")
    saturday_night = datetime.fromisoformat("2025-06-07T21:00+08:00")
    opens = s.next_open(saturday_night)
    assert opens == datetime.fromisoformat("2025-06-09T09:00+08:00")
    assert opens.weekday() == 0 and opens.strftime("%H:%M") == "09:00"
    early = datetime.fromisoformat("2025-06-09T07:00+08:00")
    assert s.next_open(early) == datetime.fromisoformat("2025-06-09T09:00+08:00")
    open_now = datetime.fromisoformat("2025-06-09T10:00+08:00")
    assert s.next_open(open_now) == open_now


def test_days_as_lists_wrapping_ranges_and_full_names():
    s = schedule("Fri-Mon 10:00-11:00; wednesday 08:00-09:00")
    days = {d for w in s.windows for d in w.days}
    assert days == {4, 5, 6, 0, 2}
    assert schedule("Mon,Wed,Fri 08:30-17:00").windows[0].days == frozenset({0, 2, 4})


def test_always_off_and_midnight():
    always = schedule("always")
    assert always.is_open(datetime.fromisoformat("2025-06-08T03:00+08:00"))
    assert always.desk
    off = schedule("off")
    assert not off.desk
    assert not off.is_open(datetime.fromisoformat("2025-06-09T10:00+08:00"))
    assert off.next_open(datetime.fromisoformat("2025-06-09T10:00+08:00")) is None
    late = schedule("Mon-Sun 20:00-24:00")
    assert late.is_open(datetime.fromisoformat("2025-06-09T23:59+08:00"))


def test_closed_days_are_skipped():
    s = schedule("Mon-Fri 09:00-18:00", closed="2025-10-01..2025-10-08,2025-10-10")
    assert not s.is_open(datetime.fromisoformat("2025-10-01T10:00+08:00"))
    assert s.next_open(datetime.fromisoformat("2025-09-30T19:00+08:00")) == \
        datetime.fromisoformat("2025-10-09T09:00+08:00")
    assert parse_closed("2026-01-01") == frozenset({date(2026, 1, 1)})
    assert schedule("always", closed="2025-10-01").next_open(
        datetime.fromisoformat("2025-10-01T10:00+08:00")) == \
        datetime.fromisoformat("2025-10-02T00:00+08:00")


def test_another_time_zone():
    s = schedule("Mon-Fri 09:00-17:00", tz="Europe/Berlin")
    assert s.is_open(datetime(2025, 6, 9, 8, 0, tzinfo=UTC))  # 10:00 in Berlin (summer)
    assert not s.is_open(datetime(2025, 6, 9, 15, 30, tzinfo=UTC))  # 17:30 in Berlin


def test_spans_describe_runs_of_days():
    s = schedule("Mon-Fri 09:00-12:00 13:30-18:00; Sat 09:00-12:00")
    assert s.spans() == [(0, 4, "09:00", "12:00"), (0, 4, "13:30", "18:00"),
                         (5, 5, "09:00", "12:00")]
    assert schedule("Mon,Tue,Thu 09:00-10:00").spans() == [(0, 1, "09:00", "10:00"),
                                                          (3, 3, "09:00", "10:00")]
    assert len(DAYS) == 7


@pytest.mark.parametrize("bad", [
    "Mon-Fri", "Mon-Fri 9-18", "Funday 09:00-18:00", "Mon-Fri 18:00-09:00",
    "Mon 09:00-25:00", "Mon 24:00-24:30", "Mon 09:60-10:00", "Mo 09:00-10:00",
])
def test_bad_settings_say_what_is_wrong(bad):
    with pytest.raises(HoursError, match="MINSHENG_AGENT_HOURS"):
        parse_hours(bad)


def test_bad_zone_and_closed_days():
    with pytest.raises(HoursError, match="MINSHENG_AGENT_TZ"):
        schedule(tz="Mars/Olympus")
    with pytest.raises(HoursError, match="MINSHENG_AGENT_CLOSED"):
        parse_closed("2025-13-01")
    with pytest.raises(HoursError, match="MINSHENG_AGENT_CLOSED"):
        parse_closed("2025-10-08..2025-10-01")


def test_now_must_be_aware():
    with pytest.raises(ValueError):
        schedule().is_open(datetime(2025, 6, 9, 10, 0))
