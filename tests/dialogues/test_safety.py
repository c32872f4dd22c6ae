"""Safety end to end through the real stack over REST (README "Safety"): an emergency is
answered first, also inside a form; a sensitive message is refused politely and logged masked;
a resident over the rate limit gets a 429; medical answers carry the not-a-diagnosis notice."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.dialogues.support import TIMEOUT, Conversation, said

pytestmark = pytest.mark.integration


async def test_an_emergency_is_answered_first_with_the_number(assistant):
    c = Conversation(assistant, "safety-emergency")
    reply = await c.say("我爸突然晕倒了叫不醒")
    assert said(c.last[0]["text"], "utter_emergency_medical") and "120" in reply, reply
    reply = await c.say("家里煤气味好大")
    assert said(reply, "utter_emergency_gas") and "119" in reply, reply
    reply = await c.say("我不想活了")
    assert said(reply, "utter_emergency_suicide") and "12356" in reply, reply


async def test_an_emergency_inside_a_form_is_not_taken_as_an_answer(assistant):
    c = Conversation(assistant, "safety-form")
    assert said(await c.say("我要反映个问题"), "utter_ask_ticket_description")
    # The description is free text: the form must not swallow this.
    reply = await c.say("楼道里着火了好大的烟")
    assert said(c.last[0]["text"], "utter_emergency_fire") and "119" in reply, reply
    assert not said(reply, "utter_ask_ticket_street"), reply
    # The form was left: a greeting is a greeting again, not an answer to the form.
    assert said(await c.say("你好"), "utter_greet")

    c = Conversation(assistant, "safety-form2")
    assert said(await c.say("帮我预约挂号"), "utter_ask_hospital")
    reply = await c.say("我胸口疼得厉害喘不上气")
    assert said(c.last[0]["text"], "utter_emergency_medical"), reply


async def test_a_sensitive_message_is_refused_politely_and_logged_masked(assistant):
    c = Conversation(assistant, "safety-words")
    reply = await c.say("你个傻逼，办个证这么麻烦")
    assert said(reply, "utter_sensitive_refused"), reply
    assert said(await c.say("社保卡丢了怎么补办"), "utter_knowledge_answer")
    log = (assistant.log_dir / "rasa.log").read_text(encoding="utf-8", errors="replace")
    assert "sensitive: abuse" in log
    assert "傻逼" not in log


async def test_a_medical_answer_carries_the_not_a_diagnosis_notice(assistant):
    answered = 0
    for question in ("异地就医怎么备案？", "网上问诊可以初诊吗", "线上续方开药的流程是啥"):
        c = Conversation(assistant, "safety-medical")
        reply = await c.say(question)
        if not any(m.get("kb_id") or "依据" in (m.get("text") or "") for m in c.last):
            continue  # a clarification or no answer: nothing medical was said
        answered += 1
        assert said(reply, "utter_medical_notice") and "不是诊断" in reply, reply
    assert answered, "no medical question was answered"


async def test_a_possible_emergency_gets_the_numbers_before_the_usual_answer(assistant):
    # Not in the lexicon: the classifier (trained in the background when Rasa starts) finds it.
    for attempt in range(5):
        c = Conversation(assistant, f"safety-possible{attempt}")
        reply = await c.say("我爸手脚冰凉 浑身哆嗦 说不上来哪儿难受")
        if said(c.last[0]["text"], "utter_emergency_notice"):
            break
        await asyncio.sleep(2)
    assert said(c.last[0]["text"], "utter_emergency_notice"), reply
    assert len(c.last) > 1  # and then the usual answer


async def test_a_resident_over_the_rate_limit_gets_429_but_an_emergency_still_passes(assistant):
    sender = Conversation(assistant, "safety-flood").sender
    statuses = []
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        # Counted before the word list refuses them, so the flood costs Rasa nothing and takes
        # well under the window. The default limit is 30 messages in any 60 seconds.
        for _ in range(32):
            async with session.post(assistant.rest_url,
                                    json={"sender": sender, "message": "傻逼"}) as reply:
                statuses.append(reply.status)
                if reply.status == 429:
                    body = await reply.json()
                    retry_after = reply.headers.get("Retry-After")
        assert statuses[:30] == [200] * 30 and statuses[30:] == [429, 429], statuses
        assert body["error"] == "rate_limited" and retry_after == str(body["retry_after"])
        async with session.post(assistant.rest_url,
                                json={"sender": sender, "message": "救命 有人拿刀砍人"}) as reply:
            assert reply.status == 200
            texts = "\n".join(m.get("text", "") for m in await reply.json())
        assert said(texts, "utter_emergency_violence"), texts
    # Another resident is not limited.
    assert said(await Conversation(assistant, "safety-other").say("你好"), "utter_greet")


async def test_another_citys_rules_are_not_answered_with_beijings(assistant):
    c = Conversation(assistant, "safety-elsewhere")
    reply = await c.say("上海的高龄津贴一个月发多少钱")
    assert said(reply, "utter_knowledge_elsewhere"), reply
    assert "上海" in reply and "12345" in reply and "{place}" not in reply, reply
    assert "依据：" not in reply, reply  # no Beijing entry with its source
    # the same question about Beijing is answered from the base
    reply = await c.say("高龄津贴一个月发多少钱")
    assert not said(reply, "utter_knowledge_elsewhere"), reply
