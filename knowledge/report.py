"""The content-staff report's data: what residents asked, what went unanswered, which answers
they disliked, and from where (``scripts/kb report``; the HTML is :mod:`knowledge.report_html`).

Sources (written by the running assistant, all capped Redis streams with a TTL):

=====================================  ==========================================================
``<prefix>:app:kb:questions``          every knowledge question: ``q``, ``outcome``, ``kb_id``,
                                       ``area``, ``channel``, ``resident``, ``ts``
                                       (``actions/analytics.py``)
``<prefix>:app:kb:unanswered``         the ``none`` outcomes: ``q``, ``area``, ``channel``,
                                       ``resident``, ``ts``
``<prefix>:app:feedback``              thumbs up/down: ``kb_id``, ``rating``, ``replaces``
                                       (a changed vote), ``message``, ``channel``, ``resident``,
                                       ``ts``
                                       (``channels/webchat.py``)
``<prefix>:app:handoff:events``        the agent queue: ``event``, ``channel``, ``reason``,
                                       ``area``, ``ts`` (``handoff/store.py``)
=====================================  ==========================================================

or a JSONL export of them: one object per line, the stream's fields plus ``"stream"`` (one of
``questions``, ``unanswered``, ``feedback``, ``handoff``). Aggregation and clustering are pure
functions; the embedder and the text normaliser are passed in (the knowledge engine's, or the
deterministic fake in tests).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

STREAMS = {
    "questions": ("kb", "questions"),
    "unanswered": ("kb", "unanswered"),
    "feedback": ("feedback",),
    "handoff": ("handoff", "events"),
}
UNSORTED = "未分类"
DEFAULT_THRESHOLD = 0.8
DEFAULT_TOP = 20
EXAMPLES = 5

Entry = dict[str, str]


def stream_key(prefix: str, stream: str) -> str:
    """The Redis key of one source stream (the one place they are named)."""
    return ":".join([prefix, "app", *STREAMS[stream]])


@dataclass
class Dataset:
    questions: list[Entry] = field(default_factory=list)
    unanswered: list[Entry] = field(default_factory=list)
    feedback: list[Entry] = field(default_factory=list)
    handoff: list[Entry] = field(default_factory=list)

    def streams(self) -> dict[str, list[Entry]]:
        return {name: getattr(self, name) for name in STREAMS}

    def extend(self, other: Dataset) -> Dataset:
        for name, entries in other.streams().items():
            getattr(self, name).extend(entries)
        return self

    @property
    def empty(self) -> bool:
        return not any(self.streams().values())


def _timestamp(entry: Mapping[str, Any], stream_id: str | None = None) -> int:
    raw = entry.get("ts")
    try:
        return int(float(raw))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        pass
    if stream_id and "-" in stream_id:
        return int(stream_id.split("-", 1)[0]) // 1000
    return 0


def _clean(entry: Mapping[str, Any], stream_id: str | None = None) -> Entry:
    cleaned = {str(k): "" if v is None else str(v) for k, v in entry.items() if k != "stream"}
    cleaned["ts"] = str(_timestamp(entry, stream_id))
    return cleaned


def load_jsonl(path: Path) -> Dataset:
    """Reads an export; raises ValueError naming the line of anything unreadable."""
    data = Dataset()
    with path.open(encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not JSON ({error.msg})") from None
            if not isinstance(entry, dict) or entry.get("stream") not in STREAMS:
                raise ValueError(f"{path}:{number}: expected an object with \"stream\": one of "
                                 f"{', '.join(STREAMS)}")
            getattr(data, entry["stream"]).append(_clean(entry))
    return data


def load_redis(client: Any, prefix: str, batch: int = 5000) -> Dataset:
    """Reads every source stream under ``prefix`` (a synchronous redis client with
    ``decode_responses=True``)."""
    data = Dataset()
    for name in STREAMS:
        key, start = stream_key(prefix, name), "-"
        while True:
            rows = client.xrange(key, min=start, max="+", count=batch)
            for stream_id, fields in rows:
                getattr(data, name).append(_clean(fields, stream_id))
            if len(rows) < batch:
                break
            start = "(" + rows[-1][0]
    return data


def dump_jsonl(data: Dataset) -> Iterable[str]:
    for name, entries in data.streams().items():
        for entry in entries:
            yield json.dumps({"stream": name, **entry}, ensure_ascii=False)


def since(data: Dataset, start: int, end: int | None = None) -> Dataset:
    """The entries with ``start <= ts`` (and ``< end``)."""
    def keep(entries: list[Entry]) -> list[Entry]:
        return [e for e in entries if int(e["ts"]) >= start
                and (end is None or int(e["ts"]) < end)]

    return Dataset(*(keep(entries) for entries in data.streams().values()))


# --- clustering -------------------------------------------------------------------------------


@dataclass
class Cluster:
    """Similar unanswered questions: the most asked wording first."""

    texts: list[tuple[str, int]]  # (wording, times asked), most asked first
    total: int = 0
    channels: Counter[str] = field(default_factory=Counter)
    areas: Counter[str] = field(default_factory=Counter)
    last_seen: int = 0

    @property
    def representative(self) -> str:
        return self.texts[0][0]


def cluster_vectors(vectors: np.ndarray, weights: Sequence[int], threshold: float
                    ) -> list[list[int]]:
    """Greedy clustering by cosine similarity to each cluster's (weighted) centroid: items in
    the given order join the most similar cluster at or above ``threshold`` or start one.
    Rows of ``vectors`` are L2-normalised; returns the member indexes of each cluster."""
    clusters: list[list[int]] = []
    sums: list[np.ndarray] = []
    for index, vector in enumerate(np.asarray(vectors, dtype=np.float32)):
        best, best_score = -1, threshold
        for number, total in enumerate(sums):
            norm = float(np.linalg.norm(total))
            score = float(vector @ total) / norm if norm else 0.0
            if score >= best_score:
                best, best_score = number, score
        if best < 0:
            clusters.append([index])
            sums.append(vector * weights[index])
        else:
            clusters[best].append(index)
            sums[best] = sums[best] + vector * weights[index]
    return clusters


def cluster_unanswered(
    entries: Sequence[Entry],
    embed: Callable[[list[str]], np.ndarray],
    normalize: Callable[[str], str] = lambda text: text.strip(),
    threshold: float = DEFAULT_THRESHOLD,
) -> list[Cluster]:
    """Groups the unanswered questions: the same wording (after ``normalize``) counts once per
    asking, similar wordings (cosine ≥ ``threshold`` of ``embed``) form one cluster."""
    counts: Counter[str] = Counter()
    wording: dict[str, Counter[str]] = defaultdict(Counter)
    meta: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        text = entry.get("q", "").strip()
        if not text:
            continue
        key = normalize(text) or text
        counts[key] += 1
        wording[key][text] += 1
        meta[key].append(entry)
    if not counts:
        return []
    keys = sorted(counts, key=lambda k: (-counts[k], k))
    vectors = embed(keys)
    out: list[Cluster] = []
    for members in cluster_vectors(vectors, [counts[k] for k in keys], threshold):
        texts: Counter[str] = Counter()
        cluster = Cluster(texts=[])
        for index in members:
            key = keys[index]
            texts.update(wording[key])
            for entry in meta[key]:
                cluster.channels[entry.get("channel") or "?"] += 1
                cluster.areas[entry.get("area") or UNSORTED] += 1
                cluster.last_seen = max(cluster.last_seen, int(entry["ts"]))
        cluster.texts = sorted(texts.items(), key=lambda item: (-item[1], item[0]))
        cluster.total = sum(texts.values())
        out.append(cluster)
    return sorted(out, key=lambda c: (-c.total, c.representative))


# --- aggregation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryInfo:
    """What the report shows of a knowledge entry."""

    question: str
    area: str


@dataclass
class TopQuestion:
    kb_id: str
    question: str
    area: str
    count: int
    examples: list[str]


@dataclass
class Disliked:
    kb_id: str
    question: str
    area: str
    down: int
    up: int
    asked: list[str]


@dataclass
class Report:
    start: int
    end: int
    total: int
    outcomes: Counter[str]
    by_area: Counter[str]
    by_channel: Counter[str]
    by_day: dict[str, Counter[str]]
    top: list[TopQuestion]
    clusters: list[Cluster]
    unanswered_total: int
    disliked: list[Disliked]
    votes: Counter[str]
    handoffs: Counter[tuple[str, str]]

    @property
    def empty(self) -> bool:
        return not (self.total or self.unanswered_total or sum(self.votes.values())
                    or self.handoffs)


def _day(ts: int, tz_offset_hours: int) -> str:
    from datetime import datetime, timedelta, timezone

    zone = timezone(timedelta(hours=tz_offset_hours))
    return datetime.fromtimestamp(ts, zone).strftime("%Y-%m-%d")


def _area_asked(questions: Sequence[Entry], kb_id: str) -> str:
    """The area recorded with the questions answered by ``kb_id`` (an entry since removed)."""
    if not kb_id:
        return UNSORTED
    return next((e["area"] for e in questions if e.get("kb_id") == kb_id and e.get("area")),
                UNSORTED)


def top_questions(questions: Sequence[Entry], entries: Mapping[str, EntryInfo],
                  top: int = DEFAULT_TOP) -> list[TopQuestion]:
    """The knowledge entries answered most often, with how residents asked for them."""
    counts: Counter[str] = Counter()
    examples: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in questions:
        kb_id = entry.get("kb_id", "")
        if entry.get("outcome") != "answer" or not kb_id:
            continue
        counts[kb_id] += 1
        if entry.get("q"):
            examples[kb_id][entry["q"]] += 1
    out = []
    for kb_id, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]:
        info = entries.get(kb_id)
        area = info.area if info else _area_asked(questions, kb_id)
        out.append(TopQuestion(
            kb_id, info.question if info else kb_id, area, count,
            [text for text, _ in sorted(examples[kb_id].items(),
                                        key=lambda item: (-item[1], item[0]))[:EXAMPLES]],
        ))
    return out


def disliked_answers(feedback: Sequence[Entry], questions: Sequence[Entry],
                     entries: Mapping[str, EntryInfo]) -> tuple[list[Disliked], Counter[str]]:
    """Answers with a thumbs down, most first, with what residents had asked before voting;
    and the vote totals. A changed vote (``replaces``) moves one vote from the old rating to the
    new one."""
    up: Counter[str] = Counter()
    down: Counter[str] = Counter()
    votes: Counter[str] = Counter()
    asked: dict[str, Counter[str]] = defaultdict(Counter)
    by_resident: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for entry in questions:
        if entry.get("q") and entry.get("kb_id"):
            by_resident[(entry.get("resident", ""), entry["kb_id"])].append(entry)
    for entry in feedback:
        kb_id = entry.get("kb_id") or ""
        rating, previous = entry.get("rating"), entry.get("replaces")
        if rating not in ("up", "down"):
            continue
        votes[rating] += 1
        (up if rating == "up" else down)[kb_id] += 1
        if previous in ("up", "down"):
            votes[previous] -= 1
            (up if previous == "up" else down)[kb_id] -= 1
        if rating == "down" and kb_id:
            before = [q for q in by_resident.get((entry.get("resident", ""), kb_id), [])
                      if int(q["ts"]) <= int(entry["ts"])]
            if before:
                asked[kb_id][max(before, key=lambda q: int(q["ts"]))["q"]] += 1
    out = []
    for kb_id in sorted((k for k in down if down[k] > 0), key=lambda k: (-down[k], up[k], k)):
        info = entries.get(kb_id)
        out.append(Disliked(
            kb_id or "", info.question if info else (kb_id or ""),
            info.area if info else _area_asked(questions, kb_id), down[kb_id],
            max(up[kb_id], 0),
            [text for text, _ in asked[kb_id].most_common(EXAMPLES)],
        ))
    return out, votes


def build_report(
    data: Dataset,
    entries: Mapping[str, EntryInfo],
    embed: Callable[[list[str]], np.ndarray],
    *,
    normalize: Callable[[str], str] = lambda text: text.strip(),
    threshold: float = DEFAULT_THRESHOLD,
    top: int = DEFAULT_TOP,
    start: int = 0,
    end: int = 0,
    tz_offset_hours: int = 8,
) -> Report:
    """Everything the HTML shows, from the entries of one period."""
    outcomes: Counter[str] = Counter()
    by_area: Counter[str] = Counter()
    by_channel: Counter[str] = Counter()
    by_day: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in data.questions:
        outcome = entry.get("outcome") or "none"
        outcomes[outcome] += 1
        by_area[entry.get("area") or UNSORTED] += 1
        by_channel[entry.get("channel") or "?"] += 1
        by_day[_day(int(entry["ts"]), tz_offset_hours)][outcome] += 1
    disliked, votes = disliked_answers(data.feedback, data.questions, entries)
    handoffs: Counter[tuple[str, str]] = Counter(
        (e.get("channel") or "?", e.get("reason") or "?")
        for e in data.handoff if e.get("event") == "queued")
    return Report(
        start=start, end=end, total=len(data.questions), outcomes=outcomes, by_area=by_area,
        by_channel=by_channel, by_day=dict(sorted(by_day.items())),
        top=top_questions(data.questions, entries, top),
        clusters=cluster_unanswered(data.unanswered, embed, normalize, threshold),
        unanswered_total=sum(1 for e in data.unanswered if e.get("q", "").strip()),
        disliked=disliked, votes=votes, handoffs=handoffs,
    )
