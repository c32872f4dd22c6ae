"""The web chat channel's pure functions: session ids, user_uttered parsing, bot message
rendering, feedback validation, the widget bundle and its cache."""

import gzip
import json
import os
import re

import pytest

from channels.rest import BadRequest
from channels.webchat import (
    AssetCache,
    Feedback,
    WebChatInput,
    accepts_gzip,
    allow_message,
    build_bundle,
    clean_metadata,
    etag_matches,
    make_asset,
    new_message_id,
    parse_feedback,
    parse_user_uttered,
    render_bot_message,
    resident_ref,
    valid_session_id,
)

pytestmark = pytest.mark.unit


def body(**fields) -> bytes:
    return json.dumps(fields, ensure_ascii=False).encode("utf-8")


# --- session ids and user messages -------------------------------------------------------------


@pytest.mark.parametrize("value", ["a", "0f" * 16, "user.1:web@portal-x_y", "x" * 128])
def test_valid_session_ids_are_kept(value):
    assert valid_session_id(value) == value


@pytest.mark.parametrize(
    "value",
    [None, "", "x" * 129, "has space", "../../etc", "中文", 12, ["a"], {"id": "a"}, "a\nb",
     "<script>"],
)
def test_hostile_session_ids_are_refused(value):
    assert valid_session_id(value) is None


def test_a_message_is_cleaned_and_tied_to_the_confirmed_session():
    utterance = parse_user_uttered(
        {"message": "  社保卡丢了　怎么办１２３ ", "session_id": "someone-else"}, "mine"
    )
    assert utterance is not None
    assert utterance.session_id == "mine"  # the event's own session_id is not trusted
    assert utterance.text == "社保卡丢了 怎么办123"
    assert utterance.too_long is False


@pytest.mark.parametrize(
    "data",
    [None, "text", ["message"], 42, {}, {"message": None}, {"message": 5}, {"message": ["a"]},
     {"message": ""}, {"message": " \u200b\x00 "}],
)
def test_events_without_a_text_message_are_not_passed_on(data):
    assert parse_user_uttered(data, "mine") is None


def test_nothing_is_passed_on_without_a_confirmed_session():
    assert parse_user_uttered({"message": "你好", "session_id": "abc"}, None) is None


def test_an_over_long_message_becomes_the_too_long_intent():
    utterance = parse_user_uttered({"message": "字" * 2001}, "mine", max_message_chars=2000)
    assert utterance is not None
    assert (utterance.text, utterance.too_long) == ("/message_too_long", True)


def test_button_payloads_pass_only_in_their_strict_form():
    good = parse_user_uttered({"message": '/ask_question{"kb_id": "zw-sbk-lost"}'}, "s")
    bad = parse_user_uttered({"message": "//restart{{{"}, "s")
    assert good is not None and good.text == '/ask_question{"kb_id": "zw-sbk-lost"}'
    assert bad is not None and not bad.text.startswith("/")


def test_metadata_keeps_only_short_scalars():
    raw = {"widget": "1.0.0", "n": 3, "ok": True, "none": None, "nested": {"a": 1},
           "list": [1], "long": "x" * 500, "bad key!": "v"}
    cleaned = clean_metadata(raw)
    assert cleaned == {"widget": "1.0.0", "n": 3, "ok": True, "none": None, "long": "x" * 200}
    assert clean_metadata(json.dumps({"a": "b"})) == {"a": "b"}
    assert clean_metadata("{not json") == {}
    assert clean_metadata(["a"]) == {}
    assert len(clean_metadata({f"k{i}": i for i in range(100)})) == 20


def test_socket_rate_limit_is_a_one_minute_window():
    session: dict = {}
    assert all(allow_message(session, 1000.0, 3) for _ in range(3))
    assert allow_message(session, 1010.0, 3) is False
    assert allow_message(session, 1061.0, 3) is True


# --- bot messages --------------------------------------------------------------------------------

