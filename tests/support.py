"""Small helpers shared by tests: reading the domain's responses."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


@cache
def domain() -> dict[str, Any]:
    """The merged domain of bot/domain/*.yml (intents, actions, responses …)."""
    merged: dict[str, Any] = {"intents": [], "actions": [], "responses": {}, "forms": {}}
    for path in sorted((ROOT / "bot" / "domain").glob("*.yml")):
        part = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for key in ("intents", "actions"):
            merged[key].extend(part.get(key) or [])
        for key in ("responses", "forms"):
            merged[key].update(part.get(key) or {})
    return merged


def as_sent(variant: dict[str, Any]) -> dict[str, Any]:
    """A response variant's buttons as Rasa sends them: a payload's ``{{ }}`` (written so that
    Rasa does not take its entities for a slot, bot/domain/basics.yml) becomes ``{ }``."""
    if not variant.get("buttons"):
        return dict(variant)
    buttons = [{**b, "payload": b["payload"].replace("{{", "{").replace("}}", "}")}
               for b in variant["buttons"]]
    return {**variant, "buttons": buttons}


def response_texts(name: str) -> list[str]:
    """Every text variant of a domain response."""
    return [variant["text"] for variant in domain()["responses"][name] if "text" in variant]


def default_text(name: str) -> str:
    """The text of a response's first variant without a channel or condition."""
    for variant in domain()["responses"][name]:
        if "channel" not in variant and "condition" not in variant:
            return variant["text"]
    raise KeyError(name)
