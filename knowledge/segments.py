"""Index segments: the indexed form of one knowledge file.

A segment holds one file's items and their rows (standard question, similar questions, answer
chunks or passage text: normalised text, text key, jieba words) with one L2-normalised float32
vector per row. Its id is a content address, the hash of the file's path and content hash, the
dictionary hash, the embedding model and the index format, so a segment never changes once
written and a build is just the ordered list of its segments' ids (see :mod:`knowledge.index`).

On disk (``<index_dir>/segments/<id>/``, shared by every build that uses it)::

    segment.json    file, items (as served), item content hashes, rows (item number, field,
                    normalised text, text key, jieba words)
    vectors.npy     float32 (rows × dimension), read memory-mapped

In memory, :attr:`Segment.derived` keeps what one process computes from a segment (term numbers
for BM25, per-item arrays), so a reload after a one-file edit recomputes it for that file only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .model import Item
from .tokenizer import TextAnalyzer

SEGMENT_FORMAT = 1
CHUNK_CHARS = 200
BODY_FIELDS = ("answer", "passage")


def text_key(text: str) -> str:
    """Key of a normalised text: what the embedding cache and the vector reuse are keyed by."""
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


def segment_id(rel: str, digest: str, dictionary_hash: str, model: str) -> str:
    raw = f"{SEGMENT_FORMAT}\0{CHUNK_CHARS}\0{rel}\0{digest}\0{dictionary_hash}\0{model}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


@dataclass
class Segment:
    id: str
    file: str  # path relative to the KB folder
    items: list[Item]
    hashes: list[str]  # content hash of each item
    row_item: np.ndarray  # int32: item number (within the segment) of each row
    fields: list[str]
    texts: list[str]  # normalised
    keys: list[str]
    joined_words: list[str]  # jieba words of each row, space-separated (one string: compact)
    vectors: np.ndarray  # float32 (rows × dimension), L2-normalised
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_rows(self) -> int:
        return len(self.texts)

    @property
    def words(self) -> list[list[str]]:
        return [w.split(" ") if w else [] for w in self.joined_words]


def make_segment(seg_id: str, rel: str, items: list[Item], analyzer: TextAnalyzer,
                 dimension: int) -> Segment:
    """A segment with its rows and words; ``vectors`` are zeros, to be filled by the caller."""
    row_item: list[int] = []
    fields: list[str] = []
    texts: list[str] = []
    for number, item in enumerate(items):
        seen: set[str] = set()
        for field_name, raw in item_texts(item):
            text = analyzer.normalize(raw)
            if not text or text in seen:
                continue
            seen.add(text)
            row_item.append(number)
            fields.append(field_name)
            texts.append(text)
    return Segment(
        id=seg_id, file=rel, items=items, hashes=[item.content_hash() for item in items],
        row_item=np.asarray(row_item, dtype=np.int32), fields=fields, texts=texts,
        keys=[text_key(t) for t in texts],
        joined_words=[" ".join(analyzer.words(t, normalized=True)) for t in texts],
        vectors=np.zeros((len(texts), dimension), dtype=np.float32))


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def save_segment(segment: Segment, segments_dir: Path) -> Path:
    """Write a segment (atomically: a temporary folder renamed into place). A segment that is
    already there is left alone: same id, same content."""
    final = segments_dir / segment.id
    if (final / "segment.json").is_file():
        return final
    segments_dir.mkdir(parents=True, exist_ok=True)
    tmp = segments_dir / f".tmp-{segment.id}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        data = {
            "format": SEGMENT_FORMAT, "id": segment.id, "file": segment.file,
            "items": [item.to_json() for item in segment.items], "hashes": segment.hashes,
            "rows": {"item": segment.row_item.tolist(), "field": segment.fields,
                     "text": segment.texts, "key": segment.keys,
                     "words": segment.joined_words},
        }
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        _fsync_write(tmp / "segment.json", text.encode("utf-8"))
        with open(tmp / "vectors.npy", "wb") as handle:
            np.save(handle, np.ascontiguousarray(segment.vectors, dtype=np.float32),
                    allow_pickle=False)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.rename(tmp, final)
        except OSError:  # written meanwhile by another builder
            if not (final / "segment.json").is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def load_segment(segments_dir: Path, seg_id: str, mmap: bool = True) -> Segment:
    folder = segments_dir / seg_id
    data = json.loads((folder / "segment.json").read_text("utf-8"))
    if data.get("format") != SEGMENT_FORMAT:
        raise ValueError(f"{folder}: segment format {data.get('format')} is not "
                         f"{SEGMENT_FORMAT}; rebuild the index")
    rows = data["rows"]
    vectors = np.load(folder / "vectors.npy", allow_pickle=False,
                      mmap_mode="r" if mmap else None)
    return Segment(
        id=data["id"], file=data["file"], items=[Item.from_json(d) for d in data["items"]],
        hashes=list(data["hashes"]), row_item=np.asarray(rows["item"], dtype=np.int32),
        fields=list(rows["field"]), texts=list(rows["text"]), keys=list(rows["key"]),
        joined_words=list(rows["words"]), vectors=vectors)


def reopen_mapped(segment: Segment, segments_dir: Path) -> None:
    """Swap a segment's in-memory vectors for the memory-mapped file just written (the page
    cache holds them, not the process heap)."""
    path = segments_dir / segment.id / "vectors.npy"
    if path.is_file():
        segment.vectors = np.load(path, allow_pickle=False, mmap_mode="r")
