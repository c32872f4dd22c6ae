"""WeChat Official Account server protocol as pure functions (no Rasa, no I/O).

Built on wechatpy: signatures with its ``WeChatSigner``, 安全模式 with its ``WeChatCrypto``,
messages with its ``parse_message``. Around them, what a public endpoint needs:

- **URL verification** (``GET``): ``signature = sha1(sort(token, timestamp, nonce))``; the
  ``echostr`` is echoed back only when the signature and the timestamp are good.
- **Deliveries** (``POST``): in plain mode the query's ``signature`` is checked; in 安全模式
  (``encrypt_type=aes``) ``msg_signature = sha1(sort(token, timestamp, nonce, Encrypt))`` is
  checked, then the message is decrypted and its AppId compared. Signatures are compared in
  constant time, timestamps must be within a tolerance (replays of old deliveries fail).
- **Hostile XML**: the body size is capped, any DTD or entity declaration is refused before
  parsing (no entity expansion, no external entities), the root must be ``<xml>`` with single,
  flat fields, ids must look like WeChat ids. Anything else is :class:`BadDelivery` (HTTP 400);
  a bad signature or timestamp is :class:`InvalidSignature` (HTTP 403).
- **What Rasa hears** (:func:`to_rasa_input`): text and recognised voice through
  ``clean_message``; a location as ``/share_location{...}``; image, video and other media as
  ``/wechat_unsupported``; subscribe as ``/wechat_subscribe``; CLICK menu keys through the
  configured table; unsubscribe and other events are acknowledged without reaching Rasa.
- **Passive replies** (:func:`text_reply_xml`): built here rather than with wechatpy's
  ``TextReply`` because that one puts text into CDATA unescaped, so an answer containing
  ``]]>`` would break the XML.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from channels.text import clean_message

MAX_ECHOSTR_CHARS = 128
OPTION_LIMIT = 20

_OPENID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_ACCOUNT = re.compile(r"^[A-Za-z0-9_\-@.]{1,64}$")
_DIGITS = re.compile(r"^[0-9]{1,20}$")
_NONCE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_SIGNATURE = re.compile(r"^[0-9a-fA-F]{40}$")
_ECHOSTR = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")
_DTD = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)
_OPTION = re.compile(
    r"^(?:第)?\s*([0-9]{1,2}|[一二三四五六七八九十])\s*(?:[.。、,，)）]|号|个|项)?$"
)
_CHINESE_DIGITS = {c: i for i, c in enumerate("一二三四五六七八九十", start=1)}
# Characters XML 1.0 does not allow, even inside CDATA.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_LABEL_DROP = re.compile(r'[{}"\\\x00-\x1f\x7f]')

UNSUPPORTED = "/wechat_unsupported"
SUBSCRIBE = "/wechat_subscribe"
VOICE_UNRECOGNISED = "/wechat_voice_unrecognised"
LOCATION_INTENT = "share_location"
MAX_LABEL_CHARS = 80

# Media and other messages residents cannot be answered for in text.
_UNSUPPORTED_TYPES = frozenset(
    {"image", "video", "shortvideo", "link", "file", "music", "miniprogrampage", "unknown"}
)
# Required top-level fields of every message and event.
_REQUIRED = ("ToUserName", "FromUserName", "CreateTime", "MsgType")


class WeChatProtocolError(Exception):
    """A request the channel refuses; ``status`` is the HTTP status to answer with."""

    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidSignature(WeChatProtocolError):
    """Missing or wrong signature, stale timestamp, or a message for another AppId (403)."""

    status = 403


class BadDelivery(WeChatProtocolError):
    """Malformed, oversized or undecryptable XML, or a message that cannot be from WeChat
    (400)."""

    status = 400


@dataclass(frozen=True)
class InboundMessage:
    """One message or event from WeChat, after verification and parsing."""

    account: str  # ToUserName: the Official Account's id (gh_...)
    openid: str  # FromUserName: the resident
    create_time: int
    msg_type: str  # text, voice, location, image, event, ...
    msg_id: str | None = None
    content: str | None = None
    recognition: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    label: str | None = None
    event: str | None = None  # lower case: subscribe, unsubscribe, click, view, ...
    event_key: str | None = None

    @property
    def dedup_id(self) -> str:
        """WeChat's advice: MsgId for messages, FromUserName + CreateTime for events (the event
        and its key are added: a retry repeats them, two different events must not merge)."""
        if self.msg_id and self.msg_id != "0":
            return f"m{self.msg_id}"
        raw = "|".join(
            [self.openid, str(self.create_time), self.msg_type, self.event or "",
             self.event_key or ""]
        )
        return "e" + hashlib.sha1(raw.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class Delivery:
    """A verified POST: the message, and how to answer it (encrypted or not)."""

    message: InboundMessage
    encrypted: bool
    nonce: str
    timestamp: str


@dataclass(frozen=True)
class RasaInput:
    """What Rasa hears for a WeChat message."""

    text: str
    kind: str  # text, voice, location, unsupported, subscribe, menu
    option: int | None = None  # the resident answered a numbered option by its number
    too_long: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


def signature_of(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the parts sorted and concatenated (wechatpy's signer)."""
    from wechatpy.utils import WeChatSigner

    signer = WeChatSigner()
    signer.add_data(*parts)
    return str(signer.signature)


