"""Recall and false-alarm rate of the emergency detector on safety/eval/emergency.jsonl.

    python bench/emergency_eval.py                    # all, and each split
    python bench/emergency_eval.py --split round4     # one split
    python bench/emergency_eval.py --errors           # also list the misses and false alarms
    python bench/emergency_eval.py --lexicon-only     # without the classifier
    python bench/emergency_eval.py --cv               # 5-fold cross-validation on the training
                                                      # file, per classifier threshold

Each line of the eval set is ``{"text", "kind": <kind> | null, "split"}``; a null kind is a hard
negative (an ordinary question that mentions 心脏病, 消防, 燃气费, 心理咨询 …). Neither split was
used to train the classifier (``safety/data/emergency_train.jsonl``): ``heldout`` was written
with the training data (a third chosen by a hash of the text) and seen while writing the
lexicon; ``round4`` was written after the lexicon and the classifier's training data were
frozen, and measured once.

Per kind: recall = share of that kind's emergencies detected (as any kind: every kind's answer
names the numbers); kind accuracy = share answered with the labelled kind; false alarms = share
of all negatives answered as that kind. Pure: no server, runs on either environment.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from safety.emergency import KINDS, detect  # noqa: E402

DEFAULT_SET = ROOT / "safety" / "eval" / "emergency.jsonl"


@dataclass
class Report:
    positives: dict[str, int] = field(default_factory=dict)
    detected: dict[str, int] = field(default_factory=dict)
    right_kind: dict[str, int] = field(default_factory=dict)
    negatives: int = 0
    false_alarms: dict[str, int] = field(default_factory=dict)
    certain_detected: int = 0
    certain_false_alarms: int = 0
    misses: list[tuple[str, str]] = field(default_factory=list)
    alarms: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def recall(self) -> float:
        total = sum(self.positives.values())
        return sum(self.detected.values()) / total if total else 0.0

    @property
    def false_alarm_rate(self) -> float:
        return sum(self.false_alarms.values()) / self.negatives if self.negatives else 0.0

    def kind_recall(self, kind: str) -> float:
        total = self.positives.get(kind, 0)
        return self.detected.get(kind, 0) / total if total else 0.0

    def kind_false_alarm_rate(self, kind: str) -> float:
        return self.false_alarms.get(kind, 0) / self.negatives if self.negatives else 0.0


def load(path: Path, split: str | None = None) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]
    return [row for row in rows if split in (None, "all") or row.get("split") == split]


def evaluate(rows: list[dict], model: object = True) -> Report:
    report = Report()
    for row in rows:
        found = detect(row["text"], model)  # type: ignore[arg-type]
        kind = row.get("kind")
        if kind:
            report.positives[kind] = report.positives.get(kind, 0) + 1
            if found is not None:
                report.detected[kind] = report.detected.get(kind, 0) + 1
                report.certain_detected += found.certain
                if found.kind == kind:
                    report.right_kind[kind] = report.right_kind.get(kind, 0) + 1
            else:
                report.misses.append((kind, row["text"]))
        else:
            report.negatives += 1
            if found is not None:
                report.false_alarms[found.kind] = report.false_alarms.get(found.kind, 0) + 1
                report.certain_false_alarms += found.certain
                report.alarms.append((found.kind, found.sign, row["text"]))
    return report


def render(report: Report, title: str) -> str:
    lines = [title, f"{'kind':<10} {'pos':>4} {'recall':>7} {'kind ok':>8} "
             f"{'false alarms':>13}"]
    for kind in KINDS:
        pos = report.positives.get(kind, 0)
        right = report.right_kind.get(kind, 0)
        lines.append(
            f"{kind:<10} {pos:>4} {report.kind_recall(kind):>7.1%} "
            f"{(right / pos if pos else 0):>8.1%} "
            f"{report.false_alarms.get(kind, 0):>4} ({report.kind_false_alarm_rate(kind):.1%})"
        )
    total = sum(report.positives.values())
    lines.append(
        f"{'all':<10} {total:>4} {report.recall:>7.1%} "
        f"{(sum(report.right_kind.values()) / total if total else 0):>8.1%} "
        f"{sum(report.false_alarms.values()):>4} ({report.false_alarm_rate:.1%}) "
        f"of {report.negatives} negatives"
    )
    if total and report.negatives:
        lines.append(
            f"{'certain':<10} {'':>4} {report.certain_detected / total:>7.1%} {'':>8} "
            f"{report.certain_false_alarms:>4} "
            f"({report.certain_false_alarms / report.negatives:.1%})"
            "   (lexicon: answered as the emergency intent; the rest get a notice first)"
        )
    return "\n".join(lines)


def cross_validate(folds: int = 5) -> None:
    """The classifier alone, k-fold on its training data: recall on the labelled emergencies,
    false alarms on the labelled (hard) negatives and on the assistant's ordinary messages, per
    threshold. This, not the eval set, is what THRESHOLD in safety/emergency.py is chosen on."""
    from safety.classifier import EmergencyModel, load_examples, load_ordinary

    labelled, ordinary = load_examples(), load_ordinary()
    scores: list[float] = [0.0] * len(labelled)
    ordinary_scores: list[float] = [0.0] * len(ordinary)
    for fold in range(folds):
        model = EmergencyModel(
            [e for i, e in enumerate(labelled) if i % folds != fold]
            + [e for i, e in enumerate(ordinary) if i % folds != fold])
        for i, example in enumerate(labelled):
            if i % folds == fold:
                scores[i] = model.probability(example.text)
        for i, example in enumerate(ordinary):
            if i % folds == fold:
                ordinary_scores[i] = model.probability(example.text)
    positives = [s for s, e in zip(scores, labelled, strict=True) if e.kind]
    negatives = [s for s, e in zip(scores, labelled, strict=True) if not e.kind]
    print(f"classifier alone, {folds}-fold: {len(positives)} emergencies, {len(negatives)} hard "
          f"negatives, {len(ordinary)} ordinary messages")
    print(f"{'threshold':>9} {'recall':>7} {'FA hard':>8} {'FA ordinary':>12}")
    for threshold in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        print(f"{threshold:>9.2f} {sum(s >= threshold for s in positives) / len(positives):>7.1%} "
              f"{sum(s >= threshold for s in negatives) / len(negatives):>8.1%} "
              f"{sum(s >= threshold for s in ordinary_scores) / len(ordinary):>12.1%}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", type=Path, default=DEFAULT_SET)
    parser.add_argument("--split", choices=["all", "heldout", "round4"], default=None,
                        help="default: all, dev and test each")
    parser.add_argument("--errors", action="store_true", help="list misses and false alarms")
    parser.add_argument("--lexicon-only", action="store_true", help="without the classifier")
    parser.add_argument("--cv", action="store_true", help="cross-validate on the training file")
    args = parser.parse_args(argv)
    if args.cv:
        cross_validate()
        return 0
    model = not args.lexicon_only
    splits = [args.split] if args.split else ["all", "heldout", "round4"]
    for split in splits:
        report = evaluate(load(args.set, split), model)
        label = "lexicon only" if args.lexicon_only else "lexicon + classifier"
        print(render(report, f"== {args.set.name} [{split}] {label}"))
        if args.errors:
            for kind, text in report.misses:
                print(f"  MISS  {kind:<9} {text}")
            for kind, sign, text in report.alarms:
                print(f"  ALARM {kind:<9} {sign:<18} {text}")
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
