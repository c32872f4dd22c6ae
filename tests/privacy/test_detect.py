"""privacy.detect: which numbers are personal, how they are masked, and what is left alone."""

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from privacy import (
    BANK_CARD,
    ID_CARD,
    LANDLINE,
    MOBILE,
    SOCIAL_CARD,
    find_pii,
    id_check_char,
    id_number_valid,
    luhn_valid,
    mask_data,
    mask_text,
)
from privacy.detect import FOREIGN_PHONE

pytestmark = pytest.mark.unit

VALID_ID = "11010519491231002X"  # the example of GB 11643-1999
VALID_ID_2 = "440524188001010014"  # its second example


def kinds(text):
    return [(f.kind, f.value) for f in find_pii(text)]


# ---------------------------------------------------------------- check digits

def test_identity_check_characters_of_the_standard_examples():
    assert id_check_char(VALID_ID[:17]) == "X"
    assert id_check_char(VALID_ID_2[:17]) == "4"
    with pytest.raises(ValueError):
        id_check_char("123")


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        (VALID_ID, True),
        (VALID_ID.lower(), True),
        (VALID_ID_2, True),
        ("110105194912310021", False),  # wrong check character
        ("11010519490230002X", False),  # 30 February
        ("00010519491231002X", False),  # no such province
        ("1101051949123100", False),  # too short
        ("11010517991231002X", False),  # born 1799
    ],
)
def test_identity_numbers_are_validated(number, valid):
    assert id_number_valid(number) is valid


@pytest.mark.parametrize(
    ("number", "valid"),
    [("79927398713", True), ("4111111111111111", True), ("4111111111111112", False),
     ("6222021234567890128", True), ("6222021234567890127", False), ("", False),
     ("12a4", False), ("０", False)],
)
def test_luhn(number, valid):
    assert luhn_valid(number) is valid


# ---------------------------------------------------------------- what is masked, and how

@pytest.mark.parametrize(
    ("text", "masked", "kind"),
    [
        # mobiles: plain, blanks, dashes, country codes, full-width and spoken digits
        ("13812345678", "138****5678", MOBILE),
        ("我的电话是138 1234 5678，谢谢", "我的电话是138 **** 5678，谢谢", MOBILE),
        ("手机138-1234-5678", "手机138-****-5678", MOBILE),
        ("+86 139-8765-4321", "+86 139-****-4321", MOBILE),
        ("+8613987654321", "+86139****4321", MOBILE),
        ("0086 13987654321", "0086 139****4321", MOBILE),
        ("打１３８１２３４５６７８找我", "打１３８****５６７８找我", MOBILE),
        ("幺三八一二三四五六七八", "幺三八****五六七八", MOBILE),
        ("电话13812345678号码", "电话138****5678号码", MOBILE),
        # landlines
        ("010-65123456", "010-****3456", LANDLINE),
        ("(010)6512 3456", "(010)**** 3456", LANDLINE),
        ("（010）65123456", "（010）****3456", LANDLINE),
        ("+86 10 6512 3456", "+86 10 **** 3456", LANDLINE),
        ("0311-8765432", "0311-***5432", LANDLINE),
        ("座机65123456", "座机****3456", LANDLINE),
        ("座机6512-3456", "座机****-3456", LANDLINE),
        ("010-65123456转8001", "010-****3456转8001", LANDLINE),
        ("+1 202 555 0123", "+* *** *** 0123", FOREIGN_PHONE),
        # identity numbers
        (f"身份证号{VALID_ID}，请查询", "身份证号110***********002X，请查询", ID_CARD),
        ("11010519491231002x", "110***********002x", ID_CARD),
        ("110105 19491231 002X", "110*** ******** 002X", ID_CARD),
        ("１１０１０５１９４９１２３１００２Ｘ", "１１０***********００２Ｘ", ID_CARD),
        ("110105491231002", "110********1002", ID_CARD),  # the old 15-digit numbers
        # bank cards (Luhn)
        ("6222021234567890128", "6222***********0128", BANK_CARD),
        ("卡是6222 0212 3456 7890 128的", "卡是6222 **** **** ***0 128的", BANK_CARD),
        ("4111-1111-1111-1111", "4111-****-****-1111", BANK_CARD),
        # named by the words before them
        ("社保卡卡号B07352961丢了", "社保卡卡号*****2961丢了", SOCIAL_CARD),
        ("医保卡号：12345678", "医保卡号：****5678", SOCIAL_CARD),
        ("我的参保编号是 1100 2233 44", "我的参保编号是 **** **33 44", SOCIAL_CARD),
        ("银行卡号6222 0212 3456 7890 127", "银行卡号**** **** **** ***0 127", BANK_CARD),
        ("账号：0200001234567", "账号：*********4567", BANK_CARD),
    ],
)
def test_personal_numbers_are_masked_in_place(text, masked, kind):
    assert mask_text(text) == masked
    assert len(masked) == len(text)
    assert [f.kind for f in find_pii(text)] == [kind]


