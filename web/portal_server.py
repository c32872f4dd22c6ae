"""The demo district portal: a static site that embeds the chat widget, on its own port.

``python -m web.portal_server --port 8080 --assistant-url http://127.0.0.1:5005``

It plays the part of the district's real portal, which is another site than the assistant: the
page loads ``widget.js`` from the Rasa server (another origin) with one ``<script>`` tag and one
``MinshengWidget.init`` call. ``GET /`` is the portal page, ``GET /minimal.html`` the smallest
possible embedding (English UI), ``GET /static/…`` the portal's CSS, ``GET /health`` the
liveness check used by the stack.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

PORTAL_DIR = Path(__file__).resolve().parent / "portal"
_ASSISTANT_URL = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?(/[A-Za-z0-9._\-/]*)?$")
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


def render_index(template: str, assistant_url: str) -> str:
    """The portal page with the assistant's address filled in (validated, then JSON-encoded
    where it lands in a script, so it cannot break out of the page)."""
    if not _ASSISTANT_URL.match(assistant_url):
        raise ValueError(f"assistant URL must be http(s)://host[:port][/path]: {assistant_url!r}")
    base = assistant_url.rstrip("/")
    return (
        template.replace("{{WIDGET_SRC}}", f"{base}/webhooks/webchat/widget.js")
        .replace("{{ASSISTANT_URL_JSON}}", json.dumps(base).replace("</", "<\\/"))
    )


def create_app(assistant_url: str, portal_dir: Path = PORTAL_DIR) -> web.Application:
    """The portal application; reads its pages once, when the app is created."""
    pages = {
        name: render_index((portal_dir / name).read_text(encoding="utf-8"), assistant_url)
        for name in ("index.html", "minimal.html")
    }

    def serve(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(_: web.Request) -> web.Response:
            return web.Response(
                text=pages[name],
                content_type="text/html",
                charset="utf-8",
                headers={**_SECURITY_HEADERS, "Cache-Control": "no-cache"},
            )

        return handler

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/", serve("index.html"))
    app.router.add_get("/index.html", serve("index.html"))
    app.router.add_get("/minimal.html", serve("minimal.html"))
    app.router.add_get("/health", health)
    app.router.add_static("/static/", portal_dir / "static", show_index=False,
                          follow_symlinks=False)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m web.portal_server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORTAL_PORT", 8080)))
    parser.add_argument(
        "--assistant-url",
        default=os.environ.get(
            "ASSISTANT_URL", f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}"
        ),
        help="where residents' browsers reach the Rasa server (default http://127.0.0.1:5005)",
    )
    args = parser.parse_args(argv)
    try:
        app = create_app(args.assistant_url)
    except ValueError as error:
        parser.error(str(error))
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