ANSWER = (
    "第一步先挂失。\n\n卡有银行功能的，还要联系银行。\n"
    "依据：《北京市社会保障卡使用管理暂行办法》（北京市人力资源和社会保障局发布）"
)


def test_an_answer_is_sent_whole_with_its_source_line_and_metadata():
    message = {
        "text": ANSWER, "kb_id": "zw-sbk-lost", "utter_action": "utter_knowledge_answer",
        "answer": "第一步先挂失。", "spoken": "先挂失", "source": "…", "issuer": "人社局",
        "links": "", "timestamp": 1.0, "buttons": None, "image": None,
    }
    rendered = render_bot_message(message, "msg-0000001")
    assert rendered == {
        "text": ANSWER,
        "metadata": {"message_id": "msg-0000001", "kb_id": "zw-sbk-lost",
                     "response": "utter_knowledge_answer"},
    }


def test_buttons_become_quick_replies_in_rasas_shape():
    message = {
        "text": "您是想问以下哪个问题？",
        "buttons": [
            {"title": "养老助残卡丢了怎么办？", "payload": '/ask_question{"kb_id": "yl-1"}'},
            {"title": "官网", "url": "https://mzj.beijing.gov.cn/"},
            {"title": "坏的", "url": "javascript:alert(1)"},
            {"title": 3, "payload": "/x"},
            "junk",
        ],
    }
    rendered = render_bot_message(message, "m1234567")
    assert rendered is not None
    assert rendered["quick_replies"] == [
        {"content_type": "text", "title": "养老助残卡丢了怎么办？",
         "payload": '/ask_question{"kb_id": "yl-1"}'},
        {"content_type": "text", "title": "官网", "url": "https://mzj.beijing.gov.cn/"},
    ]


def test_images_attachments_and_custom_payloads_are_passed_on():
    image = render_bot_message({"image": "https://example.org/a.png"}, "m1234567")
    assert image is not None
    assert image["attachment"] == {"type": "image", "payload": {"src": "https://example.org/a.png"}}
    custom = render_bot_message({"custom": {"voice_action": "transfer"}}, "m1234567")
    assert custom is not None and custom["custom"] == {"voice_action": "transfer"}
    file = render_bot_message(
        {"attachment": {"type": "file", "payload": {"src": "https://e.org/f.pdf"}}}, "m1234567")
    assert file is not None and file["attachment"]["type"] == "file"


def test_an_empty_message_is_not_sent_and_bad_ids_are_dropped():
    assert render_bot_message({"text": "  ", "buttons": [], "custom": {}}, "m1234567") is None
    rendered = render_bot_message({"text": "好的", "kb_id": "x y <z>", "utter_action": "Bad!"},
                                  "m1234567")
    assert rendered == {"text": "好的", "metadata": {"message_id": "m1234567"}}


def test_message_ids_are_unique_and_fit_the_feedback_format():
    ids = {new_message_id() for _ in range(500)}
    assert len(ids) == 500
    assert all(re.fullmatch(r"[A-Za-z0-9_\-]{8,64}", i) for i in ids)


# --- feedback ------------------------------------------------------------------------------------


def test_valid_feedback_is_parsed():
    parsed = parse_feedback(body(sender="0f" * 16, message_id="LCkbT1-xBowb4nLo",
                                 kb_id="yl-policy-zhucanka#4", rating="up"))
    assert parsed == Feedback(sender="0f" * 16, rating="up", message_id="LCkbT1-xBowb4nLo",
                              kb_id="yl-policy-zhucanka#4")
    assert parsed.message_ref == "LCkbT1-xBowb4nLo"
    assert parsed.resident == resident_ref("0f" * 16) and len(parsed.resident) == 16
    assert parsed.resident != "0f" * 16


