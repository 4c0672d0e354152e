"""Clients who write in: found by their contact, or made on their first message."""
from models import Contact, Lead, db, utcnow
from services.core import events, search
from services.crm import contacts

# The lead source of a client met on each contact kind.
SOURCE = {"telegram": "telegram", "email": "other", "phone": "other", "whatsapp": "other"}


def from_telegram(actor, user, now=None):
    """(lead, created) for a Telegram account (a models.User who is not on the team):
    the client holding its telegram contact, else a new client named as on Telegram."""
    label = f"@{user.username}" if user.username else None
    first = (user.first_name or "").strip()[:100] or user.display_name
    last = (user.last_name or "").strip()[:100]
    return _found_or_made(actor, "telegram", str(user.telegram_id), first, last, label, now)


def from_address(actor, kind, value, name=None, now=None):
    """(lead, created) for a client writing from an email address or phone number (`kind`:
    "email", "phone" for SMS, "whatsapp"; `value` as contacts.normalise leaves it): the
    client holding it, else a new client named `name` (else the address)."""
    words = " ".join((name or "").split()).split(" ", 1)
    first = words[0][:100] or value[:100]
    last = words[1][:100] if len(words) > 1 else ""
    return _found_or_made(actor, kind, value, first, last, None, now)


def _found_or_made(actor, kind, value, first, last, label, now):
    lead = contacts.holder(kind, value)
    if lead is not None:
        return lead, False
    now = now or utcnow()
    with db.atomic():
        lead = Lead.create(first_name=first, last_name=last, source=SOURCE.get(kind, "other"),
                           search_name=search.name_key(first, last),
                           created_at=now, last_activity_at=now)
        Contact.create(lead=lead, kind=kind, value=value, label=label, created_at=now,
                       search_value=search.fold(value))
        changes = events.created(lead)
        changes[kind] = (None, label or value)
        events.emit("lead.created", actor, "lead", lead.id, changes, lead=lead, now=now)
    return lead, True
