"""Evaluation set, metrics and calibration.

Eval files are JSONL (``knowledge/eval/*.jsonl``): ``{"q", "expect": answer|clarify|none, "ids",
"area"}``. What each outcome is worth:

- an ``answer`` is *right* when its top hit is one of ``ids`` (a question that must get no
  answer has no ids, so answering it is always wrong);
- a ``clarify`` is *right* when one of the suggested entries is in ``ids``;
- ``none`` is *right* for a question marked ``none``.

``<outcome>.precision`` is the share of the questions given that outcome for which it was right;
``<outcome>.recall`` the share of the questions marked with that outcome that got it, rightly.
``answer.recall`` is the **coverage**: the share of answerable questions answered correctly.
``accuracy`` counts a question as correct only when its outcome is exactly the expected one (and
right); ``resolved`` also accepts a clarification offering a right entry for an answerable
question (a safe fallback).

Calibration (:func:`calibrate`): the assistant must not make up policy, so the objective is
**maximum coverage subject to answer precision ≥ ``min_precision``** (default
:data:`MIN_ANSWER_PRECISION`, setting ``MINSHENG_KB_MIN_PRECISION``): questions whose top hit is
not confident enough fall into the ``clarify`` band (the resident picks the entry), and only those
below the ``none`` threshold get no answer. Ties go to the setting that resolves more questions
(right answer, useful clarification or rightly none), then to exact accuracy. The fusion weights
and the four thresholds are chosen together. Because any threshold fitted on a set looks better
on that same set, :func:`calibrate` also cross-validates: it repeats the whole choice on k−1
folds and scores the held-out fold, with folds grouped by expected entry (all paraphrases of one
entry are in the same fold), and reports those held-out figures alongside.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .model import Outcome
from .retriever import Evidence, Ranked, Retriever, decide, query_chars

MIN_ANSWER_PRECISION = 0.95
CV_FOLDS = 5
OUTCOMES: tuple[Outcome, ...] = ("answer", "clarify", "none")


def min_answer_precision() -> float:
    """The calibration target: ``MINSHENG_KB_MIN_PRECISION`` or :data:`MIN_ANSWER_PRECISION`."""
    raw = os.environ.get("MINSHENG_KB_MIN_PRECISION", "").strip()
    value = float(raw) if raw else MIN_ANSWER_PRECISION
    if not 0.0 < value <= 1.0:
        raise ValueError(f"MINSHENG_KB_MIN_PRECISION must be in (0, 1], not {raw}")
    return value


@dataclass
class EvalCase:
    q: str
    expect: Outcome
    ids: list[str]
    area: str | None = None
    where: str = ""

    @property
    def group(self) -> str:
        """Cross-validation group: the first expected entry (or the question itself)."""
        return self.ids[0] if self.ids else f"none:{self.q}"


@dataclass
class CaseResult:
    case: EvalCase
    outcome: Outcome
    ids: list[str]  # ranked ids (top 10)
    confidences: list[float]
    latency_ms: float
    suggested: int = 0
    query_chars: int = 99

    @property
    def rank(self) -> int | None:
        for number, item_id in enumerate(self.ids, start=1):
            if item_id in self.case.ids:
                return number
        return None

    @property
    def right(self) -> bool:
        """The outcome given was a right one (see the module docstring)."""
        return outcome_right(self.case, self.outcome, self.ids, self.suggested)

    @property
    def correct(self) -> bool:
        """The outcome is exactly the expected one, and right."""
        return self.outcome == self.case.expect and self.right


@dataclass
class EvalReport:
    results: list[CaseResult]
    metrics: dict[str, float] = field(default_factory=dict)

    def wrong(self) -> list[CaseResult]:
        return [r for r in self.results if not r.correct]


def outcome_right(case: EvalCase, outcome: Outcome, ids: Sequence[str], suggested: int) -> bool:
    if outcome == "answer":
        return bool(ids) and ids[0] in case.ids
    if outcome == "clarify":
        return any(i in case.ids for i in ids[:max(suggested, 2)][:3])
    return case.expect == "none"


def outcome_correct(case: EvalCase, outcome: Outcome, ids: Sequence[str], suggested: int) -> bool:
    return outcome == case.expect and outcome_right(case, outcome, ids, suggested)


def load_eval(path: Path | str) -> list[EvalCase]:
    """Read one JSONL file or every ``*.jsonl`` in a folder. Raises ValueError naming file:line."""
    path = Path(path)
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    cases: list[EvalCase] = []
    for file in files:
        for number, line in enumerate(file.read_text("utf-8-sig").splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            where = f"{file}:{number}"
            try:
                data = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{where}: not valid JSON: {exc}") from exc
            expect = data.get("expect")
            if expect not in OUTCOMES or not str(data.get("q", "")).strip():
                raise ValueError(f"{where}: needs 'q' and 'expect' (answer, clarify or none)")
            ids = [str(i) for i in data.get("ids") or []]
            if expect != "none" and not ids:
                raise ValueError(f"{where}: expect '{expect}' needs 'ids'")
            cases.append(EvalCase(str(data["q"]), expect, ids, data.get("area"), where))
    return cases


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def metrics_of(results: Sequence[CaseResult]) -> dict[str, float]:
    """hit@1, hit@3, MRR (questions with expected ids), precision and recall of each outcome,
    coverage, resolved, accuracy and latency (see the module docstring)."""
    ranked = [r for r in results if r.case.expect != "none"]
    out: dict[str, float] = {"cases": float(len(results))}
    if ranked:
        ranks = [r.rank for r in ranked]
        out["hit@1"] = sum(1 for k in ranks if k == 1) / len(ranked)
        out["hit@3"] = sum(1 for k in ranks if k is not None and k <= 3) / len(ranked)
        out["mrr"] = sum(1.0 / k for k in ranks if k) / len(ranked)
    n = len(results)
    out["accuracy"] = sum(r.correct for r in results) / n if n else 0.0
    out["resolved"] = sum(r.right for r in results) / n if n else 0.0
    for outcome in OUTCOMES:
        predicted = [r for r in results if r.outcome == outcome]
        expected = [r for r in results if r.case.expect == outcome]
        out[f"{outcome}.predicted"] = float(len(predicted))
        out[f"{outcome}.expected"] = float(len(expected))
        out[f"{outcome}.precision"] = (sum(r.right for r in predicted) / len(predicted)
                                       if predicted else 1.0)
        out[f"{outcome}.recall"] = (sum(r.outcome == outcome and r.right for r in expected)
                                    / len(expected) if expected else 1.0)
    out["coverage"] = out["answer.recall"]
    out["answered"] = out["answer.predicted"] / n if n else 0.0
    latencies = [r.latency_ms for r in results]
    out["latency.p50_ms"] = _percentile(latencies, 50)
    out["latency.p95_ms"] = _percentile(latencies, 95)
    return out


def evaluate(retriever: Retriever, cases: Iterable[EvalCase],
             thresholds: dict[str, Any] | None = None, fusion: dict[str, Any] | None = None,
             use_area: bool = False) -> EvalReport:
    limits = {**retriever.thresholds, **(thresholds or {})}
    results = []
    for case in cases:
        started = time.perf_counter()
        ranked = retriever.rank(case.q, area=case.area if use_area else None, fusion=fusion)
        chars = query_chars(retriever.analyzer, case.q)
        outcome, close = decide([r.confidence for r in ranked], limits, chars)
        latency = (time.perf_counter() - started) * 1000
        results.append(CaseResult(case, outcome, [retriever.items[r.item].id for r in ranked],
                                  [r.confidence for r in ranked], latency, close, chars))
    return EvalReport(results, metrics_of(results))


# ---------------------------------------------------------------- calibration


def fusion_grid() -> list[dict[str, Any]]:
    """Weighted fusions (channel weights in steps of 0.2, body-row weight, support) and RRF."""
    grid: list[dict[str, Any]] = []
    steps = [i / 5 for i in range(6)]
    for w_words in steps:
        for w_chars in steps:
            w_dense = round(1.0 - w_words - w_chars, 3)
            if w_dense < -1e-9:
                continue
            for row_weight in (0.7, 0.85, 1.0):
                for support in (0.0, 0.5):
                    grid.append({"method": "weighted", "w_words": w_words, "w_chars": w_chars,
                                 "w_dense": max(w_dense, 0.0), "answer_row_weight": row_weight,
                                 "support": support})
    grid.append({"method": "rrf", "w_words": 0.35, "w_chars": 0.25, "w_dense": 0.40,
                 "answer_row_weight": 0.85, "support": 0.0})
    return grid


MARGINS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.08)
SHORTS = (0, 2, 3, 4)
NEVER = 9.0  # a threshold no confidence reaches


def _none_grid(tops: np.ndarray, size: int = 24) -> list[float]:
    values = np.unique(np.round(tops[np.isfinite(tops)], 4))
    mids = (values[1:] + values[:-1]) / 2
    if len(mids) > size:
        mids = mids[np.linspace(0, len(mids) - 1, size).round().astype(int)]
    return [0.0, *(float(m) for m in mids)]


@dataclass
class _Cases:
    """Arrays of one set of cases under one fusion (what the threshold search needs)."""

    conf: np.ndarray  # (n, 3) top confidences, -inf where missing
    chars: np.ndarray
    right1: np.ndarray  # top hit is an expected id
    hit2: np.ndarray
    hit3: np.ndarray
    is_none: np.ndarray
    is_answer: np.ndarray
    is_clarify: np.ndarray

    @classmethod
    def of(cls, cases: Sequence[EvalCase], ranked: Sequence[list[tuple[str, float]]],
           lengths: Sequence[int]) -> _Cases:
        n = len(cases)
        conf = np.full((n, 3), -np.inf)
        for row, ranking in enumerate(ranked):
            for col, (_, value) in enumerate(ranking[:3]):
                conf[row, col] = value
        pairs = list(zip(cases, ranked, strict=True))
        expect = np.array([c.expect for c in cases])
        return cls(
            conf=conf, chars=np.asarray(lengths),
            right1=np.array([bool(r) and r[0][0] in c.ids for c, r in pairs], dtype=bool),
            hit2=np.array([any(i in c.ids for i, _ in r[:2]) for c, r in pairs], dtype=bool),
            hit3=np.array([any(i in c.ids for i, _ in r[:3]) for c, r in pairs], dtype=bool),
            is_none=expect == "none", is_answer=expect == "answer",
            is_clarify=expect == "clarify")


def best_thresholds(cases: Sequence[EvalCase], ranked: Sequence[list[tuple[str, float]]],
                    lengths: Sequence[int] | None = None, min_precision: float | None = None
                    ) -> tuple[dict[str, float], dict[str, float]]:
    """Thresholds for precomputed rankings ``[(id, confidence), ...]`` per case: the largest
    coverage with answer precision ≥ ``min_precision`` (then most resolved, then accuracy).

    Vectorised over the cases (and over the ``answer`` threshold, by sorting); the rules are
    those of :func:`knowledge.retriever.decide`. Returns ``(thresholds, in-sample stats)``.
    """
    target = min_answer_precision() if min_precision is None else min_precision
    n = len(cases)
    arr = _Cases.of(cases, ranked, lengths if lengths is not None else [99] * n)
    conf, c1 = arr.conf, arr.conf[:, 0]
    n_answer = max(int(arr.is_answer.sum()), 1)
    good = arr.right1 & ~arr.is_none  # answering it is right
    cover = arr.right1 & arr.is_answer  # counts towards coverage
    order = np.argsort(-c1, kind="stable")
    c_sorted = c1[order]
    # a cut at position p answers the eligible cases among the p most confident; cutting
    # between two equal confidences is impossible
    cut_ok = np.ones(n + 1, dtype=bool)
    cut_ok[1:n] = c_sorted[:-1] > c_sorted[1:]
    cut_at = np.empty(n + 1)  # the ``answer`` threshold of each cut
    with np.errstate(invalid="ignore"):
        cut_at[1:n] = (c_sorted[:-1] + c_sorted[1:]) / 2
    cut_at[0] = (c_sorted[0] + 1e-6) if n else NEVER
    cut_at[n] = -np.inf
    nones = np.asarray(_none_grid(c1))
    below = ~(c1[None, :] >= nones[:, None])  # (nones, cases)
    relevant = (conf[None, :, :] >= nones[:, None, None]).sum(axis=2)
    none_right = below & arr.is_none
    finite = c1[np.isfinite(c1)]
    sures = [NEVER, *(float(q) for q in np.quantile(finite, [0.9, 0.97]) if len(finite))]
    rows = np.arange(len(nones))
    best: tuple[Any, ...] | None = None
    best_limits: dict[str, float] = {}
    best_stats: dict[str, float] = {}
    for sure in sures:
        sure_ans = ~below & (c1 >= sure)
        open_ = ~below & ~sure_ans
        for margin in MARGINS:
            close = (conf >= (c1 - margin)[:, None]).sum(axis=1)
            by_margin = open_ & (close >= 2)
            count = np.where(by_margin, close, relevant)
            clar_hit = np.where(count >= 3, arr.hit3, arr.hit2) & ~arr.is_none
            for short in SHORTS:
                by_short = open_ & ~by_margin & (arr.chars <= short) & (relevant >= 2)
                elig = open_ & ~by_margin & ~by_short
                e = elig[:, order]
                zero = np.zeros((len(nones), 1), dtype=np.int64)
                answered = (sure_ans.sum(axis=1)[:, None]
                            + np.concatenate((zero, np.cumsum(e, axis=1)), axis=1))
                right = ((sure_ans & good).sum(axis=1)[:, None]
                         + np.concatenate((zero, np.cumsum(e & good[order], axis=1)), axis=1))
                covered = ((sure_ans & cover).sum(axis=1)[:, None]
                           + np.concatenate((zero, np.cumsum(e & cover[order], axis=1)), axis=1))
                precision = np.where(answered > 0, right / np.maximum(answered, 1), 1.0)
                feasible = cut_ok[None, :] & (precision >= target - 1e-12)
                score = np.where(feasible, covered, -1)
                cut = np.argmax(score, axis=1)  # most coverage; ties: fewest answered
                ok = feasible[rows, cut]
                cut = np.where(ok, cut, 0)
                answer_at = np.maximum(cut_at[cut], nones)
                answered_mask = sure_ans | (elig & (c1[None, :] >= answer_at[:, None]))
                clarify = open_ & ~answered_mask
                ans_right = answered_mask & good
                clar_right = clarify & clar_hit
                resolved = (ans_right | clar_right | none_right).sum(axis=1) / n
                accuracy = ((answered_mask & cover) | (clar_right & arr.is_clarify)
                            | none_right).sum(axis=1) / n
                coverage = covered[rows, cut] / n_answer
                for k in range(len(nones)):
                    key = (bool(ok[k]), float(coverage[k]), float(resolved[k]),
                           float(accuracy[k]), -short, -margin, -sure)
                    if best is not None and key <= best:
                        continue
                    best = key
                    n_answered = int(answered_mask[k].sum())
                    n_below = int(below[k].sum())
                    best_limits = {"none": float(nones[k]), "answer": float(answer_at[k]),
                                   "margin": margin, "sure": float(sure), "short": short}
                    best_stats = {
                        "feasible": float(ok[k]), "coverage": float(coverage[k]),
                        "resolved": float(resolved[k]), "accuracy": float(accuracy[k]),
                        "answer.precision": (int(ans_right[k].sum()) / n_answered
                                             if n_answered else 1.0),
                        "none.precision": (int(none_right[k].sum()) / n_below
                                           if n_below else 1.0),
                        "none.recall": (int(none_right[k].sum()) / int(arr.is_none.sum())
                                        if arr.is_none.any() else 1.0)}
    return best_limits, best_stats


def _rankings(retriever: Retriever, evidence: Sequence[Evidence | None],
              fusion: dict[str, Any]) -> list[list[tuple[str, float]]]:
    out = []
    for ev in evidence:
        ranked: list[Ranked] = retriever.fuse(ev, fusion) if ev is not None else []
        out.append([(retriever.items[r.item].id, r.confidence) for r in ranked])
    return out


def _mrr(cases: Sequence[EvalCase], ranked: Sequence[list[tuple[str, float]]]) -> float:
    total, count = 0.0, 0
    for case, ranking in zip(cases, ranked, strict=True):
        if case.expect == "none":
            continue
        count += 1
        for number, (item_id, _) in enumerate(ranking, start=1):
            if item_id in case.ids:
                total += 1.0 / number
                break
    return total / count if count else 0.0


def folds_of(cases: Sequence[EvalCase], folds: int) -> list[int]:
    """Fold of each case: by a hash of its group, so every paraphrase of one entry lands in the
    same fold, independent of the order of the file."""
    return [int(hashlib.sha1(c.group.encode("utf-8")).hexdigest(), 16) % folds for c in cases]


def _row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["feasible"], row["coverage"], row["resolved"], row["accuracy"], row["mrr"])


def _choose(cases: Sequence[EvalCase], rankings: Sequence[Sequence[list[tuple[str, float]]]],
            lengths: Sequence[int], grid: Sequence[dict[str, Any]], idx: Sequence[int],
            target: float) -> list[dict[str, Any]]:
    sub_cases = [cases[i] for i in idx]
    sub_lengths = [lengths[i] for i in idx]
    table = []
    for number, fusion in enumerate(grid):
        ranked = [rankings[number][i] for i in idx]
        limits, stats = best_thresholds(sub_cases, ranked, sub_lengths, target)
        table.append({"fusion": fusion, "grid": number, "thresholds": limits,
                      "mrr": _mrr(sub_cases, ranked), **stats})
    table.sort(key=_row_key, reverse=True)
    return table


def results_for(cases: Sequence[EvalCase], ranked: Sequence[list[tuple[str, float]]],
                lengths: Sequence[int], thresholds: dict[str, Any]) -> list[CaseResult]:
    """Outcomes of precomputed rankings under thresholds (latency 0)."""
    results = []
    for case, ranking, chars in zip(cases, ranked, lengths, strict=True):
        confidences = [c for _, c in ranking]
        outcome, count = decide(confidences, thresholds, chars)
        results.append(CaseResult(case, outcome, [i for i, _ in ranking], confidences, 0.0,
                                  count, chars))
    return results


def calibrate(retriever: Retriever, cases: Sequence[EvalCase],
              grid: Sequence[dict[str, Any]] | None = None, min_precision: float | None = None,
              folds: int = CV_FOLDS, evidence: Sequence[Evidence | None] | None = None
              ) -> dict[str, Any]:
    """Choose fusion and thresholds on ``cases`` (see the module docstring).

    Returns ``fusion``, ``thresholds``, ``summary`` (in-sample figures of the choice), ``cv``
    (the figures of the same procedure scored on held-out folds; empty when ``folds`` < 2 or the
    set is too small) and ``table`` (every fusion tried, best first).
    """
    if not cases:
        raise ValueError("the eval set is empty")
    target = min_answer_precision() if min_precision is None else min_precision
    grid = list(grid or fusion_grid())
    if evidence is None:
        evidence = [retriever.evidence(case.q) for case in cases]  # once per query
    lengths = [query_chars(retriever.analyzer, case.q) for case in cases]
    rankings = [_rankings(retriever, evidence, fusion) for fusion in grid]
    table = _choose(cases, rankings, lengths, grid, range(len(cases)), target)
    best = table[0]
    cv: dict[str, float] = {}
    fold_of = folds_of(cases, folds) if folds >= 2 else []
    if folds >= 2 and len(set(fold_of)) >= 2:
        held_out: list[CaseResult] = []
        for fold in sorted(set(fold_of)):
            train = [i for i, f in enumerate(fold_of) if f != fold]
            test = [i for i, f in enumerate(fold_of) if f == fold]
            chosen = _choose(cases, rankings, lengths, grid, train, target)[0]
            held_out += results_for([cases[i] for i in test],
                                    [rankings[chosen["grid"]][i] for i in test],
                                    [lengths[i] for i in test], chosen["thresholds"])
        cv = {k: v for k, v in metrics_of(held_out).items() if not k.startswith("latency")}
        cv["folds"] = float(len(set(fold_of)))
    summary_keys = ("coverage", "answer.precision", "resolved", "accuracy", "mrr",
                    "none.precision", "none.recall")
    return {
        "fusion": best["fusion"],
        "thresholds": {**best["thresholds"], "calibrated": True},
        "min_precision": target,
        "summary": {k: best[k] for k in summary_keys},
        "cv": cv,
        "cases": len(cases),
        "table": table,
    }
