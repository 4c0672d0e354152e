"""What users send the emulator besides text: the media objects of user_sends_media (with their
files, whose bytes getFile and the download route serve), and how a message reads in a transcript."""
from __future__ import annotations

import functools
import mimetypes
import struct
import zlib
from typing import Callable

# What user_sends_media can send: kind -> the spec type of the Message field of that name.
MEDIA_KINDS = {"photo": "PhotoSize", "document": "Document", "voice": "Voice", "video": "Video",
               "sticker": "Sticker", "location": "Location", "contact": "Contact"}
# The kinds that are files: kind -> (file_path folder, default file name, MIME type of the stored bytes).
FILE_KINDS = {"photo": ("photos", "photo.png", "image/png"), "document": ("documents", "document.pdf", None),
               "voice": ("voice", "voice.oga", "audio/ogg"), "video": ("videos", "video.mp4", "video/mp4"),
               "sticker": ("stickers", "sticker.webp", "image/webp")}
# Fields a user's media gets unless the test gives them (a photo's width/height are its largest size's).
_MEDIA_DEFAULTS: dict[str, dict] = {
    "photo": {"width": 800, "height": 600}, "document": {}, "voice": {"duration": 3, "mime_type": "audio/ogg"},
    "video": {"width": 640, "height": 360, "duration": 5, "mime_type": "video/mp4"},
    "sticker": {"type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False,
                "emoji": "👍"},
    "location": {}, "contact": {},
}
_PHOTO_SIDES = (90, 320)  # the longer side of the smaller sizes Telegram makes of a photo ("s", "m")


StoreFile = Callable[[str, str, bytes, "str | None"], dict]


def media_object(kind: str, fields: dict, user: dict, store_file: StoreFile) -> dict | list[dict]:
    """The Message field for a user's media of `kind` (a list of PhotoSize for a photo): the defaults, a
    contact card of `user`, then the test's `fields`; its files stored with `store_file(folder, extension,
    content, mime type)`, which returns their file_id, file_unique_id and file_size."""
    media = dict(_MEDIA_DEFAULTS[kind])
    if kind == "contact":
        # +999 is no country's calling code: the number can't be anybody's.
        media.update(phone_number=f"+999{user['id']}", first_name=user["first_name"],
                     last_name=user.get("last_name"), user_id=user["id"])
    media.update(fields)
    media = {name: value for name, value in media.items() if value is not None}
    if kind not in FILE_KINDS:
        return media
    folder, default_name, mime_type = FILE_KINDS[kind]
    content = media.pop("content", None)
    if isinstance(content, str):
        content = content.encode("utf-8")
    if kind == "photo":
        width, height = media["width"], media["height"]
        if not all(isinstance(side, int) and side > 0 for side in (width, height)):
            raise ValueError(f"a photo's width and height must be positive integers, not {width!r}, {height!r}")
        longer = max(width, height)
        sizes = [(max(1, round(width * side / longer)), max(1, round(height * side / longer)))
                 for side in _PHOTO_SIDES if side < longer] + [(width, height)]
        photo = []
        for index, (w, h) in enumerate(sizes):
            # The test's content, if any, is the photo itself: its largest size, the one bots download.
            data = content if content is not None and index == len(sizes) - 1 else png(w, h)
            photo.append(dict(store_file(folder, "png", data, mime_type), width=w, height=h))
        return photo
    name = media.get("file_name") or default_name
    if kind == "document":
        media.setdefault("file_name", name)
        media.setdefault("mime_type", mimetypes.guess_type(name)[0] or "application/octet-stream")
    if content is None:
        content = f"emulated {kind}: {name}\n".encode("utf-8")
    extension = name.rsplit(".", 1)[1] if "." in name else default_name.rsplit(".", 1)[1]
    return {**store_file(folder, extension, content, media.get("mime_type") or mime_type), **media}


def shown(message: dict) -> str:
    """A message as a transcript line: its text, or its media in brackets followed by the caption."""
    if "text" in message:
        return message["text"]
    kind = next((key for key in (*MEDIA_KINDS, "audio", "animation", "video_note", "venue", "dice", "poll")
                 if key in message), None)
    if kind is None:  # a content-less message of a send* method the emulator does not model
        return message.get("caption", f"<{message.get('sent_with')}>")
    media, detail = message[kind], None
    if kind == "document":
        detail = media.get("file_name")
    elif kind == "sticker":
        detail = media.get("emoji")
    elif kind == "location":
        detail = f"{media['latitude']}, {media['longitude']}"
    elif kind == "contact":
        detail = " ".join(media[key] for key in ("first_name", "last_name", "phone_number") if key in media)
    label = f"[{kind} {detail}]" if detail else f"[{kind}]"
    return f"{label} {message['caption']}" if message.get("caption") else label


@functools.lru_cache(maxsize=64)
def png(width: int, height: int) -> bytes:
    """A valid grey PNG of this size, the stand-in for a photo; its uniform rows compress to a few hundred
    bytes even for large sizes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale, no interlace
    rows = (b"\x00" + b"\x80" * width) * height  # each row: filter type 0, then its pixels
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows, 9))
            + chunk(b"IEND", b""))
