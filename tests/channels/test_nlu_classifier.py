"""The intent classifier of the NLU pipeline (nlu/classifier.py): Rasa's logistic regression with
``C`` and a weight for the embedding features. Rasa's own classes and model storage, no server."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.exceptions import RasaException
from rasa.shared.nlu.training_data.features import Features
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from nlu.classifier import IntentLogisticRegression


def message(text: str, sparse: list[float], dense: list[float],
            intent: str | None = None) -> Message:
    data = {"text": text, **({"intent": intent} if intent else {})}
    msg = Message(data=data)
    msg.add_features(Features(scipy.sparse.coo_matrix([sparse]), "sentence", "text", "counts"))
    msg.add_features(Features(np.array([dense], dtype=np.float32), "sentence", "text", "embedding"))
    return msg


def classifier(storage: LocalModelStorage, name: str, **config: object) -> IntentLogisticRegression:
    return IntentLogisticRegression.create(
        {**IntentLogisticRegression.get_default_config(), **config}, storage, Resource(name),
        ExecutionContext(GraphSchema({}), node_name=name))


def training() -> TrainingData:
    # The counts say nothing (the same for both intents); only the embedding separates them.
    examples = [message(f"g{i}", [1.0, 1.0], [0.9, 0.1], "greet") for i in range(6)]
    examples += [message(f"b{i}", [1.0, 1.0], [0.1, 0.9], "goodbye") for i in range(6)]
    return TrainingData(training_examples=examples)


def test_the_dense_weight_scales_the_embedding_against_the_counts(tmp_path) -> None:
    component = classifier(LocalModelStorage(tmp_path), "weights", dense_weight=5.0)
    features = component._create_X([message("x", [2.0, 3.0], [0.6, 0.8])]).toarray()
    assert features.tolist() == [[2.0, 3.0, pytest.approx(3.0), pytest.approx(4.0)]]


def test_it_learns_from_the_embedding_and_sets_intent_and_ranking(tmp_path) -> None:
    storage = LocalModelStorage(tmp_path)
    component = classifier(storage, "trained")
    component.train(training())
    [greeting, farewell] = component.process([message("晚上好", [1.0, 1.0], [0.8, 0.2]),
                                              message("回见", [1.0, 1.0], [0.2, 0.8])])
    assert greeting.get("intent")["name"] == "greet"
    assert farewell.get("intent")["name"] == "goodbye"
    ranking = greeting.get("intent_ranking")
    assert [r["name"] for r in ranking] == ["greet", "goodbye"]
    assert ranking[0]["confidence"] > ranking[1]["confidence"]
    assert component.clf.C == 10.0
    loaded = IntentLogisticRegression.load(
        IntentLogisticRegression.get_default_config(), storage, Resource("trained"),
        ExecutionContext(GraphSchema({}), node_name="trained"))
    [again] = loaded.process([message("晚上好", [1.0, 1.0], [0.8, 0.2])])
    assert again.get("intent") == greeting.get("intent")


def test_a_weaker_regularisation_is_more_confident(tmp_path) -> None:
    storage = LocalModelStorage(tmp_path)
    confidences = []
    for c in (0.01, 10.0):
        component = classifier(storage, f"c{c}", C=c)
        component.train(training())
        [result] = component.process([message("晚上好", [1.0, 1.0], [0.8, 0.2])])
        confidences.append(result.get("intent")["confidence"])
    assert confidences[0] < confidences[1]


@pytest.mark.parametrize("setting", [{"C": 0}, {"C": "high"}, {"dense_weight": -1},
                                     {"dense_weight": True}])
def test_bad_settings_are_config_errors(tmp_path, setting) -> None:
    with pytest.raises(RasaException, match="must be a positive number"):
        classifier(LocalModelStorage(tmp_path), "bad", **setting)
