"""shared.masking: phones and names masked for logs and public events."""

import re

import pytest

from shared.masking import PERSONAL_KEYS, mask_name, mask_phone, mask_text, mask_value


# ---------------------------------------------------------------- mask_phone

@pytest.mark.parametrize("phone, expected", [
    ("13800001234", "138****1234"),
    ("13800000000", "138****0000"),
    ("19912345678", "199****5678"),
    ("138 0000 1234", "138****1234"),
    ("138-0000-1234", "138****1234"),
    ("0570-6012345", "057****2345"),
    ("057012345678", "057****5678"),
    ("+86 138 0000 1234", "138****1234"),
    # shorter than a mobile: only the last two stay
    ("123456", "****56"),
    ("12345", "***45"),
    ("123", "*23"),
    ("12", "*12"),
    ("1", "*1"),
    ("abc", "*"),
])
def test_mask_phone(phone, expected):
    assert mask_phone(phone) == expected


@pytest.mark.parametrize("empty", [None, ""])
def test_mask_phone_passes_empty_through(empty):
    assert mask_phone(empty) == empty


def test_mask_phone_never_returns_the_middle_of_a_mobile():
    for middle in ("0000", "1234", "9876"):
        masked = mask_phone(f"139{middle}5555")
        assert masked == "139****5555"
        assert middle not in masked


@pytest.mark.parametrize("phone, expected", [
    # shorter than a mobile (a local landline without area code): only the last two digits stay
    ("6012345", "*****45"),
    ("60123456", "******56"),
    ("1380000123", "********23"),
])
def test_mask_phone_hides_most_of_a_short_number(phone, expected):
    assert mask_phone(phone) == expected
    visible = re.sub(r"\D", "", expected)
    assert visible == phone[-2:]


# ---------------------------------------------------------------- mask_name

@pytest.mark.parametrize("name, expected", [
    ("张三", "张*"),
    ("张", "张*"),  # a single character still gets a star: the length is not revealed
    ("李小明", "李**"),
    ("欧阳娜娜", "欧***"),
    ("John Smith", "J*********"),
])
def test_mask_name(name, expected):
    assert mask_name(name) == expected


@pytest.mark.parametrize("empty", [None, ""])
def test_mask_name_passes_empty_through(empty):
    assert mask_name(empty) == empty


# ---------------------------------------------------------------- mask_text

@pytest.mark.parametrize("text, expected", [
    ("电话13800001234请回电", "电话138****1234请回电"),
    ("13800001234", "138****1234"),
    ("手机：13800001234。", "手机：138****1234。"),
    ("联系人张三13912345678，李四15000001111", "联系人张三139****5678，李四150****1111"),
    ("13800001234和13912345678", "138****1234和139****5678"),
    ("+86 13800001234", "138****1234"),
    ("tel:17700001234;", "tel:177****1234;"),
    # landlines, with and without the dash, 3- and 4-digit area codes, 7- and 8-digit numbers
    ("座机0570-6012345转人工", "座机0570-****2345转人工"),
    ("座机05706012345", "座机0570-****2345"),
    ("010-12345678", "010-****5678"),
    ("020-1234567", "020-****4567"),
    ("057-12345678", "057-****5678"),
    ("手机：13800001234。座机：0570-6012345", "手机：138****1234。座机：0570-****2345"),
])
def test_mask_text_masks_phones_in_chinese_text(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", [
    "身份证330824199001011234",  # 18-digit ID: holds "13..." runs, must stay whole
    "身份证33082419900101123X",
    "统一社会信用代码91330824MA2XXXXXXX",
    "编号913308241380000123",  # an 11-digit mobile inside a longer digit run
    "订单1380000123456",
    "21380000123",  # 11 digits but not a mobile prefix
    "12800001234",  # 1[3-9] is required
    "1380000123",  # 10 digits
    "日期2026-03-02，金额1500000元",
    "2026年3月2日反映",
    "问题描述……",
    "",
])
def test_mask_text_leaves_other_numbers_whole(text):
    assert mask_text(text) == text


