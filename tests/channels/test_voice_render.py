import re

import pytest

from channels.voice.render import (
    CallContext,
    RenderSettings,
    VoiceCopy,
    build_error_response,
    build_voice_response,
    voice_text,
)
from channels.voice.speakable import speakable
from tests.support import as_sent, domain

pytestmark = pytest.mark.unit

TARGET = "sip:hotline-queue@voice-gateway.invalid"
SETTINGS = RenderSettings(transfer_target=TARGET, max_chars=60)
COPY = VoiceCopy.from_responses(domain()["responses"])


def voice_variant(name: str) -> dict:
    return as_sent(next(v for v in domain()["responses"][name] if v.get("channel") == "voice"))


def render(messages, settings=SETTINGS, **context):
    return build_voice_response(messages, COPY, settings, CallContext(**context))


def test_the_copy_comes_from_the_domain():
    assert COPY.menu_item == "{title}请按{digit}"
    assert "发短信" in COPY.offer_details
    assert COPY.technical_problem.startswith("抱歉")
    assert voice_text([{"text": "默认"}, {"channel": "voice", "text": "语音"}]) == "语音"
    assert voice_text([{"channel": "socketio", "text": "x"}, {"text": "默认"}]) == "默认"
    assert voice_text(None) is None


def test_texts_become_one_speakable_message():
    rendered = render([{"text": "请拨打12345。"}, {"text": "办理时间8:30-17:00"}])
    assert rendered.activities == [
        {"type": "message", "text": "请拨打幺二三四五。办理时间八点半到下午五点。"}
    ]
    assert rendered.spoken == ("请拨打幺二三四五。", "办理时间八点半到下午五点。")
    assert (rendered.menu, rendered.offer, rendered.ended) == (None, None, None)


def test_ssml_when_the_gateway_takes_it():
    ssml = RenderSettings(transfer_target=TARGET, ssml=True)
    rendered = render([{"text": "您好"}, {"text": "请说出您的问题"}], ssml)
    assert rendered.activities[0]["text"] == (
        '<speak version="1.0" xml:lang="zh-CN">您好。<break time="300ms"/>请说出您的问题。</speak>'
    )


def test_a_long_answer_is_cut_and_the_details_are_offered():
    answer = "。".join(f"第{i}条说明这项业务需要准备的材料和办理的地点" for i in range(1, 6)) + "。"
    rendered = render([{"text": answer}])
    text = rendered.activities[0]["text"]
    offer = speakable(COPY.offer_details)
    assert text.endswith(offer)
    assert len(text) - len(offer) <= SETTINGS.max_chars
    assert rendered.offer == speakable(answer)
    assert "按一" in offer


def test_buttons_become_a_dtmf_menu_with_zero_for_a_human():
    rendered = render([voice_variant("utter_voice_offer_dtmf_or_human")])
    text = rendered.activities[0]["text"]
    assert text == (
        "抱歉，我还是没有听清楚。您也可以按键选择。政务服务请按一，养老服务请按二，"
        "看病就医请按三，文化旅游请按四，人工服务请按零。"
    )
    assert rendered.menu == {
        "1": '/choose_area{"area": "政务服务"}',
        "2": '/choose_area{"area": "养老"}',
        "3": '/choose_area{"area": "医疗"}',
        "4": '/choose_area{"area": "文旅"}',
        "0": "/request_human",
    }


def test_goodbye_hangs_up_and_nothing_is_said_after_it():
    goodbye = voice_variant("utter_goodbye")
    rendered = render([{"text": goodbye["text"]}, {"custom": goodbye["custom"]},
                       {"text": "不应该说出来"}])
    assert rendered.activities == [
        {"type": "message", "text": speakable(goodbye["text"])},
        {"type": "event", "name": "hangup", "activityParams": {"hangupReason": "goodbye"}},
    ]
    assert rendered.ended == "hangup"


