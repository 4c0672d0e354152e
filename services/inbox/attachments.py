"""What a message carries besides text: Telegram's file ids, names and sizes, a location
or a shared contact, stored as JSON on the message. Files stay on Telegram's servers and
are fetched on demand (the panel's file route), never stored by default."""
import json

# kind -> how a preview names it
LABELS = {
    "photo": "📎 photo", "document": "📎 document", "voice": "🎤 voice message",
    "video": "📎 video", "video_note": "📎 video message", "audio": "📎 audio",
    "animation": "📎 GIF", "sticker": "sticker", "location": "📍 location",
    "contact": "👤 contact",
}
KINDS = tuple(LABELS)
# The fields kept of each attachment; anything else Telegram sends is dropped.
FIELDS = ("kind", "file_id", "file_unique_id", "file_name", "mime_type", "file_size",
          "width", "height", "duration", "emoji", "latitude", "longitude", "phone_number",
          "first_name", "last_name", "url")
FILE_KINDS = frozenset(KINDS) - {"location", "contact"}


def clean(attachments):
    """Only known kinds and fields, so what is stored is what we mean to keep."""
    kept = []
    for item in attachments or ():
        if isinstance(item, dict) and item.get("kind") in LABELS:
            kept.append({key: item[key] for key in FIELDS if item.get(key) not in (None, "")})
    return kept


def dumps(attachments):
    return json.dumps(clean(attachments), ensure_ascii=False)


def loads(text):
    try:
        return clean(json.loads(text or "[]"))
    except (ValueError, TypeError):
        return []


def label(item):
    """'📎 photo', '🎤 voice message', '📎 document report.pdf', 'sticker 😀'…"""
    words = LABELS[item["kind"]]
    if item["kind"] == "sticker":
        return f"{words} {item.get('emoji', '')}".strip()
    if item.get("file_name"):
        return f"{words} {item['file_name']}"
    return words


def preview(text, attachments, limit=200):
    """One line for lists and notifications: the text, else what is attached."""
    labels = [label(item) for item in clean(attachments)]
    line = " ".join((text or "").split())
    if labels:
        line = f"{', '.join(labels)} {line}".strip()
    return line if len(line) <= limit else line[:limit - 1] + "…"
