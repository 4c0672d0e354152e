"""Email in: a mail taken from the mailbox (services/delivery/mailbox.py) is parsed into a
JSON-able dict and stored as an InboundEvent (services/inbox/inbound.py); `handle` then puts
it in the client's conversation.

The conversation is found by the mail's In-Reply-To/References (a reply to what we sent),
else by the sender's email contact, else the sender becomes a new client. Mail we sent
ourselves and automatic replies (out-of-office, bounces) are dropped; a mail with the
subject "unsubscribe" (our List-Unsubscribe mailto) opts the sender out of email.
"""
import email
import email.policy
import email.utils
import logging
import re

from services.core import policy
from services.core.actors import Actor
from services.crm import contacts
from services.delivery.channels import EMAIL
from services.inbox import clients, consent, conversations, email_text, inbound

log = logging.getLogger("leadgram.email")
SOURCE = EMAIL
MAX_TEXT = 100_000  # characters kept of a mail's text: a conversation, not an archive
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
AUTOMATIC_PRECEDENCE = {"bulk", "auto_reply", "junk", "list"}


def parse(raw):
    """The parts of a raw mail (bytes) the conversation uses, as a JSON-able dict. Never
    raises: a broken header or body gives an empty field."""
    message = email.message_from_bytes(bytes(raw or b""), policy=email.policy.default)
    from_name, from_address = email.utils.parseaddr(_header(message, "From"))
    body, html_part = _body(message)
    original = body if body.strip() or not html_part else email_text.html_to_text(html_part)
    original = original.replace("\r\n", "\n").strip()[:MAX_TEXT]
    return {
        "message_id": _first_id(_header(message, "Message-ID")),
        "in_reply_to": _first_id(_header(message, "In-Reply-To")),
        "references": _MESSAGE_ID.findall(_header(message, "References")),
        "from_address": from_address.strip().lower(),
        "from_name": " ".join(from_name.split()),
        "to": [address.lower() for _, address in _addresses(message, "To") if address],
        "subject": " ".join(_header(message, "Subject").split()),
        "date": _date(_header(message, "Date")),
        "auto_submitted": _header(message, "Auto-Submitted").strip().lower(),
        "precedence": _header(message, "Precedence").strip().lower(),
        "content_type": _safe(message.get_content_type, "text/plain"),
        "text": email_text.trim(original),
        "original": original,
        "attachments": _attachments(message),
    }


def _safe(call, default):
    try:
        return call()
    except Exception:  # noqa: BLE001 - the email package raises many kinds on broken mail
        return default


def _header(message, name):
    """The header as text, "" when missing or unreadable; lone surrogates (undecodable
    bytes) become U+FFFD so the result stores as JSON."""
    def read():
        value = message.get(name)
        return "" if value is None else str(value)
    return _printable(_safe(read, ""))


def _printable(text):
    return text.encode("utf-8", "replace").decode("utf-8")


def _addresses(message, name):
    return _safe(lambda: email.utils.getaddresses([_header(message, name)]), [])


def _first_id(value):
    found = _MESSAGE_ID.search(value)
    return found.group() if found else (value.strip()[:250] or None)


def _date(value):
    try:
        return email.utils.parsedate_to_datetime(value).isoformat()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _body_parts(message):
    """The mail's text/plain and text/html body parts (None when it has none)."""
    return (_safe(lambda: message.get_body(("plain",)), None),
            _safe(lambda: message.get_body(("html",)), None))


def _body(message):
    """(plain text, HTML) of the mail's body."""
    return tuple("" if part is None else _content(part) for part in _body_parts(message))


def _content(part):
    def decoded():
        data = part.get_payload(decode=True) or b""
        try:
            return data.decode(part.get_content_charset() or "utf-8", "replace")
        except LookupError:  # a charset Python does not know: most such mail is UTF-8 or ASCII
            return data.decode("utf-8", "replace")
    text = _safe(part.get_content, None)
    if not isinstance(text, str):
        text = _safe(decoded, "")
    return _printable(text)


