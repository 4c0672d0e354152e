"""Escaping for Telegram's HTML parse mode: everything a person typed goes through
`h()` before it is placed in a message."""
import html


def h(value):
    """Escape user data for HTML parse mode (Telegram understands &lt; &gt; &amp;)."""
    return html.escape("" if value is None else str(value), quote=False)
