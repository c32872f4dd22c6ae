"""channels.tracker_store: conversations stored masked, loaded by Rasa from bot/endpoints.yml,
read back and saved again turn after turn. Real Redis, Rasa's own loading code."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import yaml
from rasa.core.tracker_store import create_tracker_store
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig, read_endpoint_config

from channels.tracker_store import MaskingInMemoryTrackerStore, MaskingRedisTrackerStore
from tests.conftest import TEST_REDIS_URL

ROOT = Path(__file__).resolve().parents[2]
PHONE, ID, CARD = "13987654321", "11010519491231002X", "6222021234567890128"
DOMAIN = Domain.from_dict({"slots": {
    "phone": {"type": "text", "influence_conversation": False, "mappings": [{"type": "custom"}]},
    "ticket_description": {"type": "text", "influence_conversation": False,
                           "mappings": [{"type": "custom"}]},
}})


def turn(text: str) -> list:
    return [
        UserUttered(text, {"name": "inform", "confidence": 0.9}, [
            {"entity": "phone", "value": PHONE, "start": 5, "end": 16}],
            parse_data={"text": text, "intent": {"name": "inform", "confidence": 0.9},
                        "entities": [{"entity": "phone", "value": PHONE}]},
            metadata={"caller": f"+86{PHONE}"}),
        ActionExecuted("ticket_form"),
        SlotSet("ticket_description", text),
        SlotSet("phone", PHONE),
        BotUttered(f"联系电话：{PHONE[:3]}****{PHONE[-4:]}", {"elements": None}),
        ActionExecuted("action_listen"),
    ]


@pytest.fixture
def redis_store() -> Iterator[tuple[MaskingRedisTrackerStore, redis.Redis, str]]:
    """The store as Rasa makes it from bot/endpoints.yml (environment variables as the stack
    sets them), under a key prefix of its own."""
    prefix = "test" + secrets.token_hex(4)
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    kwargs = client.connection_pool.connection_kwargs
    env = {"REDIS_HOST": kwargs.get("host", "127.0.0.1"), "REDIS_PORT": str(kwargs.get("port")),
           "REDIS_DB": str(kwargs.get("db", 0)), "REDIS_PASSWORD": "",
           "REDIS_KEY_PREFIX": prefix, "ACTION_SERVER_URL": "http://127.0.0.1:1/webhook"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        config = read_endpoint_config(str(ROOT / "bot" / "endpoints.yml"), "tracker_store")
        store = create_tracker_store(config, DOMAIN)
    try:
        yield store, client, prefix
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()


@pytest.mark.integration
async def test_rasa_loads_the_masking_store_from_the_endpoints(redis_store):
    store, _, _ = redis_store
    # Rasa falls back to an in-memory store, with only a warning, if the class fails to load
    assert isinstance(store, MaskingRedisTrackerStore)
    assert store.key_prefix.endswith(":tracker:")
    assert store.record_exp == 2592000


@pytest.mark.integration
async def test_a_conversation_is_stored_masked_and_read_back_turn_after_turn(redis_store):
    store, client, prefix = redis_store
    sender = "pii-" + secrets.token_hex(4)
    tracker = await store.get_or_create_tracker(sender)
    tracker.update_with_events(turn(f"我的电话是{PHONE}，身份证{ID}"), DOMAIN)
    await store.save(tracker)

    raw = client.get(f"{prefix}:tracker:{sender}")
    assert raw is not None
    for value in (PHONE, ID, CARD, PHONE[3:7]):
        assert value not in raw
    stored = json.loads(raw)
    user = next(e for e in stored["events"] if e["event"] == "user")
    assert user["text"] == "我的电话是139****4321，身份证110***********002X"
    assert user["parse_data"]["entities"] == [{"entity": "phone", "value": "139****4321"}]
    assert user["metadata"] == {"caller": "+86139****4321"}
    assert stored["name"] == sender

    # the next turn: read back (masked), one more message, saved again
    again = await store.retrieve(sender)
    assert again.get_slot("phone") == "139****4321"
    assert again.latest_message.text.startswith("我的电话是139****4321")
    count = len(again.events)
    again.update_with_events(turn(f"银行卡{CARD}"), DOMAIN)
    await store.save(again)
    raw = client.get(f"{prefix}:tracker:{sender}")
    assert CARD not in raw and "6222***********0128" in raw
    final = await store.retrieve(sender)
    assert len(final.events) == count + len(turn(""))  # nothing duplicated by Rasa's merge
    assert 0 < client.ttl(f"{prefix}:tracker:{sender}") <= 2592000


@pytest.mark.integration
async def test_a_grown_conversation_is_saved_without_reading_it_back(redis_store):
    store, client, prefix = redis_store
    sender = "grow-" + secrets.token_hex(4)
    tracker = await store.get_or_create_tracker(sender)
    tracker.update_with_events(turn("第一句"), DOMAIN)
    await store.save(tracker)
    again = await store.retrieve(sender)
    again.update_with_events(turn("第二句"), DOMAIN)
    reads: list[str] = []
    original = store.deserialise_tracker
    store.deserialise_tracker = lambda *args: reads.append("read") or original(*args)
    await store.save(again)
    assert reads == []  # the stored events are a prefix: nothing to merge
    stored = json.loads(client.get(f"{prefix}:tracker:{sender}"))
    texts = [e["text"] for e in stored["events"] if e["event"] == "user"]
    assert texts == ["第一句", "第二句"]


@pytest.mark.integration
async def test_earlier_sessions_are_kept_when_the_latest_one_is_saved(redis_store):
    """Rasa's merge still runs where it matters: retrieve gives only the latest session."""
    store, client, prefix = redis_store
    sender = "sessions-" + secrets.token_hex(4)
    first = DialogueStateTracker.from_events(sender, [
        ActionExecuted("action_session_start", timestamp=1.0), SessionStarted(timestamp=1.1),
        ActionExecuted("action_listen", timestamp=1.2),
        UserUttered("上个月问的", {"name": "greet"}, timestamp=2.0),
        ActionExecuted("action_session_start", timestamp=3.0), SessionStarted(timestamp=3.1),
        ActionExecuted("action_listen", timestamp=3.2),
    ], DOMAIN.slots)
    client.set(f"{prefix}:tracker:{sender}", json.dumps(first.as_dialogue().as_dict()))
    latest = await store.retrieve(sender)
    assert [e.text for e in latest.events if isinstance(e, UserUttered)] == []
    latest.update(UserUttered("今天问的", {"name": "greet"}, timestamp=4.0))
    await store.save(latest)
    full = await store.retrieve_full_tracker(sender)
    assert [e.text for e in full.events if isinstance(e, UserUttered)] == ["上个月问的", "今天问的"]


