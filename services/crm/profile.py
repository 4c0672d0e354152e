"""A client's profile (seed 001): middle name, gender, date of birth, address, passport
number, tax PIN and comments, each optional, checked as people type them.

The passport number and tax PIN are kept encrypted (models.SecretField): storing one
needs DATA_ENCRYPTION_KEY, and where they are shown in lists they are masked.
"""
import datetime
import re
import unicodedata

from models import GENDERS, Lead, MissingDataKey, utcnow
from services.core.inputs import InvalidField, one_newline
from services.crm import validation

MAX_ADDRESS = 500
MAX_DOCUMENT = 64       # a passport number or tax PIN
MAX_COMMENTS = 5000
MAX_AGE_YEARS = 130
MASK = "•••"
# Multi-line fields keep their line breaks; every other control character is refused.
KEPT_CONTROLS = {"\n", "\t"}
REFUSED_CATEGORIES = ("Cc", "Cf", "Co", "Cs")   # as validation.name refuses them
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DOCUMENT_PUNCTUATION = {" ", "-"}
ASCII_DIGITS = set("0123456789")

LABELS = {
    "middle_name": "Middle name",
    "gender": "Gender",
    "date_of_birth": "Date of birth",
    "address": "Address",
    "passport_number": "Passport number",
    "tax_pin": "Tax PIN",
    "comments": "Comments",
}
FIELDS = tuple(LABELS)
SECRET_FIELDS = ("passport_number", "tax_pin")   # encrypted at rest, masked when listed

NOT_TEXT = "Please send it as text."
BAD_GENDER = "Choose one of: {choices}."
BAD_DATE = "Type a date as YYYY-MM-DD, e.g. 1985-04-23."
FUTURE_DATE = "A date of birth cannot be in the future."
TOO_OLD = "That would make them older than {years}; check the year."
TOO_LONG = "That is too long ({length} characters; at most {limit})."
CONTROL_CHARACTERS = "It cannot contain control characters."
BAD_DOCUMENT = "Use only letters, digits, spaces and dashes."
NO_DOCUMENT = "It needs at least one letter or digit."
NO_DATA_KEY = ("It cannot be stored: passport numbers and tax PINs are kept encrypted, and "
               "DATA_ENCRYPTION_KEY is not set. Ask whoever runs Leadgram to set it "
               "(`python admin.py init-env` makes one for a new install), or leave this empty.")


class InvalidProfile(InvalidField):
    """A profile field refused."""
    labels = LABELS


def clean_profile(raw, today=None):
    """The profile fields among `raw` (a dict; other keys are ignored), each normalised,
    a blank one None; or InvalidProfile for the first bad one. `today` (a date) is the
    day a date of birth may not be after, by default today in UTC."""
    today = today or utcnow().date()
    cleaned = {}
    for field in FIELDS:
        if field not in raw:
            continue
        value = raw[field]
        if value is None or (isinstance(value, str) and not value.strip()):
            cleaned[field] = None
            continue
        try:
            cleaned[field] = CLEANERS[field](value, today)
        except validation.ValidationError as exc:
            raise InvalidProfile(field, str(exc)) from None
    return cleaned


def require_data_key(values):
    """InvalidProfile on the first secret field with a value when there is no key to
    encrypt it with (the panel then shows the refusal under that field)."""
    for field in SECRET_FIELDS:
        if values.get(field):
            try:
                Lead._meta.fields[field].db_value(values[field])
            except MissingDataKey:
                raise InvalidProfile(field, NO_DATA_KEY) from None


def masked(value):
    """A secret as lists show it: "•••• 4567", at most its last 2-4 characters (fewer
    for short values), or just "•••"; "" for none."""
    if value is None or value == "":
        return ""
    text = str(value)
    shown = min(4, len(text) // 3)
    return f"•••• {text[-shown:]}" if shown >= 2 else MASK


def _text(value, limit, multiline=False):
    if not isinstance(value, str):
        raise validation.ValidationError(NOT_TEXT)
    text = unicodedata.normalize("NFC", value)
    if multiline:
        lines = one_newline(text).split("\n")
        text = "\n".join(line.rstrip() for line in lines).strip()
    else:
        text = " ".join(text.split())
    if len(text) > limit:
        raise validation.ValidationError(TOO_LONG.format(length=len(text), limit=limit))
    kept = KEPT_CONTROLS if multiline else set()
    if any(unicodedata.category(ch) in REFUSED_CATEGORIES and ch not in kept for ch in text):
        raise validation.ValidationError(CONTROL_CHARACTERS)
    return text


def _middle_name(value, today):
    if not isinstance(value, str):
        raise validation.ValidationError(NOT_TEXT)
    return validation.name(value)


def _gender(value, today):
    text = _text(value, 20).casefold()
    if text not in GENDERS:
        raise validation.ValidationError(BAD_GENDER.format(choices=", ".join(GENDERS)))
    return text


def _date_of_birth(value, today):
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, datetime.date):
        born = value
    elif not isinstance(value, str):
        raise validation.ValidationError(NOT_TEXT)
    elif not ISO_DATE.fullmatch(value.strip()):
        raise validation.ValidationError(BAD_DATE)
    else:
        try:
            born = datetime.date.fromisoformat(value.strip())
        except ValueError:  # 2024-02-30
            raise validation.ValidationError(BAD_DATE) from None
    if born > today:
        raise validation.ValidationError(FUTURE_DATE)
    if born < _years_before(today, MAX_AGE_YEARS):
        raise validation.ValidationError(TOO_OLD.format(years=MAX_AGE_YEARS))
    return born


def _years_before(day, years):
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _address(value, today):
    return _text(value, MAX_ADDRESS, multiline=True)


def _document(value, today):
    text = _text(value, MAX_DOCUMENT)
    if any(not (ch.isalpha() or ch in ASCII_DIGITS or ch in DOCUMENT_PUNCTUATION) for ch in text):
        raise validation.ValidationError(BAD_DOCUMENT)
    if not any(ch.isalpha() or ch in ASCII_DIGITS for ch in text):
        raise validation.ValidationError(NO_DOCUMENT)
    return text


def _comments(value, today):
    return _text(value, MAX_COMMENTS, multiline=True)


CLEANERS = {
    "middle_name": _middle_name,
    "gender": _gender,
    "date_of_birth": _date_of_birth,
    "address": _address,
    "passport_number": _document,
    "tax_pin": _document,
    "comments": _comments,
}
assert set(CLEANERS) == set(FIELDS)
