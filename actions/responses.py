"""Reading response templates from the domain that Rasa sends with every action call."""

from __future__ import annotations

from typing import Any


def response_template(domain: dict[str, Any], name: str, channel: str | None = None) -> str:
    """The text of response ``name`` for ``channel``: its ``channel:`` variant if there is one,
    else its first variant without a channel or condition."""
    variants = (domain.get("responses") or {}).get(name) or []
    if channel:
        for variant in variants:
            if variant.get("channel") == channel and "text" in variant:
                return str(variant["text"])
    for variant in variants:
        if not variant.get("channel") and not variant.get("condition") and "text" in variant:
            return str(variant["text"])
    raise KeyError(f"response {name!r} has no text variant in the domain")
