"""Masking of personal data (phones, names) for logs and public events."""

import re
from typing import Any

_MOBILE_IN_TEXT = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")
_LANDLINE_IN_TEXT = re.compile(r"(?<!\d)(0\d{2,3}-?)(\d{3,4})(\d{4})(?!\d)")
PERSONAL_KEYS = frozenset({"contact_phone", "contact_name", "phone", "caller", "caller_phone", "name_of_person"})


def mask_phone(phone: str | None) -> str | None:
    """13800001234 -> 138****1234; shorter numbers keep only their last 2 digits."""
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    if len(digits) >= 7:
        return f"{digits[:3]}****{digits[-4:]}"
    return "*" * max(len(digits) - 2, 1) + digits[-2:]


def mask_name(name: str | None) -> str | None:
    """张三 -> 张*, 欧阳娜娜 -> 欧***; a name is a person's, so only its first character stays."""
    if not name:
        return name
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_text(text: str) -> str:
    """Mask phone numbers that appear inside free text (complaints often quote one)."""
    text = _MOBILE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return _LANDLINE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


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
