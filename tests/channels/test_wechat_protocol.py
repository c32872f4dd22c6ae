"""WeChat protocol functions, without a server: fixed vectors (Tencent's WXBizMsgCrypt sample and
wechatpy's own crypto test vector), signatures, timestamps, hostile XML, message mapping and the
passive-reply XML."""

import hashlib

import pytest
import xmltodict
from wechatpy.crypto import WeChatCrypto

from channels.wechat.protocol import (
    BadDelivery,
    InboundMessage,
    InvalidSignature,
    location_payload,
    new_encoding_aes_key,
    new_token,
    open_delivery,
    option_number,
    parse_inbound,
    seal_reply,
    signature_of,
    text_reply_xml,
    to_rasa_input,
    verify_url,
)
from channels.wechat.settings import DEFAULT_MENU, valid_encoding_aes_key

pytestmark = pytest.mark.unit

# Tencent's official sample for Official Accounts (WXBizMsgCrypt demo).
TENCENT = {
    "token": "spamtest",
    "key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "app_id": "wx2c2769f8efd9abc2",
    "timestamp": "1409735669",
    "nonce": "1320562132",
    "msg_signature": "5d197aaffba7e9b25a30732f161a50dee96bd5fa",
    "signature": "16120ec1b8dbb870f510d87ce6bc2463eae6ca1a",
    "encrypt": (
        "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6"
        "F8PGHQHFVAFmOD2LdJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T33"
        "2jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCg"
        "avjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6Oewp"
        "usjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE="
    ),
}
# wechatpy's tests/test_crypto.py vector (same PrpCrypto scheme, a different id).
WECHATPY = {
    "token": "123456",
    "key": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
    "app_id": "wx49f0ab532d5d035a",
    "timestamp": "1411525903",
    "nonce": "461056294",
    "msg_signature": "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
    "signature": "6c729cc5480fab0c2e594b7e25a93d2dbef6ab97",
    "encrypt": (
        "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHC"
        "rsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpX"
        "aG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQi"
        "MS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQi"
        "pvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
    ),
}
TOKEN = "spamtest"
NOW = 1409735669


def encrypted_body(vector: dict[str, str], account: str = "gh_10f6c3c3ac5a") -> bytes:
    return (
        f"<xml><ToUserName><![CDATA[{account}]]></ToUserName>"
        f"<Encrypt><![CDATA[{vector['encrypt']}]]></Encrypt></xml>"
    ).encode()


def encrypted_query(vector: dict[str, str], **changes: str) -> dict[str, str]:
    query = {
        "signature": vector["signature"],
        "timestamp": vector["timestamp"],
        "nonce": vector["nonce"],
        "encrypt_type": "aes",
        "msg_signature": vector["msg_signature"],
    }
    query.update(changes)
    return query


def open_vector(vector: dict[str, str], body: bytes | None = None, **query: str):
    return open_delivery(
        encrypted_body(vector) if body is None else body,
        encrypted_query(vector, **query),
        token=vector["token"],
        app_id=vector["app_id"],
        encoding_aes_key=vector["key"],
        now=int(vector["timestamp"]),
        tolerance=300,
        max_bytes=64 * 1024,
    )


def plain_query(timestamp: str = str(NOW), nonce: str = "1320562132", token: str = TOKEN):
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce}


def open_plain(xml: str | bytes, query: dict[str, str] | None = None, **options):
    return open_delivery(
        xml.encode() if isinstance(xml, str) else xml,
        query or plain_query(),
        token=TOKEN,
        app_id=TENCENT["app_id"],
        encoding_aes_key=TENCENT["key"],
        now=NOW,
        tolerance=300,
        max_bytes=options.pop("max_bytes", 64 * 1024),
        **options,
    )


def xml(msg_type: str, **fields: str) -> str:
    inner = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return (
        "<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>"
        "<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]></FromUserName>"
        f"<CreateTime>1409735668</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{inner}"
        "</xml>"
    )


# --- signatures and fixed vectors -------------------------------------------------------------


def test_signature_matches_the_fixed_vectors():
    for vector in (TENCENT, WECHATPY):
        assert signature_of(vector["token"], vector["timestamp"], vector["nonce"]) == vector[
            "signature"
        ]
        assert (
            signature_of(vector["token"], vector["timestamp"], vector["nonce"], vector["encrypt"])
            == vector["msg_signature"]
        )


def test_tencent_sample_decrypts_to_its_text_message():
    delivery = open_vector(TENCENT)
    assert delivery.encrypted and delivery.nonce == TENCENT["nonce"]
    assert delivery.message == InboundMessage(
        account="gh_10f6c3c3ac5a",
        openid="oyORnuP8q7ou2gfYjqLzSIWZf0rs",
        create_time=1409735668,
        msg_type="text",
        msg_id="6054768590064713728",
        content="abcdteT",
    )


