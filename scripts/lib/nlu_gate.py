"""Fails when the intent F1 of `rasa test nlu` on the held-out split is below the minimum."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("report", type=Path, help="intent_report.json written by rasa test nlu")
    parser.add_argument("--min-f1", type=float, required=True)
    args = parser.parse_args()
    report = json.loads(args.report.read_text(encoding="utf-8"))
    intents = {
        name: scores
        for name, scores in report.items()
        if isinstance(scores, dict) and "f1-score" in scores and name not in (
            "accuracy", "macro avg", "weighted avg", "micro avg"
        )
    }
    print(f"{'intent':<24}{'f1':>7}{'support':>9}")
    for name, scores in sorted(intents.items(), key=lambda item: item[1]["f1-score"]):
        print(f"{name:<24}{scores['f1-score']:>7.3f}{scores['support']:>9}")
    macro = report["macro avg"]["f1-score"]
    weighted = report["weighted avg"]["f1-score"]
    print(f"\nmacro F1 {macro:.3f}   weighted F1 {weighted:.3f}   minimum {args.min_f1:.2f}")
    if macro < args.min_f1:
        print(f"FAIL: intent macro F1 {macro:.3f} is below {args.min_f1:.2f}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
