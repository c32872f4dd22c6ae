"""Checks and cleaning applied to every resident message, whatever channel it came from.

Pure functions: no Rasa, no I/O, so every channel (REST, WeChat, voice) shares them and they are
tested without a server.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Rasa reads a message that starts with "/" as an intent payload (the buttons send these).
# Only this strict shape is passed on; anything else loses its leading slashes and is read as text.
_PAYLOAD = re.compile(r"^/[a-z_]{1,64}(\{[^{}]{0,300}\})?$")
# Control characters except tab and newline, and the Unicode "format" characters that can hide text.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

_FULL_WIDTH = {
    **{code: code - 0xFEE0 for code in range(0xFF10, 0xFF1A)},  # ０-９
    **{code: code - 0xFEE0 for code in range(0xFF21, 0xFF3B)},  # Ａ-Ｚ
    **{code: code - 0xFEE0 for code in range(0xFF41, 0xFF5B)},  # ａ-ｚ
    0x3000: 0x20,  # ideographic space
}

MESSAGE_TOO_LONG_INTENT = "/message_too_long"


@dataclass(frozen=True)
class CleanText:
    """A resident message after cleaning: the text to give Rasa, and what was done to it."""

    text: str
    too_long: bool = False


def clean_message(raw: str, max_chars: int) -> CleanText:
    """Normalises a resident's message and enforces the size limit.

    - turns full-width letters, digits and spaces into ASCII ones (residents mix both; phone
      and ticket numbers must read alike), keeping Chinese punctuation as it is,
    - removes control and invisible format characters, trims white space,
    - keeps a button payload (``/intent{...}``) only in its strict form,
    - replaces a message over ``max_chars`` by the ``message_too_long`` intent, so the
      resident gets a polite reply from the domain and the text itself is not stored.
    """
    text = raw.translate(_FULL_WIDTH)
    text = _CONTROL.sub("", text)
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf" or ch == "\u200d")
    text = text.strip()
    if len(text) > max_chars:
        return CleanText(MESSAGE_TOO_LONG_INTENT, too_long=True)
    if text.startswith("/") and not _PAYLOAD.match(text):
        text = text.lstrip("/").strip()
    return CleanText(text)
