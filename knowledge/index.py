"""Build, publish and load the search index.

On-disk layout (no pickle anywhere)::

    <index_dir>/CURRENT                 one line: builds/<build-id>  (swapped atomically)
    <index_dir>/builds/<build-id>/
        manifest.json                   model, dimension, normalisation, dictionary hash,
                                        per-file and per-item hashes, thresholds, build time
        items.json                      the items (answers, sources, dates …)
        rows.json                       indexed rows: item number, field, normalised text,
                                        text key, jieba words
        vectors.npy                     float32 (rows × dimension), L2-normalised
        dense.faiss                     only for large bases (HNSW graph)

``build()`` lints first and refuses to publish when there is a blocking error, so the last good
index keeps serving. It is incremental: a row whose normalised text is unchanged reuses its vector
and words from the current index, so one edited file re-embeds only the rows it changed. A change
of model, dimension, normalisation or dictionary forces a full rebuild. A new build is written to
a temporary folder, renamed into ``builds/`` and then published by replacing ``CURRENT``; readers
never see a half-written index. Builders of one index folder are serialised with a file lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .embedder import Embedder, describe
from .lint import has_blocking, lint_kb
from .loader import file_hash, iter_kb_files, load_kb
from .model import Issue, Item
from .tokenizer import TextAnalyzer, dictionary_hash

log = logging.getLogger(__name__)

INDEX_FORMAT = 1
CHUNK_CHARS = 200
EMBED_BATCH = 128
HNSW_MIN_ROWS = 200_000  # below: exact IndexFlatIP (60k rows: 10 ms; 650k: 76 ms, too slow)
KEEP_BUILDS = 2

# Defaults measured with m3e-small on the fixture eval set (bench/kb_quality.py): weighted
# normalised scores beat RRF (MRR 1.000 vs 0.970, outcome accuracy 0.96 vs 0.92) and both
# single channels. `scripts/kb calibrate` replaces them per model and content.
DEFAULT_FUSION: dict[str, Any] = {
    "method": "weighted",  # or "rrf"
    "w_words": 0.2,
    "w_chars": 0.2,
    "w_dense": 0.6,
    "dense_floor": 0.5,  # cosine mapped to (cos - floor) / (1 - floor)
    "answer_row_weight": 0.85,  # a match on an answer/passage body counts a little less
    "rrf_k": 60,
}
DEFAULT_THRESHOLDS: dict[str, Any] = {
    "none": 0.42,  # below: do not answer
    "margin": 0.02,  # candidates within this of the top one are "close"
    "sure": 0.95,  # at or above: answer even if others are close
    "short": 4,  # queries this short (meaningful characters) with 2+ candidates: clarify
    "calibrated": False,
}


@dataclass
class Row:
    item: int
    field: str  # question | similar | answer | passage
    text: str  # normalised text
    key: str


@dataclass
class BuildReport:
    published: bool
    up_to_date: bool = False
    full_rebuild: bool = False
    reason: str = ""
    build_dir: Path | None = None
    n_items: int = 0
    n_rows: int = 0
    embedded: int = 0
    reused: int = 0
    seconds: float = 0.0
    issues: list[Issue] = field(default_factory=list)
    changed_files: list[str] = field(default_factory=list)


@dataclass
class IndexData:
    """A loaded index build (read-only once loaded)."""

    path: Path
    manifest: dict[str, Any]
    items: list[Item]
    rows: list[Row]
    words: list[list[str]]
    vectors: np.ndarray

    @property
    def row_item(self) -> np.ndarray:
        return np.fromiter((r.item for r in self.rows), dtype=np.int32, count=len(self.rows))


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


_SENTENCE_RE = re.compile(r"(?<=[。！？；!?;])")


def chunk_text(text: str, limit: int = CHUNK_CHARS) -> list[str]:
    """Split a long answer into pieces of at most ``limit`` characters at paragraph or sentence
    ends."""
    pieces: list[str] = []
    for para in (p.strip() for p in text.split("\n")):
        if not para:
            continue
        if len(para) <= limit:
            pieces.append(para)
            continue
        for sentence in (s.strip() for s in _SENTENCE_RE.split(para)):
            while len(sentence) > limit:
                pieces.append(sentence[:limit])
                sentence = sentence[limit:]
            if sentence:
                pieces.append(sentence)
    chunks: list[str] = []
    for piece in pieces:
        if chunks and len(chunks[-1]) + 1 + len(piece) <= limit:
            chunks[-1] = f"{chunks[-1]}\n{piece}"
        else:
            chunks.append(piece)
    return chunks


def item_texts(item: Item) -> list[tuple[str, str]]:
    """``(field, raw text)`` of every row indexed for an item."""
    texts: list[tuple[str, str]] = []
    if item.question:
        texts.append(("question", item.question))
    texts.extend(("similar", s) for s in item.similar)
    body_field = "answer" if item.kind == "faq" else "passage"
    texts.extend((body_field, chunk) for chunk in chunk_text(item.answer))
    return texts


def make_rows(items: list[Item], analyzer: TextAnalyzer) -> list[Row]:
    rows: list[Row] = []
    for number, item in enumerate(items):
        seen: set[str] = set()
        for field_name, raw in item_texts(item):
            text = analyzer.normalize(raw)
            if not text or text in seen:
                continue
            seen.add(text)
            rows.append(Row(number, field_name, text, _key(text)))
    return rows


# ---------------------------------------------------------------- reading the published index

def current_build(index_dir: Path | str) -> Path | None:
    index_dir = Path(index_dir)
    pointer = index_dir / "CURRENT"
    try:
        rel = pointer.read_text("utf-8").strip()
    except FileNotFoundError:
        return None
    path = index_dir / rel
    return path if (path / "manifest.json").is_file() else None


def read_manifest(index_dir: Path | str) -> dict[str, Any] | None:
    build = current_build(index_dir)
    if build is None:
        return None
    return json.loads((build / "manifest.json").read_text("utf-8"))


def load_index(index_dir: Path | str, mmap: bool = False) -> IndexData:
    """Load the published build. Raises FileNotFoundError when there is none."""
    build = current_build(index_dir)
    if build is None:
        raise FileNotFoundError(f"no published index in {index_dir}")
    return load_build(build, mmap=mmap)


def load_build(build: Path, mmap: bool = False) -> IndexData:
    manifest = json.loads((build / "manifest.json").read_text("utf-8"))
    if manifest.get("format") != INDEX_FORMAT:
        raise ValueError(f"{build}: index format {manifest.get('format')} is not "
                         f"{INDEX_FORMAT}; rebuild it")
    items = [Item.from_json(d) for d in json.loads((build / "items.json").read_text("utf-8"))]
    cols = json.loads((build / "rows.json").read_text("utf-8"))
    rows = [Row(i, f, t, k) for i, f, t, k in
            zip(cols["item"], cols["field"], cols["text"], cols["key"], strict=True)]
    words = [w.split(" ") if w else [] for w in cols["words"]]
    vectors = np.load(build / "vectors.npy", allow_pickle=False,
                      mmap_mode="r" if mmap else None)
    return IndexData(build, manifest, items, rows, words, vectors)


# ---------------------------------------------------------------- staleness

def kb_file_hashes(kb_dir: Path) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for path in iter_kb_files(kb_dir):
        if path.suffix.lower() in (".yml", ".yaml", ".md"):
            with contextlib.suppress(OSError):
                hashes[path.relative_to(kb_dir).as_posix()] = file_hash(path)
    return hashes


def stale_reason(kb_dir: Path | str, index_dir: Path | str, embedder: Embedder,
                 dict_dir: Path | str | None) -> str | None:
    """Why the published index does not match the files and model (None if it does)."""
    manifest = read_manifest(index_dir)
    if manifest is None:
        return "no index yet"
    if manifest["model"]["name"] != embedder.name:
        return f"model changed ({manifest['model']['name']} -> {embedder.name})"
    if manifest["dictionary_hash"] != dictionary_hash(Path(dict_dir) if dict_dir else None):
        return "dictionary changed"
    if manifest["files"] != kb_file_hashes(Path(kb_dir)):
        return "knowledge files changed"
    return None


# ---------------------------------------------------------------- building

@contextlib.contextmanager
def _build_lock(index_dir: Path) -> Iterator[None]:
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".build.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))  # C encoder; dump() isn't
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _publish(index_dir: Path, tmp: Path, build_id: str) -> Path:
    final = index_dir / "builds" / build_id
    os.rename(tmp, final)
    pointer_tmp = index_dir / f"CURRENT.{uuid.uuid4().hex}.tmp"
    pointer_tmp.write_text(f"builds/{build_id}\n", encoding="utf-8")
    os.replace(pointer_tmp, index_dir / "CURRENT")
    return final


def _cleanup(index_dir: Path, keep: Path) -> None:
    builds = index_dir / "builds"
    done = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    kept = 0
    for path in done:
        if path == keep or kept < KEEP_BUILDS:
            kept += 1
            continue
        shutil.rmtree(path, ignore_errors=True)
    for path in builds.glob(".tmp-*"):
        if time.time() - path.stat().st_mtime > 3600:
            shutil.rmtree(path, ignore_errors=True)


def _progress(total: int, enabled: bool, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, desc=desc, unit="text", file=sys.stderr,
                leave=False)


def build(kb_dir: Path | str, index_dir: Path | str, embedder: Embedder, progress: bool = True,
          dict_dir: Path | str | None = None, today: date | None = None, force: bool = False,
          thresholds: dict[str, Any] | None = None, fusion: dict[str, Any] | None = None,
          dense_index: str | None = None, analyzer: TextAnalyzer | None = None,
          cache: dict[str, Any] | None = None, loaded: IndexData | None = None
          ) -> BuildReport:
    """Lint, (re)build incrementally and publish the index for ``kb_dir`` into ``index_dir``.

    Returns a report; ``published`` is False when the files have blocking errors (listed in
    ``issues``, the current index is left untouched) or when the index was already up to date.
    ``cache`` keeps parsed files between calls (see :func:`knowledge.loader.load_kb`);
    ``loaded`` is the caller's in-memory copy of the published build, reused instead of reading
    it back from disk.
    """
    started = time.perf_counter()
    kb_dir, index_dir = Path(kb_dir), Path(index_dir)
    dict_path = Path(dict_dir) if dict_dir is not None else None
    kb = load_kb(kb_dir, cache)
    issues = lint_kb(kb, today)
    report = BuildReport(published=False, issues=issues)
    if has_blocking(issues):
        report.reason = "the knowledge files have errors; the last good index keeps serving"
        report.seconds = time.perf_counter() - started
        return report

    with _build_lock(index_dir):
        if analyzer is None or analyzer.dict_dir != dict_path or \
                analyzer.dictionary_hash != dictionary_hash(dict_path):
            analyzer = TextAnalyzer(dict_path)
        previous = read_manifest(index_dir)
        model_info = {"name": embedder.name}
        dict_hash = analyzer.dictionary_hash
        compatible = (
            previous is not None and not force
            and previous.get("format") == INDEX_FORMAT
            and previous["model"]["name"] == model_info["name"]
            and previous["model"].get("normalized") is True
            and previous["dictionary_hash"] == dict_hash
        )
        if (compatible and previous is not None and previous["files"] == kb.files
                and thresholds is None and fusion is None and dense_index is None):
            report.up_to_date = True
            report.reason = "index is up to date"
            report.build_dir = current_build(index_dir)
            report.n_items = previous["n_items"]
            report.n_rows = previous["n_rows"]
            report.seconds = time.perf_counter() - started
            return report

        rows = make_rows(kb.items, analyzer)
        model_info = describe(embedder)
        old_row: dict[str, int] = {}  # text key -> row number in the previous build
        old: IndexData | None = None
        if compatible and previous is not None and previous["model"]["dimension"] == \
                model_info["dimension"]:
            published = current_build(index_dir)
            if loaded is not None and loaded.path == published:
                old = loaded
            else:
                old = load_index(index_dir, mmap=True)
            for number, row in enumerate(old.rows):
                old_row.setdefault(row.key, number)
            report.changed_files = sorted(
                f for f in set(kb.files) | set(previous["files"])
                if kb.files.get(f) != previous["files"].get(f))
        else:
            report.full_rebuild = True

        dim = int(model_info["dimension"])  # type: ignore[arg-type]
        vectors = np.zeros((len(rows), dim), dtype=np.float32)
        words: list[list[str]] = []
        todo: dict[str, list[int]] = {}
        new_rows: list[int] = []
        from_rows: list[int] = []
        for number, row in enumerate(rows):
            source_row = old_row.get(row.key)
            if source_row is not None and old is not None:
                new_rows.append(number)
                from_rows.append(source_row)
                words.append(old.words[source_row])
            else:
                todo.setdefault(row.key, []).append(number)
                words.append(analyzer.words(row.text, normalized=True))
        if old is not None and new_rows:
            vectors[new_rows] = old.vectors[np.asarray(from_rows)]
        report.reused = len(rows) - sum(len(v) for v in todo.values())
        # similar lengths per batch: less padding (measured 54 -> ~300 texts/s with m3e-small)
        keys = sorted(todo, key=lambda k: len(rows[todo[k][0]].text))
        with _progress(len(keys), progress, "embedding") as bar:
            for start in range(0, len(keys), EMBED_BATCH):
                batch = keys[start:start + EMBED_BATCH]
                encoded = embedder.encode([rows[todo[k][0]].text for k in batch])
                for key, vec in zip(batch, encoded, strict=True):
                    vectors[todo[key]] = vec
                bar.update(len(batch))
        report.embedded = len(keys)

        same_model = previous is not None and previous["model"]["name"] == embedder.name
        carried = previous.get("thresholds") if same_model and previous else None
        carried_fusion = previous.get("fusion") if same_model and previous else None
        manifest = {
            "format": INDEX_FORMAT,
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "kb_dir": str(kb_dir),
            "model": model_info,
            "normalized": True,
            "dictionary_hash": dict_hash,
            "analyzer": {"char_ngram": 2, "chunk_chars": CHUNK_CHARS},
            "dense_index": dense_index or ("hnsw" if len(rows) >= HNSW_MIN_ROWS else "flat"),
            "files": kb.files,
            "items": {item.id: item.content_hash() for item in kb.items},
            "n_items": len(kb.items),
            "n_rows": len(rows),
            "fusion": {**DEFAULT_FUSION, **(carried_fusion or {}), **(fusion or {})},
            "thresholds": {**DEFAULT_THRESHOLDS, **(carried or {}), **(thresholds or {})},
        }

        build_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        (index_dir / "builds").mkdir(parents=True, exist_ok=True)
        tmp = index_dir / "builds" / f".tmp-{build_id}"
        tmp.mkdir()
        try:
            _write_json(tmp / "items.json", [item.to_json() for item in kb.items])
            _write_json(tmp / "rows.json", {
                "item": [r.item for r in rows], "field": [r.field for r in rows],
                "text": [r.text for r in rows], "key": [r.key for r in rows],
                "words": [" ".join(w) for w in words],
            })
            with open(tmp / "vectors.npy", "wb") as handle:
                np.save(handle, vectors, allow_pickle=False)
                handle.flush()
                os.fsync(handle.fileno())
            if manifest["dense_index"] == "hnsw":
                from .dense import build_hnsw, save_faiss

                save_faiss(build_hnsw(vectors), tmp / "dense.faiss")
            _write_json(tmp / "manifest.json", manifest)
            final = _publish(index_dir, tmp, build_id)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _cleanup(index_dir, final)

    report.published = True
    report.build_dir = final
    report.n_items = len(kb.items)
    report.n_rows = len(rows)
    report.seconds = time.perf_counter() - started
    report.reason = "full rebuild" if report.full_rebuild else "incremental build"
    log.info("published %s: %d items, %d rows, %d embedded, %d reused in %.2fs", final,
             report.n_items, report.n_rows, report.embedded, report.reused, report.seconds)
    return report


def update_manifest(index_dir: Path | str, **changes: Any) -> dict[str, Any]:
    """Rewrite fields (e.g. calibrated thresholds) of the published build's manifest atomically."""
    index_dir = Path(index_dir)
    with _build_lock(index_dir):
        build_dir = current_build(index_dir)
        if build_dir is None:
            raise FileNotFoundError(f"no published index in {index_dir}")
        manifest = json.loads((build_dir / "manifest.json").read_text("utf-8"))
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(manifest.get(key), dict):
                manifest[key] = {**manifest[key], **value}
            else:
                manifest[key] = value
        tmp = build_dir / f"manifest.{uuid.uuid4().hex}.tmp"
        _write_json(tmp, manifest)
        os.replace(tmp, build_dir / "manifest.json")
        return manifest
