"""Hybrid retrieval over a loaded index: BM25 on jieba words + BM25 on character bigrams + dense
cosine (faiss), fused per item, with a three-way outcome (answer / clarify / none).

Rows (standard question, each similar question, answer chunks, passage text) are scored; an
item's evidence in each channel is its best row, so each entry is returned once. Lexical scores
are normalised by the query's self score (0..1, "how much of the query is matched"); the dense
cosine is mapped to ``(cos - floor) / (1 - floor)``. The fused score is a weighted sum; the
weights, the fusion method and the outcome thresholds live in the index manifest and are set by
``scripts/kb calibrate`` (measured on the eval set; see ``bench/kb_quality.py``).

Expired items are filtered at query time, so an entry that expires today stops being answered
without a rebuild.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from .bm25 import SparseBM25
from .dense import build_flat, load_faiss
from .dense import search as dense_search
from .embedder import Embedder
from .index import DEFAULT_FUSION, DEFAULT_THRESHOLDS, IndexData
from .model import Hit, Item, Outcome, SearchResult
from .tokenizer import TextAnalyzer

CANDIDATES = 300
CHANNELS = ("words", "chars", "dense")


@dataclass
class Evidence:
    """Row-level scores of the candidate items of one query (see :meth:`Retriever.evidence`)."""

    items: np.ndarray  # candidate item numbers
    seg: np.ndarray  # start of each item's rows in the arrays below
    lengths: np.ndarray
    rows: np.ndarray  # row numbers
    words: np.ndarray  # normalised BM25 (words) per row
    chars: np.ndarray  # normalised BM25 (char bigrams) per row
    cos: np.ndarray | None  # dense cosine per row
    body: np.ndarray  # row is an answer/passage body


@dataclass
class Ranked:
    """One candidate item with its evidence (internal; turned into :class:`Hit`)."""

    item: int
    score: float  # ranking score (weighted sum, or RRF)
    confidence: float  # weighted fused score, compared with the thresholds
    channels: dict[str, float]
    matched_row: int


def decide(confidences: Sequence[float], thresholds: dict[str, Any],
           query_chars: int = 99) -> tuple[Outcome, int]:
    """Outcome for candidates sorted best first, and how many of them to offer.

    - ``none`` when the best confidence is below ``thresholds["none"]``;
    - ``clarify`` when the best is below ``thresholds["sure"]`` and either another candidate is
      within ``thresholds["margin"]`` of it, or the query is very short (at most
      ``thresholds["short"]`` meaningful characters, e.g. "医保") and a second candidate also
      passes the ``none`` threshold;
    - ``answer`` otherwise.
    """
    if not confidences or confidences[0] < thresholds["none"]:
        return "none", 0
    best = confidences[0]
    if best >= thresholds["sure"]:
        return "answer", 1
    close = sum(1 for c in confidences[:3] if c >= best - thresholds["margin"])
    if close >= 2:
        return "clarify", close
    if query_chars <= thresholds.get("short", 0):
        relevant = sum(1 for c in confidences[:3] if c >= thresholds["none"])
        if relevant >= 2:
            return "clarify", relevant
    return "answer", 1


def query_chars(analyzer: TextAnalyzer, query: str) -> int:
    """Meaningful characters of a query (stop words and punctuation removed)."""
    return sum(len(w) for w in analyzer.words(query))


class Retriever:
    """Search one loaded index build. Thread-safe for concurrent searches once constructed."""

    def __init__(self, data: IndexData, embedder: Embedder, analyzer: TextAnalyzer) -> None:
        self.data = data
        self.embedder = embedder
        self.analyzer = analyzer
        manifest = data.manifest
        if manifest["model"]["name"] != embedder.name:
            raise ValueError(f"index was built with {manifest['model']['name']}, "
                             f"not {embedder.name}; rebuild it")
        self.fusion: dict[str, Any] = {**DEFAULT_FUSION, **manifest.get("fusion", {})}
        self.thresholds: dict[str, Any] = {**DEFAULT_THRESHOLDS,
                                           **manifest.get("thresholds", {})}
        self.items: list[Item] = data.items
        self._by_id: dict[str, int] | None = None
        n_items = len(self.items)
        self.row_item = data.row_item
        self.item_start = np.searchsorted(self.row_item, np.arange(n_items + 1)).astype(np.int64)
        self.body_row = np.fromiter((r.field in ("answer", "passage") for r in data.rows),
                                    dtype=bool, count=len(data.rows))
        self.words_bm25 = SparseBM25(data.words)
        self.chars_bm25 = SparseBM25([analyzer.char_ngrams(r.text, normalized=True)
                                      for r in data.rows])
        self.vectors = data.vectors
        if manifest.get("dense_index") == "hnsw" and (data.path / "dense.faiss").is_file():
            self.dense = load_faiss(data.path / "dense.faiss")
        else:
            self.dense = build_flat(np.asarray(data.vectors, dtype=np.float32))
        far = date.max.toordinal()
        self.expires = np.array([i.expires.toordinal() if i.expires else far for i in self.items],
                                dtype=np.int64)
        self.area = np.array([i.area for i in self.items], dtype=object)
        self.district = np.array([i.district or "" for i in self.items], dtype=object)
        self.has_rows = self.item_start[1:] > self.item_start[:-1]

    # ------------------------------------------------------------------ evidence

    def _valid(self, today: date, area: str | None, district: str | None) -> np.ndarray:
        mask = (self.expires >= today.toordinal()) & self.has_rows
        if area:
            mask &= self.area == area
        if district:
            mask &= (self.district == "") | (self.district == district)
        return mask

    def evidence(self, query: str, area: str | None = None, district: str | None = None,
                 today: date | None = None, channels: tuple[str, ...] = CHANNELS
                 ) -> Evidence | None:
        """Row-level channel scores of the candidate items (independent of fusion weights)."""
        today = today or date.today()
        text = self.analyzer.normalize(query)
        if not text.strip() or not self.items:
            return None
        words = self.analyzer.words(text, normalized=True) if "words" in channels else []
        chars = self.analyzer.char_ngrams(text, normalized=True) if "chars" in channels else []
        candidates = [self.words_bm25.candidates(words, CANDIDATES),
                      self.chars_bm25.candidates(chars, CANDIDATES)]
        qvec = None
        if "dense" in channels:
            qvec = self.embedder.encode([text])[0]
            dense_rows, _ = dense_search(self.dense, qvec, CANDIDATES)
            candidates.append(dense_rows)
        cand_items = np.unique(self.row_item[np.concatenate(candidates).astype(np.int64)])
        cand_items = cand_items[self._valid(today, area, district)[cand_items]]
        if not len(cand_items):
            return None
        starts = self.item_start[cand_items]
        lengths = self.item_start[cand_items + 1] - starts
        seg = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        rows = np.repeat(starts - seg, lengths) + np.arange(lengths.sum())
        cos = (np.asarray(self.vectors[rows], dtype=np.float32) @ qvec if qvec is not None
               else None)
        return Evidence(cand_items, seg, lengths, rows, self.words_bm25.row_scores(words, rows),
                        self.chars_bm25.row_scores(chars, rows), cos, self.body_row[rows])

    def fuse(self, ev: Evidence, fusion: dict[str, Any] | None = None,
             limit: int = 10) -> list[Ranked]:
        """Rank candidate items from their evidence under fusion parameters."""
        params = {**self.fusion, **(fusion or {})}
        weight = np.where(ev.body, params["answer_row_weight"], 1.0)
        ch_words = ev.words * weight
        ch_chars = ev.chars * weight
        if ev.cos is not None:
            floor = params["dense_floor"]
            ch_dense = np.clip((ev.cos - floor) / (1 - floor), 0.0, 1.0) * weight
        else:
            ch_dense = np.zeros(len(ev.rows), dtype=np.float32)
        row_fused = (params["w_words"] * ch_words + params["w_chars"] * ch_chars
                     + params["w_dense"] * ch_dense)
        item_words = np.maximum.reduceat(ch_words, ev.seg)
        item_chars = np.maximum.reduceat(ch_chars, ev.seg)
        item_dense = np.maximum.reduceat(ch_dense, ev.seg)
        confidence = (params["w_words"] * item_words + params["w_chars"] * item_chars
                      + params["w_dense"] * item_dense)
        if params["method"] == "rrf":
            k = params["rrf_k"]
            score = np.zeros(len(ev.items), dtype=np.float64)
            for values in (item_words, item_chars, item_dense):
                order = np.argsort(-values, kind="stable")
                ranks = np.empty(len(values), dtype=np.float64)
                ranks[order] = np.arange(1, len(values) + 1)
                score += np.where(values > 0, 1.0 / (k + ranks), 0.0)
        else:
            score = confidence.astype(np.float64)
        order = np.lexsort((ev.items, -confidence, -score))
        order = order[confidence[order] > 0][:limit]
        out: list[Ranked] = []
        for pos in order:
            lo = ev.seg[pos]
            hi = lo + ev.lengths[pos]
            best_row = int(ev.rows[lo + int(np.argmax(row_fused[lo:hi]))])
            out.append(Ranked(
                item=int(ev.items[pos]), score=float(score[pos]),
                confidence=float(confidence[pos]),
                channels={"words": float(item_words[pos]), "chars": float(item_chars[pos]),
                          "dense": float(item_dense[pos])},
                matched_row=best_row))
        return out

    def rank(self, query: str, area: str | None = None, district: str | None = None,
             today: date | None = None, fusion: dict[str, Any] | None = None,
             limit: int = 10) -> list[Ranked]:
        """Candidates best first (at most ``limit``), with per-channel evidence."""
        params = {**self.fusion, **(fusion or {})}
        rrf = params["method"] == "rrf"
        channels = tuple(c for c in CHANNELS if rrf or params[f"w_{c}"] > 0)
        ev = self.evidence(query, area, district, today, channels)
        return self.fuse(ev, params, limit) if ev is not None else []

    # ------------------------------------------------------------------ public search

    def hit(self, ranked: Ranked) -> Hit:
        item = self.items[ranked.item]
        return Hit(
            id=item.id, score=ranked.confidence, area=item.area, kind=item.kind,
            question=item.question, answer=item.answer, spoken=item.spoken, source=item.source,
            links=item.links, effective=item.effective, expires=item.expires,
            reviewed=item.reviewed, district=item.district, uncertain=item.uncertain,
            title=item.title, matched=self.data.rows[ranked.matched_row].text,
            scores={**ranked.channels, "rank_score": ranked.score}, file=item.file,
            line=item.line)

    def get(self, item_id: str, today: date | None = None) -> Hit | None:
        """The item with this id as a hit (a resident picked it), or None if it is unknown or
        has expired: an expired item is never answered, however it is reached."""
        if self._by_id is None:
            self._by_id = {item.id: number for number, item in enumerate(self.items)}
        number = self._by_id.get(item_id)
        if number is None:
            return None
        item = self.items[number]
        if item.expires is not None and item.expires < (today or date.today()):
            return None
        first_row = int(self.item_start[number])
        return self.hit(Ranked(item=number, score=1.0, confidence=1.0, channels={},
                               matched_row=first_row))

    def search(self, query: str, area: str | None = None, district: str | None = None,
               top_k: int = 3, today: date | None = None,
               thresholds: dict[str, Any] | None = None,
               fusion: dict[str, Any] | None = None) -> SearchResult:
        limits = {**self.thresholds, **(thresholds or {})}
        ranked = self.rank(query, area, district, today, fusion, limit=max(top_k, 3))
        outcome, _ = decide([r.confidence for r in ranked], limits,
                            query_chars(self.analyzer, query))
        return SearchResult(query=query, outcome=outcome,
                            hits=[self.hit(r) for r in ranked[:top_k]])
