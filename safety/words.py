"""The sensitive-word list (``knowledge/safety/sensitive_words.txt``) and its Aho-Corasick matcher.

Pure apart from :func:`load` (which reads the file): the channels' gate refuses resident
messages that contain a listed word, and the knowledge linter reports knowledge files that do
(file:line). The file format is described in its header.

Matching is on a *squeezed* text: NFKC (full-width → half-width), lower case, and every space,
punctuation mark, symbol or control character removed, so "傻 逼" and "傻*逼" match 傻逼. An
index map keeps hits at their places in the original text, for masking and line numbers.
pyahocorasick builds one automaton for the whole list: one pass over the text, whatever the
size of the list.
"""

from __future__ import annotations

import os
import re
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_FILE = ROOT / "knowledge" / "safety" / "sensitive_words.txt"
_CATEGORY = re.compile(r"^\[([A-Za-z0-9_\-]{1,40})\]$")
MASK = "*"


class WordListError(ValueError):
    """A line of the word list that cannot be read, with its file and line."""

    def __init__(self, source: str, line: int, message: str) -> None:
        super().__init__(f"{source}:{line}: {message}")
        self.source = source
        self.line = line


def _keep(char: str) -> bool:
    return unicodedata.category(char)[0] not in "PSZC"


def squeeze(text: str) -> tuple[str, list[int]]:
    """The text matched on, and for each of its characters the index in ``text``."""
    chars: list[str] = []
    where: list[int] = []
    for index, char in enumerate(text):
        for part in unicodedata.normalize("NFKC", char).lower():
            if _keep(part):
                chars.append(part)
                where.append(index)
    return "".join(chars), where


@dataclass(frozen=True)
class Entry:
    word: str
    category: str
    line: int


@dataclass(frozen=True)
class WordHit:
    """A listed word found in a text: ``start``/``end`` index the original text."""

    word: str
    category: str
    start: int
    end: int


def parse(lines: Iterable[str], source: str = "<words>") -> list[Entry]:
    """Entries of a word-list file; raises :class:`WordListError` for a bad line, a word
    before any category, or a word listed twice (after squeezing)."""
    category: str | None = None
    entries: list[Entry] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        match = _CATEGORY.match(line)
        if match:
            category = match.group(1).lower()
            continue
        if line.startswith("["):
            raise WordListError(source, number, f"bad category line {line!r}")
        if category is None:
            raise WordListError(source, number, "a word before the first [category] line")
        key, _ = squeeze(line)
        if not key:
            raise WordListError(source, number, f"{line!r} has no letters or digits")
        if key in seen:
            raise WordListError(source, number, f"{line!r} repeats line {seen[key]}")
        seen[key] = number
        entries.append(Entry(line, category, number))
    return entries


class WordList:
    """An Aho-Corasick automaton over the entries."""

    def __init__(self, entries: list[Entry]) -> None:
        import ahocorasick

        self.entries = entries
        self._automaton = ahocorasick.Automaton()
        for entry in entries:
            key, _ = squeeze(entry.word)
            self._automaton.add_word(key, (len(key), entry.word, entry.category))
        self._empty = not entries
        if not self._empty:
            self._automaton.make_automaton()

    @classmethod
    def from_file(cls, path: Path | str) -> WordList:
        path = Path(path)
        with path.open(encoding="utf-8") as handle:
            return cls(parse(handle, str(path)))

    def __len__(self) -> int:
        return len(self.entries)

    def find(self, text: str) -> list[WordHit]:
        """Every listed word in ``text`` (overlapping ones too), in order."""
        if self._empty or not text:
            return []
        squeezed, where = squeeze(text)
        hits = []
        for end, (length, word, category) in self._automaton.iter(squeezed):
            start = end - length + 1
            hits.append(WordHit(word, category, where[start], where[end] + 1))
        return sorted(hits, key=lambda hit: (hit.start, hit.end))


def mask(text: str, hits: Iterable[WordHit], *, keep: int = 80) -> str:
    """``text`` for a log line: every hit replaced by ``*``, digit runs of 5 or more (phones,
    ID and card numbers) by ``#``, cut to ``keep`` characters."""
    chars = list(text)
    for hit in hits:
        for index in range(hit.start, min(hit.end, len(chars))):
            chars[index] = MASK
    masked = re.sub(r"\d{5,}", lambda m: "#" * len(m.group(0)), "".join(chars))
    return masked if len(masked) <= keep else masked[:keep] + "…"


_default: WordList | None = None
_lock = threading.Lock()


def load(path: Path | str | None = None) -> WordList:
    """The process's list: ``SENSITIVE_WORDS_FILE`` or the file under knowledge/, read once."""
    global _default
    if path is not None:
        return WordList.from_file(path)
    with _lock:
        if _default is None:
            _default = WordList.from_file(os.environ.get("SENSITIVE_WORDS_FILE") or DEFAULT_FILE)
    return _default
