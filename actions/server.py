"""``python -m actions.server``: the rasa-sdk action server with start-up and shut-down hooks.

Same HTTP contract as ``python -m rasa_sdk`` (``POST /webhook``, ``GET /health``); in addition it
warms up what the actions need before serving, and closes shared clients when it stops.
"""

from __future__ import annotations

import argparse
import logging
import os
import warnings

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Sanic

from actions import runtime
from actions.vault import VaultConfigError, get_vault
from privacy import install_log_masking

logger = logging.getLogger(__name__)


def build_app() -> Sanic:
    """The Sanic app serving every action of the ``actions`` package."""
    executor = ActionExecutor()
    executor.register_package("actions")
    app = create_app(executor, cors_origins=None)
    app.register_listener(runtime.start, "before_server_start")
    app.register_listener(runtime.stop, "after_server_stop")
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m actions.server")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_PORT", 5055)))
    parser.add_argument("--host", default=os.environ.get("ACTION_HOST", "127.0.0.1"))
    args = parser.parse_args()
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install_log_masking()  # no phone, 身份证 or card number in clear in the log (privacy/)
    try:
        get_vault()  # MINSHENG_PII_KEY / MINSHENG_PII_TTL checked now, not on a resident's turn
    except VaultConfigError as error:
        raise SystemExit(f"action server: {error}") from None
    # rasa-sdk 3.x talks to Rasa 3.6 over the same action-server protocol; its generic
    # "versions differ" warning would otherwise be printed for every call.
    warnings.filterwarnings("ignore", message=".*might not be compatible.*")
    app = build_app()
    app.run(host=args.host, port=args.port, single_process=True, access_log=False)


if __name__ == "__main__":
    main()
