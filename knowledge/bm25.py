"""Okapi BM25 over a scipy sparse matrix (one row per indexed text).

Term weights are precomputed into a CSC matrix, so a query costs one slice per query term:
fast enough for 100k items / ~600k rows (see ``bench/kb_scale.py``). Scores can be normalised by
the query's *self score* (the score the query would get against itself, unseen query terms
counted at the highest idf), giving a 0..1 "how much of the query is matched" value that can be
compared across queries and calibrated.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy import sparse


class SparseBM25:
    def __init__(self, docs: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self.n_docs = len(docs)
        vocab: dict[str, int] = {}
        indptr = np.zeros(self.n_docs + 1, dtype=np.int64)
        indices: list[int] = []
        for i, doc in enumerate(docs):
            indices.extend(vocab.setdefault(tok, len(vocab)) for tok in doc)
            indptr[i + 1] = len(indices)
        self.vocab = vocab
        cols = np.asarray(indices, dtype=np.int32)
        ones = np.ones(len(cols), dtype=np.float32)
        tf = sparse.csr_matrix((ones, cols, indptr), shape=(self.n_docs, max(len(vocab), 1)))
        tf.sum_duplicates()
        lengths = np.diff(indptr).astype(np.float32)
        self.avgdl = float(lengths.mean()) if self.n_docs else 1.0
        if self.avgdl <= 0:
            self.avgdl = 1.0
        df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float64)
        self.idf = np.log((self.n_docs - df + 0.5) / (df + 0.5) + 1.0).astype(np.float32)
        self.max_idf = float(np.log((self.n_docs + 0.5) / 0.5 + 1.0))
        row_of = np.repeat(np.arange(self.n_docs), np.diff(tf.indptr))
        norm = self.k1 * (1 - self.b + self.b * lengths[row_of] / self.avgdl)
        data = self.idf[tf.indices] * tf.data * (self.k1 + 1) / (tf.data + norm)
        weights = sparse.csr_matrix((data.astype(np.float32), tf.indices, tf.indptr),
                                    shape=tf.shape)
        self.matrix = weights.tocsc()  # column (term) slices: candidate generation
        self.rows = weights  # row slices: exact scores of candidate rows

    def _query(self, query: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        counts = Counter(query)
        cols = [self.vocab[t] for t in counts if t in self.vocab]
        qtf = [counts[t] for t in counts if t in self.vocab]
        return np.asarray(cols, dtype=np.int64), np.asarray(qtf, dtype=np.float32)

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
            col = self.vocab.get(tok)
            idf = float(self.idf[col]) if col is not None else self.max_idf
            total += qtf * idf * qtf * (self.k1 + 1) / (qtf + norm)
        return total

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """Dense score vector over all rows (zeros where nothing matches)."""
        out = np.zeros(self.n_docs, dtype=np.float32)
        counts = Counter(query)
        parts_rows = []
        parts_vals = []
        mat = self.matrix
        for tok, qtf in counts.items():
            col = self.vocab.get(tok)
            if col is None:
                continue
            start, end = mat.indptr[col], mat.indptr[col + 1]
            if start == end:
                continue
            parts_rows.append(mat.indices[start:end])
            parts_vals.append(mat.data[start:end] * qtf)
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
