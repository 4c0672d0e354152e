"""Domain events: what happened, told to whoever subscribed.

Domain code calls `emit` inside the transaction of the change, so what the
subscribers write (the audit entry, the rule actions the automation engine
schedules, later the conversation notifier's messages) commits or rolls back
with it. Subscribers run in the order they subscribed; one that raises aborts
the change, as any other failure inside the transaction would.

A write's event says which row changed and how (`entity`, `entity_id`,
`changes` as {field: (before, after)}); the audit log records exactly those.
Events that change nothing by themselves (lead.stale, quote.sent) leave
`entity` empty.
"""
import logging
from dataclasses import dataclass, field
from typing import Any

from peewee import ForeignKeyField

from services.core.actors import Actor

log = logging.getLogger("leadgram.events")
ALL = "*"


@dataclass(frozen=True)
class Event:
    name: str                                   # "lead.created", "activity.completed"…
    actor: Actor
    entity: str = ""                            # the table written: "lead", "activity"…
    entity_id: Any = None
    changes: dict = field(default_factory=dict)  # field -> (before, after)
    data: dict = field(default_factory=dict)     # whatever else subscribers need

    @property
    def action(self):
        return self.name.rpartition(".")[2]


_subscribers = {}


def subscribe(name, handler):
    """Call `handler(event)` for every event called `name` (or every event, with ALL).
    Subscribing the same handler twice has no effect."""
    handlers = _subscribers.setdefault(name, [])
    if handler not in handlers:
        handlers.append(handler)


def unsubscribe(name, handler):
    if handler in _subscribers.get(name, []):
        _subscribers[name].remove(handler)


def emit(name, actor, entity="", entity_id=None, changes=None, **data):
    """Tell the subscribers; returns what they returned, flattened (the automation
    engine returns the rule actions it created, so the chat can say what rules did)."""
    event = Event(name, actor, entity, entity_id, dict(changes or {}), data)
    results = []
    for handler in _subscribers.get(ALL, []) + _subscribers.get(name, []):
        results.extend(handler(event) or ())
    return results


def changed(row, values):
    """{field: (before, after)} for the `values` (field name or peewee field -> new
    value) that differ from what `row` holds now; foreign keys by id, and a name that is
    no column by the row's attribute (a lead's `email` is its first email contact)."""
    found = {}
    for name, value in values.items():
        name = getattr(name, "name", name)
        field = row._meta.fields.get(name)
        before = _value(row, field) if field is not None else getattr(row, name)
        value = getattr(value, "id", value)
        if before != value:
            found[name] = (before, value)
    return found


def created(row):
    """{field: (None, value)} for every field a new row sets."""
    return {name: (None, value) for name, value in _values(row).items()}


def deleted(row):
    """{field: (value, None)} for every field a deleted row held."""
    return {name: (value, None) for name, value in _values(row).items()}


def _values(row):
    values = ((f.name, _value(row, f)) for f in row._meta.sorted_fields
              if not f.primary_key and not getattr(f, "derived", False))  # a search key
    return {name: value for name, value in values if value not in (None, "")}


def _value(row, model_field):
    if isinstance(model_field, ForeignKeyField):
        return getattr(row, model_field.object_id_name)
    return getattr(row, model_field.name)
