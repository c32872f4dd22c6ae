"""Fuzzing the WeChat protocol functions (channels/wechat/protocol.py) with hypothesis.

The contract: a delivery is either parsed into a message or refused with a
:class:`WeChatProtocolError` (400 :class:`BadDelivery` / 403 :class:`InvalidSignature`); nothing
else may escape (any other exception would be a 500 and a stack trace), nothing may hang, and
what is accepted keeps the documented shapes (ids, the text Rasa hears, the reply XML)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import xml.etree.ElementTree as ElementTree

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from wechatpy.crypto import WeChatCrypto

from channels.wechat.protocol import (
    _ACCOUNT,
    _OPENID,
    Delivery,
    InboundMessage,
    WeChatProtocolError,
    location_payload,
    open_delivery,
    option_number,
    parse_inbound,
    text_reply_xml,
    to_rasa_input,
    verify_url,
)
from channels.wechat.settings import DEFAULT_MENU
from tests.fuzzing import fuzz_settings

pytestmark = pytest.mark.unit

TOKEN = "fuzzToken123"
APP_ID = "wx2c2769f8efd9abc2"
KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
NOW = 1_700_000_000
MAX_BYTES = 64 * 1024
FIELDS = ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content", "MsgId",
          "Recognition", "Location_X", "Location_Y", "Label", "Event", "EventKey", "Encrypt",
          "MediaId", "PicUrl", "Format", "Scale"]
MSG_TYPES = ["text", "voice", "location", "event", "image", "video", "link", "file", "TEXT",
             "shortvideo", "music", "", "weird"]
EVENTS = ["subscribe", "unsubscribe", "CLICK", "VIEW", "SCAN", "LOCATION", "subscribe_scan", ""]


def query(timestamp: str = str(NOW), nonce: str = "1320562132", **extra: str) -> dict[str, str]:
    signature = hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce, **extra}


def open_plain(body: bytes, q: dict[str, str] | None = None) -> Delivery:
    return open_delivery(body, q or query(), token=TOKEN, app_id=APP_ID, encoding_aes_key=KEY,
                         now=NOW, tolerance=300, max_bytes=MAX_BYTES)


def check_accepted(delivery: Delivery) -> None:
    message = delivery.message
    assert isinstance(message, InboundMessage)
    # ids that reach Redis keys and logs are exactly the documented shapes, no newline
    assert re.fullmatch(r"[A-Za-z0-9_\-]{1,64}", message.openid), message.openid
    assert re.fullmatch(r"[A-Za-z0-9_\-@.]{1,64}", message.account), message.account
    assert message.msg_id is None or re.fullmatch(r"[0-9]{1,20}", message.msg_id)
    assert re.fullmatch(r"[me][0-9a-f]+|m[0-9]+", message.dedup_id)
    heard = to_rasa_input(message, menu=DEFAULT_MENU, menu_default="/ask_capabilities",
                          max_chars=2000)
    if heard is not None:
        assert heard.text and heard.text == heard.text.strip()
        assert len(heard.text) <= 2000 or heard.too_long
        assert heard.option is None or 1 <= heard.option <= 20
        if heard.kind == "location":
            json.loads(heard.text.removeprefix("/share_location"))


# --- strategies ------------------------------------------------------------------------------

xml_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60
)
id_like = st.one_of(st.from_regex(r"[A-Za-z0-9_\-]{1,64}", fullmatch=True), xml_text)
digits = st.one_of(st.integers(0, 10**21).map(str), xml_text)


def cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


@st.composite
def message_xml(draw: st.DrawFn) -> str:
    """Messages that look like WeChat's, with every field free to be wrong."""
    fields: dict[str, str] = {
        "ToUserName": draw(id_like),
        "FromUserName": draw(id_like),
        "CreateTime": draw(digits),
        "MsgType": draw(st.sampled_from(MSG_TYPES) | xml_text),
    }
    for name in draw(st.lists(st.sampled_from(FIELDS[4:]), max_size=6, unique=True)):
        if name in ("Location_X", "Location_Y", "Scale"):
            fields[name] = draw(st.floats(allow_nan=True, allow_infinity=True).map(repr)
                                | xml_text)
        elif name == "MsgId":
            fields[name] = draw(digits)
        elif name == "Event":
            fields[name] = draw(st.sampled_from(EVENTS) | xml_text)
        else:
            fields[name] = draw(xml_text)
    for name in draw(st.lists(st.sampled_from(list(fields)), max_size=2)):
        fields.pop(name, None)  # required fields go missing too
    parts = []
    for name, value in fields.items():
        style = draw(st.sampled_from(["cdata", "plain", "nested", "twice", "attr"]))
        if style == "cdata":
            parts.append(f"<{name}>{cdata(value)}</{name}>")
        elif style == "plain":
            escaped = value.replace("&", "&amp;").replace("<", "&lt;")
            parts.append(f"<{name}>{escaped}</{name}>")
        elif style == "nested":
            parts.append(f"<{name}><a>{cdata(value)}</a></{name}>")
        elif style == "twice":
            parts.append(f"<{name}>{cdata(value)}</{name}>" * 2)
        else:
            parts.append(f'<{name} x="1">{cdata(value)}</{name}>')
    root = draw(st.sampled_from(["xml", "xml", "xml", "Xml", "root"]))
    return f"<{root}>{''.join(parts)}</{root}>"


hostile_prefixes = st.sampled_from([
    "", '<?xml version="1.0" encoding="utf-8"?>', "<!DOCTYPE xml [<!ENTITY a 'b'>]>",
    "<!-- c -->", "\ufeff", "<! DOCTYPE x>", '<?xml version="1.0" encoding="gbk"?>',
])


# --- properties ------------------------------------------------------------------------------


