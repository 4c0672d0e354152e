"""How the panel's conversation page shows messages: bubbles with their channel and
address, an email's subject and untrimmed original, each answer's delivery state from its
outbox row (and the provider's report: delivered, read…), and attachments (file links
through the panel, locations on a map, shared contacts as text; what came by email, SMS
or WhatsApp by name, type and size, as no file is kept)."""
import datetime
import json
import mimetypes
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

from flask import url_for

from models import utcnow
from panel.base import local_time
from services.core import clock
from services.core.inputs import MAX_ID, parse_bounded_int, parse_number
from services.crm.validation import display_phone
from services.delivery.channels import EMAIL, LABELS, SMS, TELEGRAM, WHATSAPP
from services.inbox import attachments, destinations

MAX_ATTACHMENTS = 100
UNSAFE_IN_NAMES = re.compile(r"[\x00-\x1f\x7f/\\\"]+")
MAX_FILE_NAME = 150
MAX_SUBJECT = 300
MAX_MIME = 100
# A text or WhatsApp message we handed to Twilio is watched for its delivery report this
# long; without PUBLIC_BASE_URL the report never comes, and the poll stops asking.
PROVIDER_WATCH = datetime.timedelta(days=1)
TWILIO_CHANNELS = (SMS, WHATSAPP)
# Twilio's report -> (label, colour); undelivered and failed also fail the outbox row.
PROVIDER_STATES = {
    "accepted": ("queued at Twilio", "queued"), "queued": ("queued at Twilio", "queued"),
    "sending": ("sending", "queued"), "sent": ("✓ sent", "sent"),
    "delivered": ("✓✓ delivered", "sent"), "read": ("✓✓ read", "read"),
    "undelivered": ("✗ undelivered", "failed"), "failed": ("✗ failed", "failed"),
}


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
    channel: str = TELEGRAM
    via: str = "Telegram"  # the channel, and for the others the address: "SMS · +44 …"
    label: str = "Telegram"   # the channel alone: the badge
    address: str = ""      # the address alone, as shown beside it
    subject: str = ""      # an email's
    original: str = ""     # an email as it came, when trimming changed it


@dataclass
class State:
    """An outbound message's delivery state, from its outbox row."""
    message_id: int
    label: str
    kind: str            # queued | sent | failed: the colour
    detail: str = ""     # the error, or when it was sent
    final: bool = True


def delivery_state(message, now=None):
    """The State of an outbound message (None for an inbound one)."""
    if message.direction != "out":
        return None
    row = message.outbox if message.outbox_id else None
    if row is None:
        return State(message.id, "not tracked", "queued", "its delivery record was removed")
    error = row.last_error or ""
    if row.provider_status in PROVIDER_STATES:
        return _provider_state(message.id, row, error, now or utcnow())
    if row.status == "sent":
        waiting = row.channel in TWILIO_CHANNELS and _watched(row, now or utcnow())
        return State(message.id, "✓ sent", "sent", f"sent {local_time(row.sent_at)}",
                     final=not waiting)
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


def _provider_state(message_id, row, error, now):
    """What Twilio last reported: queued, sent, delivered, read, or why it failed."""
    label, kind = PROVIDER_STATES[row.provider_status]
    if kind == "failed":
        return State(message_id, label, kind, error or f"Twilio reported it {row.provider_status}")
    # Delivered is the end of an SMS; a WhatsApp message may still be read.
    final = row.provider_status == "read" or (row.provider_status == "delivered"
                                              and row.channel != WHATSAPP)
    when = local_time(row.provider_status_at or row.sent_at)
    return State(message_id, label, kind, f"{row.provider_status} {when}".strip(),
                 final=final or not _watched(row, now))


def _watched(row, now):
    return row.sent_at is not None and now - row.sent_at < PROVIDER_WATCH


def _item(conversation_id, message_id, index, item):
    """One attachment as the page shows it: what it is, and a link where there is one."""
    kind = item["kind"]
    shown_item = {"kind": kind, "label": attachments.label(item), "url": None, "photo": False,
                  "size": _size(item.get("file_size")), "type": ""}
    if kind in attachments.FILE_KINDS and item.get("file_id"):
        shown_item["url"] = url_for(".file", conversation_id=conversation_id, message_id=message_id,
                                    index=index)
        shown_item["photo"] = kind == "photo"
    elif kind in attachments.FILE_KINDS:
        # Email, SMS and WhatsApp files are not kept: what it was, without a link.
        shown_item["type"] = str(item.get("mime_type") or "")[:MAX_MIME]
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


def bubble(conversation_id, message, zone, now=None):
    moment = clock.to_local(message.created_at, zone)
    items = attachments.loads(message.attachments)[:MAX_ATTACHMENTS]
    channel = message.transport if message.transport in LABELS else TELEGRAM
    subject, original = _email_parts(message) if channel == EMAIL else ("", "")
    via = LABELS[TELEGRAM] if channel == TELEGRAM else destinations.describe(channel, message.address)
    return Bubble(id=message.id, direction="out" if message.direction == "out" else "in",
                  sender=message.sender_label, text=message.text or "",
                  time=f"{moment:%H:%M}", when=f"{moment:%Y-%m-%d %H:%M} ({zone})",
                  day=f"{moment:%Y-%m-%d}",
                  items=[_item(conversation_id, message.id, n, item) for n, item in enumerate(items)],
                  state=delivery_state(message, now), channel=channel, via=via,
                  label=LABELS[channel], address=via.partition(" · ")[2], subject=subject, original=original)


def _email_parts(message):
    """(subject, the text as it came when trimming changed it) of an email: an inbound
    one's from Message.details, an outbound one's subject from its outbox headers."""
    details = _json_object(message.details)
    if message.direction == "out" and message.outbox_id and message.outbox is not None:
        details = {**_json_object(message.outbox.headers), **details}
    subject = " ".join(str(details.get("subject") or "").split())[:MAX_SUBJECT]
    original = str(details.get("original") or "").strip()
    if original == (message.text or "").strip():
        original = ""
    return subject, original


def _json_object(text):
    try:
        value = json.loads(text or "{}")
    except (ValueError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def file_name(item, message_id, index, content_type):
    name = UNSAFE_IN_NAMES.sub(" ", str(item.get("file_name") or "")).strip()[:MAX_FILE_NAME]
    if name:
        return name
    extension = mimetypes.guess_extension(content_type) or ""
    return f"{item['kind']}-{message_id}-{index}{extension}"