def test_findings_give_the_canonical_value_and_the_checksum():
    text = "电话：+86 139-8765-4321"
    (mobile,) = find_pii(text)
    assert (mobile.kind, mobile.value) == (MOBILE, "13987654321")
    assert text[mobile.start:mobile.end] == "86 139-8765-4321"  # from the first digit
    assert mobile.masked == "86 139-****-4321"
    (landline,) = find_pii("(010)6512 3456")
    assert landline.value == "010-65123456"
    (valid,) = find_pii(VALID_ID.lower())
    assert valid.value == VALID_ID and valid.checksum_ok is True
    (card,) = find_pii("6222021234567890128")
    assert card.checksum_ok is True


def test_an_identity_number_with_a_wrong_check_character_is_masked_all_the_same():
    """The decision documented in privacy/detect.py: the structure (province, birth date) makes
    it an identity number — most likely a real one, mistyped — and so personal data."""
    (found,) = find_pii("身份证110105194912310021")
    assert found.kind == ID_CARD and found.checksum_ok is False
    assert mask_text("身份证110105194912310021") == "身份证110***********0021"


def test_numbers_right_after_an_escape_in_a_json_or_bytes_log_line_are_found():
    assert mask_text(f'{{"text": "\\u8bc1{VALID_ID}"}}') == (
        '{"text": "\\u8bc1110***********002X"}')
    assert mask_text("b'\\xe5\\x8f\\xb713812345678'") == "b'\\xe5\\x8f\\xb7138****5678'"


def test_several_numbers_in_one_message_and_in_one_run():
    text = f"电话13812345678 65123456，身份证{VALID_ID}，卡6222021234567890128"
    assert kinds(text) == [(MOBILE, "13812345678"), (LANDLINE, "65123456"),
                           (ID_CARD, VALID_ID), (BANK_CARD, "6222021234567890128")]
    assert mask_text(text) == (
        "电话138****5678 ****3456，身份证110***********002X，卡6222***********0128")
    assert kinds("13812345678 13987654321") == [(MOBILE, "13812345678"),
                                                 (MOBILE, "13987654321")]


# ---------------------------------------------------------------- what is left alone

@pytest.mark.parametrize(
    "text",
    [
        # ticket, application and booking numbers, slot ids
        "工单JS20250603000001已受理", "JS 20250603000001", "办件SQ202506030001",
        "预约号GH20250603000012", "YL20250605000003", "MP20250606000001",
        "pumch.ophthalmology.20250605.am", "YZ-MD-01",
        # dates and times
        "2025-06-03", "20250603", "2025/06/03", "2025.06.03", "2025年6月3日下午3点",
        "2025-06-03 14:30:00", "20250603143000", "二〇二五年六月三日", "14:30",
        # amounts and counts
        "25000000元", "¥25000000", "25000000.00", "12,345,678", "金额 23456789 元",
        "人口21893100人", "面积41000000平方米", "高龄津贴每月500元", "90-99岁",
        # hotlines, postcodes, versions, addresses, other numbers
        "12345热线", "95588", "400-810-5511", "800-820-8820", "邮编100010",
        "rasa 3.6.21", "127.0.0.1:6379", "明德里小区12号楼3单元301", "第3个",
        "订单号202506031234567890", "时间戳1717400000123", "1381234567",
        "6222021234567890127",  # Luhn fails and no word names it a card
        "社保卡丢了怎么补办", "医保报销比例90%", "社保卡余额1234567元",
        "138****5678", "110***********002X", "6222***********0128", "卡号*****2961",
        "x13812345678", "13812345678abc",
    ],
)
def test_no_false_masking(text):
    assert find_pii(text) == []
    assert mask_text(text) == text