def test_feedback_by_answer_hash():
    parsed = parse_feedback(body(sender="s1", answer_hash="00ab12cd34ef56", rating="down"))
    assert (parsed.message_ref, parsed.kb_id, parsed.rating) == ("h-00ab12cd34ef56", None, "down")
    both = parse_feedback(body(sender="s1", message_id="abcdefgh1", answer_hash="00ab12cd",
                               rating="up"))
    assert both.message_ref == "abcdefgh1" and both.answer_hash is None


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"not json", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (b"[1]", 400, "invalid_json"),
        (b"[" * 5000 + b"]" * 5000, 413, "body_too_large"),
        (b'{"a": ' * 500 + b"1" + b"}" * 500, 400, "unknown_field"),
        (body(message_id="abcdefgh", rating="up"), 400, "missing_sender"),
        (body(sender="", message_id="abcdefgh", rating="up"), 400, "missing_sender"),
        (body(sender="a b", message_id="abcdefgh", rating="up"), 400, "invalid_sender"),
        (body(sender=["x"], message_id="abcdefgh", rating="up"), 400, "invalid_sender"),
        (body(sender="s", message_id="abcdefgh"), 400, "missing_rating"),
        (body(sender="s", message_id="abcdefgh", rating="UP"), 400, "invalid_rating"),
        (body(sender="s", message_id="abcdefgh", rating=1), 400, "invalid_rating"),
        (body(sender="s", message_id="abcdefgh", rating=["up"]), 400, "invalid_rating"),
        (body(sender="s", rating="up"), 400, "missing_message"),
        (body(sender="s", message_id="short", rating="up"), 400, "invalid_message_id"),
        (body(sender="s", message_id="<script>x</script>", rating="up"), 400,
         "invalid_message_id"),
        (body(sender="s", message_id=12345678, rating="up"), 400, "invalid_message_id"),
        (body(sender="s", answer_hash="XYZ", rating="up"), 400, "invalid_answer_hash"),
        (body(sender="s", message_id="abcdefgh", kb_id="a b", rating="up"), 400,
         "invalid_kb_id"),
        (body(sender="s", message_id="abcdefgh", kb_id="x" * 129, rating="up"), 400,
         "invalid_kb_id"),
        (body(sender="s", message_id="abcdefgh", rating="up", comment="hi"), 400,
         "unknown_field"),
        (b"{" + b" " * 5000 + b"}", 413, "body_too_large"),
    ],
    ids=lambda value: value.decode("utf-8", "replace")[:40] if isinstance(value, bytes) else None,
)
def test_bad_feedback_gets_a_clear_4xx(raw, status, code):
    # Never an exception other than BadRequest: that would be a 500.
    with pytest.raises(BadRequest) as caught:
        parse_feedback(raw)
    assert (caught.value.status, caught.value.code) == (status, code)
    assert caught.value.as_json()["detail"]


# --- the widget files ----------------------------------------------------------------------------

VENDOR = (b"/*! Socket.IO v4.8.4 | MIT */\n!function(t){(t.io=1)}(this);\n"
          b"//# sourceMappingURL=x.map\n")


def test_the_bundle_keeps_globals_local_and_drops_the_source_map():
    bundle = build_bundle(VENDOR, b"window.MinshengWidget = {};\n", b".a{content:'</style>'}")
    text = bundle.decode("utf-8")
    assert text.index("Socket.IO v4.8.4") < text.index("window.MinshengWidget")
    assert "sourceMappingURL" not in text
    assert "var define, module, exports, globalThis = {};" in text
    assert "var io = globalThis.io;" in text
    assert 'var MINSHENG_WIDGET_CSS = ".a{content:\'<\\/style>\'}";' in text
    assert text.startswith("/*! MinshengWidget bundle")
    assert text.rstrip().endswith("}).call(window);")


def test_etags_match_strong_weak_and_star():
    asset = make_asset(b"abc", "text/plain")
    assert etag_matches(asset.etag, asset.etag)
    assert etag_matches(f'"other", W/{asset.etag}', asset.etag)
    assert etag_matches("*", asset.etag)
    assert not etag_matches('"other"', asset.etag)
    assert not etag_matches(None, asset.etag)


