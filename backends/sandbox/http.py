"""HTTP plumbing shared by the sandbox services: JSON errors, request bodies, field validation and
idempotent creates.

Every error answer has the same shape::

    {"error": "validation_failed", "detail": "...", "fields": {"phone": {"code": "invalid_phone",
     "message": "..."}}}

``error`` and field ``code`` values are stable identifiers that clients map to their own wording.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

from aiohttp import web

from backends.sandbox.validation import (
    clean_text,
    iso,
    normalize_id_number,
    normalize_key,
    normalize_phone,
    parse_iso_date,
)

T = TypeVar("T")
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{7,127}")


class ApiError(Exception):
    """An error answer; raised anywhere in a handler (also inside database functions)."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        *,
        fields: Mapping[str, Mapping[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error}: {detail}")
        self.status = status
        self.error = error
        self.detail = detail
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.error, "detail": self.detail}
        if self.fields:
            body["fields"] = self.fields
        return body

    def response(self) -> web.Response:
        return json_response(self.body(), status=self.status, headers=self.headers)


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"no such {what}")


def conflict(error: str, detail: str) -> ApiError:
    return ApiError(409, error, detail)


def field_error(field: str, code: str, message: str) -> ApiError:
    return ApiError(
        422, "validation_failed", "the request has invalid fields",
        fields={field: {"code": code, "message": message}},
    )


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def json_response(
    data: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=_dumps)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 if it is not one, 413 if it is too large."""
    raw = await request.read()  # raises HTTPRequestEntityTooLarge past client_max_size
    if not raw.strip():
        raise ApiError(400, "invalid_json", "the body is empty; a JSON object is expected")
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ApiError(400, "invalid_json", "the body is not valid UTF-8 JSON") from error
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "the body must be a JSON object")
    return data


class Validator:
    """Reads fields from a JSON body or a query string, collecting every error at once.

    Each accessor returns the cleaned value, or None when the field is absent or invalid; call
    :meth:`check` after reading all fields to answer 422 with the errors.
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        *,
        allowed: Iterable[str] | None = None,
        query: bool = False,
    ) -> None:
        self.data = data
        self.query = query
        self.errors: dict[str, dict[str, str]] = {}
        if allowed is not None:
            known = set(allowed)
            for name in data:
                if name not in known:
                    self.fail(str(name)[:64], "unknown_field", "is not a field of this request")

    def fail(self, field: str, code: str, message: str) -> None:
        self.errors.setdefault(field, {"code": code, "message": message})

    def check(self) -> None:
        if self.errors:
            raise ApiError(
                422, "validation_failed", "the request has invalid fields", fields=self.errors
            )

    def _raw(self, field: str, required: bool) -> Any:
        value = self.data.get(field)
        if value is None or (self.query and value == ""):
            if required:
                self.fail(field, "required", "is required")
            return None
        return value

    def text(
        self,
        field: str,
        *,
        required: bool = False,
        min_len: int = 1,
        max_len: int = 200,
        multiline: bool = False,
    ) -> str | None:
        value = self._raw(field, required)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(field, "invalid_type", "must be a string")
            return None
        if len(value) > max_len * 4 + 64:
            self.fail(field, "too_long", f"must be at most {max_len} characters")
            return None
        text = clean_text(value, multiline=multiline)
        if not text:
            if required:
                self.fail(field, "required", "is required")
            return None
        if len(text) < min_len:
            self.fail(field, "too_short", f"must be at least {min_len} characters")
            return None
        if len(text) > max_len:
            self.fail(field, "too_long", f"must be at most {max_len} characters")
            return None
        return text

    def boolean(self, field: str, *, default: bool = False) -> bool:
        value = self._raw(field, False)
        if value is None:
            return default
        if self.query and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in ("true", "1", "yes"):
                return True
            if lowered in ("false", "0", "no"):
                return False
        elif isinstance(value, bool):
            return value
        self.fail(field, "invalid_type", "must be true or false")
        return default

    def integer(
        self, field: str, *, low: int, high: int, required: bool = False,
        default: int | None = None,
    ) -> int | None:
        value = self._raw(field, required)
        if value is None:
            return default
        if self.query and isinstance(value, str) and re.fullmatch(r"-?\d{1,9}", value.strip()):
            value = int(value.strip())
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(field, "invalid_type", "must be an integer")
            return None
        if not low <= value <= high:
            self.fail(field, "out_of_range", f"must be between {low} and {high}")
            return None
        return value

    def number(
        self, field: str, *, low: float, high: float, required: bool = False
    ) -> float | None:
        value = self._raw(field, required)
        if value is None:
            return None
        if self.query and isinstance(value, str):
            try:
                value = float(value.strip()) if len(value) <= 32 else None
            except ValueError:
                value = None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(field, "invalid_type", "must be a number")
            return None
        if not math.isfinite(value) or not low <= value <= high:
            self.fail(field, "out_of_range", f"must be between {low} and {high}")
            return None
        return float(value)

    def date(self, field: str, *, required: bool = False) -> date | None:
        value = self._raw(field, required)
        if value is None:
            return None
        parsed = parse_iso_date(value)
        if parsed is None:
            self.fail(field, "invalid_date", "must be a date as YYYY-MM-DD")
        return parsed

    def phone(self, field: str, *, required: bool = False) -> str | None:
        value = self._raw(field, required)
        if value is None:
            return None
        phone = normalize_phone(value)
        if phone is None:
            self.fail(field, "invalid_phone", "must be a mainland mobile or a Beijing landline")
        return phone

    def id_number(self, field: str, *, required: bool = False) -> str | None:
        value = self._raw(field, required)
        if value is None:
            return None
        number = normalize_id_number(value)
        if number is None:
            self.fail(field, "invalid_id_number", "must be a valid 18-character identity number")
        return number

    def choice(
        self, field: str, options: Mapping[str, T], *, required: bool = False
    ) -> T | None:
        """Looks the value up in ``options`` (keys already passed through ``normalize_key``)."""
        value = self._raw(field, required)
        if value is None:
            return None
        if not isinstance(value, str) or len(value) > 100:
            self.fail(field, "invalid_type", "must be a string")
            return None
        found = options.get(normalize_key(value))
        if found is None:
            self.fail(field, "invalid_choice", "is not one of the allowed values")
        return found


