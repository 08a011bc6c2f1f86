"""Enterprise identity, pure: the same enterprise from any channel is one record.

By its unified social credit code when one is given; otherwise by its name (normalised) and contact phone.
A record found by credit code also remembers the names and phones it was reported with, so a later report
without the code but with a known name + phone lands on the same record (the store looks that up).
"""

import re
import unicodedata

from shared.contracts.envelope import derived_id
from shared.contracts.submissions import Enterprise


def normalise_name(name: str) -> str:
    """Full-width and half-width forms, spaces and bracket styles do not make another enterprise."""
    text = unicodedata.normalize("NFKC", name)
    return re.sub(r"[\s()（）\[\]【】·.,，、]+", "", text).lower()


def phone_digits(phone: str) -> str:
    digits = re.sub(r"\D", "", phone)
    return digits[2:] if digits.startswith("86") and len(digits) == 13 else digits


def identity_key(enterprise: Enterprise) -> str:
    if enterprise.uscc_verified:  # a code with a wrong check character is no identity
        return f"uscc:{enterprise.uscc}"
    return f"name:{normalise_name(enterprise.name)}|phone:{phone_digits(enterprise.contact_phone)}"


def enterprise_id_for(key: str) -> str:
    """Derived from the identity key, so every instance and every retry computes the same id."""
    return derived_id("enterprise", key)


def alias_key(enterprise: Enterprise) -> str:
    """What a report without a credit code can be matched on."""
    return f"{normalise_name(enterprise.name)}|{phone_digits(enterprise.contact_phone)}"
