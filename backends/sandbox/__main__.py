"""``python -m backends.sandbox --port 5080 --data-dir var/sandbox``."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from aiohttp import web

from backends.sandbox.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m backends.sandbox")
    parser.add_argument("--port", type=int, default=5080)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--data-dir", type=Path, default=Path("var/sandbox"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    web.run_app(create_app(args.data_dir), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
