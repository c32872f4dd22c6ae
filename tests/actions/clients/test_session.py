"""One HTTP session per process: created on the first call, shared by every client, closed on
shut-down; the process-wide accessor reads the environment."""

import logging

import pytest

from actions.clients import Backends, ClientSettings, close_clients, get_backends, hub
from tests.actions.clients.conftest import FAST

pytestmark = pytest.mark.integration


async def test_creating_clients_opens_nothing_and_the_first_call_opens_one_session(sandbox):
    clients = Backends(ClientSettings.for_base_url(sandbox.base_url, **FAST))
    assert clients.sessions.session is None and clients.sessions.created == 0
    _ = (clients.tickets, clients.hospitals, clients.eldercare, clients.tourism,
         clients.applications)
    assert clients.sessions.session is None
    try:
        await clients.tickets.categories()
        session = clients.sessions.session
        assert session is not None
        await clients.tourism.search("故宫")
        await clients.hospitals.guidance("头疼")
        await clients.eldercare.services()
        await clients.applications.get_application("SQ202505220001")
        await clients.tickets.streets()
        assert clients.sessions.session is session and clients.sessions.created == 1
        # and its connection is reused: one idle keep-alive connection served the six calls
        pooled = session.connector._conns  # type: ignore[union-attr]
        assert sum(len(idle) for idle in pooled.values()) == 1
    finally:
        await clients.close()
    assert session.closed and clients.sessions.session is None


async def test_the_process_wide_clients_come_from_the_environment(sandbox, monkeypatch):
    monkeypatch.setenv("BACKENDS_URL", sandbox.base_url)
    monkeypatch.setattr(hub, "_default", None)
    first = get_backends()
    assert get_backends() is first
    assert first.tickets.base_url == f"{sandbox.base_url}/tickets/v1"
    assert (await first.applications.get_application("SQ202505220001")).matter == "高龄津贴申请"
    session = first.sessions.session
    assert session is not None and not session.closed
    await close_clients()
    assert session.closed and hub._default is None
    await close_clients()  # closing twice is harmless
    assert get_backends() is not first
    await close_clients()


async def test_log_lines_never_show_phone_or_identity_numbers(backends, sandbox, caplog):
    caplog.set_level(logging.INFO, logger="actions.clients")
    slot = (await backends.hospitals.free_slots("pumch", department="cardiology"))[0]
    await backends.hospitals.book(idempotency_key="privacy-test-0001", slot_id=slot.slot_id,
                                  patient_name="李秀英", phone="13900000001",
                                  id_number="11010519491231002X")
    await backends.hospitals.bookings("13900000001")
    await sandbox.set_faults({"hospitals": {"fail_next": 1}})
    await backends.hospitals.bookings("13900000001")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "139****0001" in text  # the call is logged, masked
    assert "13900000001" not in text and "11010519491231002X" not in text
    assert "李秀英" not in text
    assert any(r.levelno == logging.WARNING for r in caplog.records)  # the retry
