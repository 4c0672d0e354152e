"""Working on what Twilio's webhooks stored (panel/twilio_hooks.py): incoming SMS and
WhatsApp messages, and the delivery statuses of ours.

An incoming message joins its sender's one conversation (a new client on a first
message), unless it is one of Twilio's opt-out or opt-in keywords, which change the
client's consent on that channel instead. Each handler may see the same event again (a
retry after a failure): a message already stored, or a status already reached, is left.
"""
import logging

from services.core.actors import Actor
from services.crm import contacts
from services.crm.contacts import DuplicateContact, InvalidContact
from services.delivery import outbox
from services.delivery.channels import CONTACT_KIND, SMS, WHATSAPP
from services.inbox import clients, consent, conversations, inbound

log = logging.getLogger("leadgram.twilio")

# Twilio's default keywords, matched as Twilio does: the whole message, trimmed, any case.
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
MAX_MEDIA = 10   # Twilio sends at most 10 media items with one message
# Status callbacks carry ErrorCode only; what the common ones mean, for the team.
ERRORS = {
    "30001": "queue overflow", "30002": "account suspended",
    "30003": "unreachable destination handset", "30004": "message blocked",
    "30005": "unknown destination handset", "30006": "landline or unreachable carrier",
    "30007": "message filtered by the carrier", "30008": "unknown error",
    "21610": "the recipient has unsubscribed (replied STOP)",
    "63016": "outside WhatsApp's 24-hour window: only an approved template can be sent",
}


def register():
    inbound.register(SMS, lambda payload, now: receive(SMS, payload, now))
    inbound.register(WHATSAPP, lambda payload, now: receive(WHATSAPP, payload, now))
    inbound.register("status", status)


def receive(channel, payload, now=None):
    """An incoming message on `channel` (Twilio's webhook parameters). Returns the stored
    Message, or None (a keyword, a retry, a sender we cannot answer)."""
    sid = _text(payload, "MessageSid")
    if sid and conversations.has_message(channel, sid):
        return None
    kind = CONTACT_KIND[channel]
    raw = _text(payload, "From").removeprefix("whatsapp:")
    try:
        number = contacts.normalise(kind, raw)
    except InvalidContact:
        # A short code or an alphanumeric sender: no number to answer or consent to record.
        log.warning("%s %s from %r: not a phone number, ignored", channel, sid, raw)
        return None
    actor = Actor.system(channel)
    body = payload.get("Body") or ""
    keyword = body.strip().upper()
    if keyword in OPT_OUT or keyword in OPT_IN:
        _consent(actor, channel, kind, number, keyword in OPT_OUT, now)
        return None
    name = _text(payload, "ProfileName") if channel == WHATSAPP else None
    lead = _client(actor, channel, kind, number, name, now)
    return conversations.record_inbound(
        actor, lead, body, attachments=media(payload), transport=channel, now=now,
        address=number, external_ref=sid or None)


def status(payload, now=None):
    """A delivery status of a message we sent; True when it moved the row on."""
    sid, reached = _text(payload, "MessageSid"), _text(payload, "MessageStatus").lower()
    code = _text(payload, "ErrorCode")
    error = None
    if code:
        meaning = _text(payload, "ErrorMessage") or ERRORS.get(code, "see twilio.com/docs/errors")
        error = f"Twilio {code}: {meaning}"
    return outbox.record_provider_status(sid, reached, error=error, now=now)


def media(payload):
    """The attachments of an incoming message: NumMedia items of MediaUrlN and
    MediaContentTypeN."""
    try:
        count = min(int(_text(payload, "NumMedia") or 0), MAX_MEDIA)
    except ValueError:
        return []
    found = []
    for index in range(max(count, 0)):
        url = _text(payload, f"MediaUrl{index}")
        if not url:
            continue
        mime = _text(payload, f"MediaContentType{index}").lower()
        found.append({"kind": _kind(mime), "mime_type": mime or None, "url": url})
    return found


def _kind(mime):
    family = mime.split("/", 1)[0]
    return {"image": "photo", "audio": "audio", "video": "video"}.get(family, "document")


def _consent(actor, channel, kind, number, out, now):
    lead = contacts.holder(kind, number)
    if lead is None:  # nobody to record it for: we never wrote to this number
        log.info("%s %s from %s, who is not a client: nothing to record", channel,
                 "opt-out" if out else "opt-in", number)
        return
    if out:
        consent.opt_out(actor, lead, channel, number, now=now)
    else:
        consent.opt_in(actor, lead, channel, number)


def _client(actor, channel, kind, number, name, now):
    """The client writing from `number`: who holds it on this channel, else who holds it
    as their other phone contact (SMS and WhatsApp share numbers: one client, one
    conversation), else a new client."""
    lead = contacts.holder(kind, number)
    if lead is not None:
        return lead
    other = "whatsapp" if kind == "phone" else "phone"
    lead = contacts.holder(other, number)
    if lead is not None:
        try:
            contacts.add(actor, lead.id, kind, number)
            return lead
        except DuplicateContact:  # someone else took it meanwhile: theirs, then
            pass
    return clients.from_address(actor, kind, number, name=name, now=now)[0]


def _text(payload, name):
    value = payload.get(name)
    return value.strip() if isinstance(value, str) else ""
