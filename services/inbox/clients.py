"""Clients who write in: found by their contact, or made on their first message."""
from models import Contact, Lead, db, utcnow
from services.core import events, search
from services.crm import contacts


def from_telegram(actor, user, now=None):
    """(lead, created) for a Telegram account (a models.User who is not on the team):
    the client holding its telegram contact, else a new client named as on Telegram."""
    value = str(user.telegram_id)
    lead = contacts.holder("telegram", value)
    if lead is not None:
        return lead, False
    now = now or utcnow()
    label = f"@{user.username}" if user.username else None
    with db.atomic():
        first = (user.first_name or "").strip()[:100] or user.display_name
        last = (user.last_name or "").strip()[:100]
        lead = Lead.create(first_name=first, last_name=last, source="telegram",
                           search_name=search.name_key(first, last),
                           created_at=now, last_activity_at=now)
        Contact.create(lead=lead, kind="telegram", value=value, label=label, created_at=now,
                       search_value=search.fold(value))
        changes = events.created(lead)
        changes["telegram"] = (None, label or value)
        events.emit("lead.created", actor, "lead", lead.id, changes, lead=lead, now=now)
    return lead, True


def opt_out(actor, lead, now=None):
    """The client sent /stop: nothing automated reaches them until they write again."""
    if lead.opted_out_at is not None:
        return False
    values = {"opted_out_at": now or utcnow()}
    with db.atomic():
        Lead.update(values).where(Lead.id == lead.id).execute()
        events.emit("lead.updated", actor, "lead", lead.id, events.changed(lead, values))
    return True


def opt_in(actor, lead):
    """The client wrote again after /stop."""
    if lead.opted_out_at is None:
        return False
    values = {"opted_out_at": None}
    with db.atomic():
        Lead.update(values).where(Lead.id == lead.id).execute()
        events.emit("lead.updated", actor, "lead", lead.id, events.changed(lead, values))
    lead.opted_out_at = None
    return True
