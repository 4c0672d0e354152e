"""How the panel's conversation page shows messages: bubbles, each answer's delivery state
from its outbox row, and attachments (file links through the panel, locations on a map,
shared contacts as text)."""
import mimetypes
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from flask import url_for

from panel.base import local_time
from services.core import clock
from services.core.inputs import MAX_ID, parse_bounded_int, parse_number
from services.crm.validation import display_phone
from services.inbox import attachments

MAX_ATTACHMENTS = 100
UNSAFE_IN_NAMES = re.compile(r"[\x00-\x1f\x7f/\\\"]+")
MAX_FILE_NAME = 150


@dataclass
class Bubble:
    """One message as the page shows it."""
    id: int
    direction: str
    sender: str
    text: str
    time: str            # HH:MM in TZ
    when: str            # the full local time, for the tooltip
    day: str             # YYYY-MM-DD in TZ: bubbles are grouped by day
    items: list = field(default_factory=list)
    state: object = None  # a State for outbound messages


@dataclass
class State:
    """An outbound message's delivery state, from its outbox row."""
    message_id: int
    label: str
    kind: str            # queued | sent | failed: the colour
    detail: str = ""     # the error, or when it was sent
    final: bool = True


def delivery_state(message):
    """The State of an outbound message (None for an inbound one)."""
    if message.direction != "out":
        return None
    row = message.outbox if message.outbox_id else None
    if row is None:
        return State(message.id, "not tracked", "queued", "its delivery record was removed")
    error = row.last_error or ""
    if row.status == "sent":
        return State(message.id, "✓ sent", "sent", f"sent {local_time(row.sent_at)}")
    if row.status == "pending":
        detail = f"retrying: {error}" if error else ""
        return State(message.id, "queued", "queued", detail, final=False)
    if row.status == "sending":
        return State(message.id, "sending…", "queued", final=False)
    if row.status == "failed":
        return State(message.id, "✗ failed", "failed", error)
    if row.status == "expired":
        return State(message.id, "✗ expired", "failed",
                     error or "not sent in time, so it was dropped")
    return State(message.id, f"✗ {row.status}", "failed", error)


def _item(conversation_id, message_id, index, item):
    """One attachment as the page shows it: what it is, and a link where there is one."""
    kind = item["kind"]
    shown_item = {"kind": kind, "label": attachments.label(item), "url": None, "photo": False,
                  "size": _size(item.get("file_size"))}
    if kind in attachments.FILE_KINDS and item.get("file_id"):
        shown_item["url"] = url_for(".file", conversation_id=conversation_id, message_id=message_id,
                                    index=index)
        shown_item["photo"] = kind == "photo"
    elif kind == "location":
        lat, lon = parse_number(item.get("latitude"), 90), parse_number(item.get("longitude"), 180)
        if lat is not None and lon is not None:
            shown_item["label"] = f"📍 location {lat:.5f}, {lon:.5f}"
            shown_item["url"] = ("https://www.openstreetmap.org/?"
                                 + urlencode({"mlat": f"{lat:.6f}", "mlon": f"{lon:.6f}"})
                                 + f"#map=16/{lat:.6f}/{lon:.6f}")
    elif kind == "contact":
        name = " ".join(str(item.get(part, "")) for part in ("first_name", "last_name")).strip()
        phone = display_phone(str(item.get("phone_number", "")))
        shown_item["label"] = " · ".join(p for p in ("👤 contact", name, phone) if p)
    return shown_item


def _size(value):
    number = parse_bounded_int(value, 0, MAX_ID)
    if not number:
        return ""
    for unit in ("bytes", "KB", "MB"):
        if number < 1024 or unit == "MB":
            return f"{number:,} {unit}" if unit == "bytes" else f"{number:,.1f} {unit}"
        number /= 1024
    return ""


def bubble(conversation_id, message, zone):
    moment = clock.to_local(message.created_at, zone)
    items = attachments.loads(message.attachments)[:MAX_ATTACHMENTS]
    return Bubble(id=message.id, direction="out" if message.direction == "out" else "in",
                  sender=message.sender_label, text=message.text or "",
                  time=f"{moment:%H:%M}", when=f"{moment:%Y-%m-%d %H:%M} ({zone})",
                  day=f"{moment:%Y-%m-%d}",
                  items=[_item(conversation_id, message.id, n, item) for n, item in enumerate(items)],
                  state=delivery_state(message))


def file_name(item, message_id, index, content_type):
    name = UNSAFE_IN_NAMES.sub(" ", str(item.get("file_name") or "")).strip()[:MAX_FILE_NAME]
    if name:
        return name
    extension = mimetypes.guess_extension(content_type) or ""
    return f"{item['kind']}-{message_id}-{index}{extension}"
