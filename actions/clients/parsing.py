"""Reading backend JSON into dataclasses: a missing field or a wrong type is an
:class:`~actions.clients.errors.InvalidResponse`, never a ``KeyError`` in an action."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from actions.clients.errors import InvalidResponse

T = TypeVar("T")


class Reader:
    """Typed access to one JSON object of a backend answer."""

    def __init__(self, data: Any, service: str, what: str) -> None:
        if not isinstance(data, dict):
            raise InvalidResponse(f"{service}: {what} is not an object", service=service)
        self.data = data
        self.service = service
        self.what = what

    def _fail(self, key: str, expected: str) -> InvalidResponse:
        return InvalidResponse(f"{self.service}: {self.what}.{key} is not {expected}",
                               service=self.service)

    def _get(self, key: str, kinds: tuple[type, ...], expected: str, optional: bool) -> Any:
        value = self.data.get(key)
        if value is None:
            if optional:
                return None
            raise self._fail(key, expected)
        if isinstance(value, bool) and bool not in kinds:
            raise self._fail(key, expected)
        if not isinstance(value, kinds):
            raise self._fail(key, expected)
        return value

    def text(self, key: str) -> str:
        return self._get(key, (str,), "a string", False)

    def opt_text(self, key: str) -> str | None:
        return self._get(key, (str,), "a string", True)

    def integer(self, key: str) -> int:
        return self._get(key, (int,), "an integer", False)

    def opt_integer(self, key: str) -> int | None:
        return self._get(key, (int,), "an integer", True)

    def number(self, key: str) -> float:
        return float(self._get(key, (int, float), "a number", False))

    def opt_number(self, key: str) -> float | None:
        value = self._get(key, (int, float), "a number", True)
        return None if value is None else float(value)

    def flag(self, key: str) -> bool:
        return self._get(key, (bool,), "a boolean", False)

    def day(self, key: str) -> date:
        try:
            return date.fromisoformat(self.text(key))
        except ValueError as error:
            raise self._fail(key, "a date") from error

    def moment(self, key: str) -> datetime:
        try:
            return datetime.fromisoformat(self.text(key))
        except ValueError as error:
            raise self._fail(key, "a date-time") from error

    def opt_moment(self, key: str) -> datetime | None:
        return None if self.data.get(key) is None else self.moment(key)

    def texts(self, key: str) -> tuple[str, ...]:
        values = self._get(key, (list,), "a list", False)
        if not all(isinstance(v, str) for v in values):
            raise self._fail(key, "a list of strings")
        return tuple(values)

    def objects(self, key: str, build: Callable[[Reader], T]) -> tuple[T, ...]:
        values = self._get(key, (list,), "a list", False)
        return tuple(build(self.child(value, f"{key}[]")) for value in values)

    def object(self, key: str, build: Callable[[Reader], T]) -> T:
        return build(self.child(self.data.get(key), key))

    def child(self, data: Any, what: str) -> Reader:
        return Reader(data, self.service, f"{self.what}.{what}")


def read(data: Any, service: str, what: str, build: Callable[[Reader], T]) -> T:
    return build(Reader(data, service, what))


def read_list(data: Any, service: str, key: str, build: Callable[[Reader], T]) -> list[T]:
    """The objects of the list ``key`` of an answer such as ``{"hospitals": [...]}``."""
    return list(Reader(data, service, "answer").objects(key, build))
