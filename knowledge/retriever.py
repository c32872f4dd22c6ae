"""Hybrid retrieval over a loaded index: BM25 on jieba words + BM25 on character bigrams + dense
cosine (faiss), fused per item, with a three-way outcome (answer / clarify / none).

Rows (standard question, each similar question, answer chunks, passage text) are scored; an
item's evidence in each channel is its best row, so each entry is returned once. Lexical scores
are normalised by the query's self score (0..1, "how much of the query is matched"); the dense
cosine is mapped to ``(cos - floor) / (1 - floor)``. The fused score is a weighted sum of the
channels' best rows, blended with the item's *support* (the mean of its two best rows' fused
scores: a right entry usually matches on more than one of its questions, or on its question and
its answer). The weights, the fusion method and the outcome thresholds live in the index
manifest and are set by ``scripts/kb calibrate`` (measured on the eval set; see
``bench/kb_quality.py``).

Expired items are filtered at query time, so an entry that expires today stops being answered
without a rebuild.

A retriever is assembled from the build's segments (one per knowledge file): the term numbers of
each segment's rows and its per-item arrays are computed once per process and kept on the
segment, so after a one-file edit only that file's segment is analysed again; BM25 statistics
are recomputed over all rows with vectorised numpy. faiss holds a float16 copy of the vectors for
the scan (flat), or the build's HNSW graph, which later builds keep while few rows changed: the
rows it lacks are searched in a small exact index beside it and those it holds for changed files
are filtered out (see :data:`knowledge.index.HNSW_DELTA_MAX`); a retriever replacing another
that uses the same graph shares it. Exact cosines of the candidate rows come from the segments'
float32 vectors (memory-mapped files).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from .bm25 import SparseBM25, Vocabulary
from .dense import build_flat, graph_filter, load_faiss
from .dense import search as dense_search
from .embedder import Embedder
from .index import DEFAULT_FUSION, DEFAULT_THRESHOLDS, IndexData
from .jurisdiction import Places
from .model import Hit, Item, Outcome, SearchResult
from .segments import BODY_FIELDS, Segment
from .tokenizer import TextAnalyzer

CANDIDATES = 100  # rows per channel (300 measured the same on knowledge/eval, 3x the work)
CHANNELS = ("words", "chars", "dense")


def _concat(parts: list[np.ndarray], dtype: Any) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


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
    - ``answer`` when the best is at or above ``thresholds["sure"]``;
    - ``clarify`` when another candidate is within ``thresholds["margin"]`` of the best, or the
      query is very short (at most ``thresholds["short"]`` meaningful characters, e.g. "医保")
      and a second candidate also passes ``none``, or the best is below
      ``thresholds["answer"]`` (the uncertain band between ``none`` and ``answer``: the
      resident is asked to pick rather than given a possibly wrong answer);
    - ``answer`` otherwise.
    """
    none = thresholds["none"]
    if not confidences or confidences[0] < none:
        return "none", 0
    best = confidences[0]
    if best >= thresholds["sure"]:
        return "answer", 1
    close = sum(1 for c in confidences[:3] if c >= best - thresholds["margin"])
    if close >= 2:
        return "clarify", close
    relevant = sum(1 for c in confidences[:3] if c >= none)
    if query_chars <= thresholds.get("short", 0) and relevant >= 2:
        return "clarify", relevant
    if best < thresholds.get("answer", none):
        return "clarify", relevant
    return "answer", 1


def query_chars(analyzer: TextAnalyzer, query: str) -> int:
    """Meaningful characters of a query (stop words and punctuation removed)."""
    return sum(len(w) for w in analyzer.words(query))


WORDS_VOCAB = Vocabulary()  # per process: the term numbers kept on segments refer to these
CHARS_VOCAB = Vocabulary()


def _derived(seg: Segment, name: str, make: Any) -> Any:
    value = seg.derived.get(name)
    if value is None:
        value = make()
        seg.derived[name] = value
    return value


def _segment_arrays(seg: Segment, analyzer: TextAnalyzer) -> dict[str, Any]:
    """What a retriever needs from one segment, computed once per process."""
    far = date.max.toordinal()

    def make() -> dict[str, Any]:
        return {
            "words": WORDS_VOCAB.encode(seg.words),
            "chars": CHARS_VOCAB.encode([analyzer.char_ngrams(t, normalized=True)
                                         for t in seg.texts]),
            "body": np.fromiter((f in BODY_FIELDS for f in seg.fields), dtype=bool,
                                count=len(seg.fields)),
            "expires": np.array([i.expires.toordinal() if i.expires else far
                                 for i in seg.items], dtype=np.int64),
            "area": np.array([i.area for i in seg.items], dtype=object),
            "district": np.array([i.district or "" for i in seg.items], dtype=object),
        }

    return _derived(seg, "retriever", make)


