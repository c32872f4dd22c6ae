"""actions.dates: Chinese date expressions relative to a fixed "now" (JioNLP underneath)."""

from datetime import date, datetime

import pytest

from actions.dates import AM, BEIJING, PM, normalise, parse_date

pytestmark = pytest.mark.unit

# Wednesday, 4 June 2025, 10:00 in Beijing.
NOW = datetime(2025, 6, 4, 10, 0, tzinfo=BEIJING)


@pytest.mark.parametrize(
    ("text", "day", "period"),
    [
        ("今天", date(2025, 6, 4), None),
        ("明天", date(2025, 6, 5), None),
        ("后天", date(2025, 6, 6), None),
        ("大后天", date(2025, 6, 7), None),
        ("下周三", date(2025, 6, 11), None),
        ("周五下午", date(2025, 6, 6), PM),
        ("3月5日", date(2026, 3, 5), None),  # March is past: next year's
        ("5号上午", date(2025, 6, 5), AM),
        ("本周六", date(2025, 6, 7), None),
        ("明天上午", date(2025, 6, 5), AM),
        ("下礼拜二", date(2025, 6, 10), None),
        ("礼拜天下午", date(2025, 6, 8), PM),
        ("明儿上午", date(2025, 6, 5), AM),
        ("明早", date(2025, 6, 5), AM),
        ("周一", date(2025, 6, 9), None),  # said on a Wednesday: the coming Monday
        ("3号", date(2025, 7, 3), None),  # the 3rd has passed: next month's
        ("二十号上午", date(2025, 6, 20), AM),
        ("６月１０号", date(2025, 6, 10), None),  # full-width digits
        ("2025年3月5日", date(2025, 3, 5), None),  # a named year stays, even in the past
    ],
)
def test_expressions_relative_to_a_fixed_now(text, day, period):
    parsed = parse_date(text, NOW)
    assert parsed is not None, text
    assert (parsed.day, parsed.period) == (day, period)


@pytest.mark.parametrize(
    ("sentence", "day", "period"),
    [
        ("我想挂明天下午的号", date(2025, 6, 5), PM),
        ("那就下周三上午吧", date(2025, 6, 11), AM),
        ("帮我约5号上午的骨科", date(2025, 6, 5), AM),
    ],
)
def test_dates_inside_sentences(sentence, day, period):
    parsed = parse_date(sentence, NOW)
    assert parsed is not None and (parsed.day, parsed.period) == (day, period)


@pytest.mark.parametrize("text", ["", "好的", "13800138000", "协和医院眼科", "算了", "x" * 500])
def test_no_date_is_none(text):
    assert parse_date(text, NOW) is None


def test_a_naive_now_is_taken_as_beijing_time():
    parsed = parse_date("明天", datetime(2025, 6, 4, 23, 30))
    assert parsed is not None and parsed.day == date(2025, 6, 5)


def test_colloquial_words_are_normalised():
    assert normalise("明儿个 礼拜天") == "明天周日"
