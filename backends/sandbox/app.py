"""The sandbox backends' aiohttp application."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

DATA_DIR_KEY = web.AppKey("data_dir", Path)


async def health(_: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(data_dir: Path) -> web.Application:
    """Builds the application; each service adds its routes here."""
    app = web.Application(client_max_size=256 * 1024)
    app[DATA_DIR_KEY] = data_dir
    app.router.add_get("/health", health)
    return app
