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
**the most right answers, a wrong answer counting as ``wrong_cost`` missed ones** (default
:data:`WRONG_ANSWER_COST`, setting ``MINSHENG_KB_WRONG_ANSWER_COST``; 0 is plain coverage),
**subject to answer precision ≥ ``min_precision``** (default
:data:`MIN_ANSWER_PRECISION`, setting ``MINSHENG_KB_MIN_PRECISION``): questions whose top hit is
not confident enough fall into the ``clarify`` band (the resident picks the entry, or is pointed
to 12345), and only those below the ``none`` threshold get no answer. A flat "no answer" to a
question the base does answer is a failure too, so the ``none`` threshold must also keep
**``none`` precision ≥ ``min_none_precision``** (default :data:`MIN_NONE_PRECISION`, setting
``MINSHENG_KB_MIN_NONE_PRECISION``). Ties go to the setting that resolves more questions
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .model import Outcome
from .retriever import Evidence, Ranked, Retriever, decide, query_chars

MIN_ANSWER_PRECISION = 0.95
MIN_NONE_PRECISION = 0.90
WRONG_ANSWER_COST = 3.0
CV_FOLDS = 5
OUTCOMES: tuple[Outcome, ...] = ("answer", "clarify", "none")


def _setting(name: str, default: float, valid: Callable[[float], bool], rule: str) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a number {rule}, not {raw!r}") from None
    if not valid(value):
        raise ValueError(f"{name} must be {rule}, not {raw}")
    return value


def min_answer_precision() -> float:
    """The calibration target: ``MINSHENG_KB_MIN_PRECISION`` or :data:`MIN_ANSWER_PRECISION`."""
    return _setting("MINSHENG_KB_MIN_PRECISION", MIN_ANSWER_PRECISION,
                    lambda v: 0.0 < v <= 1.0, "in (0, 1]")


def min_none_precision() -> float:
    """The floor on ``none`` precision: ``MINSHENG_KB_MIN_NONE_PRECISION`` or
    :data:`MIN_NONE_PRECISION`."""
    return _setting("MINSHENG_KB_MIN_NONE_PRECISION", MIN_NONE_PRECISION,
                    lambda v: 0.0 < v <= 1.0, "in (0, 1]")


def wrong_answer_cost() -> float:
    """How many right answers one wrong answer outweighs in the objective:
    ``MINSHENG_KB_WRONG_ANSWER_COST`` or :data:`WRONG_ANSWER_COST`."""
    return _setting("MINSHENG_KB_WRONG_ANSWER_COST", WRONG_ANSWER_COST, lambda v: v >= 0.0,
                    ">= 0")


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
        if retriever.elsewhere(case.q) is not None:  # another city's rules: never answered
            outcome, close = "none", 0
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


