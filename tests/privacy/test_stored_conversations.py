"""The proof for issue #9 (个人信息保护法): a conversation full of personal numbers through the
running assistant — a 12345 ticket with a phone, the phone used again by another form, an
identity number, a bank card, a 社保卡 number, a thumbs-down on an answer — then every Redis key
of the stack (tracker, app streams, vault …) and every log file it wrote are read: none of those
numbers is there in clear. The masked forms are (so the test cannot pass on empty data), the
logs are written at DEBUG level (Rasa then logs every message and slot), and the sandbox's
tickets backend did receive the real phone, the one place it is needed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from privacy import id_check_char, luhn_valid, mask_text
from tests.conftest import TEST_REDIS_URL, RunningAssistant
from tests.dialogues.support import Conversation, said, sandbox_rows

pytestmark = pytest.mark.integration

PHONE = "13987654321"
PHONE_TYPED = "+86 139-8765-4321"
ID = "11010819870412" + "301"
ID += id_check_char(ID)
CARD = next(f"622202123456789012{d}" for d in "0123456789"
            if luhn_valid(f"622202123456789012{d}"))
CARD_TYPED = " ".join(CARD[i:i + 4] for i in range(0, len(CARD), 4))
SOCIAL = "B07352961"

MESSAGES = {
    "id": f"我的身份证号是{ID}，社保卡丢了怎么补办？",
    "card": f"我的银行卡号是{CARD_TYPED}，能绑定到社保卡上领养老金吗？",
    "social": f"我的社保卡卡号是{SOCIAL}，怎么查医保个人账户余额？",
    "contact": f"我的电话是{PHONE_TYPED}",
}
# What must not be found anywhere, in any of these spellings.
IN_CLEAR = [PHONE, PHONE_TYPED, PHONE[3:7] + PHONE[7:], ID, ID.lower(), CARD, CARD_TYPED,
            SOCIAL, ID[6:14] + ID[14:]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAssistant]:
    """A stack of its own, logging at DEBUG (Rasa logs every message, slot and event then), with
    the vault key left to the stack (it makes an ephemeral one)."""
    from stack.assistant import Ports, StackConfig, build_services
    from stack.processes import free_port
    from stack.redis_choice import RedisTarget

    rasa_bin, model = os.environ.get("RASA_BIN"), os.environ.get("RASA_MODEL")
    if not rasa_bin or not model:
        pytest.fail("RASA_BIN and RASA_MODEL are not set: run the tests through scripts/test")
    prefix = "test" + secrets.token_hex(4)
    config = StackConfig(
        rasa_bin=rasa_bin, actions_python=sys.executable, model=model,
        ports=Ports(rasa=free_port(), actions=free_port(), backends=free_port()),
        redis=RedisTarget.from_url(TEST_REDIS_URL), redis_key_prefix=prefix,
        var_dir=tmp_path_factory.mktemp("var"),
        extra_env={"SANDBOX_ADMIN_TOKEN": "test-admin-" + secrets.token_hex(12),
                   "LOG_LEVEL": "DEBUG"},
    )
    assert "MINSHENG_PII_KEY" not in config.common_env()  # only the action server gets it
    started = []
    try:
        for service in build_services(config):
            service.start()
            started.append(service)
            service.wait_healthy(300)
        yield RunningAssistant(config, prefix)
    finally:
        for service in reversed(started):
            service.stop()
        client = redis.Redis.from_url(TEST_REDIS_URL)
        try:
            for key in client.scan_iter(f"{prefix}:*"):
                client.delete(key)
        finally:
            client.close()


def redis_dump(prefix: str) -> dict[str, str]:
    """Every key under the stack's prefix, with its whole content as text, whatever its type."""
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    dump: dict[str, str] = {}
    try:
        for key in client.scan_iter(f"{prefix}:*"):
            kind = client.type(key)
            value: Any
            if kind == "string":
                dump[key] = client.get(key) or ""
                continue
            if kind == "hash":
                value = client.hgetall(key)
            elif kind == "list":
                value = client.lrange(key, 0, -1)
            elif kind == "set":
                value = sorted(client.smembers(key))
            elif kind == "zset":
                value = client.zrange(key, 0, -1, withscores=True)
            elif kind == "stream":
                value = client.xrange(key)
            else:
                value = f"<{kind}>"
            dump[key] = json.dumps(value, ensure_ascii=False)
    finally:
        client.close()
    return dump


