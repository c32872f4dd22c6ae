import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.knowledge import ActionAnswerQuestion
from tests.support import domain

pytestmark = pytest.mark.unit


def tracker(text: str) -> Tracker:
    return Tracker(
        "u1", {}, {"text": text, "intent": {"name": "ask_question"}}, [], False, None, {}, ""
    )


async def test_answers_only_with_a_domain_response():
    dispatcher = CollectingDispatcher()
    events = await ActionAnswerQuestion().run(dispatcher, tracker("居住证怎么办"), domain())
    assert events == []
    assert [m["response"] for m in dispatcher.messages] == ["utter_knowledge_unavailable"]
    assert "utter_knowledge_unavailable" in domain()["responses"]
