"""Pure building blocks of resilient calls: a circuit breaker, back-off with jitter and
``Retry-After`` parsing. No I/O; time comes from an injectable clock."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class CircuitBreaker:
    """Opens after ``threshold`` consecutive failures; while open, :meth:`allow` says no.
    After ``cooldown`` seconds it is half-open: one trial call is allowed (others still fail
    fast); its success closes the circuit, its failure opens it for another cooldown.

    A failure is an attempt that got no usable answer (timeout, connection error, 429, 5xx);
    any answer the backend gave on purpose, including a 4xx, counts as a success. One instance
    per backend per process; it runs on the event loop only, so needs no lock.
    """

    def __init__(
        self, threshold: int, cooldown: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    @property
    def state(self) -> str:
        if self._state == OPEN and self._clock() - self._opened_at >= self.cooldown:
            return HALF_OPEN
        return self._state

    def allow(self) -> bool:
        """May a call go out now? In half-open state this claims the single trial call."""
        state = self.state
        if state == OPEN:
            return False
        if state == HALF_OPEN:
            if self._probe_in_flight:
                return False
            self._state = HALF_OPEN
            self._probe_in_flight = True
        return True

    def record_success(self) -> None:
        self._state = CLOSED
        self._failures = 0
        self._probe_in_flight = False

    def record_failure(self) -> None:
        if self._state == HALF_OPEN:
            self._open()
            return
        self._failures += 1
        if self._failures >= self.threshold:
            self._open()

    def release(self) -> None:
        """The trial call ended without an outcome (it was cancelled): allow another."""
        self._probe_in_flight = False

    def _open(self) -> None:
        self._state = OPEN
        self._opened_at = self._clock()
        self._failures = 0
        self._probe_in_flight = False


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before retry number ``attempt`` (1, 2, …): exponential, capped, with
    "equal jitter" (half fixed, half random) so that clients failing together do not retry
    together, yet every retry waits a little."""
    ceiling = min(cap, base * (2 ** (attempt - 1)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date), or None if absent/invalid."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, moment.timestamp() - current)