def test_big_assets_carry_a_gzip_encoding_with_its_own_etag():
    small = make_asset(b"abc", "text/plain")
    assert small.gzipped is None
    body = b"window.MinshengWidget = {};\n" * 200
    big = make_asset(body, "text/javascript")
    assert big.gzipped is not None and gzip.decompress(big.gzipped) == body
    assert len(big.gzipped) < len(body) // 4
    assert big.gzip_etag != big.etag and big.gzip_etag.startswith('"') and big.gzip_etag[-1] == '"'
    assert make_asset(body, "text/javascript").gzipped == big.gzipped  # no timestamp inside


@pytest.mark.parametrize(("header", "expected"), [
    ("gzip, deflate, br, zstd", True),
    ("GZIP", True),
    ("x-gzip", True),
    ("*", True),
    ("br;q=1.0, gzip;q=0.8", True),
    ("gzip;q=0", False),
    ("*, gzip;q=0", False),
    ("*;q=0", False),
    ("identity", False),
    ("deflate, br", False),
    ("gzip;q=nonsense", False),
    ("", False),
    (None, False),
])
def test_accept_encoding_is_read_with_its_q_values(header, expected):
    assert accepts_gzip(header) is expected


def test_the_asset_cache_reads_lazily_and_again_after_a_change(tmp_path):
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "socket.io.min.js").write_bytes(VENDOR)
    (tmp_path / "vendor" / "socket.io.LICENSE").write_text("MIT")
    (tmp_path / "minsheng-widget.js").write_text("window.MinshengWidget = 1;")
    css = tmp_path / "minsheng-widget.css"
    css.write_text(".a{color:red}")
    cache = AssetCache(tmp_path)
    first = cache.get("widget.js")
    assert first is not None and first.content_type == "text/javascript; charset=utf-8"
    assert cache.get("widget.js") is first
    css.write_text(".a{color:blue}")
    stat = css.stat()
    os.utime(css, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    second = cache.get("widget.js")
    assert second is not None and second.etag != first.etag and b"blue" in second.body
    assert cache.get("widget.css").content_type == "text/css; charset=utf-8"
    assert cache.get("vendor/socket.io.LICENSE").content_type == "text/plain; charset=utf-8"
    assert cache.get("../channels/webchat.py") is None
    assert cache.get("vendor/other.js") is None
    css.unlink()
    assert cache.get("widget.css") is None


def test_the_real_widget_files_are_in_place():
    cache = AssetCache()
    bundle = cache.get("widget.js")
    assert bundle is not None
    assert b"Socket.IO v4.8.4" in bundle.body and b"MinshengWidget" in bundle.body
    licence = cache.get("vendor/socket.io.LICENSE")
    assert licence is not None and b"MIT License" in licence.body


# --- configuration -------------------------------------------------------------------------------


def test_the_channel_reads_its_options():
    channel = WebChatInput.from_credentials(
        {"socketio_path": "/chat/socket.io", "max_message_chars": 500, "widget_max_age": 60}
    )
    assert (channel.socketio_path, channel.max_message_chars, channel.widget_max_age) == (
        "/chat/socket.io", 500, 60)
    assert WebChatInput.from_credentials(None).socketio_path == "/webhooks/webchat/socket.io"
    assert WebChatInput.name() == "webchat"


@pytest.mark.parametrize(
    "options",
    [{"socketio_path": "no-slash"}, {"socketio_path": "/a b"}, {"max_message_chars": 0},
     {"messages_per_minute": 0}, {"feedback_per_minute": -1}, {"widget_max_age": -5}],
)
def test_bad_options_stop_the_channel_with_a_clear_message(options):
    with pytest.raises(ValueError, match="webchat channel"):
        WebChatInput.from_credentials(options)