@fuzz_settings(100)
@given(body=st.binary(max_size=2048))
@example(body=b"")
@example(body=b"<xml>" * 20_000)  # deep nesting
@example(body=b"<xml><ToUserName>\xff</ToUserName></xml>")
def test_any_bytes_are_parsed_or_refused(body: bytes) -> None:
    try:
        check_accepted(open_plain(body))
    except WeChatProtocolError as error:
        assert error.status in (400, 403)


@fuzz_settings(150)
@given(xml=message_xml(), prefix=hostile_prefixes)
@example(
    xml="<xml><ToUserName>gh_1</ToUserName><FromUserName>o1\n</FromUserName>"
        "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content></xml>",
    prefix="",
)
@example(
    xml="<xml><ToUserName>gh_1</ToUserName><FromUserName>o1</FromUserName>"
        "<CreateTime>1\n</CreateTime><MsgType>text</MsgType><MsgId>5\n</MsgId></xml>",
    prefix="",
)
def test_message_like_xml_is_parsed_or_refused(xml: str, prefix: str) -> None:
    try:
        check_accepted(open_plain((prefix + xml).encode("utf-8")))
    except WeChatProtocolError as error:
        assert error.status in (400, 403)


@fuzz_settings(100)
@given(xml=message_xml())
def test_parse_inbound_alone_raises_only_protocol_errors(xml: str) -> None:
    try:
        message = parse_inbound(xml)
    except WeChatProtocolError:
        return
    assert _OPENID.fullmatch(message.openid) and _ACCOUNT.fullmatch(message.account)


@fuzz_settings(100)
@given(
    encrypt=st.one_of(st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
                      xml_text),
    good_signature=st.booleans(),
)
def test_encrypted_deliveries_with_junk_ciphertext_are_refused(encrypt: str,
                                                                good_signature: bool) -> None:
    timestamp, nonce = str(NOW), "42"
    msg_signature = (hashlib.sha1("".join(sorted([TOKEN, timestamp, nonce, encrypt])).encode())
                     .hexdigest() if good_signature else "0" * 40)
    body = f"<xml><ToUserName>gh_1</ToUserName><Encrypt>{cdata(encrypt)}</Encrypt></xml>"
    q = query(timestamp, nonce, encrypt_type="aes", msg_signature=msg_signature)
    try:
        check_accepted(open_plain(body.encode("utf-8"), q))
    except WeChatProtocolError as error:
        assert error.status in (400, 403)


@fuzz_settings(60)
@given(xml=message_xml())
def test_well_encrypted_messages_behave_like_plain_ones(xml: str) -> None:
    """Through 安全模式 a message gets the same verdict as in plain mode."""
    crypto = WeChatCrypto(TOKEN, KEY, APP_ID)
    timestamp, nonce = str(NOW), "77"
    sealed = ElementTree.fromstring(crypto.encrypt_message(xml, nonce, timestamp))
    encrypt = sealed.findtext("Encrypt") or ""
    q = query(timestamp, nonce, encrypt_type="aes",
              msg_signature=sealed.findtext("MsgSignature") or "")
    body = f"<xml><ToUserName>gh_1</ToUserName><Encrypt>{cdata(encrypt)}</Encrypt></xml>"
    try:
        plain: object = open_plain(xml.encode("utf-8")).message
    except WeChatProtocolError as error:
        plain = error.status
    try:
        encrypted: object = open_plain(body.encode("utf-8"), q).message
    except WeChatProtocolError as error:
        encrypted = error.status
    assert plain == encrypted


@fuzz_settings(100)
@given(q=st.dictionaries(
    st.sampled_from(["signature", "timestamp", "nonce", "echostr", "encrypt_type",
                     "msg_signature"]),
    st.one_of(xml_text, st.from_regex(r"[0-9a-f]{40}", fullmatch=True),
              st.integers(0, 2 * NOW).map(str)),
))
def test_any_query_is_verified_or_refused(q: dict[str, str]) -> None:
    try:
        echo = verify_url(TOKEN, q, now=NOW, tolerance=300)
    except WeChatProtocolError as error:
        assert error.status in (400, 403)
        return
    assert re.fullmatch(r"[A-Za-z0-9_\-]{1,128}", echo)


@fuzz_settings(100)
@given(text=st.text(max_size=40))
@example(text="２\n")
@example(text="第\u200b2个")
def test_option_numbers_are_small_or_none(text: str) -> None:
    number = option_number(text)
    assert number is None or 1 <= number <= 20


@fuzz_settings(100)
@given(
    latitude=st.floats(-90, 90), longitude=st.floats(-180, 180), label=st.text(max_size=200),
)
@example(latitude=0.0, longitude=0.0, label='"}{\\/share_location{')
def test_location_payloads_are_strict_json(latitude: float, longitude: float,
                                           label: str) -> None:
    payload = location_payload(latitude, longitude, label)
    assert payload.startswith("/share_location{")
    entities = json.loads(payload.removeprefix("/share_location"))
    assert entities["latitude"] == latitude and entities["longitude"] == longitude
    assert len(entities.get("location_label", "")) <= 80


@fuzz_settings(100)
@given(content=st.text(max_size=300), to_user=xml_text, from_user=xml_text)
@example(content="]]>", to_user="a", from_user="b")
@example(content="\x00\x08\ufffe]]]]>", to_user="]]>", from_user="\x1f")
def test_passive_replies_are_well_formed_xml(content: str, to_user: str,
                                             from_user: str) -> None:
    xml = text_reply_xml(to_user, from_user, content, NOW)
    parsed = ElementTree.fromstring(xml.encode("utf-8"))
    illegal = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
    expected = illegal.sub("", content).replace("\r\n", "\n").replace("\r", "\n")
    assert (parsed.findtext("Content") or "") == expected
