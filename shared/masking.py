"""Masking of personal data (phones, names) for logs and public events."""

import re
from typing import Any

# Phone numbers as people write them in complaints: mobiles with or without +86 and with spaces or dashes
# between groups, landlines with the area code in brackets or joined by a dash. A longer digit run (a credit
# code, an ID card number) is not a phone and is left alone.
_MOBILE_IN_TEXT = re.compile(r"(?<![\d+])(?:\+?86[ -]?)?1[3-9]\d[ -]?\d{4}[ -]?\d{4}(?!\d)")
_LANDLINE_IN_TEXT = re.compile(r"(?<!\d)(?:\(0\d{2,3}\)|0\d{2,3})[ -]?\d{7,8}(?!\d)")
PERSONAL_KEYS = frozenset({"contact_phone", "contact_name", "phone", "caller", "caller_phone", "name_of_person"})


def mask_phone(phone: str | None) -> str | None:
    """13800001234 -> 138****1234; a number shorter than a mobile keeps only its last 2 digits."""
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("86") and len(digits) == 13:  # +86 country code
        digits = digits[2:]
    if len(digits) >= 11:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * max(len(digits) - 2, 1) + digits[-2:]


def mask_name(name: str | None) -> str | None:
    """张三 -> 张*, 欧阳娜娜 -> 欧***; a name is a person's, so only its first character stays."""
    if not name:
        return name
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_text(text: str) -> str:
    """Mask phone numbers that appear inside free text (complaints often quote one)."""
    text = _MOBILE_IN_TEXT.sub(lambda m: _mask_written_number(m.group(0)), text)
    return _LANDLINE_IN_TEXT.sub(lambda m: _mask_written_number(m.group(0)), text)


def _mask_written_number(written: str) -> str:
    """Keep the prefix up to the subscriber number and its last 4 digits; hide the rest."""
    digits = re.sub(r"\D", "", written)
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if digits.startswith("1"):
        return f"{digits[:3]}****{digits[-4:]}"
    area = re.match(r"\(?(0\d{2,3})\)?", written)
    return f"{area.group(1) if area else ''}-****{digits[-4:]}"


def mask_value(key: str, value: Any) -> Any:
    if isinstance(value, str):
        if "phone" in key:
            return mask_phone(value)
        if key in PERSONAL_KEYS or key.endswith("contact_name"):
            return mask_name(value)
        return mask_text(value)
    if isinstance(value, dict):
        return {k: mask_value(k, v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_value(key, v) for v in value]
    return value
