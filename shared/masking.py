"""Masking of personal data for logs, public events and dead letters.

What is personal and masked: phone numbers (mobiles, landlines with their area code, in any of the ways people
write them: +86 / 0086, spaces, dashes, dots, brackets, full-width digits, zero-width characters between
digits), e-mail addresses, 身份证 numbers (18 characters whose GB 11643 check character - ISO 7064 MOD 11-2 -
and birth date are valid) and bank card numbers (13-19 digits passing the Luhn check); under personal keys
also names.

What is not, and stays whole: 统一社会信用代码 (an enterprise's code, GB 32100 check character), tracking
numbers (QH2026030200001: a letter glued to the digits), dates, amounts, 400/800 service numbers (an
enterprise's published hotline), any digit run that is none of the above.
"""

import base64
import json
import re
from datetime import date
from typing import Any

PERSONAL_KEYS = frozenset({"contact_phone", "contact_name", "phone", "caller", "caller_phone", "name_of_person"})
# a dict under one of these keys describes a person: its "name" is that person's name (reporter.name)
PERSON_KEYS = frozenset({"reporter", "contact", "contacts", "caller", "person", "liaison", "officer"})

_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９Ｘｘ", "0123456789Xx")

_D = "[0-9０-９]"  # a digit as written (ASCII or full width)
_Z = "[\u200b\u200c\u200d\u2060\ufeff\u00ad]*"  # zero-width characters someone slipped between digits
_DZ = _D + _Z
_GAP = f"(?:[ \u3000\\-－.．·]{{1,3}}{_Z})?"  # what people put between groups of digits
_NOT_DIGIT_BEFORE = "(?<![0-9０-９])"
_NOT_DIGIT_AFTER = "(?![0-9０-９])"
_NOT_ALNUM_BEFORE = "(?<![0-9０-９A-Za-zＡ-Ｚａ-ｚ])"
_NOT_ALNUM_AFTER = "(?![0-9０-９A-Za-zＡ-Ｚａ-ｚ])"
_COUNTRY = f"(?:[(（]?{_Z}(?:[+＋]|00){_Z}[8８]{_Z}[6６]{_Z}[)）]?|[8８]{_Z}[6６]){_GAP}"

_MOBILE_IN_TEXT = re.compile(
    f"(?<![0-9０-９+＋])(?:{_COUNTRY})?"
    f"[1１]{_Z}[3-9３-９]{_Z}{_DZ}{_GAP}{_DZ * 4}{_GAP}{_DZ * 3}{_D}{_NOT_DIGIT_AFTER}")
_LANDLINE_IN_TEXT = re.compile(
    f"{_NOT_DIGIT_BEFORE}(?:(?:[+＋]|00)[8８][6６]{_GAP})?"
    f"(?:[(（]{_Z}(?P<area_b>[0０]{_Z}(?:{_DZ}){{2,3}}){_Z}[)）]{_Z}[ \u3000]?|(?P<area>[0０]{_Z}(?:{_DZ}){{2,3}}))"
    f"{_GAP}(?:{_DZ}){{3,4}}{_GAP}{_DZ * 3}{_D}{_NOT_DIGIT_AFTER}")
_ID_CARD_IN_TEXT = re.compile(
    f"{_NOT_ALNUM_BEFORE}{_DZ * 6}{_GAP}{_DZ * 8}{_GAP}{_DZ * 3}[0-9０-９XxＸｘ]{_NOT_ALNUM_AFTER}")
_CARD_IN_TEXT = re.compile(  # 13-19 digits: in one run, or in groups of four (the last one shorter)
    f"{_NOT_ALNUM_BEFORE}(?:(?:{_DZ}){{13,19}}|{_DZ * 4}(?:[ \u3000\\-]{_Z}{_DZ * 4}){{2,3}}"
    f"(?:[ \u3000\\-]{_Z}(?:{_DZ}){{1,4}})?|(?:{_DZ}){{6}}[ \u3000\\-]{_Z}(?:{_DZ}){{7,13}}){_NOT_ALNUM_AFTER}")
# starts only where a run of address characters starts (no quadratic rescans of a long run without an @)
_EMAIL_IN_TEXT = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]{1,64}[@＠][A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9\-])")


def _digits(written: str) -> str:
    return re.sub(r"[^0-9X]", "", written.translate(_FULL_WIDTH_DIGITS).upper())


def mask_phone(phone: str | None) -> str | None:
    """13800001234 -> 138****1234; a number shorter than a mobile keeps only its last 2 digits."""
    if not phone or "*" in phone:  # nothing, or masked already (masking twice changes nothing)
        return phone
    digits = re.sub(r"\D", "", phone.translate(_FULL_WIDTH_DIGITS))
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:  # +86 country code
        digits = digits[2:]
    if len(digits) >= 11:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * max(len(digits) - 2, 1) + digits[-2:]


def mask_name(name: str | None) -> str | None:
    """张三 -> 张*, 欧阳娜娜 -> 欧***; a name is a person's, so only its first character stays."""
    if not name:
        return name
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_email(address: str) -> str:
    """zhang.san@example.com -> z***@example.com: the first character of the mailbox and the domain stay."""
    local, at, domain = address.replace("＠", "@").partition("@")
    return f"{local[:1]}***@{domain}" if at else address


