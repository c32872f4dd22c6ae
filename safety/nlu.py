"""Rasa NLU component: a message that signals danger becomes the ``emergency`` intent.

Last in the pipeline (config.yml), after the classifiers and the FallbackClassifier, so nothing
after it can change its decision. When :func:`safety.emergency.detect` finds a *certain*
emergency (a lexicon sign; the classifier's "possible" ones get a notice from the channels'
gate instead, see channels/gate.py), the message's intent becomes ``emergency`` with
confidence 1.0 (the other intents stay in the ranking below it) and the entity
``emergency_kind`` (medical, fire, …) is added; the slot of that name picks it up and a rule in
``bot/data/rules_safety.yml`` answers ``utter_emergency_<kind>`` before anything else — also
inside a form, whose validators treat ``emergency`` as a digression (actions/forms.py), so no
free-text slot swallows the message.

Not trainable and stateless: changing the lexicon does not need a retrained model. Button
payloads (``/intent``) are never overridden. Registered with Rasa 3.6's recipe as an intent
classifier (``GraphComponent`` with ``create`` and ``process(messages)``).
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from safety.emergency import detect

logger = logging.getLogger(__name__)

EMERGENCY_INTENT = "emergency"
KIND_ENTITY = "emergency_kind"
EXTRACTOR = "EmergencyDetector"


def override(parse: dict[str, Any], text: str) -> str | None:
    """Applies a certain emergency in ``text`` to a parse result (``intent``,
    ``intent_ranking``, ``entities``); returns the kind, or None when there is none."""
    if not text or text.lstrip().startswith("/"):
        return None
    found = detect(text, model=False)
    if found is None or not found.certain:
        return None
    intent = {"name": EMERGENCY_INTENT, "confidence": 1.0}
    ranking = [r for r in parse.get(INTENT_RANKING_KEY) or []
               if r.get("name") != EMERGENCY_INTENT]
    parse[INTENT] = intent
    parse[INTENT_RANKING_KEY] = [intent, *ranking]
    entities = [e for e in parse.get("entities") or [] if e.get("entity") != KIND_ENTITY]
    entities.append({
        "entity": KIND_ENTITY, "value": found.kind, "start": 0, "end": len(text),
        "confidence_entity": 1.0, "extractor": EXTRACTOR,
    })
    parse["entities"] = entities
    return found.kind


@DefaultV1Recipe.register(
    [DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False
)
class EmergencyDetector(GraphComponent):
    """See the module docstring."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EmergencyDetector:
        return cls()

    def __init__(self) -> None:
        # The gate's classifier (possible emergencies) lives in this process too: train it in
        # the background now, not on a resident's first message.
        from safety.classifier import warm_up

        warm_up()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = message.get(TEXT)
            if not isinstance(text, str):
                continue
            parse = {
                INTENT: message.get(INTENT),
                INTENT_RANKING_KEY: message.get(INTENT_RANKING_KEY),
                "entities": message.get("entities"),
            }
            kind = override(parse, text)
            if kind is None:
                continue
            logger.info("emergency detected (%s)", kind)
            message.set(INTENT, parse[INTENT], add_to_output=True)
            message.set(INTENT_RANKING_KEY, parse[INTENT_RANKING_KEY], add_to_output=True)
            message.set("entities", parse["entities"], add_to_output=True)
        return messages

    def process_training_data(self, training_data: Any) -> Any:
        return training_data
