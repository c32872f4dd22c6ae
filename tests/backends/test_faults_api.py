"""Failure injection and the admin API: bearer token, validation, latency, errors, lost
replies after commit, determinism."""

import time

import pytest

from backends.sandbox.faults import parse_faults
from tests.backends.support import ADMIN_TOKEN, new_key, running_sandbox

pytestmark = pytest.mark.integration

TICKET = {"category": "noise", "street": "明德街道", "description": "楼下商铺夜里放音乐",
          "phone": "13800138000"}


async def test_without_a_token_configured_the_admin_api_does_not_exist(tmp_path):
    async with running_sandbox(tmp_path / "s", admin_token=None) as api:
        for method, path in (("GET", "/_admin/faults"), ("PUT", "/_admin/faults"),
                             ("GET", "/_admin/stats")):
            reply = await api.request(method, path, json_body={},
                                      headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
            assert (reply.status, reply.body["error"]) == (404, "not_found")


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-0123456789", ADMIN_TOKEN,
                                    f"Basic {ADMIN_TOKEN}", "Bearer"])
async def test_the_admin_api_needs_the_bearer_token(api, header):
    headers = {"Authorization": header} if header else {}
    reply = await api.request("GET", "/_admin/faults", headers=headers)
    assert (reply.status, reply.body["error"]) == (401, "unauthorized")
    assert reply.headers["WWW-Authenticate"].startswith("Bearer")


async def test_fault_configuration_is_validated_replaced_and_cleared(api):
    bad = await api.admin("PUT", "/_admin/faults", {"tickets": {"error_rate": 1.5},
                                                    "weather": {}})
    assert bad.status == 422
    assert set(bad.body["fields"]) == {"tickets.error_rate", "weather"}
    assert (await api.admin("PUT", "/_admin/faults", [1])).status == 400
    ok = await api.admin("PUT", "/_admin/faults", {"tourism": {"latency_ms": 10}})
    assert ok.body["faults"]["tourism"]["latency_ms"] == 10
    assert (await api.admin("GET", "/_admin/faults")).body == ok.body
    cleared = await api.admin("PUT", "/_admin/faults", {})
    assert cleared.body == {"faults": {}}


async def test_errors_hit_only_the_configured_service(api):
    await api.set_faults({"tickets": {"error_rate": 1.0, "status": 503}})
    reply = await api.get("/tickets/v1/categories")
    assert (reply.status, reply.body["error"]) == (503, "injected_fault")
    created = await api.create("/tickets/v1/tickets", TICKET)
    assert created.status == 503
    assert (await api.get("/hospitals/v1/hospitals")).status == 200
    assert (await api.get("/health")).status == 200
    stats = (await api.admin("GET", "/_admin/stats")).body
    assert stats["faults_injected"] == {"tickets": 2}
    assert stats["routes"]["POST /tickets/v1/tickets"] == 1
    assert stats["requests"]["hospitals"] == 1
    # the injected error came before the handler: nothing was created
    await api.set_faults({})
    number = "JS20250603000003"  # the two seeded tickets of today are 1 and 2
    assert (await api.get(f"/tickets/v1/tickets/{number}")).status == 404


async def test_fail_next_and_retry_after(api):
    await api.set_faults({"*": {"fail_next": 2, "status": 429, "retry_after_s": 1}})
    first = await api.get("/tourism/v1/attractions/A0001")
    assert first.status == 429 and first.headers["Retry-After"] == "1"
    assert (await api.get("/applications/v1/applications/SQ202505220001")).status == 429
    assert (await api.get("/tourism/v1/attractions/A0001")).status == 200


async def test_latency_is_added_before_handling(api):
    await api.set_faults({"applications": {"latency_ms": 250}})
    started = time.monotonic()
    reply = await api.get("/applications/v1/applications/SQ202505220001")
    assert reply.status == 200
    assert time.monotonic() - started >= 0.25


async def test_a_reply_lost_after_commit_is_recovered_with_the_same_key(api):
    await api.set_faults({"tickets": {"fail_next": 1, "after_handler": True}})
    key = new_key()
    lost = await api.post("/tickets/v1/tickets", TICKET, key=key)
    assert lost.status == 503
    retried = await api.post("/tickets/v1/tickets", TICKET, key=key)
    assert (retried.status, retried.headers["Idempotent-Replayed"]) == (201, "true")
    number = retried.body["number"]
    assert (await api.get(f"/tickets/v1/tickets/{number}")).status == 200
    next_number = number[:-6] + f"{int(number[-6:]) + 1:06d}"
    assert (await api.get(f"/tickets/v1/tickets/{next_number}")).status == 404


async def test_random_errors_repeat_exactly_after_a_reset(api):
    async def run() -> list[int]:
        await api.set_faults({"tourism": {"error_rate": 0.5}})
        return [(await api.get("/tourism/v1/attractions/A0002")).status for _ in range(20)]

    first = await run()
    assert set(first) == {200, 503}
    assert await run() == first


async def test_faults_from_the_environment_apply_from_the_start(tmp_path):
    faults = parse_faults({"hospitals": {"error_rate": 1.0, "status": 500}})
    async with running_sandbox(tmp_path / "s", faults=faults) as api:
        reply = await api.get("/hospitals/v1/hospitals")
        assert (reply.status, reply.body["error"]) == (500, "injected_fault")
        assert (await api.get("/tourism/v1/attractions/A0001")).status == 200
