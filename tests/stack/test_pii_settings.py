"""The stack's part in personal data: the vault key for the action server only, an ephemeral
one (with a warning) when unset, and the masking store also without Redis."""

import pytest
import yaml
from cryptography.fernet import Fernet

from stack.assistant import StackConfig, build_services

pytestmark = pytest.mark.unit


def config(tmp_path, **kwargs):
    return StackConfig(rasa_bin="rasa", actions_python="python", model="m.tar.gz",
                       var_dir=tmp_path, **kwargs)


def test_an_ephemeral_key_is_made_once_with_a_warning(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MINSHENG_PII_KEY", raising=False)
    stack = config(tmp_path)
    key = stack.pii_key
    Fernet(key.encode())  # a valid Fernet key
    assert stack.pii_key == key
    assert "MINSHENG_PII_KEY is not set" in capsys.readouterr().err
    services = {s.name: s for s in build_services(stack)}
    assert services["action server"].env["MINSHENG_PII_KEY"] == key
    assert "MINSHENG_PII_KEY" not in services["Rasa server"].env
    assert "MINSHENG_PII_KEY" not in services["sandbox backends"].env


def test_a_key_from_the_environment_is_used_silently(tmp_path, monkeypatch, capsys):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("MINSHENG_PII_KEY", key)
    assert config(tmp_path).pii_key == key
    assert capsys.readouterr().err == ""


def test_without_redis_conversations_are_still_masked(tmp_path):
    endpoints = yaml.safe_load(config(tmp_path).endpoints_file().read_text(encoding="utf-8"))
    assert endpoints["tracker_store"] == {
        "type": "channels.tracker_store.MaskingInMemoryTrackerStore"}
    assert "lock_store" not in endpoints
