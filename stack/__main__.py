"""``python -m stack run [--shell]``: start the whole assistant and keep it running.

scripts/run prepares the environments and the model, then hands over to this module with
RASA_BIN and RASA_MODEL set.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from stack.assistant import ROOT, Ports, StackConfig, build_services
from stack.chat import chat_loop
from stack.processes import Service, StartError, port_in_use
from stack.redis_choice import RedisTarget, existing_redis, start_private_redis

START_TIMEOUTS = {"sandbox backends": 60.0, "action server": 180.0, "Rasa server": 300.0}


def _log(message: str) -> None:
    print(f"\033[1;34m==>\033[0m {message}", file=sys.stderr, flush=True)


def choose_redis(var_dir: Path) -> tuple[RedisTarget | None, Service | None]:
    existing = existing_redis(_log)
    if existing is not None:
        return existing, None
    private = start_private_redis(var_dir / "redis")
    if private is not None:
        target, service = private
        _log(f"Redis: started a private redis-server at {target.url}")
        return target, service
    print(
        "\033[1;33mwarning:\033[0m no Redis found (no REDIS_URL, nothing at 127.0.0.1:6379, "
        "no redis-server to start). Conversations are kept in memory: they are lost on restart "
        "and cannot be shared by several Rasa servers.",
        file=sys.stderr,
    )
    return None, None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack")
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--shell", action="store_true", help="chat in this terminal")
    args = parser.parse_args(argv)

    rasa_bin, model = os.environ.get("RASA_BIN"), os.environ.get("RASA_MODEL")
    if not rasa_bin or not model:
        raise SystemExit("error: run this through scripts/run (RASA_BIN and RASA_MODEL unset).")

    ports = Ports.from_env()
    busy = [str(p) for p in (ports.rasa, ports.actions, ports.backends, ports.portal)
            if p is not None and port_in_use(p)]
    if busy:
        raise SystemExit(
            f"error: port(s) {', '.join(busy)} already in use — is the assistant already "
            "running? Stop it, or set RASA_PORT / ACTION_PORT / BACKENDS_PORT / PORTAL_PORT."
        )

    var_dir = Path(os.environ.get("MINSHENG_VAR_DIR", ROOT / "var"))
    redis_target, redis_service = choose_redis(var_dir)
    config = StackConfig(
        rasa_bin=rasa_bin,
        actions_python=sys.executable,
        model=model,
        ports=ports,
        redis=redis_target,
        var_dir=var_dir,
    )
    services = [s for s in [redis_service] if s is not None]
    stopping = False

    def stop_all(*_: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        _log("Stopping …")
        for service in reversed(services):
            service.stop()

    signal.signal(signal.SIGTERM, lambda *_: (stop_all(), sys.exit(0)))
    try:
        for service in build_services(config):
            _log(f"Starting the {service.name} (log: {service.log_path})")
            service.start()
            services.append(service)
            service.wait_healthy(START_TIMEOUTS.get(service.name, 120.0))
        _print_banner(ports)
        if args.shell:
            chat_loop(f"http://127.0.0.1:{ports.rasa}/webhooks/rest/webhook")
            return 0
        while True:
            for service in services:
                if not service.is_running():
                    print(
                        f"error: the {service.name} stopped unexpectedly.\n{service.log_tail()}",
                        file=sys.stderr,
                    )
                    return 1
            time.sleep(1)
    except StartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stop_all()


def _print_banner(ports: Ports) -> None:
    rest = f"http://127.0.0.1:{ports.rasa}/webhooks/rest/webhook"
    wechat = f"http://127.0.0.1:{ports.rasa}/webhooks/wechat/webhook" + (
        "" if os.environ.get("WECHAT_TOKEN") else "  (not configured: scripts/wechat-config)"
    )
    print(
        f"""
\033[1;32m民生助手 is running.\033[0m
  Chat over REST:   curl -s {rest} \\
                      -H 'Content-Type: application/json' \\
                      -d '{{"sender": "demo", "message": "你好"}}'
  socket.io:        http://127.0.0.1:{ports.rasa}/webhooks/webchat/socket.io  (Rasa's events)
  Demo portal:      http://127.0.0.1:{ports.portal}/  (the web chat widget, bottom right)
  Widget script:    http://127.0.0.1:{ports.rasa}/webhooks/webchat/widget.js  (embed: README)
  WeChat webhook:   {wechat}
  In a terminal:    scripts/run --shell
  Action server:    http://127.0.0.1:{ports.actions}/health
  Sandbox backends: http://127.0.0.1:{ports.backends}/health
  Logs:             var/log/
Press Ctrl-C to stop everything.
""",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