def test_wechatpy_vector_decrypts():
    delivery = open_vector(WECHATPY)
    assert delivery.message.openid == "messense"
    assert delivery.message.content == "test"
    assert delivery.message.msg_id == "4363689963896700987"


def test_wrong_msg_signature_is_403():
    with pytest.raises(InvalidSignature):
        open_vector(TENCENT, msg_signature="0" * 40)
    with pytest.raises(InvalidSignature):
        open_vector(TENCENT, msg_signature="")


def test_wrong_query_signature_is_403_even_with_a_good_msg_signature():
    with pytest.raises(InvalidSignature):
        open_vector(TENCENT, signature="f" * 40)


def test_message_for_another_app_id_is_403():
    with pytest.raises(InvalidSignature, match="AppId"):
        open_delivery(
            encrypted_body(TENCENT),
            encrypted_query(TENCENT),
            token=TENCENT["token"],
            app_id="wx0000000000000000",
            encoding_aes_key=TENCENT["key"],
            now=NOW,
            tolerance=300,
            max_bytes=65536,
        )


def test_tampered_ciphertext_is_refused():
    # A different ciphertext no longer matches msg_signature: 403 before any decryption.
    tampered = dict(TENCENT, encrypt="A" + TENCENT["encrypt"][1:])
    with pytest.raises(InvalidSignature):
        open_delivery(
            encrypted_body(tampered), encrypted_query(TENCENT), token=TOKEN,
            app_id=TENCENT["app_id"], encoding_aes_key=TENCENT["key"], now=NOW, tolerance=300,
            max_bytes=65536,
        )


def test_correctly_signed_garbage_ciphertext_is_400():
    garbage = "bm90IGEgdmFsaWQgY2lwaGVydGV4dA=="  # base64, but not a multiple of 16 bytes
    query = encrypted_query(
        TENCENT, msg_signature=signature_of(TOKEN, TENCENT["timestamp"], TENCENT["nonce"], garbage)
    )
    body = f"<xml><Encrypt><![CDATA[{garbage}]]></Encrypt></xml>".encode()
    with pytest.raises(BadDelivery, match="decrypt"):
        open_delivery(body, query, token=TOKEN, app_id=TENCENT["app_id"],
                      encoding_aes_key=TENCENT["key"], now=NOW, tolerance=300, max_bytes=65536)


def test_encrypted_delivery_without_a_key_is_400():
    with pytest.raises(BadDelivery, match="ENCODING_AES_KEY"):
        open_delivery(encrypted_body(TENCENT), encrypted_query(TENCENT), token=TOKEN,
                      app_id=TENCENT["app_id"], encoding_aes_key=None, now=NOW, tolerance=300,
                      max_bytes=65536)


def test_plain_delivery_refused_when_encryption_is_required():
    with pytest.raises(InvalidSignature, match="安全模式"):
        open_plain(xml("text", Content="你好", MsgId="1"), require_encryption=True)


def test_seal_reply_round_trips_through_wechatpy():
    reply = text_reply_xml("oyORnuP8q7ou2gfYjqLzSIWZf0rs", "gh_10f6c3c3ac5a", "您好", 1409735670)
    sealed = seal_reply(reply, token=TOKEN, app_id=TENCENT["app_id"],
                        encoding_aes_key=TENCENT["key"], nonce="42", timestamp="1409735670")
    fields = xmltodict.parse(sealed)["xml"]
    assert fields["MsgSignature"] == signature_of(TOKEN, "1409735670", "42", fields["Encrypt"])
    crypto = WeChatCrypto(TOKEN, TENCENT["key"], TENCENT["app_id"])
    opened = crypto.decrypt_message(sealed, fields["MsgSignature"], "1409735670", "42")
    assert xmltodict.parse(opened)["xml"]["Content"] == "您好"


# --- URL verification and timestamps --------------------------------------------------------


def test_url_verification_echoes_echostr():
    query = {**plain_query(), "echostr": "5837397520665288317"}
    assert verify_url(TOKEN, query, now=NOW, tolerance=300) == "5837397520665288317"


@pytest.mark.parametrize(
    "change",
    [
        {"signature": "0" * 40},
        {"signature": ""},
        {"nonce": ""},
        {"timestamp": "abc"},
    ],
)
def test_url_verification_with_a_bad_signature_is_403(change):
    query = {**plain_query(), "echostr": "123", **change}
    with pytest.raises(InvalidSignature):
        verify_url(TOKEN, query, now=NOW, tolerance=300)


