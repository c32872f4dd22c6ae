"""Okapi BM25 over a scipy sparse matrix (one row per indexed text).

Term weights are precomputed into a CSC matrix, so a query costs one slice per query term:
fast enough for 100k items / ~600k rows (see ``bench/kb_scale.py``). Scores can be normalised by
the query's *self score* (the score the query would get against itself, unseen query terms
counted at the highest idf), giving a 0..1 "how much of the query is matched" value that can be
compared across queries and calibrated.

Incremental use: texts are turned into term numbers once (:meth:`Vocabulary.encode`, kept per
index segment, i.e. per knowledge file), and :meth:`SparseBM25.from_parts` computes the
statistics (document frequencies, average length, weights) over all parts with a few vectorised
numpy operations, so a reload after a one-file edit does not tokenise the other files again.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse


class Vocabulary:
    """Term → column number; append-only and thread-safe, shared by every part built with it
    (the columns of a part stay valid while the vocabulary grows)."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ids)

    def get(self, term: str) -> int | None:
        return self.ids.get(term)

    def encode(self, docs: Sequence[Sequence[str]]) -> TermRows:
        """Term counts of each document (row), with this vocabulary's columns."""
        lengths = np.fromiter((len(d) for d in docs), dtype=np.int64, count=len(docs))
        with self._lock:
            ids = self.ids
            cols = np.fromiter((ids.setdefault(t, len(ids)) for d in docs for t in d),
                               dtype=np.int32, count=int(lengths.sum()))
            width = max(len(ids), 1)
        indptr = np.zeros(len(docs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        tf = sparse.csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr),
                               shape=(len(docs), width))
        tf.sum_duplicates()
        return TermRows(tf.indptr.astype(np.int64), tf.indices.astype(np.int32),
                        tf.data.astype(np.float32), lengths.astype(np.float32))


@dataclass(frozen=True)
class TermRows:
    """Term counts of consecutive rows: CSR arrays (columns of a :class:`Vocabulary`)."""

    indptr: np.ndarray  # int64, rows + 1
    indices: np.ndarray  # int32 columns
    counts: np.ndarray  # float32 term frequency per (row, column)
    lengths: np.ndarray  # float32 tokens per row (duplicates included)

    @property
    def n_rows(self) -> int:
        return len(self.lengths)


