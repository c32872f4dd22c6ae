"""On the phone an emergency heard with low recognition confidence is passed on at once, not
met with "您是说…吗？" (channels/voice/policy.py with safety/emergency.py)."""

import pytest

from channels.voice.policy import CallState, Thresholds, decide
from channels.voice.protocol import Activity

pytestmark = pytest.mark.unit

RULES = Thresholds(confirm_below=0.6, reject_below=0.3, failures_before_offer=2)


def said(text: str, confidence: float) -> Activity:
    return Activity("message", "m", text=text, parameters={"confidence": confidence})


@pytest.mark.parametrize("confidence", [0.2, 0.45])
def test_a_doubtfully_heard_emergency_is_not_confirmed_first(confidence: float) -> None:
    step = decide(said("救命啊我家着火了", confidence), CallState(), RULES)
    assert step.send == "救命啊我家着火了"


def test_an_ordinary_doubtful_message_is_still_confirmed() -> None:
    step = decide(said("社保卡怎么补办", 0.45), CallState(), RULES)
    assert step.send is not None and step.send.startswith("/voice_confirm_heard{")
