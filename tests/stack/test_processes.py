import sys
import time

import pytest

from stack.processes import Service, StartError, free_port, http_ok, port_in_use

pytestmark = pytest.mark.integration


def http_server(tmp_path, port: int, delay: float = 0.0) -> Service:
    code = (
        f"import time, http.server; time.sleep({delay}); "
        f"http.server.ThreadingHTTPServer(('127.0.0.1', {port}), "
        "http.server.SimpleHTTPRequestHandler).serve_forever()"
    )
    return Service(
        name="web",
        argv=[sys.executable, "-c", code],
        health_url=f"http://127.0.0.1:{port}/",
        log_path=tmp_path / "web.log",
        cwd=tmp_path,
    )


def test_a_service_becomes_healthy_and_stops(tmp_path):
    port = free_port()
    service = http_server(tmp_path, port, delay=0.5)
    service.start()
    try:
        service.wait_healthy(20)
        assert http_ok(f"http://127.0.0.1:{port}/")
        assert port_in_use(port)
    finally:
        service.stop()
    assert not service.is_running()
    assert not port_in_use(port)


def test_a_crashing_service_fails_fast_and_quotes_its_log(tmp_path):
    service = Service(
        name="broken",
        argv=[sys.executable, "-c", "import sys; print('boom: bad config'); sys.exit(3)"],
        health_url=f"http://127.0.0.1:{free_port()}/",
        log_path=tmp_path / "broken.log",
    )
    service.start()
    began = time.monotonic()
    with pytest.raises(StartError) as caught:
        service.wait_healthy(60)
    assert time.monotonic() - began < 10
    assert "broken exited during start-up" in str(caught.value)
    assert "boom: bad config" in str(caught.value)


def test_a_service_that_never_answers_times_out(tmp_path):
    service = Service(
        name="silent",
        argv=[sys.executable, "-c", "import time; time.sleep(60)"],
        health_url=f"http://127.0.0.1:{free_port()}/",
        log_path=tmp_path / "silent.log",
    )
    service.start()
    try:
        with pytest.raises(StartError, match="not healthy"):
            service.wait_healthy(1.5)
    finally:
        service.stop(grace=2)
    assert not service.is_running()
