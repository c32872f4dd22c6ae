"""Typed records shared by the knowledge engine: items, issues, hits and search results.

Plain dataclasses only; nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any, Literal

Kind = Literal["faq", "passage"]
Outcome = Literal["answer", "clarify", "none"]
Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Source:
    """Where an answer comes from (来源)."""

    issuer: str = ""
    title: str = ""
    number: str = ""
    url: str = ""


@dataclass(frozen=True)
class Link:
    title: str
    url: str


@dataclass
class Item:
    """One answerable unit: an FAQ entry or one passage of a policy document."""

    id: str
    kind: Kind
    area: str
    question: str
    answer: str
    similar: tuple[str, ...] = ()
    spoken: str | None = None
    source: Source = field(default_factory=Source)
    links: tuple[Link, ...] = ()
    effective: date | None = None
    reviewed: date | None = None
    expires: date | None = None
    district: str | None = None
    street: str | None = None
    uncertain: bool = False
    title: str = ""  # policy document title (passages) or "" (FAQ)
    doc_id: str = ""  # policy document id (passages) or "" (FAQ)
    file: str = ""  # path relative to the KB folder
    line: int = 0  # 1-based line where the entry / passage starts

    def is_expired(self, today: date) -> bool:
        return self.expires is not None and self.expires < today

    def content_hash(self) -> str:
        """Hash of everything that is served or indexed (not the file position)."""
        data = self.to_json()
        data.pop("file", None)
        data.pop("line", None)
        raw = json.dumps(data, ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]

    def to_json(self) -> dict[str, Any]:
        data = dict(self.__dict__)  # shallow and fast (asdict deep-copies: 10x slower)
        for key in ("effective", "reviewed", "expires"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        data["similar"] = list(self.similar)
        data["source"] = {"issuer": self.source.issuer, "title": self.source.title,
                          "number": self.source.number, "url": self.source.url}
        data["links"] = [{"title": link.title, "url": link.url} for link in self.links]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Item:
        values = dict(data)
        for key in ("effective", "reviewed", "expires"):
            raw = values.get(key)
            values[key] = date.fromisoformat(raw) if raw else None
        values["similar"] = tuple(values.get("similar") or ())
        values["links"] = tuple(Link(**link) for link in values.get("links") or ())
        values["source"] = Source(**(values.get("source") or {}))
        return cls(**values)


@dataclass(frozen=True)
class Issue:
    """A lint finding. ``line`` is 1-based; 0 means the whole file."""

    severity: Severity
    file: str
    line: int
    message: str
    code: str = ""
    blocking: bool = True  # errors that make the data unusable block publishing

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}: {self.message}"


@dataclass
class Hit:
    """One retrieved item, best evidence over all its indexed rows."""

    id: str
    score: float
    area: str
    kind: Kind
    question: str
    answer: str
    spoken: str | None
    source: Source
    links: tuple[Link, ...]
    effective: date | None
    expires: date | None
    reviewed: date | None
    district: str | None
    uncertain: bool
    title: str
    matched: str  # the indexed text (question, similar question, answer, passage) that matched best
    scores: dict[str, float] = field(default_factory=dict)  # per-channel evidence
    file: str = ""
    line: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "score": round(self.score, 6),
            "area": self.area,
            "kind": self.kind,
            "question": self.question,
            "answer": self.answer,
            "spoken": self.spoken,
            "title": self.title,
            "source": asdict(self.source),
            "links": [asdict(link) for link in self.links],
            "effective": self.effective.isoformat() if self.effective else None,
            "expires": self.expires.isoformat() if self.expires else None,
            "reviewed": self.reviewed.isoformat() if self.reviewed else None,
            "district": self.district,
            "uncertain": self.uncertain,
            "matched": self.matched,
            "scores": {k: round(v, 6) for k, v in self.scores.items()},
            "file": self.file,
            "line": self.line,
        }


@dataclass
class SearchResult:
    """``outcome`` is ``answer`` (use ``hits[0]``), ``clarify`` (offer ``suggestions``) or
    ``none`` (do not answer; ``hits`` may still hold weak candidates for logging)."""

    query: str
    outcome: Outcome
    hits: list[Hit]
    elsewhere: str | None = None  # the other city or province asked about: no answer

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None

    @property
    def suggestions(self) -> list[str]:
        """Standard questions to offer when ``outcome == "clarify"`` (at most 3)."""
        if self.outcome != "clarify":
            return []
        return [hit.question for hit in self.hits[:3]]

    def to_json(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "outcome": self.outcome,
            "elsewhere": self.elsewhere,
            "results": [hit.to_json() for hit in self.hits],
        }
