"""The sandbox backends' aiohttp application: every service API under its own prefix.

| prefix              | service                         | OpenAPI contract                      |
|---------------------|---------------------------------|---------------------------------------|
| ``/tickets/v1``     | 12345 接诉即办 tickets           | ``backends/openapi/tickets.yaml``      |
| ``/hospitals/v1``   | hospital appointments           | ``backends/openapi/hospitals.yaml``    |
| ``/eldercare/v1``   | 养老驿站 and home services       | ``backends/openapi/eldercare.yaml``    |
| ``/tourism/v1``     | attractions and reservations    | ``backends/openapi/tourism.yaml``      |
| ``/applications/v1``| 办件进度                         | ``backends/openapi/applications.yaml`` |
| ``/health``, ``/_admin/*`` | the sandbox itself       | ``backends/openapi/sandbox.yaml``      |

Building the application does no I/O: the database is opened, the schema created and the seed
data loaded when it starts (``cleanup_ctx``), and closed when it stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from backends.sandbox import admin, applications, eldercare, hospitals, tickets, tourism
from backends.sandbox.context import CONTEXT, Clock, Context, context
from backends.sandbox.http import ApiError, json_response
from backends.sandbox.service import ServiceDef
from backends.sandbox.settings import SandboxSettings
from backends.sandbox.validation import beijing_now, iso

logger = logging.getLogger(__name__)

SERVICES: tuple[ServiceDef, ...] = (
    tickets.SERVICE,
    hospitals.SERVICE,
    eldercare.SERVICE,
    tourism.SERVICE,
    applications.SERVICE,
)
DATA_DIR_KEY = web.AppKey("data_dir", Path)
IDEMPOTENCY_RETENTION_DAYS = 7  # how long a create's Idempotency-Key is remembered
_PREFIXES = web.AppKey("service_names", frozenset)
_HTTP_ERRORS = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "body_too_large", 414: "uri_too_long",
    415: "unsupported_media_type", 431: "headers_too_large",
}


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def _service_of(request: web.Request) -> str | None:
    route = request.match_info.route
    if request.match_info.http_exception is not None or route.resource is None:
        return None
    first = route.resource.canonical.split("/")[1]
    return first if first in request.app[_PREFIXES] else None


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every error is JSON ``{"error", "detail"}``; an unexpected exception is logged (without
    the request body) and answered 500, never a crash."""
    try:
        return await handler(request)
    except ApiError as error:
        return error.response()
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = _HTTP_ERRORS.get(error.status, "http_error")
        headers = {k: v for k, v in error.headers.items() if k in ("Allow", "WWW-Authenticate")}
        return json_response({"error": code, "detail": error.reason}, status=error.status,
                             headers=headers)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("unhandled error in %s %s", request.method, request.path)
        return json_response({"error": "internal_error", "detail": "the sandbox failed"},
                             status=500)


@web.middleware
async def faults_and_stats(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Counts service requests, and injects the configured latency and errors."""
    service = _service_of(request)
    if service is None:
        return await handler(request)
    ctx = context(request)
    route = f"{request.method} {request.match_info.route.resource.canonical}"  # type: ignore[union-attr]
    ctx.stats.requests[service] += 1
    ctx.stats.routes[route] += 1
    fault = ctx.faults.fault_for(service)
    if fault is None:
        return await handler(request)
    if fault.latency_ms:
        await asyncio.sleep(fault.latency_ms / 1000)
    fail = ctx.faults.should_fail(service, fault)
    if not fail:
        return await handler(request)
    if fault.after_handler:
        with contextlib.suppress(ApiError):
            await handler(request)
    ctx.stats.injected[service] += 1
    headers = {}
    if fault.retry_after_s is not None:
        headers["Retry-After"] = str(fault.retry_after_s)
    return json_response(
        {"error": "injected_fault", "detail": f"fault injected into {service}"},
        status=fault.status, headers=headers,
    )


class AccessLogger(AbstractAccessLogger):
    """Method, path without the query string (it can hold phone numbers), status, time."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %.1fms", request.method, request.path, response.status,
                         time * 1000)


def create_app(
    data_dir: Path,
    *,
    settings: SandboxSettings | None = None,
    clock: Clock = beijing_now,
) -> web.Application:
    """Builds the application. ``settings`` default to the environment; ``clock`` (returning an
    aware datetime) lets tests move time forward."""
    settings = settings or SandboxSettings.from_env()
    app = web.Application(
        client_max_size=settings.max_body_bytes, middlewares=[json_errors, faults_and_stats]
    )
    app[DATA_DIR_KEY] = data_dir
    app[CONTEXT] = Context(data_dir=data_dir, settings=settings, clock=clock)
    app[_PREFIXES] = frozenset(s.prefix.split("/")[1] for s in SERVICES)
    app.router.add_get("/health", health, allow_head=False)
    app.router.add_get("/_admin/faults", admin.get_faults, allow_head=False)
    app.router.add_put("/_admin/faults", admin.put_faults)
    app.router.add_get("/_admin/stats", admin.get_stats, allow_head=False)
    for service in SERVICES:
        for route in service.routes:
            app.router.add_route(route.method, service.prefix + route.path, route.handler)
    app.cleanup_ctx.append(_lifecycle)
    return app


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    ctx = app[CONTEXT]
    await ctx.db.open()
    try:
        for service in SERVICES:
            await service.start(ctx)
        cutoff = iso(ctx.now() - timedelta(days=IDEMPOTENCY_RETENTION_DAYS))
        await ctx.db.run(lambda conn: conn.execute(
            "DELETE FROM idempotency WHERE created_at < ?", (cutoff,)))
        logger.info("sandbox backends ready (database %s)", ctx.db.path)
        yield
    finally:
        await ctx.db.close()