# ---------------------------------------------------------------- check characters

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def valid_id_card(number: str) -> bool:
    """A 身份证 number (GB 11643): 18 characters, an area code, a real birth date, the MOD 11-2 check character."""
    digits = number.translate(_FULL_WIDTH_DIGITS).upper()
    if not re.fullmatch(r"[1-8]\d{16}[\dX]", digits):
        return False
    try:
        born = date(int(digits[6:10]), int(digits[10:12]), int(digits[12:14]))
    except ValueError:
        return False
    if not 1850 <= born.year <= 2100:
        return False
    return _ID_CHECK[sum(int(c) * w for c, w in zip(digits, _ID_WEIGHTS)) % 11] == digits[17]


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def valid_uscc(code: str) -> bool:
    """A 统一社会信用代码 (GB 32100): 18 characters, the last a MOD 31 check character."""
    code = code.upper()
    if len(code) != 18 or any(c not in _USCC_CHARS for c in code):
        return False
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(code, _USCC_WEIGHTS))
    return _USCC_CHARS[(31 - total % 31) % 31] == code[17]


# ---------------------------------------------------------------- free text

def _mask_id_card(match: re.Match[str]) -> str:
    digits = _digits(match.group(0))
    if valid_id_card(digits):
        return "*" * 14 + digits[-4:]
    return match.group(0)


def _mask_card(match: re.Match[str]) -> str:
    digits = _digits(match.group(0))
    if not 13 <= len(digits) <= 19 or not luhn_valid(digits):
        return match.group(0)
    if re.match(r"(?:0086|86)1[3-9]", digits) and len(digits) in (13, 15):  # a mobile with its country code
        return match.group(0)
    if len(digits) == 18 and valid_uscc(digits):  # an enterprise's credit code, not a card
        return match.group(0)
    return "*" * (len(digits) - 4) + digits[-4:]


def _mask_mobile(match: re.Match[str]) -> str:
    digits = _digits(match.group(0))[-11:]
    return f"{digits[:3]}****{digits[-4:]}"


def _mask_landline(match: re.Match[str]) -> str:
    area = _digits(match.group("area") or match.group("area_b"))
    return f"{area}-****{_digits(match.group(0))[-4:]}"


# A uuid (a case or event id in a log line) is never personal data, but its groups can read like a mobile written
# with dashes ("354be189-9499-5699-…"): masked, an operator could no longer find the case.
_UUID = re.compile(r"(?<![0-9A-Za-z])([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
                   r"(?![0-9A-Za-z])")


def mask_text(text: str) -> str:
    """Mask the personal data that appears inside free text (complaints often quote a phone, an e-mail...)."""
    if not text:
        return text
    if "-" not in text:
        return _mask_free_text(text)
    # split() with the id as a group: free text at even places, the ids between them at odd ones
    return "".join(part if i % 2 else _mask_free_text(part) for i, part in enumerate(_UUID.split(text)))


def _mask_free_text(text: str) -> str:
    if not text:
        return text
    text = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)), text)
    if not re.search(_D, text):
        return text
    text = _ID_CARD_IN_TEXT.sub(_mask_id_card, text)
    text = _CARD_IN_TEXT.sub(_mask_card, text)
    text = _MOBILE_IN_TEXT.sub(_mask_mobile, text)
    return _LANDLINE_IN_TEXT.sub(_mask_landline, text)


def mask_value(key: str, value: Any) -> Any:
    if isinstance(value, str):
        if "phone" in key:
            return mask_phone(value)
        if key in PERSONAL_KEYS or key.endswith("contact_name"):
            return mask_name(value)
        return mask_text(value)
    if isinstance(value, dict):
        if key in PERSON_KEYS:
            return {k: mask_name(v) if k == "name" and isinstance(v, str) else mask_value(k, v)
                    for k, v in value.items()}
        return {k: mask_value(k, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(key, v) for v in value]
    return value


# ---------------------------------------------------------------- whole messages (dead letters)

# "key": "value" in text that is not quite JSON (cut short, a stray brace): personal keys' values still masked
_JSON_PAIR = re.compile(r'"([A-Za-z_]{1,40})"\s*:\s*"((?:[^"\\\n]|\\.){0,200})"')
_PERSON_OBJECT = re.compile(r'"(%s)"\s*:\s*\{[^{}]{0,400}?"name"\s*:\s*"((?:[^"\\\n]|\\.){0,200})"'
                            % "|".join(sorted(PERSON_KEYS)))


def _mask_pairs(text: str) -> str:
    def pair(match: re.Match[str]) -> str:
        key, value = match.group(1), match.group(2)
        masked: str = mask_value(key, value)  # a string value stays a string
        if masked == value or key not in PERSONAL_KEYS and "phone" not in key and not key.endswith("contact_name"):
            return match.group(0)
        start, end = match.span(2)
        return match.group(0)[: start - match.start()] + masked + match.group(0)[end - match.start():]

    def person(match: re.Match[str]) -> str:
        start, end = match.span(2)
        return match.group(0)[: start - match.start()] + (mask_name(match.group(2)) or "") + \
            match.group(0)[end - match.start():]

    return _PERSON_OBJECT.sub(person, _JSON_PAIR.sub(pair, text))


def mask_payload(text: str) -> str:
    """A message as text with its personal data masked: field by field when it is JSON (names under their keys
    too), as free text when it is not (or is too deeply nested to walk), where "contact_name": "..." and the
    like are still recognised."""
    try:
        parsed = json.loads(text)
        return json.dumps(mask_value("payload", parsed), ensure_ascii=False)
    except (ValueError, RecursionError):
        return mask_text(_mask_pairs(text))


def mask_payload_base64(encoded: str) -> str:
    """Bytes that are not UTF-8 (base64): ASCII digit runs in them (a phone in a GBK message) masked, every
    other byte kept as it was."""
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        return encoded
    text = raw.decode("latin-1")
    masked = mask_text(text)
    if masked == text:
        return encoded
    return base64.b64encode(masked.encode("latin-1", "replace")).decode()
