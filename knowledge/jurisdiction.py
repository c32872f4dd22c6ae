"""Questions about another place's rules ("上海的高龄津贴标准是多少").

The base holds Beijing's policies; a question that opens with another city or province asks
about that place, and answering it with the Beijing entry that shares its words would be making
up policy. :func:`opening_place` finds that place (a pure function); :class:`Places` loads the
names content staff keep in ``dict/places/*.txt`` (one per line, ``#`` comments, ``!`` for a
Beijing place that begins with such a name) lazily, and again after an edit.

Only the opening counts, after greetings and fillers ("喂 你好 请问"): a place later in the
question is where something happened ("在三亚旅游突然犯病了") or where someone comes from
("我是河北来北京打工的"), and the question is still about Beijing's services. A question that
names Beijing anywhere ("天津户口在北京能办养老卡吗") is never about elsewhere.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable
from pathlib import Path

FILLERS = re.compile(
    r"^(?:[\s\W_]|喂|哎|嗯|啊|你好|您好|请问|我想问一下|我想问问|我想问|想问一下|想问下|问一下|"
    r"我问一下|麻烦问一下|那个|那|就是|我想咨询一下|咨询一下)+")
HOME = re.compile(r"北京|来京|在京|进京|赴京|京籍|京津冀")
SUFFIXES = ("省", "市")
log = logging.getLogger(__name__)


def _clean(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


Segmenter = Callable[[str], list[str]]


def opening_place(question: str, places: Iterable[str], beijing: Iterable[str] = (),
                  segment: Segmenter | None = None) -> str | None:
    """The place outside Beijing the question opens with (short form, "上海"), or None.

    ``places`` are names outside Beijing; ``beijing`` are Beijing names that begin with one of
    them ("西安门"), which win when they match. With ``segment`` (a word splitter such as jieba)
    the name must also be the whole first word, so "昆明湖" (the Summer Palace's lake) or
    "苏州街" is not 昆明 or 苏州.
    """
    text = _clean(question)
    if not text or HOME.search(text):
        return None
    text = FILLERS.sub("", text)
    for name in beijing:
        if text.startswith(name):
            return None
    best = max((name for name in places if name and text.startswith(name)), key=len,
               default=None)
    if best is None:
        return None
    if segment is not None:
        words = [w for w in segment(text) if w.strip()]
        if not words or words[0] != best:
            return None
    for suffix in SUFFIXES:
        if best.endswith(suffix) and len(best) > 2:
            return best[: -len(suffix)]
    return best


def read_places(lines: Iterable[str]) -> tuple[frozenset[str], frozenset[str]]:
    """``(elsewhere, beijing)`` names from the lines of a places file."""
    elsewhere: set[str] = set()
    beijing: set[str] = set()
    for raw in lines:
        line = _clean(raw.split("#", 1)[0])
        if not line:
            continue
        if line.startswith("!"):
            if line[1:].strip():
                beijing.add(line[1:].strip())
        else:
            elsewhere.add(line)
    return frozenset(elsewhere), frozenset(beijing)


class Places:
    """The names of ``<dict_dir>/places/*.txt``, read on first use and again when a file
    changes (checked at most every ``recheck`` seconds), so an edit is live without a restart."""

    def __init__(self, dict_dir: Path | str | None, recheck: float = 1.0) -> None:
        self.folder = Path(dict_dir) / "places" if dict_dir is not None else None
        self.recheck = recheck
        self._lock = threading.Lock()
        self._names: tuple[frozenset[str], frozenset[str]] = (frozenset(), frozenset())
        self._signature: tuple[tuple[str, int, int], ...] | None = None
        self._checked = -float("inf")

    def _files(self) -> list[Path]:
        if self.folder is None or not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.txt"))

    def _load(self) -> tuple[frozenset[str], frozenset[str]]:
        now = time.monotonic()
        if self._signature is not None and now - self._checked < self.recheck:
            return self._names
        with self._lock:
            files = self._files()
            signature = []
            for path in files:
                try:
                    stat = path.stat()
                except OSError:
                    continue
                signature.append((path.name, stat.st_mtime_ns, stat.st_size))
            if tuple(signature) != self._signature:
                lines: list[str] = []
                for path in files:
                    try:
                        lines += path.read_text("utf-8").splitlines()
                    except (OSError, UnicodeDecodeError):
                        log.exception("cannot read %s; its places are ignored", path)
                self._names = read_places(lines)
                self._signature = tuple(signature)
            self._checked = now
        return self._names

    def elsewhere(self, question: str, segment: Segmenter | None = None) -> str | None:
        """The other place the question is about, or None (see :func:`opening_place`)."""
        elsewhere, beijing = self._load()
        return opening_place(question, elsewhere, beijing, segment) if elsewhere else None
