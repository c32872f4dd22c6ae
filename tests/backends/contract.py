"""The OpenAPI contracts of backends/openapi/, read for tests: the routes they declare, and a
validator for the subset of OpenAPI 3.0 schema the contracts use, so every answer a test gets
from the sandbox can be checked against its documented status codes and schema."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[2]
OPENAPI_DIR = ROOT / "backends" / "openapi"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


@dataclass(frozen=True)
class Operation:
    file: str
    method: str  # upper case
    path: str  # full path: the server URL's path + the paths key
    spec: dict[str, Any]
    document: dict[str, Any]
    pattern: re.Pattern[str]


@cache
def specs() -> dict[str, dict[str, Any]]:
    return {
        path.name: yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted(OPENAPI_DIR.glob("*.yaml"))
    }


def _template_regex(path: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", path)
    body = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{body}$")


@cache
def operations() -> tuple[Operation, ...]:
    found = []
    for name, document in specs().items():
        base = urlsplit(document["servers"][0]["url"]).path.rstrip("/")
        for path, item in document["paths"].items():
            for method, spec in item.items():
                if method in METHODS:
                    full = base + path
                    found.append(Operation(name, method.upper(), full, spec, document,
                                           _template_regex(full)))
    return tuple(found)


def operation_for(method: str, path: str) -> Operation | None:
    for operation in operations():
        if operation.method == method.upper() and operation.pattern.match(path):
            return operation
    return None


def resolve(document: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise AssertionError(f"only local $refs are used, not {ref}")
        target: Any = document
        for part in ref[2:].split("/"):
            target = target[part]
        node = target
    return node


def iter_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from iter_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from iter_refs(value)


def validate(document: dict[str, Any], schema: Any, value: Any, where: str = "$") -> list[str]:
    """Errors of ``value`` against ``schema`` (type, nullable, enum, required, properties,
    additionalProperties, items, allOf, pattern, bounds, lengths, date/date-time formats)."""
    schema = resolve(document, schema)
    errors: list[str] = []
    if value is None:
        if schema.get("nullable") or (not schema.get("type") and "allOf" not in schema):
            return []
        return [f"{where}: null is not allowed"]
    for part in schema.get("allOf", []):
        errors += validate(document, part, value, where)
    kind = schema.get("type")
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
    }
    if kind and not checks[kind](value):
        return [*errors, f"{where}: expected {kind}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if kind == "string":
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
        if len(value) > schema.get("maxLength", len(value)):
            errors.append(f"{where}: longer than {schema['maxLength']}")
        fmt = schema.get("format")
        try:
            if fmt == "date":
                date.fromisoformat(value)
            elif fmt == "date-time" and datetime.fromisoformat(value).tzinfo is None:
                errors.append(f"{where}: date-time without a zone")
        except ValueError:
            errors.append(f"{where}: {value!r} is not a {fmt}")
    if kind in ("integer", "number"):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: above {schema['maximum']}")
    if kind == "object":
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{where}: missing {name}")
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                errors += validate(document, properties[name], item, f"{where}.{name}")
            elif extra is False and not schema.get("allOf"):
                errors.append(f"{where}: unexpected property {name}")
            elif isinstance(extra, dict):
                errors += validate(document, extra, item, f"{where}.{name}")
    if kind == "array":
        for index, item in enumerate(value):
            errors += validate(document, schema.get("items", {}), item, f"{where}[{index}]")
    return errors


def check_response(method: str, path: str, status: int, body: Any) -> None:
    """Fails unless the status is documented for the operation and the body matches its
    schema. Paths that no contract declares are not checked (e.g. deliberate 404s)."""
    operation = operation_for(method, path)
    if operation is None:
        return
    responses = operation.spec["responses"]
    documented = responses.get(str(status)) or responses.get("default")
    assert documented is not None, (
        f"{method} {path} answered {status}, which {operation.file} does not document"
    )
    documented = resolve(operation.document, documented)
    schema = documented.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return
    errors = validate(operation.document, schema, body)
    assert not errors, f"{method} {path} {status} breaks {operation.file}: {errors[:5]}"