def test_mask_text_does_not_touch_a_mobile_glued_to_longer_digits_on_either_side():
    assert mask_text("913800001234") == "913800001234"
    assert mask_text("138000012345") == "138000012345"
    assert mask_text("a13800001234b") == "a138****1234b"


@pytest.mark.parametrize("text, expected", [
    ("请拨+8613800001234", "请拨138****1234"),
    ("请拨8613800001234", "请拨138****1234"),
    ("请拨+86-138-0000-1234", "请拨138****1234"),
    ("电话138 0000 1234", "电话138****1234"),
    ("电话138-0000-1234", "电话138****1234"),
    ("座机(0570)6012345", "座机0570-****2345"),
    ("座机(0570) 6012345", "座机0570-****2345"),
    ("座机0570 6012345", "座机0570-****2345"),
])
def test_mask_text_masks_other_written_forms_of_a_phone(text, expected):
    masked = mask_text(text)
    assert masked == expected
    assert "0000" not in masked and "601" not in masked


# ---------------------------------------------------------------- mask_value

def test_personal_keys():
    assert PERSONAL_KEYS == {"contact_phone", "contact_name", "phone", "caller", "caller_phone", "name_of_person"}


@pytest.mark.parametrize("key, value, expected", [
    ("contact_phone", "13800001234", "138****1234"),
    ("phone", "0570-6012345", "057****2345"),
    ("caller_phone", "13800001234", "138****1234"),
    ("mobile_phone_number", "13800001234", "138****1234"),  # any key containing "phone"
    ("contact_name", "张三", "张*"),
    ("caller", "李四", "李*"),
    ("name_of_person", "王五", "王*"),
    ("reporter_contact_name", "赵六", "赵*"),  # keys ending in contact_name
    ("name", "开化县某某纸业有限公司", "开化县某某纸业有限公司"),  # an enterprise name is not personal
    ("content", "请回电13800001234", "请回电138****1234"),  # other strings: phones in text masked
    ("content", "张三反映", "张三反映"),
    ("count", 13800001234, 13800001234),  # non-strings pass through
    ("flag", True, True),
    ("nothing", None, None),
    ("contact_phone", None, None),
])
def test_mask_value_scalars(key, value, expected):
    assert mask_value(key, value) == expected


def test_mask_value_recurses_over_dicts_and_lists():
    value = {
        "submission_id": "hotline-20260302-0001",
        "enterprise": {"name": "开化县某某纸业有限公司", "uscc": "91330824MA2XXXXXXX",
                       "contact_name": "张三", "contact_phone": "13800000000"},
        "content": "联系13912345678",
        "contacts": [{"contact_name": "李四", "contact_phone": "15000001111"}, "备用13700001111"],
        "contact_phone": ["13800001234", "0570-6012345"],  # a list inherits its key
        "pair": ("13800001234", 5),
        "level": 2,
    }
    assert mask_value("payload", value) == {
        "submission_id": "hotline-20260302-0001",
        "enterprise": {"name": "开化县某某纸业有限公司", "uscc": "91330824MA2XXXXXXX",
                       "contact_name": "张*", "contact_phone": "138****0000"},
        "content": "联系139****5678",
        "contacts": [{"contact_name": "李*", "contact_phone": "150****1111"}, "备用137****1111"],
        "contact_phone": ["138****1234", "057****2345"],
        "pair": ["138****1234", 5],  # tuples come back as lists
        "level": 2,
    }


def test_mask_value_does_not_modify_its_input():
    value = {"enterprise": {"contact_phone": "13800000000"}, "list": ["13800000000"]}
    mask_value("x", value)
    assert value == {"enterprise": {"contact_phone": "13800000000"}, "list": ["13800000000"]}