def _none_grid(tops: np.ndarray, is_none: np.ndarray, size: int = 128) -> list[float]:
    """Candidate ``none`` thresholds: 0 (never none) and, for each question that must get no
    answer, the point just above its top confidence: only there does raising the threshold add a
    right "no answer" (elsewhere it only withholds more questions the base answers). At most
    ``size`` of them, evenly by rank."""
    finite = np.isfinite(tops)
    values = np.unique(np.round(tops[finite], 4))
    targets = np.unique(np.round(tops[finite & is_none], 4))
    above = np.searchsorted(values, targets, side="right")
    nxt = np.where(above < len(values), values[np.minimum(above, len(values) - 1)],
                   targets + 1e-3)
    mids = (targets + nxt) / 2
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
                    lengths: Sequence[int] | None = None, min_precision: float | None = None,
                    min_none: float | None = None, wrong_cost: float | None = None
                    ) -> tuple[dict[str, float], dict[str, float]]:
    """Thresholds for precomputed rankings ``[(id, confidence), ...]`` per case: the most
    ``utility`` (right answers to answerable questions minus ``wrong_cost`` per wrong answer,
    per answerable question) with answer precision ≥ ``min_precision`` and ``none`` precision ≥
    ``min_none`` (then most resolved, then accuracy). A setting that misses a floor is only
    chosen when every setting does (``feasible`` 0 in the stats).

    Vectorised over the cases (and over the ``answer`` threshold, by sorting); the rules are
    those of :func:`knowledge.retriever.decide`. Returns ``(thresholds, in-sample stats)``.
    """
    target = min_answer_precision() if min_precision is None else min_precision
    none_floor = min_none_precision() if min_none is None else min_none
    cost = wrong_answer_cost() if wrong_cost is None else wrong_cost
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
    nones = np.asarray(_none_grid(c1, arr.is_none))
    below = ~(c1[None, :] >= nones[:, None])  # (nones, cases)
    relevant = (conf[None, :, :] >= nones[:, None, None]).sum(axis=2)
    none_right = below & arr.is_none
    n_below = below.sum(axis=1)
    none_precision = np.where(n_below > 0, none_right.sum(axis=1) / np.maximum(n_below, 1), 1.0)
    none_ok = none_precision >= none_floor - 1e-12
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
                gain = covered - cost * (answered - right)
                score = np.where(feasible, gain, -np.inf)
                cut = np.argmax(score, axis=1)  # most gain; ties: fewest answered
                ok = feasible[rows, cut]
                cut = np.where(ok, cut, 0)
                ok = ok & none_ok
                utility = gain[rows, cut] / n_answer
                answer_at = np.maximum(cut_at[cut], nones)
                answered_mask = sure_ans | (elig & (c1[None, :] >= answer_at[:, None]))
                clarify = open_ & ~answered_mask
                ans_right = answered_mask & good
                clar_right = clarify & clar_hit
                resolved = (ans_right | clar_right | none_right).sum(axis=1) / n
                accuracy = ((answered_mask & cover) | (clar_right & arr.is_clarify)
                            | none_right).sum(axis=1) / n
                coverage = covered[rows, cut] / n_answer
                # the best ``none`` threshold of this setting (ties: the lowest)
                k = int(np.lexsort((-rows, accuracy, resolved, utility, ok))[-1])
                key = (bool(ok[k]), float(utility[k]), float(resolved[k]),
                       float(accuracy[k]), -short, -margin, -sure)
                if best is None or key > best:
                    best = key
                    n_answered = int(answered_mask[k].sum())
                    best_limits = {"none": float(nones[k]), "answer": float(answer_at[k]),
                                   "margin": margin, "sure": float(sure), "short": short}
                    best_stats = {
                        "feasible": float(ok[k]), "utility": float(utility[k]),
                        "coverage": float(coverage[k]),
                        "resolved": float(resolved[k]), "accuracy": float(accuracy[k]),
                        "answer.precision": (int(ans_right[k].sum()) / n_answered
                                             if n_answered else 1.0),
                        "none.precision": float(none_precision[k]),
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
    return (row["feasible"], row["utility"], row["resolved"], row["accuracy"], row["mrr"])


def _choose(cases: Sequence[EvalCase], rankings: Sequence[Sequence[list[tuple[str, float]]]],
            lengths: Sequence[int], grid: Sequence[dict[str, Any]], idx: Sequence[int],
            target: float, none_floor: float, cost: float) -> list[dict[str, Any]]:
    sub_cases = [cases[i] for i in idx]
    sub_lengths = [lengths[i] for i in idx]
    table = []
    for number, fusion in enumerate(grid):
        ranked = [rankings[number][i] for i in idx]
        limits, stats = best_thresholds(sub_cases, ranked, sub_lengths, target, none_floor,
                                        cost)
        table.append({"fusion": fusion, "grid": number, "thresholds": limits,
                      "mrr": _mrr(sub_cases, ranked), **stats})
    table.sort(key=_row_key, reverse=True)
    return table


def results_for(cases: Sequence[EvalCase], ranked: Sequence[list[tuple[str, float]]],
                lengths: Sequence[int], thresholds: dict[str, Any],
                forced: Sequence[bool] | None = None) -> list[CaseResult]:
    """Outcomes of precomputed rankings under thresholds (latency 0); ``forced`` marks the
    questions that get ``none`` whatever their scores (another city's rules)."""
    results = []
    for number, (case, ranking, chars) in enumerate(zip(cases, ranked, lengths, strict=True)):
        confidences = [c for _, c in ranking]
        outcome, count = decide(confidences, thresholds, chars)
        if forced is not None and forced[number]:
            outcome, count = "none", 0
        results.append(CaseResult(case, outcome, [i for i, _ in ranking], confidences, 0.0,
                                  count, chars))
    return results


def calibrate(retriever: Retriever, cases: Sequence[EvalCase],
              grid: Sequence[dict[str, Any]] | None = None, min_precision: float | None = None,
              folds: int = CV_FOLDS, evidence: Sequence[Evidence | None] | None = None,
              min_none: float | None = None, wrong_cost: float | None = None
              ) -> dict[str, Any]:
    """Choose fusion and thresholds on ``cases`` (see the module docstring).

    Returns ``fusion``, ``thresholds``, ``summary`` (in-sample figures of the choice), ``cv``
    (the figures of the same procedure scored on held-out folds; empty when ``folds`` < 2 or the
    set is too small) and ``table`` (every fusion tried, best first).
    """
    if not cases:
        raise ValueError("the eval set is empty")
    target = min_answer_precision() if min_precision is None else min_precision
    none_floor = min_none_precision() if min_none is None else min_none
    cost = wrong_answer_cost() if wrong_cost is None else wrong_cost
    grid = list(grid or fusion_grid())
    if evidence is None:
        evidence = [retriever.evidence(case.q) for case in cases]  # once per query
    lengths = [query_chars(retriever.analyzer, case.q) for case in cases]
    rankings = [_rankings(retriever, evidence, fusion) for fusion in grid]
    # questions about another city get "none" whatever the thresholds: not fitted on
    forced = [retriever.elsewhere(case.q) is not None for case in cases]
    fit = [i for i, f in enumerate(forced) if not f]
    table = _choose(cases, rankings, lengths, grid, fit, target, none_floor, cost)
    best = table[0]
    summary = metrics_of(results_for(cases, rankings[best["grid"]], lengths,
                                     best["thresholds"], forced))
    cv: dict[str, float] = {}
    fold_of = folds_of(cases, folds) if folds >= 2 else []
    if folds >= 2 and len(set(fold_of)) >= 2:
        held_out: list[CaseResult] = []
        for fold in sorted(set(fold_of)):
            train = [i for i in fit if fold_of[i] != fold]
            test = [i for i, f in enumerate(fold_of) if f == fold]
            chosen = _choose(cases, rankings, lengths, grid, train, target, none_floor, cost)[0]
            held_out += results_for([cases[i] for i in test],
                                    [rankings[chosen["grid"]][i] for i in test],
                                    [lengths[i] for i in test], chosen["thresholds"],
                                    [forced[i] for i in test])
        cv = {k: v for k, v in metrics_of(held_out).items() if not k.startswith("latency")}
        cv["folds"] = float(len(set(fold_of)))
    summary_keys = ("coverage", "answer.precision", "resolved", "accuracy", "mrr",
                    "none.precision", "none.recall")
    return {
        "fusion": best["fusion"],
        "thresholds": {**best["thresholds"], "calibrated": True},
        "min_precision": target,
        "min_none_precision": none_floor,
        "wrong_answer_cost": cost,
        "summary": {k: summary[k] for k in summary_keys},
        "elsewhere": sum(forced),
        "cv": cv,
        "cases": len(cases),
        "table": table,
    }
