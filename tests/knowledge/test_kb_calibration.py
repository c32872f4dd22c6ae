"""The calibration objective: most coverage with answer precision >= the target, the clarify band,
and held-out (cross-validated) figures."""

from __future__ import annotations

import random

import pytest
from _kb_support import DICT_DIR, EVAL_SET, GOOD_KB

from knowledge.embedder import HashEmbedder
from knowledge.evaluation import (
    EvalCase,
    best_thresholds,
    calibrate,
    folds_of,
    load_eval,
    metrics_of,
    min_answer_precision,
    min_none_precision,
    results_for,
    wrong_answer_cost,
)
from knowledge.index import build, load_index
from knowledge.retriever import Retriever, decide
from knowledge.tokenizer import TextAnalyzer

pytestmark = pytest.mark.unit


def _synthetic(seed: int = 3, n: int = 400) -> tuple[list[EvalCase], list[list[tuple[str, float]]]]:
    """Answerable questions whose top hit is right more often the more confident it is, and
    out-of-scope questions with low confidences."""
    rng = random.Random(seed)
    cases, ranked = [], []
    for number in range(n):
        if number % 5 == 0:
            cases.append(EvalCase(f"none {number}", "none", []))
            top = rng.uniform(0.1, 0.6)
            ranked.append([("x1", top), ("x2", top - rng.uniform(0.05, 0.2))])
            continue
        top = rng.uniform(0.3, 1.0)
        right = rng.random() < top  # confidence ~ probability of being right
        cases.append(EvalCase(f"q {number}", "answer", [f"e{number}"]))
        first = f"e{number}" if right else "wrong"
        second = "other" if right else f"e{number}"
        ranked.append([(first, top), (second, top - rng.uniform(0.05, 0.3))])
    return cases, ranked


@pytest.mark.parametrize("target", [0.9, 0.95])
def test_most_coverage_at_the_minimum_answer_precision(target: float) -> None:
    cases, ranked = _synthetic()
    lengths = [10] * len(cases)
    limits, stats = best_thresholds(cases, ranked, lengths, min_precision=target, wrong_cost=0)
    results = results_for(cases, ranked, lengths, limits)
    m = metrics_of(results)
    # the rules are those of decide(): the vectorised search scored exactly these outcomes
    assert m["answer.precision"] == pytest.approx(stats["answer.precision"])
    assert m["coverage"] == pytest.approx(stats["coverage"])
    assert m["answer.precision"] >= target
    assert 0.1 < m["coverage"] < 1.0
    # the uncertain middle gets a clarification, not a guess and not a flat "none"
    assert limits["answer"] > limits["none"]
    assert {r.outcome for r in results} == {"answer", "clarify", "none"}
    # no setting of the answer threshold alone covers more at that precision
    for cut in sorted({c for r in ranked for _, c in r[:1]}):
        other = metrics_of(results_for(cases, ranked, lengths, {**limits, "answer": cut}))
        if other["answer.precision"] >= target:
            assert other["coverage"] <= m["coverage"] + 1e-9


def test_a_lower_target_answers_more() -> None:
    cases, ranked = _synthetic()
    strict = best_thresholds(cases, ranked, None, min_precision=0.97, wrong_cost=0)[1]
    loose = best_thresholds(cases, ranked, None, min_precision=0.85, wrong_cost=0)[1]
    assert loose["coverage"] > strict["coverage"]
    assert strict["answer.precision"] >= 0.97 and loose["answer.precision"] >= 0.85


def test_a_wrong_answer_costs_more_than_a_missed_one() -> None:
    cases, ranked = _synthetic()
    lengths = [10] * len(cases)
    plain_limits, plain = best_thresholds(cases, ranked, lengths, 0.8, wrong_cost=0)
    careful_limits, careful = best_thresholds(cases, ranked, lengths, 0.8, wrong_cost=3)
    # with wrong answers weighed, it answers less and is right more often
    assert careful_limits["answer"] > plain_limits["answer"]
    assert careful["answer.precision"] > plain["answer.precision"]
    assert careful["coverage"] < plain["coverage"]
    m = metrics_of(results_for(cases, ranked, lengths, careful_limits))
    n_answerable = sum(c.expect == "answer" for c in cases)
    right = m["coverage"] * n_answerable
    wrong = m["answer.predicted"] - right
    assert careful["utility"] == pytest.approx((right - 3 * wrong) / n_answerable)


def test_none_precision_floor_keeps_answerable_questions_out_of_none() -> None:
    # out-of-scope questions and retrieval misses (answerable, but no right entry found) score
    # alike: "none" for both resolves more, so only the floor keeps the misses out of it
    rng = random.Random(5)
    cases: list[EvalCase] = []
    ranked: list[list[tuple[str, float]]] = []
    for number in range(200):
        kind = ("none", "miss", "hit", "hit", "hit")[number % 5]
        top = rng.uniform(0.1, 0.5) if kind != "hit" else rng.uniform(0.6, 1.0)
        ids = [] if kind == "none" else [f"e{number}"]
        cases.append(EvalCase(f"q {number}", "none" if kind == "none" else "answer", ids))
        first = f"e{number}" if kind == "hit" else "x"
        ranked.append([(first, top), ("y", top - rng.uniform(0.1, 0.2))])
    lengths = [10] * len(cases)
    strict_limits, strict = best_thresholds(cases, ranked, lengths, 0.9, min_none=0.95)
    loose_limits, loose = best_thresholds(cases, ranked, lengths, 0.9, min_none=0.05)
    m = metrics_of(results_for(cases, ranked, lengths, strict_limits))
    assert m["none.precision"] == pytest.approx(strict["none.precision"])
    assert m["none.precision"] >= 0.95 and m["none.recall"] > 0
    # without the floor more out-of-scope questions get "none", but so do answerable ones
    assert loose["none.precision"] < 0.95 and loose["none.recall"] > strict["none.recall"]
    assert strict_limits["none"] < loose_limits["none"]
    # the answer side is still held to its own target
    assert strict["answer.precision"] >= 0.9


