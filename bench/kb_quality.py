"""Retrieval quality side by side: lexical-only, dense-only and hybrid, on the same eval set.

    python bench/kb_quality.py [--kb DIR] [--dict DIR] [--set FILE_OR_DIR] [--model PATH]
                               [--min-precision 0.95] [--folds 5] [--latency]

Defaults: the real content (knowledge/kb, knowledge/dict, knowledge/eval) and the default model;
``--kb tests/fixtures/kb/good --dict tests/fixtures/kb/dict --set
tests/fixtures/kb/eval/fixture.jsonl`` runs the small fixture.

For every configuration: hit@1, hit@3 and MRR (they do not depend on thresholds), then the
outcome figures **held out**: the thresholds are calibrated for the most coverage at answer
precision >= ``--min-precision`` on k-1 folds and scored on the remaining fold (folds grouped by
entry), as ``scripts/kb calibrate`` does. ``coverage`` = answerable questions answered with a
right entry; ``answer.P`` = answered questions whose entry is right; ``resolved`` = right
answer, a clarification offering a right entry, or rightly no answer. The last rows choose the
fusion as well (all inside each fold), which is what ``scripts/kb calibrate`` ships.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from knowledge.embedder import make_embedder
from knowledge.evaluation import (
    CV_FOLDS,
    calibrate,
    evaluate,
    load_eval,
    min_answer_precision,
    min_none_precision,
    wrong_answer_cost,
)
from knowledge.index import build, load_index
from knowledge.retriever import Retriever
from knowledge.settings import Settings
from knowledge.tokenizer import TextAnalyzer

ROOT = Path(__file__).resolve().parents[1]
AGGREGATE = {"answer_row_weight": 1.0, "support": 0.5}
CONFIGS = {
    "words BM25 only": {"method": "weighted", "w_words": 1.0, "w_chars": 0.0, "w_dense": 0.0,
                        **AGGREGATE},
    "char-bigram BM25 only": {"method": "weighted", "w_words": 0.0, "w_chars": 1.0,
                              "w_dense": 0.0, **AGGREGATE},
    "lexical (words+chars)": {"method": "weighted", "w_words": 0.5, "w_chars": 0.5,
                              "w_dense": 0.0, **AGGREGATE},
    "dense only": {"method": "weighted", "w_words": 0.0, "w_chars": 0.0, "w_dense": 1.0,
                   **AGGREGATE},
    "hybrid RRF (k=60)": {"method": "rrf", "w_words": 0.35, "w_chars": 0.25, "w_dense": 0.4,
                          "answer_row_weight": 0.85, "support": 0.0},
    "hybrid, best row only": {"method": "weighted", "w_words": 0.2, "w_chars": 0.2,
                              "w_dense": 0.6, "answer_row_weight": 0.85, "support": 0.0},
    "hybrid 0.2/0.2/0.6 + support": {"method": "weighted", "w_words": 0.2, "w_chars": 0.2,
                                     "w_dense": 0.6, **AGGREGATE},
}
HEADER = (f"{'configuration':30s} {'hit@1':>6s} {'hit@3':>6s} {'MRR':>6s} | {'cover':>6s} "
          f"{'ans.P':>6s} {'clar.P':>6s} {'none.P':>6s} {'none.R':>6s} {'resolv':>6s}")


def row(name: str, m: dict[str, float]) -> str:
    return (f"{name:30s} {m.get('hit@1', 0):6.3f} {m.get('hit@3', 0):6.3f} "
            f"{m.get('mrr', 0):6.3f} | {m['coverage']:6.3f} {m['answer.precision']:6.3f} "
            f"{m['clarify.precision']:6.3f} {m['none.precision']:6.3f} {m['none.recall']:6.3f} "
            f"{m['resolved']:6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kb", type=Path, default=ROOT / "knowledge" / "kb")
    parser.add_argument("--dict", type=Path, default=ROOT / "knowledge" / "dict")
    parser.add_argument("--set", type=Path, default=ROOT / "knowledge" / "eval")
    parser.add_argument("--model", default=None)
    parser.add_argument("--index", type=Path, default=None)
    parser.add_argument("--min-precision", type=float, default=None)
    parser.add_argument("--folds", type=int, default=CV_FOLDS)
    parser.add_argument("--latency", action="store_true",
                        help="also time every question with the calibrated hybrid")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    target = args.min_precision if args.min_precision is not None else min_answer_precision()
    embedder = make_embedder(args.model or Settings.from_env().model_path(), threads=1)
    index = args.index or Path(tempfile.mkdtemp(prefix="kb-quality-"))
    report = build(args.kb, index, embedder, progress=True, dict_dir=args.dict)
    if not report.published and not report.up_to_date:
        raise SystemExit("\n".join(str(i) for i in report.issues if i.severity == "error"))
    retriever = Retriever(load_index(index), embedder, TextAnalyzer(args.dict))
    cases = load_eval(args.set)
    started, cpu = time.perf_counter(), time.process_time()
    evidence = [retriever.evidence(case.q) for case in cases]  # every channel, once per question
    took = time.perf_counter() - started
    print(f"KB {args.kb} ({report.n_items} items, {report.n_rows} rows); eval {args.set} "
          f"({len(cases)} questions: {sum(c.expect == 'answer' for c in cases)} answer, "
          f"{sum(c.expect == 'clarify' for c in cases)} clarify, "
          f"{sum(c.expect == 'none' for c in cases)} none); model {embedder.name}")
    print(f"retrieval of all questions: {took:.1f}s wall, {time.process_time() - cpu:.1f}s CPU")
    print(f"outcome columns: held out ({args.folds}-fold, grouped by entry), thresholds "
          f"calibrated for answer precision >= {target:.2f} and none precision >= "
          f"{min_none_precision():.2f}, a wrong answer costing {wrong_answer_cost():g}\n")
    print(HEADER)
    for name, fusion in CONFIGS.items():
        result = calibrate(retriever, cases, grid=[fusion], min_precision=target,
                           folds=args.folds, evidence=evidence)
        print(row(name, result["cv"]))
    tuned = calibrate(retriever, cases, min_precision=target, folds=args.folds,
                      evidence=evidence)
    print(row("hybrid, fusion calibrated", tuned["cv"]))
    f = tuned["fusion"]
    print(f"\nchosen on all questions: {f['method']} words {f['w_words']} chars {f['w_chars']} "
          f"dense {f['w_dense']} body-row weight {f['answer_row_weight']} support "
          f"{f.get('support', 0)}; thresholds "
          f"{ {k: round(v, 3) for k, v in tuned['thresholds'].items() if k != 'calibrated'} }")
    print("in-sample figures of that choice (optimistic): "
          + ", ".join(f"{k} {v:.3f}" for k, v in tuned["summary"].items()))
    if args.latency:
        clear = getattr(embedder, "clear_cache", None)
        if clear is not None:
            clear()  # time real encodings, not the cache of the pass above
        m = evaluate(retriever, cases, thresholds=tuned["thresholds"],
                     fusion=tuned["fusion"]).metrics
        print(f"latency per question (one thread): p50 {m['latency.p50_ms']:.1f} ms, "
              f"p95 {m['latency.p95_ms']:.1f} ms")


if __name__ == "__main__":
    main()
