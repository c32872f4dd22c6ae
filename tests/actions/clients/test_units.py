"""Pure parts of the clients: breaker, back-off, Retry-After, privacy, settings, keys,
parsing and the exception tree."""

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from actions.clients import (
    BackendError,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
    CapacityExhausted,
    CircuitOpen,
    ClientSettings,
    Conflict,
    InvalidResponse,
    NotFound,
    idempotency_key,
    mask_id_number,
    mask_phone,
    normalize_id_number,
    normalize_phone,
)
from actions.clients.errors import rejected_for
from actions.clients.parsing import read
from actions.clients.privacy import safe_params, scrub
from actions.clients.resilience import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    CircuitBreaker,
    backoff_delay,
    parse_retry_after,
)
from actions.clients.settings import ClientSettingsError
from actions.clients.tickets import Ticket

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_consecutive_failures_only():
    breaker = CircuitBreaker(threshold=3, cooldown=10, clock=Clock())
    for _ in range(2):
        breaker.record_failure()
    breaker.record_success()  # resets the count
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state == OPEN and not breaker.allow()


def test_breaker_half_opens_after_cooldown_for_one_trial_call():
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=10, clock=clock)
    breaker.record_failure()
    clock.now += 9.9
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.state == HALF_OPEN
    assert breaker.allow()  # the trial call
    assert not breaker.allow()  # everyone else still fails fast
    breaker.record_failure()  # the trial failed: open for another cooldown
    assert breaker.state == OPEN and not breaker.allow()
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == CLOSED and breaker.allow() and breaker.allow()


def test_a_cancelled_trial_call_frees_the_half_open_slot():
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=1, clock=clock)
    breaker.record_failure()
    clock.now += 1
    assert breaker.allow()
    breaker.release()
    assert breaker.allow()


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rng = random.Random(3)
    delays = [[backoff_delay(n, 0.1, 1.0, rng) for n in (1, 2, 3, 4, 5)] for _ in range(50)]
    for row in delays:
        for n, delay in enumerate(row, start=1):
            ceiling = min(1.0, 0.1 * 2 ** (n - 1))
            assert ceiling / 2 <= delay <= ceiling
    assert len({round(row[0], 6) for row in delays}) > 40  # jittered


def test_retry_after_in_seconds_or_as_a_date():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = datetime(2025, 6, 3, 1, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now.timestamp()) == pytest.approx(30, abs=1)


def test_phone_and_identity_numbers_normalise_like_the_backends():
    assert normalize_phone("+86 138-0013-8000") == "13800138000"
    assert normalize_phone("6512 3456") == "010-65123456"
    assert normalize_phone("12345") is None
    assert normalize_id_number("11010519491231002x") == "11010519491231002X"
    assert normalize_id_number("110105194912310021") is None


def test_masking_and_scrubbing_hide_personal_numbers():
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("010-65123456") == "****3456"
    assert mask_id_number("11010519491231002X") == "110***********002X"
    text = ("call 13800138000 or 138 0013 8000 or +86 138-0013-8000 or 010-65123456, "
            "id 11010519491231002X, ticket JS20250603000001, order 20250603")
    hidden = scrub(text)
    for secret in ("13800138000", "0013 8000", "0013-8000", "65123456", "19491231"):
        assert secret not in hidden
    assert "JS20250603000001" in hidden and "20250603" in hidden
    assert safe_params({"phone": "13800138000", "q": "故宫", "name": "王建国"}) == (
        "?phone=138****8000&q=故宫&name=***")


def test_settings_come_from_the_environment():
    settings = ClientSettings.from_env({"BACKENDS_URL": "http://10.0.0.5:8080/",
                                        "TOURISM_API_URL": "https://tour.example.gov.cn/api/v2",
                                        "BACKENDS_TIMEOUT": "2", "BACKENDS_DEADLINE": "4"})
    assert settings.url("tickets") == "http://10.0.0.5:8080/tickets/v1"
    assert settings.url("tourism") == "https://tour.example.gov.cn/api/v2"
    assert (settings.request_timeout, settings.deadline) == (2.0, 4.0)
    default = ClientSettings.from_env({})
    assert default.url("applications") == "http://127.0.0.1:5080/applications/v1"
    assert default.request_timeout == 3.0 and default.deadline == 4.5


@pytest.mark.parametrize("env", [
    {"BACKENDS_URL": "ftp://x"}, {"BACKENDS_URL": "localhost:5080"},
    {"TICKETS_API_URL": "http://h/x?y=1"}, {"BACKENDS_TIMEOUT": "soon"},
    {"BACKENDS_DEADLINE": "30"}, {"BACKENDS_TIMEOUT": "0"},
])
def test_bad_settings_fail_with_the_variable_named(env):
    with pytest.raises(ClientSettingsError) as error:
        ClientSettings.from_env(env)
    assert next(iter(env)) in str(error.value)


def test_idempotency_keys_are_stable_distinct_and_acceptable_to_the_backends():
    key = idempotency_key("sender-1", "ticket_form", 1717380000.5)
    assert key == idempotency_key("sender-1", "ticket_form", 1717380000.5)
    assert key != idempotency_key("sender-1", "ticket_form", 1717380001.5)
    assert key != idempotency_key("sender-1", "ticket_formX", 1717380000.5)
    assert 8 <= len(key) <= 128 and key.replace("-", "").isalnum()
    with pytest.raises(ValueError):
        idempotency_key()


def test_the_exception_tree():
    assert issubclass(BackendTimeout, BackendError)
    assert issubclass(CircuitOpen, BackendUnavailable) and issubclass(InvalidResponse,
                                                                       BackendUnavailable)
    assert issubclass(NotFound, BackendRejected) and issubclass(Conflict, BackendRejected)
    assert issubclass(CapacityExhausted, Conflict)
    assert rejected_for(404, "not_found") is NotFound
    assert rejected_for(409, "capacity_exhausted") is CapacityExhausted
    assert rejected_for(409, "duplicate_booking") is Conflict
    assert rejected_for(422, "validation_failed") is BackendRejected


def test_answers_that_break_the_contract_are_invalid_responses():
    with pytest.raises(InvalidResponse):
        read([], "tickets", "ticket", Ticket.read)
    with pytest.raises(InvalidResponse) as error:
        read({"number": 5}, "tickets", "ticket", Ticket.read)
    assert "ticket.number" in str(error.value)
