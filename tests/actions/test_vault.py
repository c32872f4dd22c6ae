"""actions.vault and the forms' phone handling: the real number is kept encrypted, by reference,
and resolved only for the backend call."""

import os
import secrets

import pytest
import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

import actions.vault
from actions.forms import PHONE, PHONE_MASKED
from actions.hospitals import ActionListAppointments, ValidateAppointmentListForm
from actions.vault import (
    Vault,
    VaultConfigError,
    VaultError,
    VaultMiss,
    is_reference,
    keys_from_env,
    ttl_from_env,
)
from privacy import find_pii
from tests.conftest import TEST_REDIS_URL
from tests.support import domain

PHONE_NUMBER = "13987654321"


@pytest.fixture
def vault(monkeypatch):
    """An in-memory vault (no REDIS_URL), installed as the process's vault."""
    created = Vault([Fernet.generate_key()], ttl=600, redis=lambda: None)
    monkeypatch.setattr(actions.vault, "_vault", created)
    return created


# ---------------------------------------------------------------- the vault itself

@pytest.mark.unit
async def test_a_value_is_kept_by_reference_for_its_conversation_only(vault):
    reference = await vault.put("u1", "phone", PHONE_NUMBER)
    assert is_reference(reference) and not find_pii(reference)
    assert reference == vault.reference("u1", "phone", PHONE_NUMBER)  # deterministic
    assert reference != vault.reference("u2", "phone", PHONE_NUMBER)
    assert await vault.get("u1", reference) == PHONE_NUMBER
    assert await vault.get("u2", reference) is None  # another conversation
    assert await vault.get("u1", "13987654321") is None  # not a reference
    other = Vault([Fernet.generate_key()], redis=lambda: None)
    assert await other.get("u1", reference) is None


@pytest.mark.unit
async def test_values_expire(vault, monkeypatch):
    reference = await vault.put("u1", "phone", PHONE_NUMBER)
    now = actions.vault.time.monotonic()
    monkeypatch.setattr(actions.vault.time, "monotonic", lambda: now + 601)
    assert await vault.get("u1", reference) is None


@pytest.mark.unit
def test_key_settings_are_checked_without_quoting_the_key():
    good = Fernet.generate_key().decode()
    assert keys_from_env({}) == []
    assert keys_from_env({"MINSHENG_PII_KEY": f" {good} , {good}"}) == [good.encode()] * 2
    with pytest.raises(VaultConfigError) as error:
        keys_from_env({"MINSHENG_PII_KEY": "my-secret-passphrase"})
    assert "my-secret-passphrase" not in str(error.value)
    assert ttl_from_env({}) == 7200 and ttl_from_env({"MINSHENG_PII_TTL": "900"}) == 900
    for bad in ("soon", "5", "99999999"):
        with pytest.raises(VaultConfigError):
            ttl_from_env({"MINSHENG_PII_TTL": bad})


@pytest.mark.integration
async def test_in_redis_the_value_is_encrypted_with_a_ttl(monkeypatch):
    prefix = "test" + secrets.token_hex(4)
    monkeypatch.setenv("REDIS_KEY_PREFIX", prefix)
    client = aioredis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        vault = Vault([Fernet.generate_key()], ttl=300, redis=lambda: client)
        reference = await vault.put("u1", "phone", PHONE_NUMBER)
        keys = [k async for k in client.scan_iter(f"{prefix}:*")]
        assert keys == [f"{prefix}:app:pii:{reference}"]
        stored = await client.get(keys[0])
        assert PHONE_NUMBER not in stored and "8765" not in stored
        assert 0 < await client.ttl(keys[0]) <= 300
        await client.expire(keys[0], 10)
        assert await vault.get("u1", reference) == PHONE_NUMBER
        assert await client.ttl(keys[0]) > 10  # renewed on use
        await client.delete(keys[0])
        assert await vault.get("u1", reference) is None
    finally:
        for key in [k async for k in client.scan_iter(f"{prefix}:*")]:
            await client.delete(key)
        await client.aclose()


@pytest.mark.unit
async def test_redis_down_is_a_vault_error():
    client = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    vault = Vault([Fernet.generate_key()], redis=lambda: client)
    try:
        with pytest.raises(VaultError):
            await vault.put("u1", "phone", PHONE_NUMBER)
        with pytest.raises(VaultError):
            await vault.get("u1", vault.reference("u1", "phone", PHONE_NUMBER))
    finally:
        await client.aclose()


