"""Phone numbers and email addresses typed into a chat.

phonenumbers and email-validator are imported on first use: together they
take ~80 ms to import, and most processes that import the parsers never
read a contact.
"""

from __future__ import annotations

import re
from functools import lru_cache

_MAX_CHARS = 300  # a contact answer longer than this is not a contact answer
_DIGITS = re.compile(r"\d")
_RU_TRUNK = re.compile(r"^8\d{10}$")  # 8 9xx xxx xx xx: Russia's domestic format


def _valid_e164(candidate: str, region: str | None) -> str | None:
    import phonenumbers

    try:
        number = phonenumbers.parse(candidate, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=2048)
def _trunk_prefix(region: str) -> str | None:
    import phonenumbers

    meta = phonenumbers.PhoneMetadata.metadata_for_region(region)
    return meta.national_prefix if meta is not None else None


@lru_cache(maxsize=2048)
def parse_phone(text: str, region: str | None = None) -> str | None:
    """A valid phone number in E.164 ("+79991234567"), or None.

    Tries the flow's region first ("8 999 123-45-67" with RU), then the digits
    with a "+" in front ("7 999 ..." typed without it), then a number inside a
    sentence; a bare 8 + 10 digits is read as Russian when no region is given.
    """
    if not text:
        return None
    text = text.strip()[:_MAX_CHARS]
    if not _DIGITS.search(text):
        return None
    region = region.upper() if region else None
    digits = "".join(ch for ch in text if ch.isdigit())
    regions = [region] if region else []
    if not region and _RU_TRUNK.match(digits):
        regions.append("RU")
    for reg in regions:
        found = _valid_e164(text, reg)
        if found:
            return found
    found = _valid_e164(text, None) if text.lstrip().startswith("+") else None
    if found:
        return found
    # "+" in front, unless the digits start with the trunk prefix of the region
    # meant ("8 000..." in Russia is a bad Russian number, not +800)
    trunk = _trunk_prefix(regions[0]) if regions else None
    if 7 <= len(digits) <= 15 and not (trunk and digits.startswith(trunk)):
        found = _valid_e164("+" + digits, None)
        if found:
            return found
    # "call me at +7 999 123 45 67 after six"
    import phonenumbers

    try:
        for match in phonenumbers.PhoneNumberMatcher(
            text, region or "ZZ", leniency=phonenumbers.Leniency.VALID
        ):
            return phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
    except Exception:  # a third-party scanner over arbitrary text must not end an interview
        return None
    return None


_EMAIL_CANDIDATE = re.compile(r"[^\s<>()\[\]{},;:\"'«»]+@[^\s<>()\[\]{},;:\"'«»]+")


@lru_cache(maxsize=2048)
def parse_email(text: str) -> str | None:
    """The first valid email address in the text, normalised (domain lowercased), or None."""
    if not text or "@" not in text:
        return None
    from email_validator import EmailNotValidError, validate_email

    for candidate in _EMAIL_CANDIDATE.findall(text[:1000]):
        candidate = candidate.strip(".!?…")
        if candidate.lower().startswith("mailto:"):
            candidate = candidate[7:]
        try:
            info = validate_email(candidate, check_deliverability=False)
        except EmailNotValidError:
            continue
        return info.normalized
    return None
