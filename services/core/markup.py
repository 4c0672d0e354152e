"""Escaping for Telegram's HTML parse mode: everything a person typed goes through
`h()` before it is placed in a message."""
import html


def h(value):
    """Escape user data for HTML parse mode (Telegram understands &lt; &gt; &amp;)."""
    return html.escape("" if value is None else str(value), quote=False)


def quantity(number, one, many=None):
    """"1 lead", "3 leads", "2 activities" (with `many` for an irregular plural)."""
    return f"{number} {one if number == 1 else many or one + 's'}"