class Retriever:
    """Search one loaded index build. Thread-safe for concurrent searches once constructed."""

    def __init__(self, data: IndexData, embedder: Embedder, analyzer: TextAnalyzer,
                 previous: Retriever | None = None) -> None:
        """``previous``: the retriever this one replaces; an HNSW graph both use is shared."""
        self.data = data
        self.embedder = embedder
        self.analyzer = analyzer
        self.places = Places(analyzer.dict_dir)
        manifest = data.manifest
        if manifest["model"]["name"] != embedder.name:
            raise ValueError(f"index was built with {manifest['model']['name']}, "
                             f"not {embedder.name}; rebuild it")
        self.fusion: dict[str, Any] = {**DEFAULT_FUSION, **manifest.get("fusion", {})}
        self.thresholds: dict[str, Any] = {**DEFAULT_THRESHOLDS,
                                           **manifest.get("thresholds", {})}
        segments = data.segments
        parts = [_segment_arrays(seg, analyzer) for seg in segments]
        self.items: list[Item] = [item for seg in segments for item in seg.items]
        self.texts: list[str] = [text for seg in segments for text in seg.texts]
        self._by_id: dict[str, int] | None = None
        n_items = len(self.items)
        offsets = np.cumsum([0] + [len(seg.items) for seg in segments])
        self.row_item = (np.concatenate([seg.row_item.astype(np.int64) + offsets[n]
                                         for n, seg in enumerate(segments)])
                         if segments else np.zeros(0, dtype=np.int64))
        self.item_start = np.searchsorted(self.row_item, np.arange(n_items + 1)).astype(np.int64)
        self.body_row = _concat([p["body"] for p in parts], bool)
        self.words_bm25 = SparseBM25.from_parts([p["words"] for p in parts], WORDS_VOCAB)
        self.chars_bm25 = SparseBM25.from_parts([p["chars"] for p in parts], CHARS_VOCAB)
        dim = self.dim = int(manifest["model"]["dimension"])
        # exact cosines of candidate rows come from the segments' float32 vectors (memory-
        # mapped files: page cache, not heap); faiss keeps a float16 copy for the scan
        self._seg_vectors = [seg.vectors for seg in segments]
        self._seg_start = np.cumsum([0] + [seg.n_rows for seg in segments]).astype(np.int64)
        self._setup_dense(data, segments, dim, previous)
        self.expires = _concat([p["expires"] for p in parts], np.int64)
        self.area = _concat([p["area"] for p in parts], object)
        self.district = _concat([p["district"] for p in parts], object)
        self.has_rows = self.item_start[1:] > self.item_start[:-1]

    def _setup_dense(self, data: IndexData, segments: list[Segment], dim: int,
                     previous: Retriever | None) -> None:
        """Flat: one exact index over every row. HNSW: the graph of the build that made it
        (rows of segments since changed or deleted are filtered out of its answers) plus an
        exact flat index over the rows it lacks."""
        dense = data.manifest.get("dense") or {"kind": data.manifest.get("dense_index", "flat")}
        self.graph_rows: np.ndarray | None = None  # graph id -> row (-1: filtered out)
        self.graph_filter: Any = None
        self.delta_rows: np.ndarray | None = None  # delta index id -> row
        self.delta = None
        path = data.path / "dense.faiss"
        if dense.get("kind") != "hnsw" or not path.is_file() or "base" not in dense:
            if dense.get("kind") == "hnsw" and path.is_file():  # a graph over every row
                self.dense = load_faiss(path)
                self.graph_key = None
            else:
                self.dense = build_flat([seg.vectors for seg in segments], dim)
            return
        stat = path.stat()
        self.graph_key = (stat.st_dev, stat.st_ino)  # builds sharing a graph hard-link one file
        shared = previous is not None and getattr(previous, "graph_key", None) == self.graph_key
        self.dense = previous.dense if shared else load_faiss(path)  # type: ignore[union-attr]
        row_of = {seg.id: int(start) for seg, start in zip(segments, self._seg_start,
                                                            strict=False)}
        graph_rows = np.full(int(sum(dense["base_rows"])), -1, dtype=np.int64)
        offset = 0
        for seg_id, n in zip(dense["base"], dense["base_rows"], strict=True):
            if seg_id in row_of:
                graph_rows[offset:offset + n] = np.arange(row_of[seg_id], row_of[seg_id] + n)
            offset += n
        self.graph_rows = graph_rows
        if (graph_rows < 0).any():
            self.graph_filter = graph_filter(graph_rows >= 0)
        in_graph = set(dense["base"])
        delta = [(seg, start) for seg, start in zip(segments, self._seg_start, strict=False)
                 if seg.id not in in_graph]
        if delta:
            self.delta = build_flat([seg.vectors for seg, _ in delta], dim)
            self.delta_rows = np.concatenate([np.arange(start, start + seg.n_rows)
                                              for seg, start in delta]).astype(np.int64)

    def dense_candidates(self, qvec: np.ndarray, k: int) -> np.ndarray:
        """Rows of the ``k`` nearest vectors (graph and delta: up to ``2k`` rows)."""
        rows, _ = dense_search(self.dense, qvec, k, self.graph_filter)
        if self.graph_rows is not None:
            rows = self.graph_rows[rows]
            rows = rows[rows >= 0]
        if self.delta is not None and self.delta_rows is not None:
            extra, _ = dense_search(self.delta, qvec, k)
            rows = np.concatenate([rows, self.delta_rows[extra]])
        return rows

    # ------------------------------------------------------------------ evidence

    def row_vectors(self, rows: np.ndarray) -> np.ndarray:
        """float32 vectors of the given rows (sorted ascending), gathered segment by segment."""
        out = np.empty((len(rows), self.dim), dtype=np.float32)
        bounds = np.searchsorted(rows, self._seg_start)
        for number in np.flatnonzero(bounds[1:] > bounds[:-1]):
            lo, hi = bounds[number], bounds[number + 1]
            out[lo:hi] = self._seg_vectors[number][rows[lo:hi] - self._seg_start[number]]
        return out

    @property
    def vectors(self) -> np.ndarray:
        """All row vectors as one float32 array (a copy: for tests and tools, not for search)."""
        return self.row_vectors(np.arange(len(self.row_item), dtype=np.int64))

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
            candidates.append(self.dense_candidates(qvec, CANDIDATES))
        cand_items = np.unique(self.row_item[np.concatenate(candidates).astype(np.int64)])
        cand_items = cand_items[self._valid(today, area, district)[cand_items]]
        if not len(cand_items):
            return None
        starts = self.item_start[cand_items]
        lengths = self.item_start[cand_items + 1] - starts
        seg = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        rows = np.repeat(starts - seg, lengths) + np.arange(lengths.sum())
        cos = self.row_vectors(rows) @ qvec if qvec is not None else None
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
        support = float(params.get("support", 0.0))
        item_support = np.zeros(len(ev.items), dtype=np.float64)
        if support > 0 and len(ev.rows):
            # mean of the two best fused rows of each item (rows of an item are contiguous)
            owner = np.repeat(np.arange(len(ev.items)), ev.lengths)
            ranked_rows = row_fused[np.lexsort((row_fused, owner))]
            last = ev.seg + ev.lengths - 1
            second = np.where(ev.lengths > 1, ranked_rows[np.maximum(last - 1, 0)], 0.0)
            item_support = (ranked_rows[last] + second) / 2
            confidence = (1 - support) * confidence + support * item_support
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
                          "dense": float(item_dense[pos]), "support": float(item_support[pos])},
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
            title=item.title, matched=self.texts[ranked.matched_row],
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

    def elsewhere(self, query: str) -> str | None:
        """The city or province outside Beijing the query is about (then it gets no answer:
        the base holds Beijing's rules), or None. See :mod:`knowledge.jurisdiction`."""
        return self.places.elsewhere(query, self.analyzer.segment)

    def search(self, query: str, area: str | None = None, district: str | None = None,
               top_k: int = 3, today: date | None = None,
               thresholds: dict[str, Any] | None = None,
               fusion: dict[str, Any] | None = None) -> SearchResult:
        limits = {**self.thresholds, **(thresholds or {})}
        ranked = self.rank(query, area, district, today, fusion, limit=max(top_k, 3))
        outcome, _ = decide([r.confidence for r in ranked], limits,
                            query_chars(self.analyzer, query))
        elsewhere = self.elsewhere(query)
        if elsewhere is not None:
            outcome = "none"
        return SearchResult(query=query, outcome=outcome,
                            hits=[self.hit(r) for r in ranked[:top_k]], elsewhere=elsewhere)
