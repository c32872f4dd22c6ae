"""Running the real sandbox application for tests: an in-process aiohttp test server on a free
port, with a clock the test controls, and answers checked against the OpenAPI contracts."""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from backends.sandbox.app import create_app
from backends.sandbox.context import CONTEXT, DB_FILE, Context
from backends.sandbox.settings import SandboxSettings
from backends.sandbox.validation import BEIJING
from tests.backends.contract import check_response

# A Tuesday morning: hospital morning slots are still open, the next Monday is in every window.
FIXED_NOW = datetime(2025, 6, 3, 9, 0, tzinfo=BEIJING)
ADMIN_TOKEN = "test-admin-token-0123456789"
VALID_ID_NUMBER = "11010519491231002X"  # the check-digit example of GB 11643


class FakeClock:
    """The sandbox's clock in tests: fixed until the test moves it."""

    def __init__(self, now: datetime = FIXED_NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str]


def new_key() -> str:
    return f"test-{uuid.uuid4().hex}"


class Api:
    """Requests to the running sandbox; every answer is checked against the contracts."""

    def __init__(self, client: TestClient, app: web.Application, clock: FakeClock) -> None:
        self.client = client
        self.app = app
        self.clock = clock

    @property
    def ctx(self) -> Context:
        return self.app[CONTEXT]

    @property
    def base_url(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | None = None,
    ) -> Reply:
        kwargs: dict[str, Any] = {"params": params, "headers": dict(headers or {})}
        if json_body is not None:
            kwargs["json"] = json_body
        elif data is not None:
            kwargs["data"] = data
        async with self.client.request(method, path, **kwargs) as response:
            raw = await response.read()
            if raw:
                assert response.content_type == "application/json", (
                    f"{method} {path}: {response.content_type} answer"
                )
            body = json.loads(raw) if raw else None
            check_response(method, response.url.path, response.status, body)
            return Reply(response.status, body, response.headers)

    async def get(self, path: str, **params: str) -> Reply:
        return await self.request("GET", path, params=params or None)

    async def post(self, path: str, body: Any, *, key: str | None = None,
                   headers: Mapping[str, str] | None = None) -> Reply:
        all_headers = dict(headers or {})
        if key is not None:
            all_headers["Idempotency-Key"] = key
        return await self.request("POST", path, json_body=body, headers=all_headers)

    async def create(self, path: str, body: Any) -> Reply:
        """A POST with a fresh idempotency key."""
        return await self.post(path, body, key=new_key())

    async def admin(self, method: str, path: str, body: Any = None) -> Reply:
        return await self.request(method, path, json_body=body,
                                  headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})

    async def set_faults(self, faults: Mapping[str, Any]) -> None:
        reply = await self.admin("PUT", "/_admin/faults", faults)
        assert reply.status == 200, reply.body

    def requests_to(self, route: str) -> int:
        """How many requests the sandbox received for ``"METHOD /path/template"``."""
        return self.ctx.stats.routes[route]


_template: Path | None = None


async def _seeded_template() -> Path:
    """A database seeded once per test process at FIXED_NOW, copied into each test's data
    directory so that tests do not all pay for seeding (the seeding itself is tested fresh)."""
    global _template
    if _template is None:
        folder = Path(tempfile.mkdtemp(prefix="sandbox-template-"))
        atexit.register(shutil.rmtree, folder, True)
        runner = web.AppRunner(create_app(folder, settings=SandboxSettings(), clock=FakeClock()))
        await runner.setup()
        await runner.cleanup()  # closes the database, folding the WAL into the file
        _template = folder / DB_FILE
    return _template


def _copy_if_new(template: Path, data_dir: Path) -> None:
    if not (data_dir / DB_FILE).exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, data_dir / DB_FILE)


@asynccontextmanager
async def running_sandbox(
    data_dir: Path, *, clock: FakeClock | None = None, fresh: bool = False, **settings: Any
) -> AsyncIterator[Api]:
    """The real sandbox application served on 127.0.0.1:<free port> until the block ends.

    Starts from a copy of a database seeded at FIXED_NOW unless ``fresh``, the directory
    already has a database, the clock starts elsewhere or the data set is not the default."""
    clock = clock or FakeClock()
    settings.setdefault("admin_token", ADMIN_TOKEN)
    if not fresh and clock.now == FIXED_NOW and "shared_data_dir" not in settings:
        _copy_if_new(await _seeded_template(), data_dir)
    app = create_app(data_dir, settings=SandboxSettings(**settings), clock=clock)
    async with TestClient(TestServer(app)) as client:
        yield Api(client, app, clock)