def _same(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.lower(), str(given).lower())


def check_timestamp(timestamp: str | None, now: float, tolerance: int) -> None:
    """Raises :class:`InvalidSignature` unless ``timestamp`` is within ``tolerance`` s of now."""
    if not timestamp or not _DIGITS.match(timestamp):
        raise InvalidSignature("missing or malformed timestamp")
    if abs(now - int(timestamp)) > tolerance:
        raise InvalidSignature("timestamp outside the allowed window")


def check_signature(
    token: str, query: Mapping[str, str], *, now: float, tolerance: int
) -> tuple[str, str]:
    """Checks the plain ``signature`` over token, timestamp and nonce; returns them."""
    timestamp, nonce, signature = (query.get(k) for k in ("timestamp", "nonce", "signature"))
    if not signature or not _SIGNATURE.match(signature) or not nonce or not _NONCE.match(nonce):
        raise InvalidSignature("missing or malformed signature or nonce")
    check_timestamp(timestamp, now, tolerance)
    assert timestamp is not None
    if not _same(signature_of(token, timestamp, nonce), signature):
        raise InvalidSignature("bad signature")
    return timestamp, nonce


def verify_url(token: str, query: Mapping[str, str], *, now: float, tolerance: int) -> str:
    """URL verification (GET): returns the ``echostr`` to echo when the signature is good."""
    check_signature(token, query, now=now, tolerance=tolerance)
    echostr = query.get("echostr") or ""
    if not _ECHOSTR.match(echostr):
        raise BadDelivery("missing or malformed echostr")
    return echostr


def _parse_xml(body: bytes | str, max_bytes: int) -> tuple[str, dict[str, Any]]:
    """Parses a delivery's XML strictly; returns the text and its ``<xml>`` fields."""
    from xml.parsers.expat import ExpatError

    import xmltodict

    raw = body.encode("utf-8") if isinstance(body, str) else body
    if len(raw) > max_bytes:
        raise BadDelivery(f"XML body over {max_bytes} bytes")
    if not raw.strip():
        raise BadDelivery("empty body")
    if _DTD.search(raw):
        raise BadDelivery("DTD and entity declarations are not accepted")
    try:
        text = raw.decode("utf-8")
        parsed = xmltodict.parse(text, disable_entities=True)
    except (UnicodeDecodeError, ExpatError, ValueError) as error:
        raise BadDelivery(f"malformed XML: {error.__class__.__name__}") from None
    if not isinstance(parsed, dict) or list(parsed) != ["xml"] or not isinstance(
        parsed["xml"], dict
    ):
        raise BadDelivery("the root element must be <xml> with fields")
    fields = parsed["xml"]
    for name, value in fields.items():
        if isinstance(value, list):
            raise BadDelivery(f"field <{name}> appears more than once")
        if name.startswith("@"):
            raise BadDelivery("attributes are not expected on <xml>")
    return text, fields


