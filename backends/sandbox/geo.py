"""Distances on the earth's surface, for "the nearest station"."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
EARTH_RADIUS_M = 6_371_008.8


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres between two WGS-84 points."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lng2 - lng1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def nearest(
    items: Iterable[T],
    lat: float,
    lng: float,
    position: Callable[[T], tuple[float, float]],
    limit: int,
) -> list[tuple[T, float]]:
    """The ``limit`` items closest to (lat, lng) with their distance in metres, closest first;
    ties keep the input order."""
    scored = [(item, haversine_m(lat, lng, *position(item))) for item in items]
    scored.sort(key=lambda pair: pair[1])
    return scored[:limit]
