"""The demo district's streets (sample data), shared by the tickets and eldercare services."""

from __future__ import annotations

from dataclasses import dataclass

from backends.sandbox.context import Context
from backends.sandbox.service import load_seed
from backends.sandbox.validation import normalize_key

_STATE_KEY = "district"


@dataclass(frozen=True)
class Street:
    name: str
    office: str
    lat: float
    lng: float
    communities: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "office": self.office,
            "lat": self.lat,
            "lng": self.lng,
            "communities": list(self.communities),
        }


@dataclass(frozen=True)
class District:
    name: str
    streets: tuple[Street, ...]
    lookup: dict[str, Street]

    def find(self, text: str) -> Street | None:
        """A street by its name or an alias (``明德``, ``明德街``, ``明德街道``), else None."""
        return self.lookup.get(normalize_key(text))


def load_district() -> District:
    data = load_seed("district.yaml")
    streets = []
    lookup: dict[str, Street] = {}
    for item in data["streets"]:
        street = Street(
            name=item["name"],
            office=item["office"],
            lat=float(item["lat"]),
            lng=float(item["lng"]),
            communities=tuple(item.get("communities") or ()),
        )
        streets.append(street)
        for name in (item["name"], *(item.get("aliases") or ())):
            lookup[normalize_key(name)] = street
    return District(name=data["district"], streets=tuple(streets), lookup=lookup)


def district(ctx: Context) -> District:
    """The district, loaded once per application."""
    if _STATE_KEY not in ctx.state:
        ctx.state[_STATE_KEY] = load_district()
    return ctx.state[_STATE_KEY]
