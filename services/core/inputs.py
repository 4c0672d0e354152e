"""What people type, and what URLs, forms and button data carry, read in one place:
numbers, and text that may reach a query.

Only the ASCII digits 0-9 count: str.isdigit() also takes "²", "٣" and "０", which int()
then refuses or reads as some other number. Every number is bounded, so an id fits
the database's signed 64-bit columns and a page number keeps OFFSET in range.
Each function answers None for anything else, and the caller says what it expected.
"""
import decimal
import re

MAX_ID = 2**63 - 1        # the largest signed 64-bit integer: every id column
MAX_PAGE = 1_000_000      # 0-based; with 100 rows a page, OFFSET stays far below MAX_ID
_WHOLE = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,4})?")
_MAX_LENGTH = 40          # longer text is no number we accept (and int() refuses 4,300 digits)


def parse_bounded_int(value, lo, hi):
    """The whole number `value` is, or spells in ASCII digits (an optional minus, spaces
    around), when lo <= it <= hi; else None. An int from JSON is taken as it is."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _matches(_WHOLE, value):
        number = int(value)
    else:
        return None
    return number if lo <= number <= hi else None


def parse_id(value):
    """A record id (1 up to MAX_ID) from a URL, form, command or button, else None."""
    return parse_bounded_int(value, 1, MAX_ID)


def parse_page(value):
    """A 0-based page number, else None."""
    return parse_bounded_int(value, 0, MAX_PAGE)


def parse_number(value, limit):
    """An int or float from ASCII text like 1500, -2.5 or 1e3 (or a number from JSON)
    with abs(number) <= limit, else None; whole numbers come back as int."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = decimal.Decimal(str(value))
    elif isinstance(value, str) and _matches(_DECIMAL, value):
        number = decimal.Decimal(value.strip())
    else:
        return None
    if not (number.is_finite() and abs(number) <= limit):  # nan, inf; 1e9999
        return None
    return int(number) if number == number.to_integral_value() else float(number)


def _matches(pattern, text):
    text = text.strip()
    return len(text) <= _MAX_LENGTH and pattern.fullmatch(text) is not None


def split_id(text):
    """(record id or None, rest of the line) from "12 rest" or "#12 rest", as commands such
    as /lead 12 and /chat #3 take them."""
    words = text.split(None, 1) or [""]
    return parse_id(words[0].lstrip("#")), (words[1].strip() if len(words) > 1 else "")


def plain_text(value):
    """`value` without NUL characters: Postgres refuses them in text, and nobody types
    them on purpose. Whatever a person sends goes through this before any query."""
    return value.replace("\x00", "")


def one_newline(text):
    """`text` with every line break as "\\n": browsers submit a textarea's as "\\r\\n",
    and Telegram (and every count of a message's length) takes a line break as one."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


class InvalidField(ValueError):
    """A value refused: `field` names it and `reason` says why, in plain text. The message
    is "<label>: <reason>" with the field's label from the subclass's `labels`, or the
    reason alone for a field it has no label for."""
    labels = {}

    def __init__(self, field, reason):
        label = self.labels.get(field)
        super().__init__(f"{label}: {reason}" if label else reason)
        self.field, self.reason = field, reason
