"""shared.masking: phones, e-mails, ID and bank card numbers and names masked for logs, public events and dead
letters."""

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
    "身份证330824199001011234",  # 18 digits whose ID check digit is wrong (and not Luhn): not masked as anything
    "身份证33082419900101123X",  # likewise with an X
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


# ---------------------------------------------------------------- phones in any written form

@pytest.mark.parametrize("text, expected", [
    ("(+86)13800001234", "138****1234"),
    ("（+86）13800001234", "138****1234"),
    ("0086 13800001234", "138****1234"),
    ("＋８６ １３８ ００００ １２３４", "138****1234"),  # all full width
    ("手机１３８００００１２３４", "手机138****1234"),
    ("138.0000.1234", "138****1234"),
    ("138 - 0000 - 1234", "138****1234"),
    ("138\u200b0000\u200b1234", "138****1234"),  # zero-width spaces between the groups
    ("1\u200d3\u200d8\u200d0\u200d0\u200d0\u200d0\u200d1\u200d2\u200d3\u200d4", "138****1234"),  # and between digits
    ("电话：0570－6012345", "电话：0570-****2345"),  # a full-width dash
    ("（0570）6012345", "0570-****2345"),
    ("０５７０-６０１２３４５", "0570-****2345"),
    ("0570.6012345", "0570-****2345"),
    ("010 8765 4321", "010-****4321"),
    ("+86 (0570) 601-2345", "0570-****2345"),
])
def test_mask_text_masks_phones_however_written(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", [
    "客服热线400-820-8820",  # an enterprise's published service number is not personal
    "800-820-8820",
    "4008208820",
    "受理编号QH2026030200001",
    "受理编号QH2026030200003",  # its digits pass the Luhn check, yet the letters make it a tracking number
    "2026-03-02 09:15",
    "2026.03.02",
    "20260302",
    "15:30-17:30",
    "金额1,500,000.00元",
    "面积13800平方米，投资1.3亿元",
])
def test_mask_text_leaves_service_numbers_tracking_numbers_dates_and_amounts(text):
    assert mask_text(text) == text


# ---------------------------------------------------------------- e-mail addresses

@pytest.mark.parametrize("text, expected", [
    ("邮箱zhangsan@example.com", "邮箱z***@example.com"),
    ("请发到zhang.san+qhwy@mail.kaihua.gov.cn。谢谢", "请发到z***@mail.kaihua.gov.cn。谢谢"),
    ("13800001234@qq.com", "1***@qq.com"),  # a QQ mailbox named after the phone: the phone goes with it
    ("zhangsan＠example.com", "z***@example.com"),  # a full-width at sign
    ("Li_Si@Example.COM.cn,", "L***@Example.COM.cn,"),
])
def test_mask_text_masks_email_addresses(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", ["a@b", "价格@5元", "@所有人", "user@localhost"])
def test_mask_text_leaves_what_is_not_an_email_address(text):
    assert mask_text(text) == text


# ---------------------------------------------------------------- 身份证 numbers

@pytest.mark.parametrize("text, expected", [
    ("身份证号330824199001011230，请核实", "身份证号**************1230，请核实"),
    ("11010519491231002X", "**************002X"),
    ("11010519491231002x", "**************002X"),
    ("440308199901010012", "**************0012"),
    ("３３０８２４１９９００１０１１２３０", "**************1230"),  # full width
    ("330824 19900101 1230", "**************1230"),  # grouped
    ("ID:330824198507150014;", "ID:**************0014;"),
])
def test_mask_text_masks_valid_id_card_numbers_to_their_last_four(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", [
    "330824199001011234",  # wrong check digit
    "110105194912310021",  # wrong check digit (the valid one ends in X)
    "330824199013011230",  # month 13: no birth date
])
def test_mask_text_leaves_18_digits_that_are_no_id_card_number(text):
    assert mask_text(text) == text


# ---------------------------------------------------------------- bank card numbers