def _text_field(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadDelivery(f"field <{name}> must be text")
    return value


def open_delivery(
    body: bytes,
    query: Mapping[str, str],
    *,
    token: str,
    app_id: str,
    encoding_aes_key: str | None,
    now: float,
    tolerance: int,
    max_bytes: int,
    require_encryption: bool = False,
) -> Delivery:
    """Verifies, decrypts and parses one POSTed delivery; raises a :class:`WeChatProtocolError`.

    Order matters: the query's signature and timestamp are checked before the body is even
    looked at, so unauthenticated junk costs nothing.
    """
    timestamp, nonce = check_signature(token, query, now=now, tolerance=tolerance)
    encrypted = (query.get("encrypt_type") or "raw").lower() == "aes"
    if not encrypted and (query.get("encrypt_type") or "raw").lower() != "raw":
        raise BadDelivery("unknown encrypt_type")
    if require_encryption and not encrypted:
        raise InvalidSignature("plain deliveries are refused: 安全模式 is required")
    text, fields = _parse_xml(body, max_bytes)
    if encrypted:
        text = _decrypt(
            fields, query, token=token, app_id=app_id, key=encoding_aes_key,
            timestamp=timestamp, nonce=nonce,
        )
        text, fields = _parse_xml(text, max_bytes)
    return Delivery(parse_inbound(text, fields), encrypted, nonce, timestamp)


def _decrypt(
    fields: Mapping[str, Any],
    query: Mapping[str, str],
    *,
    token: str,
    app_id: str,
    key: str | None,
    timestamp: str,
    nonce: str,
) -> str:
    from wechatpy.crypto import WeChatCrypto
    from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException

    if key is None:
        raise BadDelivery("an encrypted delivery arrived but WECHAT_ENCODING_AES_KEY is not set")
    encrypt = _text_field(fields, "Encrypt")
    if not encrypt:
        raise BadDelivery("encrypted delivery without <Encrypt>")
    msg_signature = query.get("msg_signature") or ""
    if not _SIGNATURE.match(msg_signature) or not _same(
        signature_of(token, timestamp, nonce, encrypt), msg_signature
    ):
        raise InvalidSignature("bad msg_signature")
    try:
        return str(
            WeChatCrypto(token, key, app_id).decrypt_message(
                {"Encrypt": encrypt}, msg_signature.lower(), timestamp, nonce
            )
        )
    except InvalidAppIdException:
        raise InvalidSignature("the message is for another AppId") from None
    except InvalidSignatureException:  # checked above; kept for completeness
        raise InvalidSignature("bad msg_signature") from None
    except Exception as error:  # bad base64, padding, length, UTF-8: all malformed input
        raise BadDelivery(f"cannot decrypt: {error.__class__.__name__}") from None


def parse_inbound(xml_text: str, fields: Mapping[str, Any] | None = None) -> InboundMessage:
    """Parses a (decrypted) message with wechatpy after strict checks of its fields."""
    from wechatpy import parse_message

    if fields is None:
        xml_text, fields = _parse_xml(xml_text, max(len(xml_text.encode("utf-8")), 1))
    for name in _REQUIRED:
        if not _text_field(fields, name):
            raise BadDelivery(f"missing <{name}>")
    account = _text_field(fields, "ToUserName") or ""
    openid = _text_field(fields, "FromUserName") or ""
    create_time = _text_field(fields, "CreateTime") or ""
    if not _ACCOUNT.match(account):
        raise BadDelivery("malformed ToUserName")
    if not _OPENID.match(openid):
        raise BadDelivery("malformed FromUserName")
    if not _DIGITS.match(create_time):
        raise BadDelivery("malformed CreateTime")
    msg_id = _text_field(fields, "MsgId")
    if msg_id is not None and not _DIGITS.match(msg_id):
        raise BadDelivery("malformed MsgId")
    try:
        message = parse_message(xml_text)  # wechatpy's reading must succeed too
        message.source, message.target, message.time  # noqa: B018 (converts its fields)
    except Exception as error:  # wechatpy trusts its input; any surprise is malformed input
        raise BadDelivery(f"unparseable message: {error.__class__.__name__}") from None
    msg_type = (_text_field(fields, "MsgType") or "").lower()
    common: dict[str, Any] = {
        "account": account,
        "openid": openid,
        "create_time": int(create_time),
        "msg_id": msg_id,
    }
    if msg_type == "text":
        return InboundMessage(msg_type="text", content=_text_field(fields, "Content") or "",
                              **common)
    if msg_type == "voice":
        return InboundMessage(
            msg_type="voice", recognition=_text_field(fields, "Recognition") or "", **common
        )
    if msg_type == "location":
        latitude = _coordinate(_text_field(fields, "Location_X"), 90.0)
        longitude = _coordinate(_text_field(fields, "Location_Y"), 180.0)
        return InboundMessage(
            msg_type="location", latitude=latitude, longitude=longitude,
            label=_text_field(fields, "Label") or "", **common,
        )
    if msg_type == "event":
        event = (_text_field(fields, "Event") or "").lower()
        if not event:
            raise BadDelivery("event without <Event>")
        key = fields.get("EventKey")
        return InboundMessage(
            msg_type="event", event=event,
            event_key=key if isinstance(key, str) else None, **common,
        )
    known = msg_type if msg_type in _UNSUPPORTED_TYPES else "unknown"
    return InboundMessage(msg_type=known, **common)


def _coordinate(value: str | None, bound: float) -> float:
    try:
        number = float(value or "")
    except ValueError:
        raise BadDelivery("malformed location") from None
    if not math.isfinite(number) or abs(number) > bound:
        raise BadDelivery("location out of range")
    return round(number, 6)


def location_payload(latitude: float, longitude: float, label: str) -> str:
    """The ``/share_location{...}`` payload Rasa reads as intent and entities."""
    clean = _LABEL_DROP.sub("", clean_message(label or "", 10_000).text)[:MAX_LABEL_CHARS]
    entities: dict[str, Any] = {"latitude": latitude, "longitude": longitude}
    if clean.strip():
        entities["location_label"] = clean.strip()
    return f"/{LOCATION_INTENT}{json.dumps(entities, ensure_ascii=False)}"


def option_number(text: str) -> int | None:
    """The option a resident picked by typing its number ("2", "２", "第2个", "二"), or None."""
    match = _OPTION.match(clean_message(text, 100).text)
    if not match:
        return None
    token = match.group(1)
    number = _CHINESE_DIGITS.get(token) or int(token)
    return number if 1 <= number <= OPTION_LIMIT else None


def to_rasa_input(
    message: InboundMessage,
    *,
    menu: Mapping[str, str],
    menu_default: str,
    max_chars: int,
) -> RasaInput | None:
    """What Rasa hears for ``message``; None when nothing should reach Rasa (unsubscribe,
    view and other events, or an empty text)."""
    meta: dict[str, Any] = {"wechat": {"msg_type": message.msg_type, "msg_id": message.msg_id}}
    if message.msg_type in ("text", "voice"):
        raw = message.content if message.msg_type == "text" else message.recognition
        cleaned = clean_message(raw or "", max_chars)
        if not cleaned.text:
            if message.msg_type == "voice":
                return RasaInput(VOICE_UNRECOGNISED, "voice", metadata=meta)
            return None
        option = None if cleaned.too_long else option_number(cleaned.text)
        return RasaInput(cleaned.text, message.msg_type, option, cleaned.too_long, meta)
    if message.msg_type == "location":
        assert message.latitude is not None and message.longitude is not None
        payload = location_payload(message.latitude, message.longitude, message.label or "")
        return RasaInput(payload, "location", metadata=meta)
    if message.msg_type == "event":
        meta["wechat"]["event"] = message.event
        if message.event in ("subscribe", "subscribe_scan"):
            return RasaInput(SUBSCRIBE, "subscribe", metadata=meta)
        if message.event == "click":
            payload = menu.get(message.event_key or "", menu_default)
            return RasaInput(payload, "menu", metadata=meta)
        return None
    return RasaInput(UNSUPPORTED, "unsupported", metadata=meta)


def _cdata(value: str) -> str:
    value = _XML_ILLEGAL.sub("", value)
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply_xml(to_user: str, from_user: str, content: str, create_time: int) -> str:
    """A passive text reply."""
    return (
        "<xml>"
        f"<ToUserName>{_cdata(to_user)}</ToUserName>"
        f"<FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{int(create_time)}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{_cdata(content)}</Content>"
        "</xml>"
    )


def seal_reply(
    xml: str, *, token: str, app_id: str, encoding_aes_key: str, nonce: str, timestamp: str
) -> str:
    """A passive reply encrypted for 安全模式 (Encrypt, MsgSignature, TimeStamp, Nonce)."""
    from wechatpy.crypto import WeChatCrypto

    return str(WeChatCrypto(token, encoding_aes_key, app_id).encrypt_message(xml, nonce,
                                                                            timestamp))


def new_encoding_aes_key() -> str:
    """A fresh EncodingAESKey: 32 random bytes, base64 without the trailing ``=`` (43 chars)."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")


def new_token(length: int = 32) -> str:
    """A fresh Token for the admin console: letters and digits."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))
