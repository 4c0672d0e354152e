"""Follow-up rules as stored: adding, changing, switching on or off and deleting them.

Every write is one transaction that checks the rule as the engine will run it
(services.followups.rules.check_rule), refuses a name another rule has (DuplicateName)
and emits an event naming who did it (`actor`, services.core.actors.Actor) for the audit
log. Callers (the panel's rule editor) only turn their input into these calls and the
RuleError they raise into messages; `RuleError.field` says which part of the rule it is
about (None: the rule as a whole, e.g. NoSuchRule).

Switching a rule off and deleting it check nothing: a stored rule that no longer passes
the check (say one saved before a template was retired) can always be stopped or removed.
"""
import json

from peewee import IntegrityError

from models import FollowUpRule, db, for_change, utcnow
from services.core import events
from services.core.inputs import plain_text
from services.followups.rules import RuleError, check_rule
from services.inbox.templates import TemplateError

ENTITY = "follow_up_rule"
MAX_DESCRIPTION = 2000
FIELDS = ("name", "description", "event", "conditions", "actions", "priority", "active")


def register():
    """A message template a rule sends may not be deleted or renamed from under it."""
    events.subscribe("template.deleted", _refuse_if_a_rule_sends)
    events.subscribe("template.updated", _refuse_if_a_rule_sends)


def _refuse_if_a_rule_sends(event):
    before, after = event.changes.get("name", (None, None))
    if before is None or before == after:
        return ()
    for rule in FollowUpRule.select().order_by(FollowUpRule.id):
        if any(action.get("type") == "send_template" and action.get("template") == before
               for action in json.loads(rule.actions)):
            what = "deleted" if event.action == "deleted" else "renamed"
            raise TemplateError(f"Rule “{rule.name}” sends this template, so it cannot be "
                                f"{what}: change or delete the rule first.", "name")
    return ()


class DuplicateName(RuleError):
    """Another rule already has this name: names are unique, people tell rules apart by them."""

    def __init__(self, existing):
        super().__init__(f"Rule #{existing.id} already has this name; choose another.", "name")
        self.existing_id = existing.id


class NoSuchRule(RuleError):
    def __init__(self, rule_id):
        super().__init__(f"Rule #{rule_id} no longer exists.")
        self.rule_id = rule_id


def create_rule(actor, name, event, conditions, actions, priority=100, description="",
                active=True, now=None):
    """Add a rule (conditions and actions in stored form: lists of dicts); returns the row.
    RuleError if it cannot work, DuplicateName if the name is taken."""
    values = _checked(dict(name=name, description=description, event=event,
                           conditions=conditions, actions=actions, priority=priority,
                           active=active))
    now = now or utcnow()
    try:
        with db.atomic():
            _refuse_taken(values["name"])
            rule = FollowUpRule.create(created_at=now, updated_at=now, **_stored_form(values))
            events.emit("rule.created", actor, ENTITY, rule.id, events.created(rule), now=now)
    except IntegrityError:
        _refuse_taken(values["name"])  # the same name saved between our check and insert
        raise
    return rule


def update_rule(actor, rule_id, now=None, **changes):
    """Change some of a rule's fields (any of FIELDS); the others keep their stored
    values, and the rule as a whole is checked again. Returns the row as saved.
    NoSuchRule, RuleError or DuplicateName if it cannot be saved. Nothing changed: no write."""
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise TypeError(f"update_rule() got unknown fields: {', '.join(unknown)}")
    now = now or utcnow()
    values = None
    try:
        with db.atomic():
            row = _get(rule_id)
            values = _checked({**_readable(row, exclude=changes), **changes})
            _refuse_taken(values["name"], except_id=row.id)
            changed = _changes(row, values)
            if changed:
                FollowUpRule.update(updated_at=now, **_stored_form(values)).where(
                    FollowUpRule.id == row.id).execute()
                events.emit("rule.updated", actor, ENTITY, row.id, changed, now=now)
    except IntegrityError:
        if values is not None:
            _refuse_taken(values["name"], except_id=rule_id)
        raise
    return FollowUpRule.get_by_id(rule_id)


def set_active(actor, rule_id, active, now=None):
    """Switch a rule on (its stored form is checked again first) or off; returns the row."""
    active = bool(active)
    now = now or utcnow()
    with db.atomic():
        row = _get(rule_id)
        if row.active == active:
            return row
        if active:
            _checked(_readable(row))
        FollowUpRule.update(active=active, updated_at=now).where(FollowUpRule.id == row.id).execute()
        events.emit("rule.switched_on" if active else "rule.switched_off", actor, ENTITY, row.id,
                    {"active": (row.active, active)}, now=now)
    row.active, row.updated_at = active, now
    return row


def delete_rule(actor, rule_id):
    """Delete a rule; returns the row as it was. Its follow-ups still waiting go with it
    (rule_action cascades); activities it created stay, no longer naming it."""
    with db.atomic():
        row = _get(rule_id)
        events.emit("rule.deleted", actor, ENTITY, row.id, events.deleted(row))
        row.delete_instance(recursive=True)
    return row


# Helpers ---------------------------------------------------------------------------------

def _get(rule_id):
    row = for_change(FollowUpRule.select().where(FollowUpRule.id == rule_id)).first()
    if row is None:
        raise NoSuchRule(rule_id)
    return row


def _checked(values):
    """`values` (every field) normalised by check_rule, plus description and active."""
    for part in ("conditions", "actions"):
        if not isinstance(values[part] or [], (list, tuple)):
            raise RuleError(f"The {part} must be a list, got {type(values[part]).__name__}.", part)
    name, event, conditions, actions, priority = check_rule(
        values["name"], values["event"], list(values["conditions"] or []),
        list(values["actions"] or []), values["priority"])
    description = plain_text(str(values.get("description") or "")).strip()
    if len(description) > MAX_DESCRIPTION:
        raise RuleError(f"The description is too long (at most {MAX_DESCRIPTION:,} characters).",
                        "description")
    return {"name": name, "description": description, "event": event, "conditions": conditions,
            "actions": actions, "priority": priority, "active": bool(values.get("active", True))}


def _readable(row, exclude=()):
    """The stored rule's fields (conditions and actions as lists), but those in `exclude`."""
    values = {}
    for name in FIELDS:
        if name in exclude:
            continue
        value = getattr(row, name)
        if name in ("conditions", "actions"):
            try:
                value = json.loads(value)
            except (TypeError, ValueError):
                raise RuleError(f"Rule #{row.id}'s stored {name} cannot be read; write them again.",
                                name) from None
            if not isinstance(value, list):
                raise RuleError(f"Rule #{row.id}'s stored {name} are not a list; write them again.",
                                name)
        values[name] = value
    return values


def _stored_form(values):
    return {**values, "conditions": json.dumps(values["conditions"]),
            "actions": json.dumps(values["actions"])}


def _changes(row, values):
    """{field: (before, after)} as stored; conditions and actions compared as data, so
    the same rule written with its keys in another order is no change."""
    found = {}
    for name, value in _stored_form(values).items():
        before = getattr(row, name)
        if name in ("conditions", "actions"):
            try:
                same = json.loads(before) == values[name]
            except (TypeError, ValueError):
                same = False
        else:
            same = before == value
        if not same:
            found[name] = (before, value)
    return found


def _refuse_taken(name, except_id=None):
    query = FollowUpRule.select(FollowUpRule.id).where(FollowUpRule.name == name)
    if except_id is not None:
        query = query.where(FollowUpRule.id != except_id)
    existing = query.first()
    if existing is not None:
        raise DuplicateName(existing)