@pytest.mark.parametrize("text, expected", [
    ("卡号6222021234567890128", "卡号***************0128"),  # 19 digits
    ("4111111111111111", "************1111"),
    ("4111 1111 1111 1111", "************1111"),
    ("4111-1111-1111-1111", "************1111"),
    ("退款账户：6222 0212 3456 7890 128。", "退款账户：***************0128。"),
])
def test_mask_text_masks_luhn_valid_card_numbers_to_their_last_four(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize("text", [
    "6222021234567890123",  # fails the Luhn check
    "统一社会信用代码91350100M000100Y43",
    "统一社会信用代码913308247045100104",  # all digits, passes Luhn, but it is a valid credit code (GB 32100)
    "QH2026030200003",
])
def test_mask_text_leaves_numbers_that_are_no_card(text):
    assert mask_text(text) == text


def test_mask_text_masks_everything_in_one_complaint():
    text = ("我是张三，手机+86 138-0000-1234，座机（0570）6012345，邮箱zs@example.com，身份证11010519491231002X，"
            "退款请打到6222021234567890128。公司统一社会信用代码91350100M000100Y43，受理编号QH2026030200001，"
            "2026年3月2日损失1500000元。")
    assert mask_text(text) == (
        "我是张三，手机138****1234，座机0570-****2345，邮箱z***@example.com，身份证**************002X，"
        "退款请打到***************0128。公司统一社会信用代码91350100M000100Y43，受理编号QH2026030200001，"
        "2026年3月2日损失1500000元。")


def test_mask_text_is_linear_on_a_megabyte():
    import time

    for text in ("a" * 1_000_000, "1" * 1_000_000, "a@" * 500_000, "1 " * 500_000):
        started = time.perf_counter()
        assert mask_text(text) == text
        assert time.perf_counter() - started < 5


def test_check_characters():
    from shared.masking import luhn_valid, valid_id_card, valid_uscc

    assert valid_id_card("11010519491231002X") and not valid_id_card("110105194912310020")
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")
    assert valid_uscc("91350100M000100Y43") and not valid_uscc("91350100M000100Y44")


# ---------------------------------------------------------------- names under person keys, whole payloads

def test_mask_value_masks_a_reporters_name_but_not_an_enterprises():
    value = {"enterprise": {"name": "开化县某某纸业有限公司", "contact_name": "张三"},
             "reporter": {"kind": "liaison", "name": "王小五", "id": "officer-7"}}
    assert mask_value("payload", value) == {
        "enterprise": {"name": "开化县某某纸业有限公司", "contact_name": "张*"},
        "reporter": {"kind": "liaison", "name": "王**", "id": "officer-7"}}


def test_mask_payload_masks_json_field_by_field():
    from shared.masking import mask_payload

    raw = ('{"submission_id": "x-1", "enterprise": {"name": "某公司", "contact_name": "张三", '
           '"contact_phone": "13800001234"}, "content": "邮箱zs@example.com", "reporter": {"name": "李四"}}')
    assert mask_payload(raw) == (
        '{"submission_id": "x-1", "enterprise": {"name": "某公司", "contact_name": "张*", '
        '"contact_phone": "138****1234"}, "content": "邮箱z***@example.com", "reporter": {"name": "李*"}}')


@pytest.mark.parametrize("raw, expected", [
    ('{"contact_phone": "13800001234", "content": "zs@example.com',
     '{"contact_phone": "138****1234", "content": "z***@example.com'),
    ("[" * 100_000 + "13800001234", "[" * 100_000 + "138****1234"),  # too deep for the JSON parser
    ("{this is not json", "{this is not json"),
])
def test_mask_payload_masks_text_that_is_not_json(raw, expected):
    from shared.masking import mask_payload

    assert mask_payload(raw) == expected


def test_mask_payload_base64_masks_digit_runs_in_bytes_that_are_not_utf8():
    import base64

    from shared.masking import mask_payload_base64

    gbk = "电话13800001234".encode("gbk")
    masked = base64.b64decode(mask_payload_base64(base64.b64encode(gbk).decode()))
    assert masked == "电话138****1234".encode("gbk")
    other = base64.b64encode(b"\xff\xfe\x00garbage").decode()
    assert mask_payload_base64(other) == other


# ---------------------------------------------------------------- dead letters

def test_a_dead_letter_is_masked_when_it_is_built():
    from datetime import UTC, datetime

    from shared.contracts.dead_letter import DeadLetter

    raw = ('{"channel": "qrcode", "enterprise": {"name": "某公司", "contact_name": "张三", '
           '"contact_phone": "13800001234"}, "content": "邮箱zs@example.com"}').encode()
    letter = DeadLetter(service="intake", topic="qhwy.submissions.v1", key="sub-13800001234",
                        reason="handler failed: ValueError: 13800001234 is not allowed",
                        errors=[{"type": "value_error", "loc": ["enterprise", "contact_phone"],
                                 "msg": "Value error, 电话13912345678无效"}],
                        failed_at=datetime(2026, 3, 2, tzinfo=UTC), **DeadLetter.payload_fields(raw))
    assert letter.key == "sub-138****1234"
    assert letter.reason == "handler failed: ValueError: 138****1234 is not allowed"
    assert letter.errors == [{"type": "value_error", "loc": ["enterprise", "contact_phone"],
                              "msg": "Value error, 电话139****5678无效"}]
    assert letter.payload == ('{"channel": "qrcode", "enterprise": {"name": "某公司", "contact_name": "张*", '
                              '"contact_phone": "138****1234"}, "content": "邮箱z***@example.com"}')
    again = DeadLetter.model_validate_json(letter.model_dump_json())  # read back: masking twice changes nothing
    assert again.model_dump(mode="json") == letter.model_dump(mode="json")


@pytest.mark.parametrize("masked", ["138****1234", "*****45", "0570-****2345"])
def test_masking_a_masked_phone_again_changes_nothing(masked):
    assert mask_phone(masked) == masked
    assert mask_text(masked) == masked


def test_mask_payload_still_finds_names_in_json_cut_short():
    from shared.masking import mask_payload

    raw = ('{"enterprise": {"name": "某公司", "contact_name": "张三", "contact_phone": "138 0000 1234"}, '
           '"reporter": {"kind": "enterprise", "name": "李小四"}, "content": "请联系zs@example.com')
    assert mask_payload(raw) == (
        '{"enterprise": {"name": "某公司", "contact_name": "张*", "contact_phone": "138****1234"}, '
        '"reporter": {"kind": "enterprise", "name": "李**"}, "content": "请联系z***@example.com')


@pytest.mark.parametrize("case_id", [
    "354be189-9499-5699-8105-e187aa2b107a",  # groups that read like 189-9499-5699
    "0a1b2c3d-4e5f-4138-9000-a01234567890", "12345678-1389-4999-8699-000000000000",
])
def test_a_case_id_that_looks_like_a_mobile_inside_is_left_alone(case_id):
    """Log lines carry case ids: masked, an operator could no longer find the case (nor could a test)."""
    assert mask_text(f"case {case_id} 电话13800001234") == f"case {case_id} 电话138****1234"
    assert mask_text(case_id) == case_id
