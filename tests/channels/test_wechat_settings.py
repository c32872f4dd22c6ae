"""The WeChat channel's configuration: unset means "not configured", anything half-set or
malformed fails with a message that says what to fix, and secrets stay out of repr."""

import logging

import pytest

from channels.wechat.channel import WeChatInput
from channels.wechat.settings import ConfigError, WeChatSettings

pytestmark = pytest.mark.unit

ENV = {
    "WECHAT_TOKEN": "spamtest",
    "WECHAT_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "WECHAT_APP_ID": "wx2c2769f8efd9abc2",
    "WECHAT_APP_SECRET": "s3cr3t-value-never-logged",
    "WECHAT_API_BASE": "http://127.0.0.1:5090/",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "REDIS_KEY_PREFIX": "test1234",
}


def test_settings_come_from_the_environment():
    settings = WeChatSettings.from_env(ENV, {"passive_reply_seconds": 4.0})
    assert settings is not None
    assert settings.token == "spamtest" and settings.app_id == "wx2c2769f8efd9abc2"
    assert settings.api_base == "http://127.0.0.1:5090"
    assert settings.key_prefix == "test1234:wechat"
    assert settings.passive_reply_seconds == 4.0
    assert settings.menu["MENU_HUMAN"] == "/request_human"
    for secret in ("spamtest", "s3cr3t", "abcdefghijklmnop", "redis://"):
        assert secret not in repr(settings)


def test_nothing_set_means_not_configured():
    assert WeChatSettings.from_env({}, {}) is None
    assert WeChatSettings.from_env({"WECHAT_API_BASE": "http://x"}, {}) is None


def test_not_configured_channel_starts_and_warns_once(caplog, monkeypatch):
    for name in ENV:
        if name.startswith("WECHAT_"):
            monkeypatch.delenv(name, raising=False)
    with caplog.at_level(logging.WARNING, logger="channels.wechat.channel"):
        channel = WeChatInput.from_credentials({"passive_reply_seconds": 4.5})
    assert channel.settings is None
    assert channel.get_output_channel() is None
    warnings = [r for r in caplog.records if "not configured" in r.getMessage()]
    assert len(warnings) == 1
    assert WeChatInput.name() == "wechat" and channel.url_prefix() == "wechat"


def test_configured_channel_from_credentials(monkeypatch):
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    channel = WeChatInput.from_credentials({"menu": {"MENU_HELP": "/ask_capabilities"}})
    assert channel.settings is not None
    assert dict(channel.settings.menu) == {"MENU_HELP": "/ask_capabilities"}
    assert channel.get_output_channel().name() == "wechat"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"WECHAT_APP_SECRET": ""}, "WECHAT_APP_SECRET not set"),
        ({"WECHAT_TOKEN": "", "WECHAT_APP_ID": ""}, "WECHAT_TOKEN, WECHAT_APP_ID not set"),
        ({"WECHAT_TOKEN": "a b"}, "WECHAT_TOKEN must be"),
        ({"WECHAT_TOKEN": "x" * 33}, "WECHAT_TOKEN must be"),
        ({"WECHAT_ENCODING_AES_KEY": "short"}, "WECHAT_ENCODING_AES_KEY"),
        ({"WECHAT_ENCODING_AES_KEY": "!" * 43}, "WECHAT_ENCODING_AES_KEY"),
        ({"WECHAT_APP_ID": "not-an-app-id"}, "WECHAT_APP_ID"),
        ({"WECHAT_APP_SECRET": "with space"}, "WECHAT_APP_SECRET"),
        ({"WECHAT_API_BASE": "ftp://example"}, "WECHAT_API_BASE"),
    ],
)
def test_half_set_or_malformed_secrets_fail_clearly(change, message):
    with pytest.raises(ConfigError, match=message):
        WeChatSettings.from_env({**ENV, **change}, {})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"menu": {"MENU_X": "not a payload"}}, "MENU_X"),
        ({"menu": {"MENU_X": "/evil{{}}"}}, "MENU_X"),
        ({"menu": {"bad key!": "/greet"}}, "bad menu key"),
        ({"menu_default": "hello"}, "menu_default"),
        ({"passive_reply_seconds": 5}, "passive_reply_seconds"),
        ({"max_text_bytes": 10}, "max_text_bytes"),
        ({"dedup_ttl_seconds": 5}, "dedup_ttl_seconds"),
        ({"no_such_option": 1}, "unknown option"),
        ({"token": "x"}, "unknown option"),
    ],
)
def test_bad_options_fail_clearly(options, message):
    with pytest.raises(ConfigError, match=message):
        WeChatSettings.from_env(ENV, options)


def test_required_encryption_needs_a_key():
    env = {**ENV, "WECHAT_ENCODING_AES_KEY": ""}
    assert WeChatSettings.from_env(env, {}).encoding_aes_key is None
    with pytest.raises(ConfigError, match="require_encryption"):
        WeChatSettings.from_env(env, {"require_encryption": True})