# ---------------------------------------------------------------- the forms

def form_tracker(slots, events=(), sender="u1", text=""):
    return Tracker(sender, dict(slots), {"text": text, "intent": {"name": "inform"}},
                   list(events), False, None, {"name": "appointment_list_form"},
                   "action_listen")


@pytest.mark.unit
async def test_a_validated_phone_becomes_a_reference_and_the_read_back_is_masked(vault):
    tracker = form_tracker({PHONE: PHONE_NUMBER, "requested_slot": PHONE},
                           [{"event": "slot", "name": PHONE, "value": PHONE_NUMBER}])
    events = await ValidateAppointmentListForm().get_validation_events(
        CollectingDispatcher(), tracker, domain())
    values = {e["name"]: e["value"] for e in events}
    assert is_reference(values[PHONE]) and values[PHONE_MASKED] == "139****4321"
    assert PHONE_NUMBER not in str(events)
    assert await vault.get("u1", values[PHONE]) == PHONE_NUMBER


@pytest.mark.unit
async def test_a_kept_phone_is_checked_when_a_form_starts_and_asked_again_once_gone(vault):
    reference = await vault.put("u1", PHONE, PHONE_NUMBER)
    validator, dispatcher = ValidateAppointmentListForm(), CollectingDispatcher()
    kept = await validator.validate_phone(reference, dispatcher, form_tracker({}), domain())
    assert kept == {PHONE: reference, PHONE_MASKED: "139****4321"}
    gone = await validator.validate_phone(vault.reference("u1", PHONE, "13800000000"),
                                          dispatcher, form_tracker({}), domain())
    assert gone == {PHONE: None, PHONE_MASKED: None}
    assert dispatcher.messages == []  # silently: the form just asks for the phone


@pytest.mark.unit
async def test_the_same_phone_said_again_is_not_set_again(vault):
    reference = await vault.put("u1", PHONE, PHONE_NUMBER)
    validator = ValidateAppointmentListForm()
    same = form_tracker({PHONE: reference}, text=f"我电话{PHONE_NUMBER}")
    assert await validator.extract_phone(CollectingDispatcher(), same, domain()) == {}
    other = form_tracker({PHONE: reference}, text="我电话13800001111")
    assert await validator.extract_phone(CollectingDispatcher(), other, domain()) == {
        PHONE: "13800001111"}


@pytest.mark.unit
async def test_the_submit_step_gets_the_real_phone(vault):
    reference = await vault.put("u1", PHONE, PHONE_NUMBER)
    action = ActionListAppointments()
    tracker = form_tracker({PHONE: reference, PHONE_MASKED: "139****4321"})
    resolved = await action.with_phone(tracker)
    assert resolved.get_slot(PHONE) == PHONE_NUMBER
    assert tracker.get_slot(PHONE) == reference  # the action's own tracker is unchanged
    plain = form_tracker({PHONE: PHONE_NUMBER})
    assert await action.with_phone(plain) is plain
    expired = form_tracker({PHONE: vault.reference("u1", PHONE, "13800000000")})
    with pytest.raises(VaultMiss):
        await action.with_phone(expired)


@pytest.mark.unit
async def test_a_phone_gone_at_submission_is_an_apology_and_asked_again_next_time(vault):
    dispatcher = CollectingDispatcher()
    expired = form_tracker({PHONE: vault.reference("u1", PHONE, "13800000000"),
                            PHONE_MASKED: "138****0000"})
    events = await ActionListAppointments().run(dispatcher, expired, domain())
    assert [m["response"] for m in dispatcher.messages] == ["utter_backend_unavailable"]
    assert SlotSet(PHONE, None) in events and SlotSet(PHONE_MASKED, None) in events


@pytest.mark.unit
def test_the_vault_is_made_once_from_the_environment(monkeypatch):
    monkeypatch.setattr(actions.vault, "_vault", None)
    monkeypatch.setenv("MINSHENG_PII_KEY", Fernet.generate_key().decode())
    monkeypatch.setenv("MINSHENG_PII_TTL", "900")
    first = actions.vault.get_vault()
    assert first is actions.vault.get_vault() and first.ttl == 900
    monkeypatch.setattr(actions.vault, "_vault", None)
    monkeypatch.delenv("MINSHENG_PII_KEY")
    assert actions.vault.get_vault().ttl == 900  # an ephemeral key, with a warning
    assert "MINSHENG_PII_KEY" not in os.environ