def app_keys_without_ttl(prefix: str) -> list[str]:
    client = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    try:
        return [key for key in client.scan_iter(f"{prefix}:app:*") if client.ttl(key) <= 0]
    finally:
        client.close()


def read_logs(log_dir: Path) -> dict[str, str]:
    return {path.name: path.read_text(encoding="utf-8", errors="replace")
            for path in log_dir.glob("*.log")}


def unescaped(text: str) -> str:
    """JSON's \\uXXXX escapes written out (the tracker and Rasa's log lines use them)."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


def in_clear(where: str, text: str) -> list[str]:
    """The personal numbers found in ``text`` in clear: also full-width, and with blanks and
    dashes removed."""
    text = unicodedata.normalize("NFKC", unescaped(text))
    compact = re.sub(r"[\s\-]", "", text)
    return [f"{where}: {value!r}" for value in IN_CLEAR
            if value in text or re.sub(r"[\s\-]", "", value) in compact]


async def test_no_personal_number_is_kept_in_clear_in_redis_or_the_logs(stack):
    c = Conversation(stack, "pii")
    complaint = "我要反映个问题，楼下饭馆油烟太大了，每天晚上呛得开不了窗（隐私测试）"
    assert said(await c.say(complaint), "utter_ask_ticket_street")
    assert said(await c.say("明德街道明德里小区5号楼"), "utter_ask_ticket_contact")
    summary = await c.say(MESSAGES["contact"])
    assert said(summary, "utter_ask_ticket_form_confirm"), summary
    assert "139****4321" in summary and "8765" not in summary  # the read-back is masked
    created = await c.say("确认")
    assert said(created, "utter_ticket_created"), created
    number = re.search(r"JS\d{14}", created).group(0)
    # the backend got the real phone: the one place it is needed
    assert sandbox_rows(stack, "SELECT phone FROM tickets WHERE number = ?", number) == [
        (PHONE,)]

    # The phone is kept (in the vault) for the next form, across turns, and still works.
    listed = await c.say("查一下我的预约")
    assert said(listed, "utter_appointments_none") and "139****4321" in listed, listed

    for key in ("id", "card", "social"):
        assert await c.say(MESSAGES[key])  # answered, whatever the answer is
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{stack.rasa_url}/webhooks/webchat/feedback",
                     json={"sender": c.sender, "message_id": "139-8765-4321",
                           "rating": "down"}) as reply,
    ):
        assert reply.status == 201, await reply.text()

    # --- Redis: every key of the stack
    dump = redis_dump(stack.prefix)
    tracker_key = f"{stack.prefix}:tracker:{c.sender}"
    assert tracker_key in dump  # really stored in Redis (not Rasa's silent in-memory fallback)
    vault_keys = [k for k in dump if k.startswith(f"{stack.prefix}:app:pii:")]
    assert vault_keys, sorted(dump)  # the phone is in the vault, encrypted
    leaks = [hit for key, value in dump.items() for hit in in_clear(key, key + " " + value)]
    assert leaks == []
    assert app_keys_without_ttl(stack.prefix) == []
    tracker = unescaped(dump[tracker_key])
    for text in MESSAGES.values():
        assert mask_text(text) in tracker, mask_text(text)
    assert "139****4321" in tracker  # phone_masked
    feedback = unescaped(dump[f"{stack.prefix}:app:feedback"])
    assert "139-____-4321" in feedback

    # --- the logs of every process of the stack
    logs = read_logs(Path(stack.log_dir))
    assert {"rasa.log", "actions.log", "backends.log"} <= set(logs)
    leaks = [hit for name, text in logs.items() for hit in in_clear(name, text)]
    assert leaks == []
    rasa_log = unescaped(logs["rasa.log"])
    for text in MESSAGES.values():
        # Rasa logged each message (DEBUG), masked
        assert mask_text(text) in rasa_log, mask_text(text)
