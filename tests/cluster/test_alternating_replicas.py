"""A conversation whose turns alternate between Rasa replicas stays one conversation.

The replicas share nothing but Redis (tracker and lock store under one key prefix) and reach
the action servers through nginx, so whichever replica takes a turn must see every slot the
other one set, the form must go on where it stopped, and a confirmed ticket is filed once."""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from tests.cluster.support import (
    TIMEOUT,
    new_sender,
    rest_turn,
    slots_of,
    tracker_events,
    user_texts,
    wechat_turn,
)
from tests.dialogues.support import said, sandbox_rows

pytestmark = pytest.mark.integration

STREET = "明德街道明德里小区5号楼"
PHONE = "我的电话是138 1234 5678"


def tickets_with(cluster, description: str) -> int:
    return sandbox_rows(cluster, "SELECT COUNT(*) FROM tickets WHERE description = ?",
                        description)[0][0]


async def test_a_form_started_on_a_continued_on_b_and_finished_on_a(cluster):
    a, b = cluster.replica_rest_url(0), cluster.replica_rest_url(1)
    sender = new_sender("alternate")
    complaint = f"我要反映个问题，楼下饭馆油烟太大了，每天晚上呛得开不了窗（{sender}）"
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        started = await rest_turn(session, a, sender, complaint)
        assert said(started.joined, "utter_ask_ticket_street"), started.body

        events = tracker_events(cluster.redis_url, cluster.prefix, sender)
        assert slots_of(events).get("requested_slot") == "ticket_street"
        street = await rest_turn(session, b, sender, STREET)  # B sees A's form and slots
        assert said(street.joined, "utter_ask_ticket_contact"), street.body

        summary = await rest_turn(session, a, sender, PHONE)  # A sees what B added
        assert said(summary.joined, "utter_ask_ticket_form_confirm"), summary.body
        assert "明德街道" in summary.joined and "138****5678" in summary.joined
        assert sender in summary.joined  # the description A heard in the first turn

        slots = slots_of(tracker_events(cluster.redis_url, cluster.prefix, sender))
        assert slots.get("ticket_description") == complaint  # set on A
        assert slots.get("ticket_street") == "明德街道"  # set on B
        assert "明德里小区5号楼" in (slots.get("ticket_location") or "")
        assert slots.get("ticket_contact") == "phone"  # set on A

        created = await rest_turn(session, b, sender, "确认")
        assert said(created.joined, "utter_ticket_created"), created.body
        number = re.search(r"JS\d{14}", created.joined).group(0)

        status = await rest_turn(session, a, sender, f"帮我查一下工单{number}")
        assert number in status.joined, status.body

    assert tickets_with(cluster, complaint) == 1
    events = tracker_events(cluster.redis_url, cluster.prefix, sender)
    # Every turn is in the one tracker, once and in order, whichever replica took it (the
    # phone number is stored masked: channels/tracker_store.py).
    heard = user_texts(events)
    assert len(heard) == 5, heard
    assert heard[:2] == [complaint, STREET] and heard[3:] == ["确认", f"帮我查一下工单{number}"]
    assert heard[2].startswith("我的电话是138") and "1234" not in heard[2]
    slots = slots_of(events)
    assert slots.get("ticket_description") is None  # cleared after the submission (on B)
    assert slots.get("ticket_street") is None


async def test_through_nginx_consecutive_turns_reach_both_replicas(cluster):
    sender = new_sender("roundrobin")
    complaint = f"我要投诉楼上天天半夜拖椅子，吵得老人睡不着（{sender}）"
    served = []
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        for text, expected in ((complaint, "utter_ask_ticket_street"),
                               (STREET, "utter_ask_ticket_contact"),
                               (PHONE, "utter_ask_ticket_form_confirm"),
                               ("算了，不办了", "utter_form_cancelled")):
            reply = await rest_turn(session, cluster.rest_url, sender, text)
            assert said(reply.joined, expected), reply.body
            served.append(reply.served_by)
    replicas = {url.removeprefix("http://") for url in cluster.running.rasa_urls}
    assert set(served) == replicas, served
    assert tickets_with(cluster, complaint) == 0


async def test_two_messages_at_once_on_two_replicas_are_both_kept_in_order(cluster):
    """The Redis lock store serialises one conversation across processes: neither turn is
    lost and each is answered after the other finished."""
    a, b = cluster.replica_rest_url(0), cluster.replica_rest_url(1)
    sender = new_sender("together")
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        first, second = await asyncio.gather(
            rest_turn(session, a, sender, "养老助残卡丢了怎么补办"),
            rest_turn(session, b, sender, "居住证到期了怎么续签"),
        )
    assert first.ok and second.ok, (first.body, second.body)
    events = tracker_events(cluster.redis_url, cluster.prefix, sender)
    assert sorted(user_texts(events)) == sorted(["养老助残卡丢了怎么补办", "居住证到期了怎么续签"])
    # Each user turn is followed by its answer before the next user turn starts.
    kinds = [e["event"] for e in events if e["event"] in ("user", "action")]
    names = [e.get("name") for e in events if e["event"] == "action"]
    assert kinds.count("user") == 2 and names.count("action_listen") >= 2
    second_user = [i for i, k in enumerate(kinds) if k == "user"][1]
    assert "action" in kinds[1:second_user]  # the first turn was answered before the second


async def test_a_wechat_retry_landing_on_the_other_replica_runs_rasa_once(cluster):
    a = f"{cluster.running.rasa_urls[0]}/webhooks/wechat/webhook"
    b = f"{cluster.running.rasa_urls[1]}/webhooks/wechat/webhook"
    openid = "oCluster_" + new_sender("wx").replace("-", "_")
    msg_id = str(7_000_000_000_000_000_000 + int.from_bytes(openid.encode()[-6:], "big"))
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        replies = await asyncio.gather(
            wechat_turn(session, a, cluster.wechat_token, "gh_5a4d1f0e9c11", openid,
                        "养老助残卡丢了怎么补办", msg_id=msg_id),
            wechat_turn(session, b, cluster.wechat_token, "gh_5a4d1f0e9c11", openid,
                        "养老助残卡丢了怎么补办", msg_id=msg_id),
        )
    assert all(r.status == 200 for r in replies), [r.body for r in replies]
    assert any(r.ok for r in replies), [r.body for r in replies]
    events = tracker_events(cluster.redis_url, cluster.prefix, openid)
    assert user_texts(events) == ["养老助残卡丢了怎么补办"]