def path_param(request: web.Request, name: str, pattern: re.Pattern[str], what: str) -> str:
    """A path parameter normalised (NFKC, upper case, blanks removed) and checked against
    ``pattern``; 422 if it cannot be one (so a form can ask again), 404 is left to the caller."""
    raw = request.match_info[name]
    value = re.sub(r"[\s\-]", "", raw).upper()
    if not pattern.fullmatch(value):
        raise field_error(name, "invalid_format", f"is not a valid {what}")
    return value


def require_idempotency_key(request: web.Request) -> str:
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        raise ApiError(
            400, "idempotency_key_required",
            f"creates need an {IDEMPOTENCY_HEADER} header (8-128 characters [A-Za-z0-9._:-])",
        )
    key = raw.strip()
    if not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(
            400, "invalid_idempotency_key",
            f"{IDEMPOTENCY_HEADER} must be 8-128 characters of [A-Za-z0-9._:-]",
        )
    return key


def fingerprint(body: Mapping[str, Any]) -> str:
    """A hash of the request body that ignores key order and formatting."""
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Created:
    status: int
    payload: dict[str, Any]
    replayed: bool

    def response(self) -> web.Response:
        return json_response(
            self.payload, status=self.status,
            headers={REPLAYED_HEADER: "true" if self.replayed else "false"},
        )


def idempotent_create(
    conn: sqlite3.Connection,
    *,
    scope: str,
    key: str,
    body_fingerprint: str,
    now: datetime,
    create: Callable[[sqlite3.Connection], dict[str, Any]],
) -> Created:
    """Runs ``create`` once per (scope, key), inside the caller's transaction.

    Same key and same body → the stored answer of the first create (same status, same resource;
    keys are remembered for 7 days, see ``app.IDEMPOTENCY_RETENTION_DAYS``).
    Same key, different body → 409 ``idempotency_key_reused``. A create that fails (422, 409 …)
    stores nothing, so the client may correct the request and send it again with the same key.
    """
    row = conn.execute(
        "SELECT fingerprint, status, response FROM idempotency WHERE scope = ? AND key = ?",
        (scope, key),
    ).fetchone()
    if row is not None:
        if row["fingerprint"] != body_fingerprint:
            raise ApiError(
                409, "idempotency_key_reused",
                "this Idempotency-Key was already used with a different request body",
            )
        return Created(int(row["status"]), json.loads(row["response"]), replayed=True)
    payload = create(conn)
    conn.execute(
        "INSERT INTO idempotency(scope, key, fingerprint, status, response, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (scope, key, body_fingerprint, 201, _dumps(payload), iso(now)),
    )
    return Created(201, payload, replayed=False)
