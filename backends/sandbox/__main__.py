"""``python -m backends.sandbox --port 5080 --data-dir var/sandbox``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from aiohttp import web

from backends.sandbox.app import AccessLogger, create_app
from backends.sandbox.settings import SandboxSettings, SettingsError
from privacy import install_log_masking


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m backends.sandbox")
    parser.add_argument("--port", type=int, default=5080)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", type=Path, default=Path("var/sandbox"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_masking()  # no phone, 身份证 or card number in clear in the log (privacy/)
    try:
        settings = SandboxSettings.from_env()
    except SettingsError as error:
        print(f"sandbox backends: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    args.data_dir.mkdir(parents=True, exist_ok=True)
    web.run_app(
        create_app(args.data_dir, settings=settings),
        host=args.host,
        port=args.port,
        print=None,
        access_log_class=AccessLogger,
        handler_cancellation=True,  # a client that gave up stops its request's work
        shutdown_timeout=5.0,
    )


if __name__ == "__main__":
    main()
