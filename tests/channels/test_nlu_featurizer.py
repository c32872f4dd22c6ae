"""The dense featurizer of the NLU pipeline (nlu/featurizer.py), with Rasa's own tokenizer,
model storage and a real embedding model; no server. Its agreement with sentence-transformers is
tested on Python 3.11, which has PyTorch (tests/nlu/test_encoder.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.tokenizers.jieba_tokenizer import JiebaTokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.encoder import BertEncoder, Encoded, default_model_folder
from nlu.featurizer import EmbeddingModelMismatch, SentenceEmbeddingFeaturizer, token_features

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> LocalModelStorage:
    return LocalModelStorage(tmp_path_factory.mktemp("storage"))


def context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), node_name="embedding_featurizer")


def featurizer(storage: LocalModelStorage, name: str = "featurizer") -> SentenceEmbeddingFeaturizer:
    config = {**SentenceEmbeddingFeaturizer.get_default_config()}
    return SentenceEmbeddingFeaturizer.create(config, storage, Resource(name), context())


_TOKENIZER: list[JiebaTokenizer] = []


def tokenized(texts: list[str]) -> list[Message]:
    """Messages split by the pipeline's tokenizer (jieba with the project's dictionary)."""
    if not _TOKENIZER:
        config = {**JiebaTokenizer.get_default_config(),
                  "dictionary_path": str(ROOT / "knowledge/dict/jieba")}
        _TOKENIZER.append(JiebaTokenizer.create(config, None, Resource("jieba"), context()))
    tokenizer = _TOKENIZER[0]
    messages = [Message(data={"text": text}) for text in texts]
    tokenizer.process(messages)
    return messages


def test_each_token_and_the_sentence_get_a_vector(storage) -> None:
    messages = tokenized(["养老助残卡丢了咋补", "晚上好 😀"])
    featurizer(storage).process(messages)
    for message in messages:
        sequence, sentence = message.get_dense_features("text")
        tokens = message.get("text_tokens")
        assert sequence.features.shape == (len(tokens), 512)
        assert sentence.features.shape == (1, 512)
        assert np.isclose(np.linalg.norm(sentence.features), 1.0, atol=1e-5)
        assert np.isfinite(sequence.features).all()


def test_training_data_gets_the_same_features_as_a_message_at_serving(storage) -> None:
    texts = ["我想了解一下故宫", "88", "帮我写作业"]
    training = TrainingData(training_examples=tokenized(texts))
    component = featurizer(storage)
    component.process_training_data(training)
    served = tokenized(texts)
    component.process(served)
    for trained, serving in zip(training.training_examples, served, strict=True):
        assert np.allclose(trained.get_dense_features("text")[1].features,
                           serving.get_dense_features("text")[1].features, atol=1e-6)


def test_a_message_without_text_is_left_alone(storage) -> None:
    message = Message(data={"intent": "greet"})
    featurizer(storage).process([message])
    assert message.features == []


def test_token_features_average_the_pieces_inside_each_token() -> None:
    encoded = Encoded(tokens=np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0]], dtype=np.float32),
                      spans=[(0, 1), (1, 2), (2, 3)],
                      sentence=np.array([0.6, 0.8], dtype=np.float32))
    features = token_features(encoded, [(0, 2), (2, 3), (3, 5)])
    assert features.tolist() == [[2.0, 0.0], [0.0, 2.0], [pytest.approx(0.6), pytest.approx(0.8)]]


def test_loading_with_another_embedding_model_is_refused(storage, tmp_path, monkeypatch) -> None:
    featurizer(storage, "trained").train(TrainingData())
    config = SentenceEmbeddingFeaturizer.get_default_config()
    loaded = SentenceEmbeddingFeaturizer.load(config, storage, Resource("trained"), context())
    assert loaded._encoder.identity == BertEncoder.load().identity
    # The same weights in a folder of another name: another identity, so it is refused.
    other = tmp_path / "bge-small-zh"
    other.mkdir()
    for name in ("config.json", "tokenizer.json", "pytorch_model.bin"):
        (other / name).symlink_to(default_model_folder() / name)
    monkeypatch.setenv("MINSHENG_EMBEDDING_MODEL", str(other))
    with pytest.raises(EmbeddingModelMismatch, match="Retrain"):
        SentenceEmbeddingFeaturizer.load(config, storage, Resource("trained"), context())


def test_a_bad_model_setting_is_a_config_error() -> None:
    from rasa.shared.exceptions import RasaException

    with pytest.raises(RasaException, match="folder path"):
        SentenceEmbeddingFeaturizer.validate_config({"model": 3})


def test_the_pipeline_featurizes_before_the_classifier_and_the_extractor_read_it() -> None:
    pipeline = yaml.safe_load((ROOT / "config.yml").read_text())["pipeline"]
    names = [c["name"] for c in pipeline]
    featurizer = names.index("nlu.featurizer.SentenceEmbeddingFeaturizer")
    assert featurizer < names.index("nlu.classifier.IntentLogisticRegression")
    assert featurizer < names.index("CRFEntityExtractor")
    crf = pipeline[names.index("CRFEntityExtractor")]
    assert "text_dense_features" in json.dumps(crf["features"])
    assert "DIETClassifier" not in names
