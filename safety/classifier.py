"""The learned half of the emergency detector: character n-grams and logistic regression.

The lexicon (:mod:`safety.emergency`) catches the phrasings it knows and handles negation; on
phrasings written after it was frozen it caught about half (README "Safety"). This model,
trained on ``safety/data/emergency_train.jsonl`` (an emergency kind or null per message), reads
the characters: it still sees 胸口, 喘, 血, 晕, 着了 … in a sentence no pattern foresaw.

- Training data: the labelled file, plus the assistant's own ordinary messages as negatives
  (the NLU examples in ``bot/data/nlu/`` and the knowledge questions in ``knowledge/eval/``),
  leaving out any the lexicon finds a sign in (chest pain at an appointment is not "ordinary").
  Without them the model saw mostly danger-adjacent negatives and took plain messages such as
  "明白了" or "楼道灯不亮" for emergencies.
- Features: TF-IDF of character 1-3-grams of the normalised text (Chinese needs no tokenizer
  for this, and typos or homophones change one n-gram, not the whole word).
- ``probability(text)``: P(emergency) from a binary logistic regression (balanced classes,
  liblinear: a fraction of a second to train).
- ``kind(text)``: the most likely kind from a second logistic regression over the positives.

Trained on first use (one to two seconds, mostly reading the files), never at import, and
deterministic. :func:`warm_up` trains it in a background thread, so the Rasa server does that at
start (the NLU component calls it) and no resident waits for it; until it is ready the detector
is the lexicon alone. Needs scikit-learn, which both environments have (Rasa depends on it);
without it the detector is the lexicon alone (a warning is logged).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
TRAINING_FILE = ROOT / "safety" / "data" / "emergency_train.jsonl"
_ANNOTATION = re.compile(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}")
NGRAMS = (1, 3)
C = 10.0


@dataclass(frozen=True)
class Example:
    text: str
    kind: str | None


def load_examples(path: Path = TRAINING_FILE) -> list[Example]:
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if not isinstance(row.get("text"), str):
            raise ValueError(f"{path}:{number}: 'text' must be a string")
        examples.append(Example(row["text"], row.get("kind") or None))
    return examples


def load_ordinary(root: Path = ROOT) -> list[Example]:
    """The assistant's own non-emergency messages (see the module docstring)."""
    import yaml

    from safety.emergency import hits

    texts: list[str] = []
    for path in sorted((root / "bot" / "data" / "nlu").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or []:
            if "intent" not in block or not isinstance(block.get("examples"), str):
                continue
            for line in block["examples"].splitlines():
                line = line.strip()
                if line.startswith("- "):
                    texts.append(_ANNOTATION.sub(lambda m: m.group(1) or m.group(2) or "",
                                                 line[2:]).strip())
    for path in sorted((root / "knowledge" / "eval").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                question = json.loads(line).get("q")
                if isinstance(question, str):
                    texts.append(question)
    unique = dict.fromkeys(t for t in texts if t and not t.startswith("/") and not hits(t))
    return [Example(text, None) for text in unique]


class EmergencyModel:
    """Two logistic regressions over character n-grams (see the module docstring)."""

    def __init__(self, examples: list[Example]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        from safety.emergency import normalise

        self._normalise = normalise
        texts = [normalise(example.text) for example in examples]
        self.vectorizer = TfidfVectorizer(analyzer="char", ngram_range=NGRAMS, sublinear_tf=True)
        matrix = self.vectorizer.fit_transform(texts)
        labels = [1 if example.kind else 0 for example in examples]
        self.binary = LogisticRegression(C=C, class_weight="balanced", solver="liblinear")
        self.binary.fit(matrix, labels)
        positive = [index for index, example in enumerate(examples) if example.kind]
        self.kinds = LogisticRegression(C=C, max_iter=2000)  # lbfgs: multinomial
        self.kinds.fit(matrix[positive], [examples[index].kind for index in positive])

    def _features(self, text: str) -> Any:
        return self.vectorizer.transform([self._normalise(text)])

    def probability(self, text: str) -> float:
        return float(self.binary.predict_proba(self._features(text))[0][1])

    def kind(self, text: str) -> str:
        return str(self.kinds.predict(self._features(text))[0])


_model: EmergencyModel | None = None
_failed = False
_lock = threading.Lock()


def model(wait: bool = True) -> EmergencyModel | None:
    """The process's model, trained on first use; None if it cannot be (logged once), or, with
    ``wait=False``, while it is still being trained."""
    global _model, _failed
    if _model is not None or _failed:
        return _model
    if not _lock.acquire(blocking=wait):
        return None
    try:
        if _model is None and not _failed:
            try:
                _model = EmergencyModel(load_examples() + load_ordinary())
            except Exception:
                _failed = True
                logger.exception("emergency classifier unavailable; the lexicon works alone")
    finally:
        _lock.release()
    return _model


_warming: threading.Thread | None = None


def warm_up() -> None:
    """Trains the model in a background thread (returns at once; one thread at a time)."""
    global _warming
    if _model is None and not _failed and (_warming is None or not _warming.is_alive()):
        _warming = threading.Thread(target=model, name="emergency-classifier", daemon=True)
        _warming.start()
