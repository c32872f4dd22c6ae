"""A multi-turn Chinese conversation over the REST channel through real Redis, action server
and Rasa; then the conversation is read back from Redis."""

import json

import pytest
import redis

from tests.e2e.rest_client import new_sender, say, texts
from tests.support import default_text, response_texts

pytestmark = pytest.mark.integration


def last_slot_value(tracker: dict, slot: str) -> object:
    values = [e["value"] for e in tracker["events"] if e["event"] == "slot" and e["name"] == slot]
    return values[-1] if values else None


async def test_a_multi_turn_conversation_is_answered_and_stored(assistant, redis_url):
    sender = new_sender("conv")
    url = assistant.rest_url

    greeting = await say(url, sender, "您好，请问在吗")
    assert texts(greeting) == [default_text("utter_greet")]
    titles = [b["title"] for b in greeting[0]["buttons"]]
    assert titles == ["政务服务", "养老服务", "看病就医", "文化旅游"]

    menu = await say(url, sender, "你都能帮我干点啥")
    assert texts(menu) == [default_text("utter_capabilities")]

    area = await say(url, sender, greeting[0]["buttons"][1]["payload"])  # the 养老 button
    assert len(area) == 1 and "养老助残卡" in area[0]["text"]
    assert area[0]["text"] in response_texts("utter_area_intro")

    answer = await say(url, sender, "养老助残卡丢了怎么办？")
    assert "挂失" in answer[0]["text"], answer
    assert answer[0]["text"].splitlines()[-1].startswith("依据："), answer

    assert texts(await say(url, sender, "好的谢谢你")) == [default_text("utter_thanks")]
    assert texts(await say(url, sender, "没别的事了 再见")) == [default_text("utter_goodbye")]

    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        key = f"{assistant.prefix}:tracker:{sender}"
        stored = client.get(key)
        ttl = client.ttl(key)
    finally:
        client.close()
    assert stored is not None, f"no tracker at {key}"
    assert 0 < ttl <= 30 * 24 * 3600
    tracker = json.loads(stored)
    user_texts = [e["text"] for e in tracker["events"] if e["event"] == "user"]
    assert user_texts == [
        "您好，请问在吗",
        "你都能帮我干点啥",
        '/choose_area{"area": "养老"}',
        "养老助残卡丢了怎么办？",
        "好的谢谢你",
        "没别的事了 再见",
    ]
    actions = [e["name"] for e in tracker["events"] if e["event"] == "action"]
    assert "action_answer_question" in actions
    assert last_slot_value(tracker, "area") == "养老"


async def test_two_residents_do_not_share_a_conversation(assistant, redis_url):
    first, second = new_sender("a"), new_sender("b")
    await say(assistant.rest_url, first, '/choose_area{"area": "医疗"}')
    await say(assistant.rest_url, second, '/choose_area{"area": "文旅"}')
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        slots = {
            sender: last_slot_value(
                json.loads(client.get(f"{assistant.prefix}:tracker:{sender}")), "area"
            )
            for sender in (first, second)
        }
    finally:
        client.close()
    assert slots == {first: "医疗", second: "文旅"}
