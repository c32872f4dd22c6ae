"""Retrieval quality side by side: lexical-only, dense-only and hybrid fusions.

    python bench/kb_quality.py [--kb DIR] [--dict DIR] [--set FILE_OR_DIR] [--model PATH]

Defaults: the fixture KB and eval set under tests/fixtures/kb (use ``--kb knowledge/kb --dict
knowledge/dict --set knowledge/eval`` for the real content). For every configuration the outcome
thresholds are calibrated on the same set (so the outcome columns are in-sample, optimistic) and
the ranking columns (hit@1, hit@3, MRR) do not depend on thresholds. The "hybrid (2-fold)" row
calibrates fusion and thresholds on one half and reports the other half, which is the honest
estimate of the shipped setting.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from knowledge.embedder import make_embedder
from knowledge.evaluation import calibrate, evaluate, load_eval, metrics_of
from knowledge.index import build, load_index
from knowledge.retriever import Retriever
from knowledge.settings import Settings
from knowledge.tokenizer import TextAnalyzer

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "words BM25 only": {"method": "weighted", "w_words": 1.0, "w_chars": 0.0, "w_dense": 0.0},
    "char-bigram BM25 only": {"method": "weighted", "w_words": 0.0, "w_chars": 1.0,
                              "w_dense": 0.0},
    "lexical (words+chars)": {"method": "weighted", "w_words": 0.5, "w_chars": 0.5,
                              "w_dense": 0.0},
    "dense only": {"method": "weighted", "w_words": 0.0, "w_chars": 0.0, "w_dense": 1.0},
    "hybrid RRF (k=60)": {"method": "rrf", "w_words": 0.35, "w_chars": 0.25, "w_dense": 0.4},
    "hybrid weighted (default)": {"method": "weighted", "w_words": 0.2, "w_chars": 0.2,
                                  "w_dense": 0.6},
}


def row(name: str, m: dict[str, float]) -> str:
    return (f"{name:28s} {m.get('hit@1', 0):6.3f} {m.get('hit@3', 0):6.3f} {m.get('mrr', 0):6.3f}"
            f" {m['accuracy']:6.3f} {m['answer.precision']:8.3f} {m['clarify.precision']:9.3f}"
            f" {m['none.precision']:7.3f} {m['none.recall']:7.3f}")


def main() -> None:
    fixtures = ROOT / "tests" / "fixtures" / "kb"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kb", type=Path, default=fixtures / "good")
    parser.add_argument("--dict", type=Path, default=fixtures / "dict")
    parser.add_argument("--set", type=Path, default=fixtures / "eval" / "fixture.jsonl")
    parser.add_argument("--model", default=None)
    parser.add_argument("--index", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    embedder = make_embedder(args.model or Settings.from_env().model_path())
    index = args.index or Path(tempfile.mkdtemp(prefix="kb-quality-"))
    report = build(args.kb, index, embedder, progress=True, dict_dir=args.dict)
    if not report.published and not report.up_to_date:
        raise SystemExit("\n".join(str(i) for i in report.issues if i.severity == "error"))
    retriever = Retriever(load_index(index), embedder, TextAnalyzer(args.dict))
    cases = load_eval(args.set)
    print(f"KB {args.kb} ({report.n_items} items, {report.n_rows} rows); eval {args.set} "
          f"({len(cases)} questions); model {embedder.name}")
    print(f"{'configuration':28s} {'hit@1':>6s} {'hit@3':>6s} {'MRR':>6s} {'acc':>6s} "
          f"{'answer.P':>8s} {'clarify.P':>9s} {'none.P':>7s} {'none.R':>7s}")
    for name, fusion in CONFIGS.items():
        full = {**fusion, "answer_row_weight": 0.85}
        tuned = calibrate(retriever, cases, grid=[full])
        m = evaluate(retriever, cases, thresholds=tuned["thresholds"], fusion=full).metrics
        print(row(name, m))
    tuned = calibrate(retriever, cases)
    m = evaluate(retriever, cases, thresholds=tuned["thresholds"], fusion=tuned["fusion"]).metrics
    print(row("hybrid weighted (calibrated)", m))
    halves = (cases[0::2], cases[1::2])
    results = []
    for train, test in (halves, halves[::-1]):
        fold = calibrate(retriever, train)
        results += evaluate(retriever, test, thresholds=fold["thresholds"],
                            fusion=fold["fusion"]).results
    print(row("hybrid (2-fold held out)", metrics_of(results)))
    f = tuned["fusion"]
    print(f"\ncalibrated fusion: {f['method']} words {f['w_words']} chars {f['w_chars']} dense "
          f"{f['w_dense']} body-row weight {f['answer_row_weight']}; thresholds "
          f"{ {k: round(v, 3) for k, v in tuned['thresholds'].items() if k != 'calibrated'} }")
    print(f"latency p50 {m['latency.p50_ms']:.1f} ms, p95 {m['latency.p95_ms']:.1f} ms")


if __name__ == "__main__":
    main()
