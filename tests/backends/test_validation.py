"""Pure helpers of the sandbox: phone and identity numbers, masking, text and dates."""

from datetime import date

import pytest

from backends.sandbox.validation import (
    clean_text,
    mask_id_number,
    mask_name,
    mask_phone,
    normalize_id_number,
    normalize_key,
    normalize_phone,
    parse_iso_date,
)
from tests.backends.support import VALID_ID_NUMBER

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "13800138000"),
        ("138 0013 8000", "13800138000"),
        ("138-0013-8000", "13800138000"),
        ("+86 138 0013 8000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),  # full-width digits from an IME
        ("19912345678", "19912345678"),
        ("010-65123456", "010-65123456"),
        ("(010)6512 3456", "010-65123456"),
        ("01065123456", "010-65123456"),
        ("+86 10 6512 3456", "010-65123456"),
        ("65123456", "010-65123456"),  # a Beijing number without the area code
        ("86123456", "010-86123456"),  # starts like the country code, is a local number
    ],
)
def test_phone_numbers_residents_write_are_normalised(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "", "   ", "12345", "110", "12800138000",  # 12x is not a mobile prefix
        "1380013800", "138001380001",  # one digit short, one too many
        "021-65123456",  # Shanghai, not Beijing
        "010-1234567", "010-02345678",  # 7 digits; Beijing numbers do not start with 0/1
        "+1 415 555 0100", "13800138000x", "电话13800138000", "1" * 40, None, 13800138000,
    ],
)
def test_other_phone_numbers_are_refused(raw):
    assert normalize_phone(raw) is None


def test_phones_are_masked_keeping_prefix_and_last_four():
    assert mask_phone("13800138000") == "138****8000"
    assert mask_phone("010-65123456") == "010-****3456"
    assert "6512" not in mask_phone("010-65123456")


def test_identity_numbers_need_a_real_date_and_check_digit():
    assert normalize_id_number(VALID_ID_NUMBER) == VALID_ID_NUMBER
    assert normalize_id_number(VALID_ID_NUMBER.lower()) == VALID_ID_NUMBER
    assert normalize_id_number(" 110105 19491231 002X ") == VALID_ID_NUMBER
    assert normalize_id_number("110105194912310021") is None  # wrong check digit
    assert normalize_id_number("110105194913310020") is None  # month 13
    assert normalize_id_number("11010518991231002X") is None  # before 1900
    assert normalize_id_number("1101051949123100") is None
    assert normalize_id_number(None) is None


def test_identity_numbers_and_names_are_masked():
    assert mask_id_number(VALID_ID_NUMBER) == "110***********002X"
    assert mask_name("王建国") == "王*国"
    assert mask_name("张三") == "张*"
    assert mask_name("欧阳小华") == "欧**华"
    assert mask_name("A") == "*"


def test_text_loses_control_and_invisible_characters():
    assert clean_text("  楼下\u200b噪音\x00很大  ") == "楼下噪音很大"
    assert clean_text("a\r\n\r\n\r\n\r\nb  c", multiline=True) == "a\n\nb c"
    assert clean_text("a\nb") == "a b"
    assert clean_text("\u202e反转") == "反转"


def test_dates_are_strict_iso():
    assert parse_iso_date("2025-06-03") == date(2025, 6, 3)
    for bad in ("2025-6-3", "20250603", "2025-02-30", "2025-06-03T10:00", "", None, 20250603):
        assert parse_iso_date(bad) is None


def test_name_keys_ignore_case_width_blanks_and_punctuation():
    assert normalize_key(" 鸟巢（国家体育场） ") == normalize_key("鸟巢(国家体育场)")
    assert normalize_key("ＡＢ c") == "abc"
