"""Pure functions of the services: numbers, ticket progression, slots, crowd levels, search,
distances and fault configuration."""

from datetime import date, datetime, timedelta

import pytest

from backends.sandbox.applications import APPLICATION_NUMBER, application_number
from backends.sandbox.faults import Fault, FaultConfigError, FaultInjector, parse_faults
from backends.sandbox.geo import haversine_m, nearest
from backends.sandbox.hospitals import SlotKey, slot_capacity, slot_open
from backends.sandbox.settings import SandboxSettings, SettingsError
from backends.sandbox.tickets import TICKET_NUMBER, progression, ticket_number
from backends.sandbox.tourism import (
    AttractionIndex,
    closed_on_mondays,
    crowd_level,
    daily_capacity,
    is_closed,
    popularity,
    similarity,
)
from backends.sandbox.validation import BEIJING

pytestmark = pytest.mark.unit


def test_ticket_numbers_are_js_date_and_daily_sequence():
    number = ticket_number(date(2025, 6, 3), 42)
    assert number == "JS20250603000042"
    assert TICKET_NUMBER.fullmatch(number)
    with pytest.raises(ValueError):
        ticket_number(date(2025, 6, 3), 0)
    with pytest.raises(ValueError):
        ticket_number(date(2025, 6, 3), 1_000_000)


def test_application_numbers_are_sq_date_and_sequence():
    assert application_number(date(2025, 6, 2), 7) == "SQ202506020007"
    assert APPLICATION_NUMBER.fullmatch(application_number(date(2025, 6, 2), 7))


def test_tickets_progress_with_age_at_their_own_steady_pace():
    created = datetime(2025, 6, 3, 9, 0, tzinfo=BEIJING)
    number = "JS20250603000001"
    assert [s for s, _ in progression(number, created, created)] == ["accepted"]
    assert [s for s, _ in progression(number, created, created + timedelta(hours=2))] == [
        "accepted", "in_progress"]
    done = progression(number, created, created + timedelta(days=5))
    assert [s for s, _ in done] == ["accepted", "in_progress", "closed"]
    times = [moment for _, moment in done]
    assert times == sorted(times)
    assert timedelta(minutes=20) <= times[1] - created < timedelta(hours=1)
    assert timedelta(hours=24) <= times[2] - created < timedelta(hours=96)
    # same number, same pace, every time
    assert done == progression(number, created, created + timedelta(days=5))


def test_time_factor_speeds_up_progression_for_demos():
    created = datetime(2025, 6, 3, 9, 0, tzinfo=BEIJING)
    fast = progression("JS20250603000001", created, created + timedelta(hours=2), 100.0)
    assert [s for s, _ in fast][-1] == "closed"


def test_slot_ids_round_trip_and_reject_garbage():
    key = SlotKey("pumch", "cardiology", date(2025, 6, 4), "am")
    assert key.slot_id == "pumch.cardiology.20250604.am"
    assert SlotKey.parse(key.slot_id) == key
    for bad in ("pumch.cardiology.20250231.am", "pumch.cardiology.20250604.evening",
                "../etc.passwd.20250604.am", "", "pumch"):
        assert SlotKey.parse(bad) is None


def test_slot_capacity_is_deterministic_and_follows_clinic_days():
    tuesday, saturday, sunday = date(2025, 6, 3), date(2025, 6, 7), date(2025, 6, 8)
    capacity = slot_capacity("pumch", "hospital", "cardiology", tuesday, "am")
    assert capacity == slot_capacity("pumch", "hospital", "cardiology", tuesday, "am")
    assert 6 <= capacity <= 30
    assert slot_capacity("pumch", "hospital", "cardiology", saturday, "am") == 0
    assert slot_capacity("pumch", "hospital", "pediatrics", saturday, "am") > 0
    assert slot_capacity("sq-mingde", "community", "general_practice", sunday, "pm") == 0
    assert slot_capacity("sq-mingde", "community", "general_practice", sunday, "am") > 0


