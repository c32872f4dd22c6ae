"""Evaluation set, metrics and calibration.

Eval files are JSONL (``knowledge/eval/*.jsonl``): ``{"q", "expect": answer|clarify|none, "ids",
"area"}``. A case is correct when:

- ``answer``: the outcome is ``answer`` and the top hit is one of ``ids``;
- ``clarify``: the outcome is ``clarify`` and one of the suggested items is in ``ids``;
- ``none``: the outcome is ``none``.

:func:`calibrate` chooses the fusion weights and the outcome thresholds on an eval set: it
maximises outcome accuracy among settings whose ``none`` precision is at least
``NONE_PRECISION`` (ties: higher ``answer`` precision, then MRR).
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .model import Outcome
from .retriever import Evidence, Ranked, Retriever, decide, query_chars

NONE_PRECISION = 0.9
OUTCOMES: tuple[Outcome, ...] = ("answer", "clarify", "none")


@dataclass
class EvalCase:
    q: str
    expect: Outcome
    ids: list[str]
    area: str | None = None
    where: str = ""


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
    def correct(self) -> bool:
        return outcome_correct(self.case, self.outcome, self.ids, self.suggested)


@dataclass
class EvalReport:
    results: list[CaseResult]
    metrics: dict[str, float] = field(default_factory=dict)

    def wrong(self) -> list[CaseResult]:
        return [r for r in self.results if not r.correct]


def outcome_correct(case: EvalCase, outcome: Outcome, ids: Sequence[str], suggested: int) -> bool:
    if outcome != case.expect:
        return False
    if outcome == "answer":
        return bool(ids) and ids[0] in case.ids
    if outcome == "clarify":
        return any(i in case.ids for i in ids[:max(suggested, 2)][:3])
    return True


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
    ranked = [r for r in results if r.case.expect != "none"]
    out: dict[str, float] = {"cases": float(len(results))}
    if ranked:
        ranks = [r.rank for r in ranked]
        out["hit@1"] = sum(1 for k in ranks if k == 1) / len(ranked)
        out["hit@3"] = sum(1 for k in ranks if k is not None and k <= 3) / len(ranked)
        out["mrr"] = sum(1.0 / k for k in ranks if k) / len(ranked)
    out["accuracy"] = sum(r.correct for r in results) / len(results) if results else 0.0
    for outcome in OUTCOMES:
        predicted = [r for r in results if r.outcome == outcome]
        expected = [r for r in results if r.case.expect == outcome]
        out[f"{outcome}.predicted"] = float(len(predicted))
        out[f"{outcome}.expected"] = float(len(expected))
        out[f"{outcome}.precision"] = (sum(r.correct for r in predicted) / len(predicted)
                                       if predicted else 1.0)
        out[f"{outcome}.recall"] = (sum(r.correct for r in expected) / len(expected)
                                    if expected else 1.0)
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
    grid: list[dict[str, Any]] = []
    steps = [i / 5 for i in range(6)]
    for w_words in steps:
        for w_chars in steps:
            w_dense = round(1.0 - w_words - w_chars, 3)
            if w_dense < -1e-9:
                continue
            for row_weight in (0.7, 0.85, 1.0):
                grid.append({"method": "weighted", "w_words": w_words, "w_chars": w_chars,
                             "w_dense": max(w_dense, 0.0), "answer_row_weight": row_weight})
    grid.append({"method": "rrf", "w_words": 0.35, "w_chars": 0.25, "w_dense": 0.40,
                 "answer_row_weight": 0.85})
    return grid


def _threshold_grid(tops: Sequence[float]) -> tuple[list[float], list[float], list[float]]:
    values = sorted(set(round(v, 4) for v in tops))
    mids = [(a + b) / 2 for a, b in itertools.pairwise(values)]
    nones = [0.0, *mids[:: max(1, len(mids) // 40)], *([values[-1] + 1e-3] if values else [])]
    margins = [0.0, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12]
    upper = [m for m in mids if m > 0]
    sures = [9.0, *upper[len(upper) // 2 :: max(1, len(upper) // 10)]]
    return nones, margins, sures


def best_thresholds(cases: Sequence[EvalCase], ranked: Sequence[list[tuple[str, float]]],
                    lengths: Sequence[int] | None = None
                    ) -> tuple[dict[str, float], dict[str, float]]:
    """Grid-search thresholds for precomputed rankings ``[(id, confidence), ...]`` per case.

    Vectorised over the cases; the rules are those of :func:`knowledge.retriever.decide`.
    """
    n = len(cases)
    conf = np.full((n, 3), -np.inf)
    for row, ranking in enumerate(ranked):
        for col, (_, value) in enumerate(ranking[:3]):
            conf[row, col] = value
    c1 = conf[:, 0]
    expect = np.array([c.expect for c in cases])
    top1 = np.array([bool(r) and r[0][0] in c.ids for c, r in zip(cases, ranked, strict=True)])
    hit2 = np.array([any(i in c.ids for i, _ in r[:2]) for c, r in zip(cases, ranked,
                                                                        strict=True)])
    hit3 = np.array([any(i in c.ids for i, _ in r[:3]) for c, r in zip(cases, ranked,
                                                                        strict=True)])
    chars = np.array(list(lengths) if lengths is not None else [99] * n)
    ok_answer = (expect == "answer") & top1
    is_clarify = expect == "clarify"
    is_none = expect == "none"
    nones, margins, sures = _threshold_grid([r[0][1] for r in ranked if r])
    best: tuple[Any, ...] | None = None
    best_limits: dict[str, float] = {}
    best_stats: dict[str, float] = {}
    for none in nones:
        below = ~(c1 >= none)
        relevant = (conf >= none).sum(axis=1)
        for sure in sures:
            if sure <= none:
                continue
            sure_answer = ~below & (c1 >= sure)
            open_ = ~below & ~sure_answer
            for margin in margins:
                close = (conf >= (c1 - margin)[:, None]).sum(axis=1)
                by_margin = open_ & (close >= 2)
                for short in (0, 2, 3, 4):
                    by_short = open_ & ~by_margin & (chars <= short) & (relevant >= 2)
                    clarify = by_margin | by_short
                    count = np.where(by_margin, close, relevant)
                    answer = ~below & ~clarify
                    ok = (answer & ok_answer) | (below & is_none) | (
                        clarify & is_clarify & np.where(count >= 3, hit3, hit2))
                    pred_none, pred_answer = int(below.sum()), int(answer.sum())
                    p_none = int((below & is_none).sum()) / pred_none if pred_none else 1.0
                    p_answer = (int((answer & ok_answer).sum()) / pred_answer
                                if pred_answer else 0.0)
                    accuracy = int(ok.sum()) / n
                    key = (p_none >= NONE_PRECISION, accuracy, p_answer, -short, margin > 0,
                           -margin)
                    if best is None or key > best:
                        best = key
                        best_limits = {"none": float(none), "margin": margin,
                                       "sure": float(sure), "short": short}
                        best_stats = {"accuracy": accuracy, "none.precision": p_none,
                                      "answer.precision": p_answer}
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


def calibrate(retriever: Retriever, cases: Sequence[EvalCase],
              grid: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Choose fusion and thresholds on ``cases``; returns them with the comparison table."""
    if not cases:
        raise ValueError("the eval set is empty")
    evidence = [retriever.evidence(case.q) for case in cases]  # once per query
    lengths = [query_chars(retriever.analyzer, case.q) for case in cases]
    table = []
    for fusion in grid or fusion_grid():
        ranked = _rankings(retriever, evidence, fusion)
        limits, stats = best_thresholds(cases, ranked, lengths)
        table.append({"fusion": fusion, "thresholds": limits, "mrr": _mrr(cases, ranked),
                      **stats})
    table.sort(key=lambda row: (row["none.precision"] >= NONE_PRECISION, row["accuracy"],
                                row["mrr"], row["answer.precision"]), reverse=True)
    best = table[0]
    return {
        "fusion": best["fusion"],
        "thresholds": {**best["thresholds"], "calibrated": True},
        "summary": {k: best[k] for k in ("accuracy", "mrr", "none.precision",
                                         "answer.precision")},
        "cases": len(cases),
        "table": table,
    }