def test_stale_or_future_timestamps_are_403_even_when_signed():
    for skew in (-301, 301):
        timestamp = str(NOW + skew)
        query = {**plain_query(timestamp=timestamp), "echostr": "1"}
        with pytest.raises(InvalidSignature, match="window"):
            verify_url(TOKEN, query, now=NOW, tolerance=300)
    query = {**plain_query(timestamp=str(NOW - 299)), "echostr": "1"}
    assert verify_url(TOKEN, query, now=NOW, tolerance=300) == "1"


@pytest.mark.parametrize("echostr", ["", "<script>", "a" * 129])
def test_hostile_echostr_is_400(echostr):
    with pytest.raises(BadDelivery):
        verify_url(TOKEN, {**plain_query(), "echostr": echostr}, now=NOW, tolerance=300)


# --- hostile XML -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml at all",
        b"<xml><ToUserName>unclosed",
        b"<root><a>1</a></root>",
        b"\xff\xfe<xml/>",
        # billion laughs and external entities never reach the parser
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
        b"<xml><Content>&lol2;</Content></xml>",
        b'<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml>&xxe;</xml>',
        # duplicated fields, attributes, missing fields
        xml("text", Content="a").replace("</xml>", "<Content>b</Content></xml>").encode(),
        b'<xml a="1"><ToUserName>x</ToUserName></xml>',
        xml("text", Content="hi").replace("<CreateTime>1409735668</CreateTime>", "").encode(),
        xml("text", Content="hi").replace("1409735668", "yesterday").encode(),
        xml("text", Content="hi", MsgId="12ab").encode(),
        xml("text", Content="hi").replace("oyORnuP8q7ou2gfYjqLzSIWZf0rs", "../../etc").encode(),
        xml("location", Location_X="91.5", Location_Y="116.4", Label="x", MsgId="1").encode(),
        xml("location", Location_X="nan", Location_Y="116.4", Label="x", MsgId="1").encode(),
        xml("event").encode(),
    ],
)
def test_malformed_xml_is_400(body):
    with pytest.raises(BadDelivery):
        open_plain(body)


def test_oversized_xml_is_400():
    big = xml("text", Content="长" * 30_000, MsgId="1")
    with pytest.raises(BadDelivery, match="over"):
        open_plain(big)


def test_bad_signature_is_checked_before_the_body():
    with pytest.raises(InvalidSignature):
        open_plain(
            b"<!DOCTYPE x [<!ENTITY a 'b'>]><xml/>", {**plain_query(), "signature": "0" * 40}
        )


def test_unknown_encrypt_type_is_400():
    with pytest.raises(BadDelivery):
        open_plain(xml("text", Content="hi", MsgId="1"), {**plain_query(), "encrypt_type": "rot13"})


# --- messages and what Rasa hears --------------------------------------------------------------


def hears(body: str, **kwargs):
    message = open_plain(body).message
    return message, to_rasa_input(
        message, menu=kwargs.get("menu", DEFAULT_MENU), menu_default="/ask_capabilities",
        max_chars=kwargs.get("max_chars", 2000),
    )


def test_text_is_cleaned_like_every_channel():
    message, heard = hears(xml("text", Content="  养老助残卡\u200b怎么办？ ", MsgId="42"))
    assert heard.text == "养老助残卡怎么办？" and heard.kind == "text"
    assert heard.option is None
    assert message.dedup_id == "m42"
    assert heard.metadata == {"wechat": {"msg_type": "text", "msg_id": "42"}}


def test_a_typed_payload_is_kept_only_in_its_strict_form():
    _, heard = hears(xml("text", Content='/choose_area{"area": "养老"}', MsgId="1"))
    assert heard.text == '/choose_area{"area": "养老"}'
    _, heard = hears(xml("text", Content="/restart now!", MsgId="2"))
    assert heard.text == "restart now!"


def test_an_over_long_text_becomes_the_message_too_long_intent():
    _, heard = hears(xml("text", Content="问" * 2001, MsgId="1"))
    assert heard.text == "/message_too_long" and heard.too_long


def test_an_empty_text_reaches_nobody():
    _, heard = hears(xml("text", Content=" \u200b ", MsgId="1"))
    assert heard is None


@pytest.mark.parametrize(
    ("typed", "number"),
    [("2", 2), ("２", 2), ("第3个", 3), ("1.", 1), ("四", 4), ("十", 10), ("21", None), ("0", None),
     ("2号楼怎么走", None), ("12345", None)],
)
def test_numbers_pick_options(typed, number):
    _, heard = hears(xml("text", Content=typed, MsgId="1"))
    assert heard.option == number
    assert option_number(typed) == number


