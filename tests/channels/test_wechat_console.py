"""scripts/wechat-config: the values for the WeChat admin console."""

import re
import subprocess
from pathlib import Path

import pytest

from channels.wechat.console import main
from channels.wechat.settings import valid_encoding_aes_key

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


def values(output: str) -> dict[str, str]:
    found = dict(re.findall(r"^\s+(URL|Token|EncodingAESKey) \([^)]*\):\s+(\S+)$", output, re.M))
    return found


def test_prints_the_configured_values(capsys):
    env = {"WECHAT_TOKEN": "spamtest", "WECHAT_ENCODING_AES_KEY": KEY,
           "WECHAT_APP_ID": "wx2c2769f8efd9abc2"}
    assert main(["--public-url", "https://assistant.example.gov.cn/"], env) == 0
    out = capsys.readouterr().out
    assert values(out) == {
        "URL": "https://assistant.example.gov.cn/webhooks/wechat/webhook",
        "Token": "spamtest",
        "EncodingAESKey": KEY,
    }
    assert "export WECHAT_TOKEN=spamtest" in out
    assert "WECHAT_APP_ID is already set" in out and "export WECHAT_APP_SECRET=" in out
    assert "is new" not in out


def test_generates_a_fresh_key_on_request_and_when_none_is_set(capsys):
    env = {"WECHAT_TOKEN": "spamtest", "WECHAT_ENCODING_AES_KEY": KEY, "RASA_PORT": "5999"}
    assert main(["--new-key"], env) == 0
    first = values(capsys.readouterr().out)
    assert first["EncodingAESKey"] != KEY and valid_encoding_aes_key(first["EncodingAESKey"])
    assert first["URL"] == "http://127.0.0.1:5999/webhooks/wechat/webhook"
    assert main([], {}) == 0
    out = capsys.readouterr().out
    fresh = values(out)
    assert valid_encoding_aes_key(fresh["EncodingAESKey"]) and fresh["Token"].isalnum()
    assert "Token is new; EncodingAESKey is new" in out


def test_check_validates_the_environment(capsys):
    good = {"WECHAT_TOKEN": "spamtest", "WECHAT_ENCODING_AES_KEY": KEY,
            "WECHAT_APP_ID": "wx2c2769f8efd9abc2", "WECHAT_APP_SECRET": "s"}
    assert main(["--check"], good) == 0
    assert "安全模式" in capsys.readouterr().out
    assert main(["--check"], {**good, "WECHAT_APP_SECRET": ""}) == 1
    assert "WECHAT_APP_SECRET not set" in capsys.readouterr().err
    assert main(["--check"], {}) == 1
    assert main([], {"WECHAT_ENCODING_AES_KEY": "bad"}) == 1


def test_the_script_runs():
    result = subprocess.run(
        [str(ROOT / "scripts" / "wechat-config"), "--new-key", "--public-url", "https://x.gov.cn"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    assert values(result.stdout)["URL"] == "https://x.gov.cn/webhooks/wechat/webhook"