# ---------------------------------------------------------------- properties

PROVINCES = [11, 12, 13, 31, 32, 33, 37, 44, 51, 61, 65]


@st.composite
def identity_numbers(draw):
    province = draw(st.sampled_from(PROVINCES))
    region = f"{province}{draw(st.integers(0, 9999)):04d}"
    born = draw(st.dates(date(1900, 1, 1), date(2025, 12, 31)))
    first17 = f"{region}{born:%Y%m%d}{draw(st.integers(0, 999)):03d}"
    return first17 + id_check_char(first17)


@st.composite
def bank_cards(draw):
    length = draw(st.integers(16, 19))
    body = "62" + "".join(str(draw(st.integers(0, 9))) for _ in range(length - 3))
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("no Luhn check digit")


@st.composite
def mobiles(draw):
    return f"1{draw(st.integers(3, 9))}{draw(st.integers(0, 999_999_999)):09d}"


AROUND = st.sampled_from(["", "我的号码是", "你好，", "电话：", " ", "（", "谢谢", "\n"])


@settings(max_examples=150, deadline=None)
@given(identity_numbers(), AROUND, AROUND)
def test_every_valid_identity_number_is_found(number, before, after):
    text = before + number + after
    (found,) = find_pii(text)
    assert (found.kind, found.value, found.checksum_ok) == (ID_CARD, number, True)
    assert number not in mask_text(text)


@settings(max_examples=150, deadline=None)
@given(bank_cards(), AROUND, AROUND)
def test_every_luhn_card_is_found(number, before, after):
    text = before + number + after
    # 18 digits shaped like an identity number (province, birth date) are one, and masked too
    assert [f.kind for f in find_pii(text)] in ([BANK_CARD], [ID_CARD])
    assert number not in mask_text(text)


@settings(max_examples=150, deadline=None)
@given(mobiles(), st.sampled_from(["", " ", "-"]), AROUND, AROUND)
def test_every_mobile_is_found_however_it_is_written(number, sep, before, after):
    written = f"{number[:3]}{sep}{number[3:7]}{sep}{number[7:]}"
    text = before + written + after
    assert [(f.kind, f.value) for f in find_pii(text)] == [(MOBILE, number)]
    assert mask_text(text) == before + f"{number[:3]}{sep}****{sep}{number[7:]}" + after


@settings(max_examples=200, deadline=None)
@given(st.dates(date(1950, 1, 1), date(2099, 12, 31)),
       st.sampled_from(["%Y%m%d", "%Y-%m-%d", "%Y/%m/%d", "%Y年%m月%d日", "%Y%m%d%H%M",
                        "%Y-%m-%d %H:%M"]))
def test_dates_are_never_masked(day, form):
    text = "日期" + (day + timedelta(0)).strftime(form)
    assert mask_text(text) == text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(
    st.sampled_from(["电话", "身份证", "，", " ", "-", "银行卡号", "社保卡号", "元", "JS", "+86"]),
    mobiles(), identity_numbers(), bank_cards(), st.integers(0, 10**12).map(str),
    st.text(alphabet="0123456789 -Xx一二三幺", max_size=12),
), max_size=8).map("".join))
def test_masking_keeps_the_length_and_is_idempotent(text):
    once = mask_text(text)
    assert len(once) == len(text)
    assert mask_text(once) == once
    assert all(a == b or b == "*" for a, b in zip(text, once, strict=True))


def test_mask_data_masks_every_string_of_a_structure_but_not_its_keys():
    event = {
        "event": "user", "timestamp": 1717400000.5, "text": "我的电话13812345678",
        "parse_data": {"entities": [{"entity": "phone", "value": "13812345678", "start": 4,
                                     "end": 15}], "intent": {"name": "inform"}},
        "13812345678": ("tuple", 13812345678),
    }
    masked = mask_data(event)
    assert masked["text"] == "我的电话138****5678"
    assert masked["parse_data"]["entities"][0] == {
        "entity": "phone", "value": "138****5678", "start": 4, "end": 15}
    assert masked["timestamp"] == 1717400000.5 and masked["13812345678"] == ["tuple",
                                                                             13812345678]
    assert event["text"] == "我的电话13812345678"  # the original is not changed
    assert mask_data(None) is None and mask_data(3) == 3