def _attachments(message):
    """Name, type and size of each attached file (the files themselves are not kept)."""
    found = []
    bodies = {id(part) for part in _body_parts(message) if part is not None}

    def visit(part):
        content_type = _safe(part.get_content_type, "application/octet-stream")
        if content_type == "message/rfc822" or not _safe(part.is_multipart, False):
            if id(part) not in bodies and _is_file(part, content_type):
                found.append(_attachment(part, content_type))
            return
        for child in _safe(part.iter_parts, []):
            visit(child)

    visit(message)
    return found


def _is_file(part, content_type):
    disposition = _safe(part.get_content_disposition, None)
    return (disposition == "attachment" or bool(_safe(part.get_filename, None))
            or not content_type.startswith("text/"))


def _attachment(part, content_type):
    maintype = content_type.split("/")[0]
    kind = {"image": "photo", "audio": "audio", "video": "video"}.get(maintype, "document")
    if content_type == "message/rfc822":
        size = len(_safe(lambda: part.as_bytes(), b"") or b"")
        default_name = "forwarded.eml"
    else:
        payload = _safe(lambda: part.get_payload(decode=True), b"")
        size = len(payload) if isinstance(payload, bytes) else 0
        default_name = None
    name = _printable(_safe(part.get_filename, None) or default_name or "")
    item = {"kind": kind, "mime_type": content_type, "file_size": size}
    if name:
        item["file_name"] = name[:200]
    return item


# The handler -------------------------------------------------------------------------------------


def storer(raw, fallback_ref, now=None):
    """What the mailbox poll calls with each mail (raw bytes, its "uid:<validity>:<uid>"): the
    parsed mail stored as an InboundEvent once, by its Message-ID (else that UID); False
    when it was stored before. Mail from our own address (EMAIL_FROM) is marked so the
    handler drops it."""
    payload = parse(raw)
    payload["from_us"] = _from_us(payload)
    return inbound.store(SOURCE, payload["message_id"] or fallback_ref, payload, now=now)


def is_automatic(payload):
    """An out-of-office, a bounce or a mailing (RFC 3834's Auto-Submitted, Precedence)."""
    return (payload.get("auto_submitted") not in (None, "", "no")
            or payload.get("precedence") in AUTOMATIC_PRECEDENCE
            or payload.get("content_type") == "multipart/report")


def _from_us(payload):
    ours = email.utils.parseaddr(policy.current().email_from)[1].lower()
    return bool(payload.get("from_us")) or bool(ours and payload.get("from_address") == ours)


def handle(payload, now):
    """Put a stored mail (parse()'s dict) in its client's conversation."""
    if _from_us(payload) or is_automatic(payload):
        return
    actor = Actor.system("email")
    name = payload.get("from_name") or None
    try:
        address = contacts.normalise("email", payload.get("from_address") or "")
    except contacts.InvalidContact:
        address = None
    if (payload.get("subject") or "").strip().lower() == "unsubscribe":
        lead = address and contacts.holder("email", address)
        if lead:
            consent.opt_out(actor, lead, EMAIL, address, now=now)
        log.info("unsubscribe mail from %s: %s", payload.get("from_address"),
                 "opted out" if lead else "no such client")
        return
    refs = [ref for ref in [payload.get("in_reply_to"), *(payload.get("references") or [])] if ref]
    conversation = conversations.find_by_external_ref(EMAIL, refs) if refs else None
    if conversation is not None:
        lead = conversation.lead
    elif address is not None:
        lead, _ = clients.from_address(actor, "email", address, name, now=now)
    else:
        log.warning("mail %s dropped: its sender %r is not an email address we can answer",
                    payload.get("message_id"), payload.get("from_address"))
        return
    # The thread's ids as our answer's References continue them (services/inbox/email_threads.py).
    thread = payload.get("references") or ([payload["in_reply_to"]] if payload.get("in_reply_to") else [])
    details = {"subject": payload.get("subject") or "", "references": thread,
               "original": payload.get("original") or ""}
    conversations.record_inbound(
        actor, lead, payload.get("text") or "", payload.get("attachments") or (), transport=EMAIL,
        address=address or payload.get("from_address"), external_ref=payload.get("message_id"),
        details=details, now=now)


def register():
    inbound.register(SOURCE, handle)
