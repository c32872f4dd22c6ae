"""The HTTP core shared by every backend client: one ``aiohttp.ClientSession`` per process,
deadlines, retries, the circuit breaker, error mapping and privacy-safe logging.

A call is **idempotent** when it is a GET or carries an ``Idempotency-Key`` (or the contract
defines it so, like cancelling). Only idempotent calls are retried: on a timeout, a connection
error, 429 or 500/502/503/504, with exponential back-off and jitter, at most ``max_attempts``
times and never past the call's deadline. Any other call is sent exactly once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp

from actions.clients.errors import (
    BackendError,
    BackendRejected,
    BackendTimeout,
    BackendUnavailable,
    CircuitOpen,
    InvalidResponse,
    NotFound,
    rejected_for,
)
from actions.clients.privacy import safe_params, scrub
from actions.clients.resilience import (
    RETRY_STATUSES,
    CircuitBreaker,
    backoff_delay,
    parse_retry_after,
)
from actions.clients.settings import ClientSettings

logger = logging.getLogger("actions.clients")
USER_AGENT = "minsheng-assistant/0.1 (+actions.clients)"
_SAFE_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
Params = Mapping[str, str | int | float | bool]


class SessionHolder:
    """Creates the shared ``ClientSession`` lazily, on first use inside the running loop, and
    closes it on shut-down. A session belongs to one event loop: if it is asked for from
    another loop (tests run one loop per test) a new session is made for that loop."""

    def __init__(self, settings: ClientSettings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.created = 0  # how many sessions this holder made (one per process in production)

    def get(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(
                    total=self._settings.request_timeout,
                    connect=self._settings.connect_timeout,
                ),
                connector=aiohttp.TCPConnector(limit=100, ttl_dns_cache=300),
                headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                json_serialize=lambda data: json.dumps(data, ensure_ascii=False),
                raise_for_status=False,
            )
            self._loop = loop
            self.created += 1
        return self._session

    @property
    def session(self) -> aiohttp.ClientSession | None:
        """The current session, if one was created (for tests and diagnostics)."""
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:  # pragma: no cover - close() is always awaited
                running = None
            if running is self._loop:
                await session.close()
        self._loop = None


class ServiceClient:
    """Base of the typed clients; subclasses set ``service`` and call :meth:`_call`."""

    service: ClassVar[str] = ""

    def __init__(
        self,
        settings: ClientSettings,
        sessions: SessionHolder,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.base_url = settings.url(self.service)
        self._sessions = sessions
        self._rng = rng or random.Random()
        self.breaker = CircuitBreaker(settings.breaker_threshold, settings.breaker_cooldown)

    # ------------------------------------------------------------------ helpers for subclasses

    def _segment(self, value: str, field: str, pattern: re.Pattern[str] | None = None) -> str:
        """A path segment from caller input. Values that cannot be an id are refused here, as
        the backend would refuse them, without a request (and without path tricks)."""
        text = re.sub(r"[\s\-]", "", value).upper() if pattern is not None else value.strip()
        if pattern is not None:
            if not pattern.fullmatch(text):
                raise BackendRejected(
                    f"{self.service}: {field} has the wrong format", service=self.service,
                    status=422, code="validation_failed", field_errors={field: "invalid_format"},
                )
            return text
        if not _SAFE_SEGMENT.fullmatch(text) or text in (".", ".."):
            raise NotFound(f"{self.service}: no such {field}", service=self.service, status=404,
                           code="not_found")
        return quote(text, safe="")

    # ------------------------------------------------------------------ the call

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Params | None = None,
        json_body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        idempotent: bool | None = None,
        route: str | None = None,
    ) -> Any:
        """Sends one logical call and returns the decoded JSON of a 2xx answer.

        ``route`` is the path template used in log lines (ids are fine, personal data is not).
        Raises only :class:`~actions.clients.errors.BackendError` subclasses.
        """
        if idempotent is None:
            idempotent = method == "GET" or idempotency_key is not None
        attempts = self.settings.max_attempts if idempotent else 1
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.settings.deadline
        request_id = uuid.uuid4().hex[:16]
        headers = {"X-Request-Id": request_id}
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        query = {k: _query_value(v) for k, v in (params or {}).items()}
        shown = f"{self.service} {method} {route or path}{safe_params(params)}"
        last: BackendError | None = None
        for attempt in range(1, attempts + 1):
            remaining = deadline - loop.time()
            if remaining <= 0.01:
                break
            if not self.breaker.allow():
                if last is not None:
                    break
                raise CircuitOpen(f"{self.service}: circuit open, not calling",
                                  service=self.service)
            outcome: BackendError | None = None
            try:
                status, body, retry_after = await self._attempt(
                    method, path, query, json_body, headers, remaining
                )
            except BackendError as error:
                outcome = error
            except asyncio.CancelledError:
                self.breaker.release()
                raise
            if outcome is None:
                if status < 400:
                    self.breaker.record_success()
                    logger.info("%s -> %d in %.0f ms (attempt %d, req %s)", shown, status,
                                (loop.time() - started) * 1000, attempt, request_id)
                    return self._decode(body)
                if status not in RETRY_STATUSES and status < 500:
                    self.breaker.record_success()
                    error = self._rejected(status, body)
                    logger.info("%s -> %d %s (req %s)", shown, status, error.code, request_id)
                    raise error
                outcome = self._unavailable(status, body, retry_after)
            self.breaker.record_failure()
            last = outcome
            retryable = not (
                isinstance(outcome, BackendUnavailable)
                and outcome.status is not None
                and outcome.status not in RETRY_STATUSES
            )
            if attempt == attempts or not retryable:
                break
            delay = backoff_delay(attempt, self.settings.backoff_base, self.settings.backoff_max,
                                  self._rng)
            if isinstance(outcome, BackendUnavailable) and outcome.retry_after is not None:
                delay = max(delay, outcome.retry_after)
            if loop.time() + delay >= deadline - 0.05:
                break
            logger.warning("%s failed (%s), retry %d in %.0f ms (req %s)", shown,
                           type(outcome).__name__, attempt, delay * 1000, request_id)
            await asyncio.sleep(delay)
        if last is None:
            last = BackendTimeout(f"{self.service}: deadline of {self.settings.deadline} s passed",
                                  service=self.service)
        logger.warning("%s gave up after %.0f ms: %s (req %s)", shown,
                       (loop.time() - started) * 1000, scrub(str(last)), request_id)
        raise last

    async def _attempt(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        json_body: Mapping[str, Any] | None,
        headers: Mapping[str, str],
        remaining: float,
    ) -> tuple[int, bytes, float | None]:
        timeout = aiohttp.ClientTimeout(
            total=min(self.settings.request_timeout, remaining),
            connect=min(self.settings.connect_timeout, remaining),
        )
        session = self._sessions.get()
        url = self.base_url + path
        try:
            async with session.request(
                method, url, params=query or None, json=json_body, headers=headers,
                timeout=timeout, allow_redirects=False,
            ) as response:
                body = await response.content.read(self.settings.max_response_bytes + 1)
                if len(body) > self.settings.max_response_bytes:
                    raise InvalidResponse(f"{self.service}: answer too large",
                                          service=self.service, status=response.status)
                return (response.status, body,
                        parse_retry_after(response.headers.get("Retry-After")))
        except TimeoutError as error:
            raise BackendTimeout(f"{self.service}: no answer within "
                                 f"{timeout.total:.2f} s", service=self.service) from error
        except aiohttp.ClientError as error:
            raise BackendUnavailable(f"{self.service}: {type(error).__name__}",
                                     service=self.service) from error

    # ------------------------------------------------------------------ answers

    def _decode(self, body: bytes) -> Any:
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise InvalidResponse(f"{self.service}: the answer is not JSON",
                                  service=self.service) from error

    def _error_body(self, body: bytes) -> tuple[str | None, str | None, dict[str, str]]:
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None, None, {}
        if not isinstance(data, dict):
            return None, None, {}
        code = data.get("error") if isinstance(data.get("error"), str) else None
        detail = data.get("detail") if isinstance(data.get("detail"), str) else None
        fields: dict[str, str] = {}
        raw_fields = data.get("fields")
        if isinstance(raw_fields, dict):
            for name, info in raw_fields.items():
                if isinstance(info, dict) and isinstance(info.get("code"), str):
                    fields[str(name)] = info["code"]
                elif isinstance(info, str):
                    fields[str(name)] = info
        return code, detail, fields

    def _rejected(self, status: int, body: bytes) -> BackendRejected:
        code, detail, fields = self._error_body(body)
        cls = rejected_for(status, code)
        summary = f"{self.service}: {status} {code or 'rejected'}"
        if fields:
            summary += " (" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + ")"
        return cls(scrub(summary), service=self.service, status=status, code=code,
                   detail=scrub(detail) if detail else None, field_errors=fields)

    def _unavailable(self, status: int, body: bytes, retry_after: float | None
                     ) -> BackendUnavailable:
        code, detail, _ = self._error_body(body)
        return BackendUnavailable(
            f"{self.service}: {status} {code or 'unavailable'}", service=self.service,
            status=status, code=code, detail=scrub(detail) if detail else None,
            retry_after=retry_after,
        )


def _query_value(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