def test_transfer_goes_to_the_queue_with_the_summary():
    handoff = voice_variant("utter_human_handoff")
    rendered = render(
        [{"text": handoff["text"]}, {"custom": handoff["custom"]}],
        conversation="conv-1",
        summary="caller:138****5678 | failures:0 | said:转人工",
    )
    assert rendered.ended == "transfer"
    transfer = rendered.activities[-1]
    assert transfer == {
        "type": "event",
        "name": "transfer",
        "activityParams": {
            "transferTarget": TARGET,
            "handoverReason": "caller:138****5678 | failures:0 | said:转人工",
            "transferSipHeaders": [
                {"name": "X-Minsheng-Reason", "value": "caller_request"},
                {"name": "X-Minsheng-Conversation", "value": "conv-1"},
            ],
        },
    }


def test_repeat_says_the_previous_answer_again_and_keeps_it_as_previous():
    repeat = voice_variant("utter_voice_repeat")
    previous = ("社保卡可以到银行网点补办。",)
    rendered = render([{"text": repeat["text"]}, {"custom": repeat["custom"]}],
                      previous=previous)
    assert rendered.activities == [
        {"type": "message", "text": speakable(repeat["text"]) + previous[0]}
    ]
    assert rendered.spoken == previous


def test_the_first_answer_configures_the_call_and_barge_in_aborts_queued_prompts():
    settings = RenderSettings(transfer_target=TARGET, session_params={"sendDTMF": True})
    rendered = render([{"text": "您好"}], settings, start=True, barge_in=True)
    assert rendered.activities[:2] == [
        {"type": "event", "name": "abortPrompts"},
        {"type": "event", "name": "config", "sessionParams": {"sendDTMF": True}},
    ]
    assert render([{"text": "您好"}], settings).activities == [
        {"type": "message", "text": "您好。"}
    ]


def test_what_cannot_be_heard_is_dropped():
    rendered = render([{"image": "https://x/y.png"}, {"text": "https://x.cn"},
                       {"custom": {"unknown": 1}}, {"buttons": "bad"}])
    assert rendered.activities == []


def test_a_failure_apologises_and_transfers():
    rendered = build_error_response(COPY, SETTINGS, CallContext(conversation="c"))
    assert rendered.activities[0] == {"type": "message",
                                      "text": speakable(COPY.technical_problem)}
    assert rendered.activities[1]["activityParams"]["transferSipHeaders"][0]["value"] == (
        "bot_error"
    )


def test_every_voice_variant_is_speakable_as_written():
    for name, variants in domain()["responses"].items():
        for variant in variants:
            if variant.get("channel") != "voice" or "text" not in variant:
                continue
            text = variant["text"]
            assert not re.search(r"https?://|www\.|\*\*|\||#", text), name
            assert speakable(text), name


def test_voice_intents_and_custom_actions_are_in_the_domain():
    intents = set(domain()["intents"])
    for name in ("voice_repeat", "voice_confirm_heard", "voice_not_understood",
                 "voice_offer_dtmf_or_human", "voice_no_input", "voice_silence_hangup",
                 "voice_dtmf_menu", "voice_request_details", "voice_transfer_failed"):
        assert name in intents
    assert voice_variant("utter_goodbye")["custom"]["voice_action"] == "hangup"
    assert voice_variant("utter_human_handoff")["custom"]["voice_action"] == "transfer"
    assert voice_variant("utter_voice_silence_goodbye")["custom"]["voice_action"] == "hangup"


def test_without_the_domain_copy_nothing_is_invented():
    bare = VoiceCopy.from_responses({})
    long_answer = "这项业务需要准备的材料比较多，请按顺序准备。" * 10
    rendered = build_voice_response([{"text": long_answer}], bare, SETTINGS, CallContext())
    assert len(rendered.activities[0]["text"]) <= SETTINGS.max_chars
    assert rendered.offer is None
    menu = build_voice_response(
        [{"text": "请选择", "buttons": [{"title": "养老", "payload": "/a"}]}],
        bare, SETTINGS, CallContext(),
    )
    assert menu.activities[0]["text"] == "请选择。养老一。"
    assert menu.menu == {"1": "/a"}