def test_voice_uses_wechat_recognition():
    body = xml("voice", MediaId="m", Format="amr", Recognition="高龄津贴怎么领", MsgId="7")
    _, heard = hears(body)
    assert heard.text == "高龄津贴怎么领" and heard.kind == "voice"


def test_voice_without_recognition_gets_its_own_intent():
    _, heard = hears(xml("voice", MediaId="m", Format="amr", Recognition="", MsgId="7"))
    assert heard.text == "/wechat_voice_unrecognised"


def test_location_becomes_a_share_location_payload():
    body = xml("location", Location_X="39.915119", Location_Y="116.403963", Scale="16",
               Label='东城区{"x": 1}天安门广场', MsgId="9")
    message, heard = hears(body)
    assert (message.latitude, message.longitude) == (39.915119, 116.403963)
    assert heard.kind == "location"
    assert heard.text == (
        '/share_location{"latitude": 39.915119, "longitude": 116.403963, '
        '"location_label": "东城区x: 1天安门广场"}'
    )


def test_location_payload_without_label_and_with_a_huge_label():
    expected = '/share_location{"latitude": 39.9, "longitude": 116.4}'
    assert location_payload(39.9, 116.4, "") == expected
    payload = location_payload(39.9, 116.4, "路" * 500)
    assert len(payload) < 300 and payload.endswith('"}')


@pytest.mark.parametrize("msg_type", ["image", "video", "shortvideo", "link", "file", "hologram"])
def test_media_and_unknown_types_get_the_unsupported_intent(msg_type):
    message, heard = hears(xml(msg_type, MediaId="m", MsgId="5"))
    assert heard.text == "/wechat_unsupported" and heard.kind == "unsupported"
    assert message.msg_type in {"image", "video", "shortvideo", "link", "file", "unknown"}


def test_subscribe_gets_the_welcome_intent_and_events_dedup_by_sender_and_time():
    message, heard = hears(xml("event", Event="subscribe"))
    assert heard.text == "/wechat_subscribe"
    assert message.msg_id is None and message.dedup_id.startswith("e")
    again, _ = hears(xml("event", Event="subscribe"))
    assert again.dedup_id == message.dedup_id
    later, _ = hears(xml("event", Event="subscribe").replace("1409735668", "1409735669"))
    assert later.dedup_id != message.dedup_id


def test_scan_to_subscribe_is_a_subscribe():
    _, heard = hears(xml("event", Event="subscribe", EventKey="qrscene_123", Ticket="t"))
    assert heard.text == "/wechat_subscribe"


def test_menu_clicks_map_to_payloads():
    _, heard = hears(xml("event", Event="CLICK", EventKey="MENU_YANGLAO"))
    assert heard.text == '/choose_area{"area": "养老"}' and heard.kind == "menu"
    _, heard = hears(xml("event", Event="CLICK", EventKey="NOT_IN_THE_TABLE"))
    assert heard.text == "/ask_capabilities"


@pytest.mark.parametrize(
    "event", ["unsubscribe", "VIEW", "LOCATION", "SCAN", "TEMPLATESENDJOBFINISH"]
)
def test_other_events_reach_nobody(event):
    _, heard = hears(xml("event", Event=event, EventKey="x"))
    assert heard is None


def test_parse_inbound_reads_a_message_on_its_own():
    message = parse_inbound(xml("text", Content="hi", MsgId="3"))
    assert message.content == "hi" and message.msg_id == "3"


# --- passive reply XML --------------------------------------------------------------------------


def test_text_reply_survives_cdata_terminators_and_control_characters():
    content = "答案]]><xml>注入</xml>\x01结束"
    reply = text_reply_xml("oyORnuP8q7ou2gfYjqLzSIWZf0rs", "gh_10f6c3c3ac5a", content, 1409735670)
    fields = xmltodict.parse(reply)["xml"]
    assert fields == {
        "ToUserName": "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
        "FromUserName": "gh_10f6c3c3ac5a",
        "CreateTime": "1409735670",
        "MsgType": "text",
        "Content": "答案]]><xml>注入</xml>结束",
    }


# --- keys for the admin console -----------------------------------------------------------------


def test_new_keys_are_valid_for_the_admin_console():
    keys = {new_encoding_aes_key() for _ in range(20)}
    assert len(keys) == 20
    assert all(len(k) == 43 and valid_encoding_aes_key(k) for k in keys)
    WeChatCrypto(TOKEN, keys.pop(), TENCENT["app_id"])  # wechatpy accepts it
    token = new_token()
    assert len(token) == 32 and token.isalnum()
