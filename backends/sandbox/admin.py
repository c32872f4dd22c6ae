"""``/_admin/*``: read and change fault injection, read request statistics.

Protected by the bearer token in SANDBOX_ADMIN_TOKEN. Without a token configured every admin
route answers 404, exactly like a path that does not exist.
"""

from __future__ import annotations

import hmac

from aiohttp import web

from backends.sandbox.context import context
from backends.sandbox.faults import FaultConfigError, parse_faults
from backends.sandbox.http import ApiError, json_response, read_json_object


def _authorize(request: web.Request) -> None:
    token = context(request).settings.admin_token
    if token is None:
        raise ApiError(404, "not_found", "no such resource")
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode("utf-8", "replace"), token.encode("utf-8")
    ):
        raise ApiError(401, "unauthorized", "a valid bearer token is required",
                       headers={"WWW-Authenticate": 'Bearer realm="sandbox-admin"'})


async def get_faults(request: web.Request) -> web.Response:
    _authorize(request)
    return json_response({"faults": context(request).faults.current()})


async def put_faults(request: web.Request) -> web.Response:
    """Replaces the whole fault configuration (``{}`` clears it) and restarts the fault RNG."""
    _authorize(request)
    body = await read_json_object(request)
    try:
        faults = parse_faults(body)
    except FaultConfigError as error:
        raise ApiError(
            422, "validation_failed", "the fault configuration has invalid fields",
            fields={name: {"code": code, "message": code.replace("_", " ")}
                    for name, code in error.fields.items()},
        ) from error
    ctx = context(request)
    ctx.faults.replace(faults)
    return json_response({"faults": ctx.faults.current()})


async def get_stats(request: web.Request) -> web.Response:
    _authorize(request)
    return json_response(context(request).stats.to_json())
