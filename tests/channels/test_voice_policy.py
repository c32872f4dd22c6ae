import json

import pytest

from channels.voice.policy import (
    CallState,
    Pending,
    Thresholds,
    decide,
    intent,
    is_no,
    is_yes,
    mask_number,
    summarize,
)
from channels.voice.protocol import Activity

pytestmark = pytest.mark.unit

RULES = Thresholds(confirm_below=0.6, reject_below=0.3, failures_before_offer=2)


def said(text: str, confidence: float | None = None) -> Activity:
    parameters = {} if confidence is None else {"confidence": confidence}
    return Activity("message", "m", text=text, parameters=parameters)


def event(name: str, value=None, **parameters) -> Activity:
    return Activity("event", "e", name=name, value=value, parameters=parameters)


def payload_entities(payload: str) -> dict:
    return json.loads(payload[payload.index("{"):])


def test_the_start_of_a_call_greets_and_remembers_the_caller():
    step = decide(event("start", caller="13812345678", callee="12345"), CallState(failures=3),
                  RULES)
    assert (step.send, step.start, step.caller) == ("/greet", True, "13812345678")
    assert step.state == CallState()
    assert step.metadata == {"voice": {"activity_id": "e", "type": "event", "event": "start"}}


def test_a_confident_recognition_goes_to_rasa_and_clears_failures():
    step = decide(said("社保卡丢了怎么补办", 0.92), CallState(failures=1), RULES)
    assert step.send == "社保卡丢了怎么补办"
    assert step.state.failures == 0
    assert step.state.heard == ("社保卡丢了怎么补办",)
    assert step.metadata["voice"]["confidence"] == 0.92


def test_without_a_confidence_the_text_is_trusted():
    assert decide(said("你好"), CallState(), RULES).send == "你好"


def test_a_doubtful_recognition_is_confirmed_first():
    step = decide(said("居住证怎么续签", 0.45), CallState(), RULES)
    assert step.send.startswith("/voice_confirm_heard{")
    assert payload_entities(step.send) == {"voice_heard": "居住证怎么续签"}
    assert step.state.pending == Pending("confirm", "居住证怎么续签")
    assert step.state.heard == ()


@pytest.mark.parametrize("answer", ["是的", "对", "嗯", "对对对", "是啊。", "没错"])
def test_yes_sends_what_was_heard(answer):
    state = CallState(pending=Pending("confirm", "居住证怎么续签"))
    step = decide(said(answer, 0.9), state, RULES)
    assert step.send == "居住证怎么续签"
    assert step.state.pending is None and step.state.failures == 0
    assert step.state.heard == ("居住证怎么续签",)


def test_no_counts_as_a_failed_recognition_and_the_second_offers_keys_or_a_human():
    state = CallState(pending=Pending("confirm", "居住正怎么续"))
    first = decide(said("不是", 0.95), state, RULES)
    assert (first.send, first.state.failures, first.state.pending) == (
        "/voice_not_understood", 1, None,
    )
    second = decide(said("啊啊", 0.1), first.state, RULES)
    assert (second.send, second.state.failures) == ("/voice_offer_dtmf_or_human", 2)


def test_dtmf_answers_a_confirmation():
    state = CallState(pending=Pending("confirm", "公园年票怎么买"))
    assert decide(event("DTMF", "1"), state, RULES).send == "公园年票怎么买"
    assert decide(event("DTMF", "2"), state, RULES).send == "/voice_not_understood"


def test_a_new_question_instead_of_yes_or_no_is_taken_as_such():
    state = CallState(pending=Pending("confirm", "公园年票"))
    step = decide(said("我想问高龄津贴怎么领", 0.9), state, RULES)
    assert step.send == "我想问高龄津贴怎么领" and step.state.pending is None


def test_unrecognisable_speech_fails_and_two_in_a_row_offer_dtmf_or_a_human():
    first = decide(said("嗯嗯啊", 0.2), CallState(), RULES)
    assert (first.send, first.state.failures) == ("/voice_not_understood", 1)
    second = decide(said("", None), first.state, RULES)
    assert (second.send, second.state.failures) == ("/voice_offer_dtmf_or_human", 2)
    recovered = decide(said("养老驿站在哪", 0.8), second.state, RULES)
    assert (recovered.send, recovered.state.failures) == ("养老驿站在哪", 0)


