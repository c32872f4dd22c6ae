"""Format the resident-facing source line of an answer from a template.

The wording belongs to the Rasa domain (the lead keeps the template there); this module only fills
it. Fields: ``{title}``, ``{issuer}``, ``{number}``, ``{effective}`` (``2023年1月1日``), ``{url}``.
A part in square brackets is optional: it is dropped when any field inside it is empty, e.g.
``依据：[《{title}》]（{issuer}发布[，{number}][，{effective}起施行]）``.
"""

from __future__ import annotations

import re
import string
from datetime import date

from .model import Hit, Source

DEFAULT_SOURCE_TEMPLATE = "依据：[《{title}》]（{issuer}发布[，{number}][，{effective}起施行]）"
_OPTIONAL_RE = re.compile(r"\[([^\[\]]*)\]")


def format_date_zh(value: date | None) -> str:
    return f"{value.year}年{value.month}月{value.day}日" if value else ""


def _fields(part: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(part) if name]


def format_source_line(template: str, source: Source, effective: date | None = None) -> str:
    """Fill ``template`` with the source parts; optional ``[...]`` parts with an empty field vanish.

    Returns ``""`` when the source has no issuer and no title (nothing to cite).
    """
    values = {
        "title": source.title.strip(),
        "issuer": source.issuer.strip(),
        "number": source.number.strip(),
        "url": source.url.strip(),
        "effective": format_date_zh(effective),
    }
    if not values["title"] and not values["issuer"]:
        return ""

    def optional(match: re.Match[str]) -> str:
        part = match.group(1)
        if all(values.get(name) for name in _fields(part)):
            return part.format(**values).replace("{", "{{").replace("}", "}}")
        return ""

    resolved = _OPTIONAL_RE.sub(optional, template)
    return string.Formatter().vformat(resolved, (), _Default(values)).strip()


def hit_source_line(hit: Hit, template: str = DEFAULT_SOURCE_TEMPLATE) -> str:
    return format_source_line(template, hit.source, hit.effective)


class _Default(dict):
    """Unknown fields format as empty text instead of raising."""

    def __missing__(self, key: str) -> str:
        return ""