def test_target_is_a_documented_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert min_answer_precision() == 0.95
    monkeypatch.setenv("MINSHENG_KB_MIN_PRECISION", "0.9")
    assert min_answer_precision() == 0.9
    monkeypatch.setenv("MINSHENG_KB_MIN_PRECISION", "2")
    with pytest.raises(ValueError, match="MINSHENG_KB_MIN_PRECISION"):
        min_answer_precision()
    assert wrong_answer_cost() == 3.0
    monkeypatch.setenv("MINSHENG_KB_WRONG_ANSWER_COST", "0")
    assert wrong_answer_cost() == 0.0
    monkeypatch.setenv("MINSHENG_KB_WRONG_ANSWER_COST", "-1")
    with pytest.raises(ValueError, match="MINSHENG_KB_WRONG_ANSWER_COST"):
        wrong_answer_cost()
    assert min_none_precision() == 0.9
    monkeypatch.setenv("MINSHENG_KB_MIN_NONE_PRECISION", "0.8")
    assert min_none_precision() == 0.8
    monkeypatch.setenv("MINSHENG_KB_MIN_NONE_PRECISION", "high")
    with pytest.raises(ValueError, match="MINSHENG_KB_MIN_NONE_PRECISION"):
        min_none_precision()


def test_decide_answer_band() -> None:
    limits = {"none": 0.4, "answer": 0.6, "margin": 0.02, "sure": 0.9, "short": 0}
    assert decide([0.35], limits) == ("none", 0)
    assert decide([0.5, 0.3], limits) == ("clarify", 1)  # uncertain: ask
    assert decide([0.5, 0.45], limits) == ("clarify", 2)
    assert decide([0.7, 0.3], limits) == ("answer", 1)
    assert decide([0.5], {**limits, "answer": 0.4}) == ("answer", 1)  # no band: as before


def test_metrics_count_a_wrong_answer_and_a_useful_clarification() -> None:
    cases = [EvalCase("a", "answer", ["e1"]), EvalCase("b", "answer", ["e2"]),
             EvalCase("c", "none", []), EvalCase("d", "clarify", ["e4", "e5"]),
             EvalCase("e", "answer", ["e6"])]
    ranked = [[("e1", 0.9)], [("x", 0.8)], [("y", 0.7)], [("e5", 0.5), ("e4", 0.49)],
              [("z", 0.5), ("e6", 0.49)]]
    limits = {"none": 0.45, "answer": 0.6, "margin": 0.02, "sure": 9.0, "short": 0}
    m = metrics_of(results_for(cases, ranked, [10] * 5, limits))
    assert m["answer.precision"] == pytest.approx(1 / 3)  # e1 right; x and y (a none) wrong
    assert m["coverage"] == pytest.approx(1 / 3)  # of the three answerable questions
    assert m["clarify.precision"] == 1.0 and m["clarify.recall"] == 1.0
    assert m["none.predicted"] == 0 and m["none.recall"] == 0.0
    assert m["resolved"] == pytest.approx(3 / 5)  # e1, d's and e's clarifications
    assert m["accuracy"] == pytest.approx(2 / 5)  # e's clarification is not the expected answer


def test_folds_keep_the_paraphrases_of_an_entry_together() -> None:
    cases = load_eval(EVAL_SET)
    folds = folds_of(cases, 5)
    by_entry: dict[str, set[int]] = {}
    for case, fold in zip(cases, folds, strict=True):
        by_entry.setdefault(case.group, set()).add(fold)
    assert all(len(f) == 1 for f in by_entry.values())
    assert len(set(folds)) == 5
    assert folds == folds_of(list(reversed(cases)), 5)[::-1]  # not the order of the file


def test_calibrate_reports_held_out_figures(tmp_path) -> None:
    build(GOOD_KB, tmp_path / "index", HashEmbedder(64), progress=False, dict_dir=DICT_DIR)
    retriever = Retriever(load_index(tmp_path / "index"), HashEmbedder(64),
                          TextAnalyzer(DICT_DIR))
    cases = load_eval(EVAL_SET)
    grid = [{"method": "weighted", "w_words": 0.4, "w_chars": 0.4, "w_dense": 0.2,
             "answer_row_weight": 1.0, "support": s} for s in (0.0, 0.5)]
    result = calibrate(retriever, cases, grid=grid, min_precision=0.9, folds=3)
    assert result["thresholds"]["calibrated"] is True
    assert result["summary"]["answer.precision"] >= 0.9
    assert result["cv"]["folds"] == 3 and result["cv"]["cases"] == len(cases)
    assert {"coverage", "answer.precision", "none.recall", "hit@1"} <= set(result["cv"])
    assert result["fusion"] in grid and result["min_precision"] == 0.9
    assert result["min_none_precision"] == 0.9 and result["wrong_answer_cost"] == 3.0
    assert calibrate(retriever, cases, grid=grid, folds=0)["cv"] == {}
