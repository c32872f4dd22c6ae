"""Dense vector search with faiss: inner product on L2-normalised float32 vectors (= cosine).

``flat`` (exact ``IndexFlatIP``) is used up to a few hundred thousand rows; ``hnsw``
(``IndexHNSWFlat`` with inner product) above that, see ``bench/kb_scale.py`` for the measurement.
faiss is imported on first use.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 128
# One query at a time is faster on one OpenMP thread (measured: 60k rows 10 ms vs 48 ms with two
# threads on a 2-core machine); builds use every core.
SEARCH_THREADS = 1


def build_flat(vectors: np.ndarray) -> Any:
    import faiss

    index = faiss.IndexFlatIP(vectors.shape[1])
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def build_hnsw(vectors: np.ndarray) -> Any:
    import faiss

    index = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    index.hnsw.efSearch = HNSW_EF_SEARCH
    if len(vectors):
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def save_faiss(index: Any, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def load_faiss(path: Path) -> Any:
    import faiss

    index = faiss.read_index(str(path))
    if hasattr(index, "hnsw"):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return index


def search(index: Any, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top ``k`` rows for one normalised query vector: ``(rows, cosines)``, -1 rows dropped."""
    import faiss

    faiss.omp_set_num_threads(SEARCH_THREADS)
    k = min(k, index.ntotal)
    if k <= 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    scores, rows = index.search(np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), k)
    keep = rows[0] >= 0
    return rows[0][keep], scores[0][keep]
