"""Escaping for Telegram's HTML parse mode: everything a person typed goes through
`h()` before it is placed in a message."""
import html
from decimal import Decimal


def h(value):
    """Escape user data for HTML parse mode (Telegram understands &lt; &gt; &amp;)."""
    return html.escape("" if value is None else str(value), quote=False)


def usd(cents):
    """"$1,234.50" for 123450 cents."""
    return f"${Decimal(cents) / 100:,.2f}"


def quantity(number, one, many=None):
    """"1 lead", "3 leads", "2 activities" (with `many` for an irregular plural)."""
    return f"{number} {one if number == 1 else many or one + 's'}"


def token_amount(amount):
    """"1 token", "250 tokens"."""
    return quantity(amount, "token")


def day_count(count):
    """"1 day", "30 days"."""
    return quantity(count, "day")
