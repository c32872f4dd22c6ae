"""Rendering Rasa's messages for WeChat, as pure functions.

- Buttons become numbered options ("1. 政务服务") that the resident answers by number; their
  payloads are returned so the channel can remember them (a URL button stays a link).
- Links: WeChat text messages show ``<a href="...">title</a>`` as a link, so Markdown links become
  that; bare URLs are left as they are (WeChat makes them clickable); Markdown emphasis and
  headings are removed, since WeChat shows them literally.
- Size: a text message holds at most ``max_bytes`` bytes of UTF-8 (2048 for passive replies and
  客服消息). Longer answers are split at paragraph, line, then sentence boundaries, never inside a
  link. At most ``max_chunks`` messages are sent; beyond that the body is shortened with "…" and
  the **last line** (the answer's source line) and the options are always kept.

No Chinese copy lives here: the options hint comes from the domain (``utter_wechat_options_hint``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

ELLIPSIS = "…"
_MD_LINK = re.compile(r"\[([^\[\]\n]{1,200})\]\((https?://[^\s()<>]{1,2000})\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)
_ANCHOR = re.compile(r"<a\s[^<>]*>.*?</a>", re.DOTALL)
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")


@dataclass(frozen=True)
class Rendered:
    """A reply ready for WeChat: the text messages in order, and the payloads of the numbered
    options (index 0 is option 1)."""

    chunks: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)


def pick_response_text(
    responses: Mapping[str, Sequence[Mapping[str, Any]]], name: str, channel: str
) -> str | None:
    """The text of a domain response for ``channel``: its ``channel:`` variant if any, else its
    first variant without channel or condition; None when there is no such response."""
    variants = responses.get(name) or []
    for variant in variants:
        if variant.get("channel") == channel and variant.get("text"):
            return str(variant["text"])
    for variant in variants:
        if not variant.get("channel") and not variant.get("condition") and variant.get("text"):
            return str(variant["text"])
    return None


def escape_attribute(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def link(title: str, url: str) -> str:
    """A link as WeChat text messages show it."""
    return f'<a href="{escape_attribute(url)}">{title}</a>'


def wechat_markup(text: str) -> str:
    """Markdown links to WeChat links; emphasis and heading marks removed."""
    text = _MD_LINK.sub(lambda m: link(m.group(1), m.group(2)), text)
    text = _MD_EMPHASIS.sub(lambda m: m.group(2), text)
    return _MD_HEADING.sub("", text)


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def render_messages(
    messages: Iterable[Mapping[str, Any]],
    *,
    options_hint: str = "",
    max_bytes: int = 2048,
    max_chunks: int = 5,
) -> Rendered:
    """Renders the messages Rasa produced for one resident message."""
    parts: list[str] = []
    option_lines: list[str] = []
    payloads: list[str] = []
    for message in messages:
        text = message.get("text")
        if isinstance(text, str) and text.strip():
            parts.append(wechat_markup(text.strip()))
        for button in message.get("buttons") or message.get("quick_replies") or []:
            if not isinstance(button, Mapping):
                continue
            title = str(button.get("title") or "").strip()
            url = button.get("url")
            payload = button.get("payload")
            if isinstance(url, str) and url.startswith(("http://", "https://")) and title:
                parts.append(link(title, url))
            elif isinstance(payload, str) and payload and title:
                payloads.append(payload)
                option_lines.append(f"{len(payloads)}. {title}")
        image = message.get("image")
        if isinstance(image, str) and image.startswith(("http://", "https://")):
            parts.append(image)
        attachment = message.get("attachment")
        if isinstance(attachment, str) and attachment.strip():
            parts.append(attachment.strip())
        # ``custom`` payloads are instructions for other channels (voice gateways); skipped.
    body = "\n\n".join(parts)
    options = ""
    if option_lines:
        options = "\n".join(option_lines + ([options_hint.strip()] if options_hint.strip() else []))
    chunks = _fit(body, options, max_bytes, max_chunks)
    return Rendered(chunks, payloads)


def _fit(body: str, options: str, max_bytes: int, max_chunks: int) -> list[str]:
    whole = "\n\n".join(p for p in (body, options) if p)
    if not whole:
        return []
    chunks = split_text(whole, max_bytes)
    if len(chunks) <= max_chunks:
        return chunks
    # Too long even split: shorten the body, keep its last line (the source) and the options.
    lines = body.rsplit("\n", 1)
    head, tail = (lines[0], lines[1]) if len(lines) == 2 else (body, "")
    budget = max_chunks * max_bytes - utf8_len(tail) - utf8_len(options)
    while True:
        budget = max(int(budget * 0.9), 0)
        shortened = _truncate_bytes(head, budget).rstrip() + ELLIPSIS
        kept = shortened + ("\n" + tail if tail else "")
        chunks = split_text("\n\n".join(p for p in (kept, options) if p), max_bytes)
        if len(chunks) <= max_chunks or budget == 0:
            return chunks[-max_chunks:] if budget == 0 else chunks


def _truncate_bytes(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def split_text(text: str, max_bytes: int) -> list[str]:
    """Splits ``text`` into pieces of at most ``max_bytes`` UTF-8 bytes, preferring paragraph,
    then line, then sentence boundaries; a link is never cut."""
    text = text.strip()
    if not text:
        return []
    if utf8_len(text) <= max_bytes:
        return [text]
    chunks: list[str] = []
    current = ""
    for unit in _units(text, max_bytes):
        candidate = unit if not current else current + unit
        if utf8_len(candidate.strip()) <= max_bytes:
            current = candidate
            continue
        if current.strip():
            chunks.append(current.strip())
        current = unit.lstrip("\n")
    if current.strip():
        chunks.append(current.strip())
    return chunks


def _units(text: str, max_bytes: int) -> list[str]:
    """Pieces no longer than ``max_bytes``, each with its leading separator, in order."""
    units: list[str] = []
    for p_index, paragraph in enumerate(text.split("\n\n")):
        for l_index, line in enumerate(paragraph.split("\n")):
            sep = "\n\n" if p_index and not l_index else ("\n" if l_index else "")
            if utf8_len(line) <= max_bytes:
                units.append(sep + line)
                continue
            first = True
            for piece in _sentences(line, max_bytes):
                units.append((sep if first else "") + piece)
                first = False
    return units


def _sentences(line: str, max_bytes: int) -> list[str]:
    """A long line cut after sentence punctuation, links kept whole, hard cuts as a last
    resort."""
    protected: list[str] = []

    def keep(match: re.Match[str]) -> str:
        protected.append(match.group(0))
        return f"\x00{len(protected) - 1}\x00"

    masked = _ANCHOR.sub(keep, line)
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(masked):
        if not sentence:
            continue
        restored = re.sub(r"\x00(\d+)\x00", lambda m: protected[int(m.group(1))], sentence)
        while utf8_len(restored) > max_bytes:
            cut = _truncate_bytes(restored, max_bytes)
            pieces.append(cut)
            restored = restored[len(cut):]
        if restored:
            pieces.append(restored)
    return pieces