@pytest.mark.unit
async def test_the_in_memory_store_masks_the_same_way():
    store = create_tracker_store(
        EndpointConfig(type="channels.tracker_store.MaskingInMemoryTrackerStore"), DOMAIN)
    assert isinstance(store, MaskingInMemoryTrackerStore)
    tracker = await store.get_or_create_tracker("u1")
    tracker.update_with_events(turn(f"身份证{ID}"), DOMAIN)
    await store.save(tracker)
    assert ID not in store.store["u1"] and PHONE not in store.store["u1"]
    assert (await store.retrieve("u1")).get_slot("phone") == "139****4321"


@pytest.mark.unit
def test_the_store_masks_the_rasa_process_logs(redis_store, caplog):
    with caplog.at_level(logging.DEBUG, logger="rasa.core.processor"):
        logging.getLogger("rasa.core.processor").debug(
            "Received user message '%s' with intent 'inform'", f"我的电话是{PHONE}")
    assert PHONE not in caplog.text and "我的电话是139****4321" in caplog.text


@pytest.mark.unit
def test_the_endpoints_use_the_masking_store():
    endpoints = yaml.safe_load((ROOT / "bot" / "endpoints.yml").read_text(encoding="utf-8"))
    assert endpoints["tracker_store"]["type"] == "channels.tracker_store.MaskingRedisTrackerStore"


def _unreachable_store() -> MaskingRedisTrackerStore:
    """A store pointed at a port nothing listens on: Redis away."""
    from stack.processes import free_port

    return MaskingRedisTrackerStore(DOMAIN, host="127.0.0.1", port=free_port(),
                                    key_prefix="test" + secrets.token_hex(4))


class _App:
    """The parts of the Rasa Sanic app fail_turns_on_store_errors reads (app.ctx.agent)."""

    def __init__(self, tracker_store: object) -> None:
        self.ctx = type("Ctx", (), {})()
        self.ctx.agent = type("Agent", (), {})()
        self.ctx.agent.tracker_store = tracker_store


async def test_rasa_alone_would_start_a_blank_conversation_when_redis_is_away():
    # What the fix is for: Rasa's own wrapper turns an outage into "no conversation yet".
    from rasa.core.tracker_store import FailSafeTrackerStore

    wrapped = FailSafeTrackerStore(_unreachable_store())
    assert await wrapped.retrieve("resident-1") is None


async def test_an_unreachable_store_fails_the_turn_instead():
    from rasa.core.tracker_store import FailSafeTrackerStore

    from channels.tracker_store import TrackerStoreUnavailable, fail_turns_on_store_errors

    wrapped = FailSafeTrackerStore(_unreachable_store())
    app = _App(wrapped)
    assert fail_turns_on_store_errors(app) is True
    assert fail_turns_on_store_errors(app) is True  # idempotent
    with pytest.raises(TrackerStoreUnavailable, match="ConnectionError"):
        await wrapped.retrieve("resident-1")
    tracker = DialogueStateTracker.from_events("resident-1", turn("明德街道"))
    with pytest.raises(TrackerStoreUnavailable):
        await wrapped.save(tracker)
    # nothing went to Rasa's in-memory fallback, which no later turn would read
    assert not wrapped.fallback_tracker_store.store


def test_without_an_agent_there_is_nothing_to_change():
    from channels.tracker_store import fail_turns_on_store_errors

    assert fail_turns_on_store_errors(object()) is False
    assert fail_turns_on_store_errors(_App(None)) is False
