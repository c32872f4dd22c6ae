"""Hypothesis settings shared by the fuzz tests (tests/fuzz, tests/channels/fuzz and the live
endpoint fuzz in tests/cluster), in both environments.

By default the runs are small and deterministic (``derandomize``, no example database), so
``scripts/test`` stays fast and never flaky. ``FUZZ_EXAMPLES=5000 scripts/test -k fuzz`` (or
any count) explores more, with fresh random examples each run, and keeps the failures it finds
in ``var/hypothesis/`` to replay them first next time. Every failure ever found is also pinned
as an ``@example`` or a plain test next to the property that found it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

ROOT = Path(__file__).resolve().parent.parent
# a "hang": an example slower than this (the parsers answer in microseconds; the margin is
# for a CPU shared with other work, so a busy machine does not make the tests flaky)
DEADLINE_MS = int(os.environ.get("FUZZ_DEADLINE_MS", "5000"))


def examples(default: int) -> int:
    """``FUZZ_EXAMPLES`` if set, else ``default``."""
    raw = os.environ.get("FUZZ_EXAMPLES", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else default


def fuzz_settings(default_examples: int = 60, **overrides: Any) -> settings:
    """Settings for one property: modest and deterministic unless FUZZ_EXAMPLES is set."""
    exploring = bool(os.environ.get("FUZZ_EXAMPLES", "").strip())
    options: dict[str, Any] = {
        "max_examples": examples(default_examples),
        "deadline": DEADLINE_MS,
        "derandomize": not exploring,
        "database": (DirectoryBasedExampleDatabase(str(ROOT / "var" / "hypothesis"))
                     if exploring else None),
        "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
        "print_blob": True,
    }
    options.update(overrides)
    return settings(**options)
