"""Retries, idempotency, the circuit breaker and deadlines, against the real sandbox with
injected faults; requests are counted on the server side."""

import asyncio
import time

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from actions.clients import (
    BackendRejected,
    Backends,
    BackendTimeout,
    BackendUnavailable,
    CircuitOpen,
    ClientSettings,
    InvalidResponse,
    idempotency_key,
)
from actions.clients.resilience import CLOSED, HALF_OPEN, OPEN
from stack.processes import free_port
from tests.actions.clients.conftest import FAST

pytestmark = pytest.mark.integration

GET_APPLICATION = "GET /applications/v1/applications/{number}"
CREATE_TICKET = "POST /tickets/v1/tickets"
TICKET = {"category": "noise", "street": "明德", "description": "夜里施工噪音很大",
          "phone": "13800138000"}


async def test_gets_are_retried_on_5xx_until_they_succeed(backends, sandbox):
    await sandbox.set_faults({"applications": {"fail_next": 2, "status": 503}})
    application = await backends.applications.get_application("SQ202505220001")
    assert application.matter == "高龄津贴申请"
    assert sandbox.requests_to(GET_APPLICATION) == 3


@pytest.mark.parametrize("status", [429, 500, 502, 504])
async def test_every_retryable_status_is_retried(backends, sandbox, status):
    await sandbox.set_faults({"applications": {"fail_next": 1, "status": status}})
    await backends.applications.get_application("SQ202505220001")
    assert sandbox.requests_to(GET_APPLICATION) == 2


async def test_retries_are_bounded(backends, sandbox):
    await sandbox.set_faults({"applications": {"error_rate": 1.0}})
    with pytest.raises(BackendUnavailable) as error:
        await backends.applications.get_application("SQ202505220001")
    assert error.value.status == 503 and error.value.code == "injected_fault"
    assert sandbox.requests_to(GET_APPLICATION) == 3  # max_attempts


async def test_4xx_and_non_retryable_5xx_are_not_retried(backends, sandbox):
    with pytest.raises(BackendRejected):
        await backends.applications.get_application("SQ209901010001")
    assert sandbox.requests_to(GET_APPLICATION) == 1
    await sandbox.set_faults({"applications": {"fail_next": 1, "status": 501}})
    with pytest.raises(BackendUnavailable):
        await backends.applications.get_application("SQ202505220001")
    assert sandbox.requests_to(GET_APPLICATION) == 2


async def test_a_create_with_an_idempotency_key_is_retried_into_one_ticket(backends, sandbox):
    # the first reply is lost after the ticket was committed; the retry carries the same key
    await sandbox.set_faults({"tickets": {"fail_next": 1, "after_handler": True}})
    ticket = await backends.tickets.create_ticket(
        idempotency_key=idempotency_key("sender", "ticket_form", "t1"), **TICKET)
    assert sandbox.requests_to(CREATE_TICKET) == 2
    following = ticket.number[:-6] + f"{int(ticket.number[-6:]) + 1:06d}"
    with pytest.raises(BackendRejected):
        await backends.tickets.get_ticket(following)  # no second ticket was made
    # the action itself retried (e.g. by Rasa): same key, same ticket, no new one
    again = await backends.tickets.create_ticket(
        idempotency_key=idempotency_key("sender", "ticket_form", "t1"), **TICKET)
    assert again.number == ticket.number


async def test_a_post_without_an_idempotency_key_is_sent_once(backends, sandbox):
    await sandbox.set_faults({"tickets": {"fail_next": 1}})
    with pytest.raises(BackendUnavailable):
        await backends.tickets._call("POST", "/tickets", json_body=TICKET)
    assert sandbox.requests_to(CREATE_TICKET) == 1


async def test_cancelling_is_retried_because_the_contract_makes_it_idempotent(backends,
                                                                              sandbox):
    tourism = backends.tourism
    reservation = await tourism.reserve(
        idempotency_key=idempotency_key("s", "r"), attraction_id="A0002",
        day=(await tourism.crowd("A0002")).date, visitors=1, name="赵磊", phone="13800138000")
    await sandbox.set_faults({"tourism": {"fail_next": 1, "after_handler": True}})
    cancelled = await tourism.cancel(reservation.reservation_id, "13800138000")
    assert cancelled.state_code == "cancelled"
    assert sandbox.requests_to("POST /tourism/v1/reservations/{reservation_id}/cancel") == 2


async def test_retry_after_is_honoured_within_the_deadline(backends, sandbox):
    await sandbox.set_faults({"applications": {"fail_next": 1, "status": 429,
                                               "retry_after_s": 1}})
    started = time.monotonic()
    await backends.applications.get_application("SQ202505220001")
    assert 1.0 <= time.monotonic() - started < 2.0
    await sandbox.set_faults({"applications": {"fail_next": 1, "status": 429,
                                               "retry_after_s": 30}})
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as error:
        await backends.applications.get_application("SQ202505220001")
    assert error.value.status == 429 and error.value.retry_after == 30
    assert time.monotonic() - started < 1.0  # no point waiting past the deadline
    assert sandbox.requests_to(GET_APPLICATION) == 3