class SparseBM25:
    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        vocab = Vocabulary()
        self._init([vocab.encode(docs)], vocab, k1, b)

    @classmethod
    def from_parts(cls, parts: Sequence[TermRows], vocab: Vocabulary, k1: float = 1.2,
                   b: float = 0.75) -> SparseBM25:
        """BM25 over the rows of ``parts`` in order (all encoded with ``vocab``)."""
        self = cls.__new__(cls)
        self._init(parts, vocab, k1, b)
        return self

    def _init(self, parts: Sequence[TermRows], vocab: Vocabulary, k1: float, b: float) -> None:
        self.k1 = k1
        self.b = b
        self.vocab = vocab
        self.n_terms = max(len(vocab), 1)  # columns added to the vocabulary later are unseen
        lengths = (np.concatenate([p.lengths for p in parts]) if parts
                   else np.zeros(0, dtype=np.float32))
        self.n_docs = len(lengths)
        indptr = np.zeros(self.n_docs + 1, dtype=np.int64)
        offset, start = 0, 0
        for part in parts:
            n = part.n_rows
            indptr[start + 1:start + n + 1] = part.indptr[1:] + offset
            offset += int(part.indptr[-1])
            start += n
        indices = (np.concatenate([p.indices for p in parts]) if parts
                   else np.zeros(0, dtype=np.int32))
        tf = (np.concatenate([p.counts for p in parts]) if parts
              else np.zeros(0, dtype=np.float32))
        self.avgdl = float(lengths.mean()) if self.n_docs else 1.0
        if self.avgdl <= 0:
            self.avgdl = 1.0
        df = np.bincount(indices, minlength=self.n_terms).astype(np.float64)
        self.idf = np.log((self.n_docs - df + 0.5) / (df + 0.5) + 1.0).astype(np.float32)
        self.max_idf = float(np.log((self.n_docs + 0.5) / 0.5 + 1.0))
        row_of = np.repeat(np.arange(self.n_docs), np.diff(indptr))
        norm = self.k1 * (1 - self.b + self.b * lengths[row_of] / self.avgdl)
        data = self.idf[indices] * tf * (self.k1 + 1) / (tf + norm)
        weights = sparse.csr_matrix((data.astype(np.float32), indices, indptr),
                                    shape=(self.n_docs, self.n_terms))
        self.matrix = weights.tocsc()  # column (term) slices: candidate generation
        self.rows = weights  # row slices: exact scores of candidate rows

    def _col(self, term: str) -> int | None:
        col = self.vocab.get(term)
        return col if col is not None and col < self.n_terms else None

    def _query(self, query: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        counts = Counter(query)
        pairs = [(col, n) for t, n in counts.items() if (col := self._col(t)) is not None]
        return (np.asarray([c for c, _ in pairs], dtype=np.int64),
                np.asarray([n for _, n in pairs], dtype=np.float32))

    def candidates(self, query: Sequence[str], k: int, budget: int = 20000) -> np.ndarray:
        """About the ``k`` best rows, scored on the query's rarer terms only.

        Terms are taken rarest first until their posting lists reach ``budget`` entries (the
        rarest term is always taken), so a query with very common terms ("怎么", "办理") stays
        cheap on 600k rows; exact scores come from :meth:`row_scores`.
        """
        cols, qtf = self._query(query)
        if not len(cols):
            return np.zeros(0, dtype=np.int64)
        mat = self.matrix
        sizes = mat.indptr[cols + 1] - mat.indptr[cols]
        order = np.argsort(sizes, kind="stable")
        parts_rows, parts_vals, total = [], [], 0
        for pos in order:
            if total and total + sizes[pos] > budget:
                break
            start, end = mat.indptr[cols[pos]], mat.indptr[cols[pos] + 1]
            parts_rows.append(mat.indices[start:end])
            parts_vals.append(mat.data[start:end] * qtf[pos])
            total += int(sizes[pos])
        rows = np.concatenate(parts_rows).astype(np.int64)
        if not len(rows):
            return rows
        unique, inverse = np.unique(rows, return_inverse=True)
        scores = np.bincount(inverse, weights=np.concatenate(parts_vals))
        if len(unique) > k:
            unique = unique[np.argpartition(-scores, k)[:k]]
        return unique

    def row_scores(self, query: Sequence[str], rows: np.ndarray) -> np.ndarray:
        """Exact BM25 scores of the given rows, divided by the query's self score (0..1)."""
        base = self.self_score(query)
        cols, qtf = self._query(query)
        if base <= 0 or not len(cols) or not len(rows):
            return np.zeros(len(rows), dtype=np.float32)
        sub = self.rows[rows][:, cols]
        return np.minimum(np.asarray(sub @ qtf).ravel() / base, 1.0).astype(np.float32)

    def self_score(self, query: Sequence[str]) -> float:
        counts = Counter(query)
        length = float(len(query))
        norm = self.k1 * (1 - self.b + self.b * length / self.avgdl)
        total = 0.0
        for tok, qtf in counts.items():
            col = self._col(tok)
            idf = float(self.idf[col]) if col is not None else self.max_idf
            total += qtf * idf * qtf * (self.k1 + 1) / (qtf + norm)
        return total

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """Dense score vector over all rows (zeros where nothing matches)."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        cols, qtf = self._query(query)
        mat = self.matrix
        parts_rows = []
        parts_vals = []
        for col, weight in zip(cols, qtf, strict=True):
            start, end = mat.indptr[col], mat.indptr[col + 1]
            if start == end:
                continue
            parts_rows.append(mat.indices[start:end])
            parts_vals.append(mat.data[start:end] * weight)
        if not parts_rows:
            return out
        if len(parts_rows) == 1:
            out[parts_rows[0]] = parts_vals[0]
            return out
        rows = np.concatenate(parts_rows)
        vals = np.concatenate(parts_vals)
        if len(rows) < 4096:
            np.add.at(out, rows, vals)
        else:
            out += np.bincount(rows, weights=vals, minlength=self.n_docs).astype(np.float32)
        return out

    def normalized_scores(self, query: Sequence[str]) -> np.ndarray:
        """Scores divided by the query's self score, clipped to 0..1."""
        base = self.self_score(query)
        if base <= 0:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.minimum(self.scores(query) / base, 1.0)
