"""Message text for Telegram's HTML parse mode.

Everything a person typed goes through `h()` before it is placed in a message.
"""
import datetime
import html
import re
from zoneinfo import ZoneInfo

from services.validation import country_name

TELEGRAM_TEXT_LIMIT = 4096
# A tag, an entity, or one character: the pieces a message may be cut between.
_ATOM = re.compile(r"<[^>]*>|&#?\w+;|.", re.DOTALL)
_TAG = re.compile(r"<(/?)([a-zA-Z-]+)")


def h(value):
    """Escape user data for HTML parse mode (Telegram understands &lt; &gt; &amp;)."""
    return html.escape("" if value is None else str(value), quote=False)


def lead_card(lead, title="Lead"):
    creator = lead.created_by.display_name if lead.created_by_id else "the admin panel"
    return (
        f"<b>{h(title)} #{lead.id}</b>\n"
        f"Name: {h(lead.full_name)}\n"
        f"Email: {h(lead.email)}\n"
        f"Phone: {h(lead.phone)}\n"
        f"Country: {h(country_name(lead.country))} ({h(lead.country)})\n"
        f"Added by {h(creator)} on {lead.created_at:%Y-%m-%d %H:%M} UTC"
    )


def lead_line(lead):
    return f"#{lead.id} {h(lead.full_name)} · {h(lead.email)} · {h(lead.phone)} · {h(lead.country)}"


def _utf16_len(text):
    return len(text.encode("utf-16-le")) // 2


def split_html(text, limit=TELEGRAM_TEXT_LIMIT):
    """Cut an HTML message into parts Telegram accepts.

    Cuts fall between tags and entities, preferably at a line break; tags open
    at a cut are closed at the end of one part and reopened in the next, so
    every part is well-formed on its own. Lengths are counted in UTF-16 units
    of the raw markup, which is never less than what Telegram counts.
    """
    if _utf16_len(text) <= limit:
        return [text]
    parts, current, open_tags = [], [], []
    size = 0
    last_break = None  # (index in current, size, open tags) after the last newline

    def closing(tags):
        return "".join(f"</{_TAG.match(t).group(2)}>" for t in reversed(tags))

    for atom in _ATOM.findall(text):
        atom_size = _utf16_len(atom)
        tag = _TAG.match(atom)
        opening = [atom] if tag and not tag.group(1) else []
        # Room for this atom and for closing every tag open after it.
        reserve = _utf16_len(closing(open_tags + opening)) + atom_size
        if current and size + reserve > limit:
            if last_break is not None and last_break[1] > limit // 2:
                cut, _, tags_at_cut = last_break
                head, tail = current[:cut], current[cut:]
            else:
                head, tail, tags_at_cut = current, [], list(open_tags)
            parts.append("".join(head) + closing(tags_at_cut))
            current = list(tags_at_cut) + tail
            size = sum(_utf16_len(a) for a in current)
            last_break = None
        current.append(atom)
        size += atom_size
        if tag and tag.group(1):
            open_tags.pop()
        elif tag:
            open_tags.append(atom)
        elif atom == "\n":
            last_break = (len(current), size, list(open_tags))
    if current:
        parts.append("".join(current) + closing(open_tags))
    return [p for p in parts if p.strip()]


def local_time(moment, timezone):
    """A naive-UTC time as the team reads it: "2026-11-23 10:00" in TZ."""
    if moment is None:
        return "—"
    local = moment.replace(tzinfo=datetime.timezone.utc).astimezone(ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M}"
