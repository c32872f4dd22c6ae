"""Failure injection: per service latency and errors, so clients' resilience can be tested.

Configuration (env ``SANDBOX_FAULTS`` at start, ``PUT /_admin/faults`` at run time), a JSON object
keyed by service name (``tickets``, ``hospitals``, ``eldercare``, ``tourism``, ``applications``,
or ``*`` for every service without its own entry)::

    {"tickets": {"latency_ms": 300, "error_rate": 0.2, "status": 503}}

- ``latency_ms`` (0–60000): added before the request is handled
- ``error_rate`` (0–1): probability of answering ``status`` instead; drawn from a seeded RNG
- ``status`` (400–599, default 503): the injected status
- ``fail_next`` (0–1000): the next N requests fail for sure, then ``error_rate`` applies again
- ``after_handler`` (bool): handle the request (and commit it), *then* answer the error, like a
  reply lost on the way back; this is what idempotency keys are for
- ``retry_after_s`` (0–3600): sent as ``Retry-After`` with the injected error
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

SERVICES = ("tickets", "hospitals", "eldercare", "tourism", "applications")
WILDCARD = "*"


class FaultConfigError(ValueError):
    """The fault configuration is invalid; ``fields`` maps ``service.field`` to a code."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(", ".join(f"{name}: {code}" for name, code in fields.items()))
        self.fields = fields


@dataclass
class Fault:
    latency_ms: int = 0
    error_rate: float = 0.0
    status: int = 503
    fail_next: int = 0
    after_handler: bool = False
    retry_after_s: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_LIMITS: dict[str, tuple[type, float, float]] = {
    "latency_ms": (int, 0, 60_000),
    "error_rate": (float, 0.0, 1.0),
    "status": (int, 400, 599),
    "fail_next": (int, 0, 1000),
    "retry_after_s": (int, 0, 3600),
}


def parse_faults(raw: object) -> dict[str, Fault]:
    """Validates a configuration object; raises :class:`FaultConfigError` listing every error."""
    if not isinstance(raw, Mapping):
        raise FaultConfigError({"body": "not_an_object"})
    errors: dict[str, str] = {}
    faults: dict[str, Fault] = {}
    for service, spec in raw.items():
        if service not in (*SERVICES, WILDCARD):
            errors[str(service)] = "unknown_service"
            continue
        if not isinstance(spec, Mapping):
            errors[service] = "not_an_object"
            continue
        values: dict[str, Any] = {}
        for name, value in spec.items():
            where = f"{service}.{name}"
            if name == "after_handler":
                if not isinstance(value, bool):
                    errors[where] = "invalid_type"
                else:
                    values[name] = value
                continue
            if name not in _LIMITS:
                errors[where] = "unknown_field"
                continue
            kind, low, high = _LIMITS[name]
            if name == "retry_after_s" and value is None:
                values[name] = None
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or (kind is int and not float(value).is_integer())
            ):
                errors[where] = "invalid_type"
            elif not low <= value <= high:
                errors[where] = "out_of_range"
            else:
                values[name] = kind(value)
        faults[service] = Fault(**values)
    if errors:
        raise FaultConfigError(errors)
    return faults


class FaultInjector:
    """Holds the current faults and decides, deterministically for a given seed, which request
    fails. Runs on the event loop only (no locking needed)."""

    def __init__(self, faults: Mapping[str, Fault], seed: int) -> None:
        self._seed = seed
        self._faults: dict[str, Fault] = {}
        self._rngs: dict[str, random.Random] = {}
        self.replace(faults)

    def replace(self, faults: Mapping[str, Fault]) -> None:
        """Installs a new configuration and restarts the RNGs, so a run can be replayed."""
        self._faults = {name: Fault(**asdict(fault)) for name, fault in faults.items()}
        self._rngs = {name: random.Random(f"{self._seed}:{name}") for name in SERVICES}

    def current(self) -> dict[str, dict[str, Any]]:
        return {name: fault.to_json() for name, fault in sorted(self._faults.items())}

    def fault_for(self, service: str) -> Fault | None:
        return self._faults.get(service) or self._faults.get(WILDCARD)

    def should_fail(self, service: str, fault: Fault) -> bool:
        if fault.fail_next > 0:
            fault.fail_next -= 1
            return True
        if fault.error_rate <= 0.0:
            return False
        return self._rngs[service].random() < fault.error_rate
