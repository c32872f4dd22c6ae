import pytest

from channels.text import MESSAGE_TOO_LONG_INTENT, clean_message

pytestmark = pytest.mark.unit


def test_plain_chinese_is_kept_with_its_punctuation():
    assert clean_message("  养老助残卡怎么办？ ", 100).text == "养老助残卡怎么办？"


def test_full_width_digits_and_letters_become_ascii():
    assert clean_message("我的电话是１３８００１３８０００，ＡＢｃ", 100).text == (
        "我的电话是13800138000，ABc"
    )


def test_control_and_invisible_characters_are_removed():
    assert clean_message("你\x00好\u200b啊\x1b", 100).text == "你好啊"


def test_emoji_are_kept():
    assert clean_message("👍👨‍👩‍👧", 100).text == "👍👨‍👩‍👧"


def test_over_long_message_becomes_the_too_long_intent():
    result = clean_message("长" * 101, 100)
    assert result.too_long
    assert result.text == MESSAGE_TOO_LONG_INTENT


def test_message_at_the_limit_is_accepted():
    result = clean_message("长" * 100, 100)
    assert not result.too_long
    assert result.text == "长" * 100


@pytest.mark.parametrize(
    "payload", ["/greet", '/choose_area{"area": "养老"}', "/ask_question"]
)
def test_button_payloads_pass(payload):
    assert clean_message(payload, 500).text == payload


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/restart now please", "restart now please"),
        ("//etc/passwd", "etc/passwd"),
        ('/choose_area{"a": {"nested": 1}}', 'choose_area{"a": {"nested": 1}}'),
        ("/GREET", "GREET"),
    ],
)
def test_other_slash_messages_are_read_as_text(raw, expected):
    assert clean_message(raw, 500).text == expected
