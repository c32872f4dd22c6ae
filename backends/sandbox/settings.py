"""Settings of the sandbox, read from the environment when the application is built."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from backends.sandbox.faults import Fault, FaultConfigError, parse_faults

REPO_ROOT = Path(__file__).resolve().parents[2]


class SettingsError(ValueError):
    """A setting has a value the sandbox cannot use; the message names the variable."""


@dataclass(frozen=True)
class SandboxSettings:
    """What the sandbox reads from the environment (names in brackets).

    - ``admin_token`` (SANDBOX_ADMIN_TOKEN): bearer token of ``/_admin/*``; unset → disabled (404)
    - ``faults`` (SANDBOX_FAULTS): JSON ``{"tickets": {"latency_ms": 200, "error_rate": 0.5,
      "status": 503}, ...}`` applied from the start (see ``backends.sandbox.faults``)
    - ``fault_seed`` (SANDBOX_FAULT_SEED): seed of the fault RNG, so runs are reproducible
    - ``shared_data_dir`` (SHARED_DATA_DIR): holds ``tourism/attractions.jsonl``;
      default ``<repo root>/../shared/data``
    - ``time_factor`` (SANDBOX_TIME_FACTOR): how much faster than real time tickets progress
      (demos use e.g. 60: an hour per minute)
    - ``capacity_scale`` (SANDBOX_CAPACITY_SCALE): multiplies every capacity (load tests, demos)
    """

    admin_token: str | None = None
    faults: Mapping[str, Fault] = field(default_factory=dict)
    fault_seed: int = 5080
    shared_data_dir: Path = REPO_ROOT.parent / "shared" / "data"
    time_factor: float = 1.0
    capacity_scale: float = 1.0
    max_body_bytes: int = 64 * 1024

    @property
    def attractions_file(self) -> Path:
        return self.shared_data_dir / "tourism" / "attractions.jsonl"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SandboxSettings:
        env = os.environ if env is None else env
        token = env.get("SANDBOX_ADMIN_TOKEN", "").strip() or None
        if token is not None and len(token) < 16:
            raise SettingsError("SANDBOX_ADMIN_TOKEN must be at least 16 characters long")
        faults: Mapping[str, Fault] = {}
        raw_faults = env.get("SANDBOX_FAULTS", "").strip()
        if raw_faults:
            try:
                faults = parse_faults(json.loads(raw_faults))
            except (ValueError, FaultConfigError) as error:
                raise SettingsError(f"SANDBOX_FAULTS is not valid: {error}") from error
        shared = env.get("SHARED_DATA_DIR", "").strip()
        return cls(
            admin_token=token,
            faults=faults,
            fault_seed=_number(env, "SANDBOX_FAULT_SEED", 5080, int, 0, 2**63),
            shared_data_dir=Path(shared) if shared else cls.shared_data_dir,
            time_factor=_number(env, "SANDBOX_TIME_FACTOR", 1.0, float, 0.001, 1_000_000),
            capacity_scale=_number(env, "SANDBOX_CAPACITY_SCALE", 1.0, float, 0.0001, 10_000),
        )


def _number(env: Mapping[str, str], name: str, default: float, kind: type, low: float,
            high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError as error:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from error
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}")
    return value