async def test_the_breaker_opens_fails_fast_then_half_opens_and_closes(sandbox):
    settings = ClientSettings.for_base_url(sandbox.base_url, breaker_threshold=3,
                                           breaker_cooldown=0.3, **FAST)
    clients = Backends(settings, seed=2)
    try:
        tourism = clients.tourism
        await sandbox.set_faults({"tourism": {"error_rate": 1.0}})
        with pytest.raises(BackendUnavailable):
            await tourism.attraction("A0001")
        assert tourism.breaker.state == OPEN
        seen = sandbox.ctx.stats.requests["tourism"]
        assert seen == 3
        with pytest.raises(CircuitOpen):
            await tourism.search("故宫")
        assert sandbox.ctx.stats.requests["tourism"] == seen  # failed fast, no request
        # one backend's breaker does not affect another backend
        assert (await clients.applications.get_application("SQ202505220001")).closed

        await asyncio.sleep(0.35)
        assert tourism.breaker.state == HALF_OPEN
        with pytest.raises(BackendUnavailable):  # the trial call fails: open again
            await tourism.attraction("A0001")
        assert sandbox.ctx.stats.requests["tourism"] == seen + 1
        assert tourism.breaker.state == OPEN

        await sandbox.set_faults({})
        await asyncio.sleep(0.35)
        assert (await tourism.attraction("A0001")).name == "故宫"  # the trial succeeds
        assert tourism.breaker.state == CLOSED
        assert (await tourism.search("天坛"))[0].name == "天坛"
    finally:
        await clients.close()


async def test_a_4xx_does_not_count_against_the_breaker(sandbox):
    clients = Backends(ClientSettings.for_base_url(sandbox.base_url, breaker_threshold=2), seed=3)
    try:
        for _ in range(4):
            with pytest.raises(BackendRejected):
                await clients.applications.get_application("SQ209901010001")
        assert clients.applications.breaker.state == CLOSED
    finally:
        await clients.close()


async def test_a_slow_backend_times_out_within_the_deadline(sandbox):
    settings = ClientSettings.for_base_url(sandbox.base_url, request_timeout=0.3,
                                           deadline=0.8, **FAST)
    clients = Backends(settings, seed=4)
    try:
        await sandbox.set_faults({"applications": {"latency_ms": 2000}})
        started = time.monotonic()
        with pytest.raises(BackendTimeout):
            await clients.applications.get_application("SQ202505220001")
        elapsed = time.monotonic() - started
        assert 0.75 <= elapsed < 1.2  # the deadline, plus scheduling slack
        # 0.3 s + 0.3 s + what was left of the 0.8 s deadline: three attempts, none past it
        assert sandbox.requests_to(GET_APPLICATION) == 3
    finally:
        await clients.close()


async def test_with_default_settings_a_stuck_backend_costs_under_five_seconds(backends,
                                                                              sandbox):
    await sandbox.set_faults({"tickets": {"latency_ms": 10_000}})
    started = time.monotonic()
    with pytest.raises(BackendTimeout):
        await backends.tickets.get_ticket("JS20250603000001")
    elapsed = time.monotonic() - started
    assert 4.3 <= elapsed < 5.0


async def test_connection_refused_is_unavailable_and_retried_quickly():
    port = free_port()  # nothing listens there
    clients = Backends(ClientSettings.for_base_url(f"http://127.0.0.1:{port}", **FAST), seed=5)
    try:
        started = time.monotonic()
        with pytest.raises(BackendUnavailable) as error:
            await clients.tourism.search("故宫")
        assert time.monotonic() - started < 1.0
        assert not isinstance(error.value, CircuitOpen)
        assert "ClientConnectorError" in str(error.value)
    finally:
        await clients.close()


async def test_answers_outside_the_contract_are_invalid_responses():
    async def html(_: web.Request) -> web.Response:
        return web.Response(text="<html>maintenance</html>", content_type="text/html")

    async def wrong_shape(_: web.Request) -> web.Response:
        return web.json_response({"results": [{"id": 1}]})

    app = web.Application()
    app.router.add_get("/applications/v1/applications/{number}", html)
    app.router.add_get("/tourism/v1/attractions", wrong_shape)
    async with TestServer(app) as server:
        base = str(server.make_url("")).rstrip("/")
        clients = Backends(ClientSettings.for_base_url(base), seed=6)
        try:
            with pytest.raises(InvalidResponse):
                await clients.applications.get_application("SQ202505220001")
            with pytest.raises(InvalidResponse) as error:
                await clients.tourism.search("故宫")
            assert "results[].id" in str(error.value)
        finally:
            await clients.close()