def test_silence_reprompts_then_offers_then_hangs_up():
    state = CallState(failures=1)
    assert decide(event("noUserInput", 1), state, RULES).send == "/voice_no_input"
    assert decide(event("noUserInput", 2), state, RULES).send == "/voice_offer_dtmf_or_human"
    assert decide(event("noUserInput", 3), state, RULES).send == "/voice_silence_hangup"
    assert decide(event("noUserInput", "junk"), state, RULES).send == "/voice_no_input"


def test_dtmf_follows_the_menu_that_was_spoken():
    menu = {"1": '/choose_area{"area": "政务服务"}', "0": "/request_human"}
    state = CallState(failures=2, pending=Pending("menu", menu=menu))
    step = decide(event("DTMF", "1"), state, RULES)
    assert (step.send, step.state.failures, step.state.pending) == (menu["1"], 2, None)
    assert decide(event("DTMF", "0"), state, RULES).send == "/request_human"
    assert decide(event("DTMF", "7"), state, RULES).send == "/voice_dtmf_menu"


@pytest.mark.parametrize(
    ("value", "send"),
    [("*", "/voice_dtmf_menu"), ("#", "/voice_repeat"), ("5", "/voice_dtmf_menu"),
     ("xyz", "/voice_dtmf_menu"), ("20240305", "20240305")],
)
def test_dtmf_without_a_menu(value, send):
    assert decide(event("DTMF", value), CallState(), RULES).send == send


def test_the_details_offer_is_taken_by_voice_or_keys():
    state = CallState(pending=Pending("offer", "完整的答案。"))
    sms = decide(said("好的", 0.9), state, RULES)
    assert payload_entities(sms.send) == {"details_medium": "sms"}
    assert sms.send.startswith("/voice_request_details")
    assert sms.details == ("sms", "完整的答案。") and sms.state.pending is None
    assert decide(said("发到我微信吧", 0.9), state, RULES).details == ("wechat", "完整的答案。")
    assert decide(event("DTMF", "2"), state, RULES).details == ("wechat", "完整的答案。")
    declined = decide(said("不用了", 0.9), state, RULES)
    assert (declined.send, declined.details, declined.state.pending) == ("不用了", None, None)


def test_speech_is_never_a_button_payload():
    step = decide(said("/request_human", 0.99), CallState(), RULES)
    assert step.send == "request_human"


def test_an_over_long_recognition_becomes_the_too_long_intent():
    long_rules = Thresholds(max_message_chars=10)
    assert decide(said("很" * 11, 0.9), CallState(), long_rules).send == "/message_too_long"


def test_a_failed_transfer_is_told_and_other_events_are_ignored():
    failed = event("transferStatus", {"status": "failed", "reasonCode": "busy"})
    assert decide(failed, CallState(), RULES).send == "/voice_transfer_failed"
    assert decide(event("transferStatus", {"status": "answered"}), CallState(), RULES).send is None
    assert decide(event("speechHypothesis", "社"), CallState(), RULES).send is None
    assert decide(Activity("typing"), CallState(), RULES).send is None


def test_yes_and_no_words():
    assert is_yes("是的。") and is_yes("对对对") and is_yes("好") and not is_yes("是什么")
    assert is_no("不是") and is_no("不对啊") and is_no("不是的") and not is_no("不是很清楚怎么办")


def test_intent_payload_entities_are_json_and_control_characters_go():
    payload = intent("voice_confirm_heard", voice_heard='他说"你好"\n{x}')
    assert payload == '/voice_confirm_heard{"voice_heard": "他说\\"你好\\" {x}"}'
    assert intent("greet") == "/greet"


def test_the_summary_masks_the_number_and_keeps_the_last_words():
    state = CallState(failures=1, heard=tuple(f"问题{i}" for i in range(3)))
    assert summarize(state, "13812345678") == (
        "caller:138****5678 | failures:1 | said:问题0 / 问题1 / 问题2"
    )
    assert len(summarize(CallState(heard=("长" * 60,) * 6), None, limit=100)) == 100
    assert mask_number("12345") == "*2345"
    remembered = CallState()
    for i in range(10):
        remembered = remembered.remember(f"第{i}句")
    assert remembered.heard == tuple(f"第{i}句" for i in range(4, 10))


def test_thresholds_are_checked():
    with pytest.raises(ValueError):
        Thresholds(confirm_below=0.2, reject_below=0.5)
    with pytest.raises(ValueError):
        Thresholds(no_input_offer_at=3, no_input_hangup_at=2)