def test_slots_open_seven_days_ahead_until_the_half_day_cut_off():
    now = datetime(2025, 6, 3, 9, 0, tzinfo=BEIJING)
    assert slot_open(SlotKey("pumch", "cardiology", date(2025, 6, 3), "am"), now)
    assert not slot_open(SlotKey("pumch", "cardiology", date(2025, 6, 3), "am"),
                         now.replace(hour=11, minute=30))
    assert slot_open(SlotKey("pumch", "cardiology", date(2025, 6, 9), "pm"), now)
    assert not slot_open(SlotKey("pumch", "cardiology", date(2025, 6, 10), "am"), now)
    assert not slot_open(SlotKey("pumch", "cardiology", date(2025, 6, 2), "pm"), now)


def test_crowd_level_is_deterministic_and_higher_on_weekends_and_holidays():
    tuesday, saturday, national_day = date(2025, 6, 3), date(2025, 6, 7), date(2025, 10, 2)
    assert crowd_level(0.9, tuesday, "A0001") == crowd_level(0.9, tuesday, "A0001")
    assert 1 <= crowd_level(0.0, tuesday, "A0999") <= 2
    assert crowd_level(0.9, national_day, "A0001") == 4
    for attraction in ("A0001", "A0002", "A0100"):
        assert crowd_level(0.5, saturday, attraction) >= crowd_level(0.5, tuesday, attraction)


def test_monday_closures_come_from_the_opening_hours_text():
    palace = "旺季4月1日-10月31日周二-周日8:30-17:00，周一 不开放；法定节假日周一不闭馆。"
    assert closed_on_mondays(palace)
    assert closed_on_mondays("09:00-17:00，每周一闭馆")
    assert not closed_on_mondays("全天开放")
    assert not closed_on_mondays(None)
    assert is_closed(True, date(2025, 6, 9))  # a Monday
    assert not is_closed(True, date(2025, 6, 10))
    assert not is_closed(True, date(2025, 5, 5))  # Monday, but a public holiday
    assert not is_closed(False, date(2025, 6, 9))


def test_popularity_and_capacity_stay_in_range():
    best = {"rating": 5.0, "source": ["crosswoz", "kdconv"], "intro": "长" * 400}
    assert popularity(best, famous=True) == 1.0
    assert popularity({**best, "rating": 4.0}) < popularity(best)
    assert popularity({}) == 0.1
    assert daily_capacity(0.0) == 300 and daily_capacity(1.0) == 5000


INDEX = AttractionIndex(
    [("A0001", "故宫", 0.9), ("A0002", "天坛", 0.8), ("A0003", "鸟巢（国家体育场）", 0.7),
     ("A0004", "鸟巢空中走廊", 0.3), ("A0005", "颐和园", 0.9), ("A0006", "故宫雕塑馆", 0.2),
     ("A0007", "八达岭长城", 0.9), ("A0008", "慕田峪长城", 0.6)],
    {"故宫博物院": "故宫", "长城": "八达岭长城", "不存在的别名": "不存在"},
)


@pytest.mark.parametrize(
    ("query", "first", "kind"),
    [
        ("故宫", "A0001", "exact"),
        ("故宫博物院", "A0001", "alias"),  # alias list
        ("国家体育场", "A0003", "alias"),  # part in brackets
        ("鸟巢", "A0003", "alias"),
        ("天坛公园", "A0002", "alias"),  # without the generic suffix
        ("长城", "A0007", "alias"),
        ("颐和", "A0005", "prefix"),
        ("空中走廊", "A0004", "contains"),
        ("颐和圆", "A0005", "fuzzy"),  # a typo
        ("八达岭长成", "A0007", "fuzzy"),
    ],
)
def test_attraction_search_finds_what_residents_call_things(query, first, kind):
    results = INDEX.search(query)
    assert results, query
    assert (results[0].id, results[0].match) == (first, kind)
    assert [r.score for r in results] == sorted((r.score for r in results), reverse=True)


