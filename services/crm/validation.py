"""Validation of what people type, with well-kept libraries.

Every validator takes raw text and returns the normalised value or raises
ValidationError with a reason a person can act on.
"""
import unicodedata

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email

MAX_NAME_LENGTH = 100
MAX_INPUT_LENGTH = 320  # the longest valid email address; nothing valid is longer


class ValidationError(ValueError):
    pass


def _clean(text):
    if text is None:
        raise ValidationError("Please send it as text.")
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        raise ValidationError("It cannot be empty.")
    if len(text) > MAX_INPUT_LENGTH:
        raise ValidationError(f"That is too long ({len(text)} characters).")
    return text


def email(text):
    """Case-folded, so one address cannot be stored twice in different cases."""
    text = _clean(text)
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationError(f"That is not a valid email address: {exc}") from None
    return result.normalized.casefold()


def phone(text):
    """E.164 (+441234567890). Numbers must carry their country code."""
    text = _clean(text)
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            "That is not a phone number I can read. Send it in international "
            "format with the country code, e.g. +44 20 7946 0958.") from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(
            "That phone number is not valid for its country. Check the digits "
            "and the country code, e.g. +44 20 7946 0958.")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def display_phone(value):
    """A stored phone number (E.164) as people read it, "+44 20 7946 0958"; anything that
    does not parse as one (or None) as it is."""
    if not value:
        return value
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def name(text):
    text = " ".join(_clean(text).split())
    if len(text) > MAX_NAME_LENGTH:
        raise ValidationError(f"Names are limited to {MAX_NAME_LENGTH} characters.")
    if not any(ch.isalpha() for ch in text):
        raise ValidationError("A name needs at least one letter.")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in text):
        raise ValidationError("A name cannot contain control characters.")
    return text


def country(text):
    """ISO 3166-1 alpha-2 from a code (gb, GB), an alpha-3 code or a country name."""
    text = _clean(text)
    found, matches = None, []
    if len(text) == 2 and text.isalpha():
        found = pycountry.countries.get(alpha_2=text.upper())
    elif len(text) == 3 and text.isalpha():
        found = pycountry.countries.get(alpha_3=text.upper())
    # Fuzzy search also matches numeric codes and subdivisions; a name has letters.
    if found is None and len(text) > 3 and any(ch.isalpha() for ch in text):
        try:
            matches = pycountry.countries.search_fuzzy(text)
        except LookupError:
            matches = []
        # Only an unambiguous name counts; "Guinea" must not silently pick one of four.
        exact = [c for c in matches if text.casefold() in _names(c)]
        if len(exact) == 1:
            found = exact[0]
        elif len(matches) == 1:
            found = matches[0]
    if found is None and len(matches) > 1:
        options = ", ".join(f"{c.alpha_2} ({c.name})" for c in matches[:5])
        raise ValidationError(
            f"That matches several countries: {options}. Send the two-letter code.")
    if found is None:
        raise ValidationError(
            "I don't know that country. Send its two-letter ISO code "
            "(e.g. GB, DE, US) or its English name.")
    return found.alpha_2


def _names(country_record):
    return {getattr(country_record, attr).casefold()
            for attr in ("name", "official_name", "common_name")
            if hasattr(country_record, attr)}


def country_name(code):
    record = pycountry.countries.get(alpha_2=code)
    return record.name if record else code
