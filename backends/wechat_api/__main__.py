"""``python -m backends.wechat_api --port 5090``: the WeChat API sandbox.

The Official Account it stands in for is WECHAT_APP_ID / WECHAT_APP_SECRET (or --app-id /
--app-secret). Point the channel at it with WECHAT_API_BASE=http://127.0.0.1:5090.
"""

from __future__ import annotations

import argparse
import logging
import os

from aiohttp import web

from backends.wechat_api.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m backends.wechat_api")
    parser.add_argument("--port", type=int, default=int(os.environ.get("WECHAT_API_PORT", 5090)))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--app-id", default=os.environ.get("WECHAT_APP_ID"))
    parser.add_argument("--app-secret", default=os.environ.get("WECHAT_APP_SECRET"))
    parser.add_argument("--token-ttl", type=int, default=7200)
    args = parser.parse_args()
    if not args.app_id or not args.app_secret:
        parser.error("set WECHAT_APP_ID and WECHAT_APP_SECRET, or pass --app-id and --app-secret")
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    web.run_app(
        create_app(args.app_id, args.app_secret, token_ttl=args.token_ttl),
        host=args.host,
        port=args.port,
        print=None,
        access_log=None,
    )


if __name__ == "__main__":
    main()