def test_attraction_search_returns_nothing_for_nothing():
    assert INDEX.search("") == []
    assert INDEX.search("！？") == []
    assert INDEX.search("火星基地") == []
    assert len(INDEX.search("长城", limit=1)) == 1


def test_similarity_compares_characters_of_short_names_and_pairs_of_long_ones():
    assert similarity("故公", "故宫") == 0.5
    assert similarity("八达岭长成", "八达岭长城") == 0.75
    assert similarity("天坛", "天安门广场") == 0.0
    assert similarity("", "故宫") == 0.0


def test_great_circle_distances_and_nearest_first():
    assert haversine_m(39.9, 116.4, 39.9, 116.4) == 0
    one_degree_north = haversine_m(39.0, 116.4, 40.0, 116.4)
    assert 111_000 < one_degree_north < 111_400
    points = [("far", (40.2, 116.4)), ("near", (39.91, 116.40)), ("mid", (39.95, 116.45))]
    ranked = nearest(points, 39.9, 116.4, lambda p: p[1], limit=2)
    assert [name for (name, _), _ in ranked] == ["near", "mid"]
    assert ranked[0][1] < ranked[1][1]


def test_fault_configuration_is_validated_field_by_field():
    faults = parse_faults({"tickets": {"latency_ms": 200, "error_rate": 0.5, "status": 500},
                           "*": {"fail_next": 2}})
    assert faults["tickets"] == Fault(latency_ms=200, error_rate=0.5, status=500)
    with pytest.raises(FaultConfigError) as error:
        parse_faults({"nope": {}, "tickets": {"error_rate": 2, "status": "x", "colour": 1},
                      "hospitals": [], "tourism": {"after_handler": "yes", "latency_ms": 1.5}})
    assert error.value.fields == {
        "nope": "unknown_service", "tickets.error_rate": "out_of_range",
        "tickets.status": "invalid_type", "tickets.colour": "unknown_field",
        "hospitals": "not_an_object", "tourism.after_handler": "invalid_type",
        "tourism.latency_ms": "invalid_type",
    }
    with pytest.raises(FaultConfigError):
        parse_faults([1, 2])


def test_fault_injection_is_reproducible_for_a_seed():
    def run() -> list[bool]:
        injector = FaultInjector({"tickets": Fault(error_rate=0.5)}, seed=7)
        fault = injector.fault_for("tickets")
        assert fault is not None
        return [injector.should_fail("tickets", fault) for _ in range(40)]

    first = run()
    assert first == run()
    assert 5 < sum(first) < 35


def test_fail_next_fails_exactly_n_requests_and_wildcard_covers_others():
    injector = FaultInjector({"*": Fault(fail_next=2)}, seed=1)
    fault = injector.fault_for("hospitals")
    assert fault is not None
    assert [injector.should_fail("hospitals", fault) for _ in range(4)] == [
        True, True, False, False]
    assert injector.fault_for("tourism") is fault


def test_settings_from_the_environment(tmp_path):
    settings = SandboxSettings.from_env({
        "SANDBOX_ADMIN_TOKEN": "0123456789abcdef",
        "SANDBOX_FAULTS": '{"tourism": {"latency_ms": 50}}',
        "SHARED_DATA_DIR": str(tmp_path),
        "SANDBOX_TIME_FACTOR": "60",
    })
    assert settings.admin_token == "0123456789abcdef"
    assert settings.faults["tourism"].latency_ms == 50
    assert settings.attractions_file == tmp_path / "tourism" / "attractions.jsonl"
    assert settings.time_factor == 60
    assert SandboxSettings.from_env({}).admin_token is None
    for bad in ({"SANDBOX_ADMIN_TOKEN": "short"}, {"SANDBOX_FAULTS": "{not json"},
                {"SANDBOX_FAULTS": '{"tickets": {"error_rate": 3}}'},
                {"SANDBOX_TIME_FACTOR": "fast"}, {"SANDBOX_CAPACITY_SCALE": "-1"}):
        with pytest.raises(SettingsError):
            SandboxSettings.from_env(bad)
