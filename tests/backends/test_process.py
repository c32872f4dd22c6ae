"""``python -m backends.sandbox`` as the stack starts it: a real process on a free port, with
SANDBOX_FAULTS and SANDBOX_ADMIN_TOKEN from the environment, keeping data across restarts."""

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from stack.processes import Service, free_port
from tests.backends.support import ADMIN_TOKEN

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def sandbox(tmp_path, port: int, **env: str) -> Service:
    return Service(
        name="sandbox backends",
        argv=[sys.executable, "-m", "backends.sandbox", "--port", str(port),
              "--data-dir", str(tmp_path / "data")],
        health_url=f"http://127.0.0.1:{port}/health",
        log_path=tmp_path / "sandbox.log",
        env={"PYTHONPATH": str(ROOT), **env},
        cwd=ROOT,
    )


def call(url: str, method: str = "GET", body: object = None, headers: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_sandbox_process_honours_its_environment_and_keeps_data(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"SANDBOX_ADMIN_TOKEN": ADMIN_TOKEN,
           "SANDBOX_FAULTS": json.dumps({"applications": {"error_rate": 1, "status": 502}})}
    service = sandbox(tmp_path, port, **env)
    service.start()
    try:
        service.wait_healthy(30)
        assert call(f"{base}/applications/v1/applications/SQ202001010001")[0] == 502
        status, ticket = call(f"{base}/tickets/v1/tickets", "POST",
                              {"category": "noise", "street": "明德", "description": "夜间施工噪音",
                               "phone": "13800138000"},
                              {"Idempotency-Key": "process-test-0001"})
        assert status == 201
        assert call(f"{base}/hospitals/v1/bookings?phone=13900139000")[0] == 200
        status, faults = call(f"{base}/_admin/faults", headers={
            "Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert faults["faults"]["applications"]["status"] == 502
    finally:
        service.stop()
    log = (tmp_path / "sandbox.log").read_text(encoding="utf-8")
    assert "POST /tickets/v1/tickets 201" in log
    assert "GET /hospitals/v1/bookings 200" in log
    assert "13800138000" not in log and "13900139000" not in log

    service = sandbox(tmp_path, port)  # no faults, no admin token this time
    service.start()
    try:
        service.wait_healthy(30)
        assert call(f"{base}/tickets/v1/tickets/{ticket['number']}")[0] == 200
        assert call(f"{base}/_admin/faults")[0] == 404
    finally:
        service.stop()


def test_invalid_settings_stop_the_start_with_a_clear_message(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "backends.sandbox", "--port", str(free_port()),
         "--data-dir", str(tmp_path)],
        env={"PYTHONPATH": str(ROOT), "SANDBOX_FAULTS": '{"tickets": {"error_rate": 7}}',
             "PATH": "/usr/bin:/bin"},
        cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.returncode == 2
    assert "SANDBOX_FAULTS" in result.stderr and "error_rate" in result.stderr
