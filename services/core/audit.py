"""The audit log: every write by the bot, the panel, rules and scheduled jobs, who
made it, and the changed fields before -> after.

It subscribes to every event; an event that names the row it wrote (`entity`)
becomes one `audit_log` row, inserted in the transaction of the change, so a
rolled-back change leaves no entry. Values of secret fields are masked.

Not audited: the machinery that keeps its own status and times and runs per
message (outbox delivery states, send pacing, heartbeats, job runs, processed
update ids, unfinished dialogues, panel session refreshes) and the rule-action
log, which is the automation engine's own record of what it did; the writes
those rules make are audited, with the rule as the actor.
"""
import datetime
import decimal
import json

from models import AuditEntry, utcnow
from services.core import events

SECRET_FIELDS = frozenset({"password", "password_hash", "token", "passport_number", "tax_pin"})
MASK = "•••"
PAGE_SIZE = 50


def record(event):
    """The subscriber: one audit row for an event that wrote a row."""
    if not event.entity:
        return None
    AuditEntry.insert(
        at=event.data.get("now") or utcnow(), actor_kind=event.actor.kind,
        actor_ref=event.actor.ref or None, actor_label=event.actor.label or event.actor.kind,
        event=event.name, entity=event.entity, entity_id=event.entity_id,
        changes=json.dumps({name: [_shown(name, before), _shown(name, after)]
                            for name, (before, after) in event.changes.items()},
                           ensure_ascii=False)).execute()
    return None


def register():
    events.subscribe(events.ALL, record)


def _shown(name, value):
    if name in SECRET_FIELDS and value not in (None, ""):
        return MASK
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat(sep=" ") if isinstance(value, datetime.datetime) else value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def changes_of(entry):
    """{field: (before, after)} of an AuditEntry."""
    return {name: tuple(pair) for name, pair in json.loads(entry.changes).items()}


def described(entry):
    """An entry's changes as plain text: "email: a@x.org → b@x.org; owner: — → 3"."""
    return "; ".join(f"{name}: {shown_value(before)} → {shown_value(after)}"
                     for name, (before, after) in changes_of(entry).items())


def shown_value(value):
    """A before or after value as people read it: "—" for none."""
    return "—" if value is None or value == "" else str(value)


def entries(entity=None, entity_id=None, actor_kind=None, since=None):
    """Audit rows matching every filter given, newest first (the panel's page filters
    with Flask-Admin; the lead timeline and the tests read through here)."""
    query = AuditEntry.select()
    if entity:
        query = query.where(AuditEntry.entity == entity)
    if entity_id is not None:
        query = query.where(AuditEntry.entity_id == entity_id)
    if actor_kind:
        query = query.where(AuditEntry.actor_kind == actor_kind)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    return query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
