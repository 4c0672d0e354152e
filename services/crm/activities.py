"""Activities (seed 003): calls, meetings, notes… logged, scheduled, completed and listed.

Adding one emits activity.created; completing one emits activity.completed (and a
done quote_sent also quote.sent) in the same transaction, for the audit log and the
follow-up rules.
"""
import datetime
from dataclasses import dataclass, field

from peewee import JOIN, Case, fn

from models import (
    ACTIVITY_TYPES,
    OUTCOMES,
    Activity,
    AuditEntry,
    Lead,
    StageChange,
    User,
    db,
    utcnow,
)
from services.core import audit, events
from services.core.clock import local_day_end, local_time
from services.core.inputs import plain_text
from services.core.policy import current as policy
from services.crm import messages
from services.crm.access import AccessDenied, require_activity, require_lead, visible_activities

LOGGABLE_TYPES = tuple(t for t in ACTIVITY_TYPES if t != "status_change")  # stage changes log themselves
MAX_SUBJECT, MAX_DESCRIPTION = 200, 4000
AGENDA_LIMIT = 30
UNOWNED_LIMIT = 10    # open leads without an owner listed on a dispatcher's agenda


class InvalidActivity(ValueError):
    pass


def clean_text(text, limit, what):
    text = plain_text(text or "").strip()
    if len(text) > limit:
        raise InvalidActivity(messages.TEXT_TOO_LONG.format(what=what, length=len(text), limit=limit))
    return text


def _check(kind, outcome):
    if kind not in LOGGABLE_TYPES:
        raise InvalidActivity(messages.UNKNOWN_ACTIVITY_TYPE.format(
            kind=kind, choices=", ".join(LOGGABLE_TYPES)))
    if outcome is not None and outcome not in OUTCOMES:
        raise InvalidActivity(messages.UNKNOWN_OUTCOME.format(outcome=outcome,
                                                              choices=", ".join(OUTCOMES)))


def log(actor, lead_id, kind, subject, description=None, due_at=None, assigned_to=None,
        done=False, outcome=None, now=None):
    """Add an activity to a lead: planned (with `due_at`) or already done."""
    now = now or utcnow()
    _check(kind, outcome)
    subject = " ".join(clean_text(subject, MAX_SUBJECT, "subject").split())
    if not subject:
        raise InvalidActivity(messages.NO_SUBJECT)
    description = clean_text(description, MAX_DESCRIPTION, "description") or None
    done = done or kind == "note"
    with db.atomic():
        lead = require_lead(actor, lead_id)
        assignee = actor.user_id if assigned_to is None else assigned_to
        if assignee != actor.user_id:
            if not actor.assigns:
                raise AccessDenied(messages.ONLY_DISPATCHERS_DELEGATE)
            if User.get_or_none(User.id == assignee, User.role.is_null(False)) is None:
                raise AccessDenied(messages.NOT_ON_TEAM)
        activity = Activity.create(
            lead=lead, type=kind, subject=subject, description=description,
            assigned_to=assignee, created_by=actor.user_id, scheduled_at=due_at or now,
            due_at=None if done else (due_at or now), created_at=now,
            completed_at=now if done else None, completed_by=actor.user_id if done else None,
            outcome=outcome if done else None)
        events.emit("activity.created", actor, "activity", activity.id, events.created(activity),
                    now=now)
        _touch(lead, now)
        if done and kind != "note":
            _emit_done(actor, activity, now)
    return activity


def complete(actor, activity_id, outcome, description=None, now=None):
    """Mark an open activity done; returns it and the follow-ups rules scheduled."""
    now = now or utcnow()
    if outcome not in OUTCOMES:
        raise InvalidActivity(messages.UNKNOWN_OUTCOME.format(outcome=outcome,
                                                              choices=", ".join(OUTCOMES)))
    description = clean_text(description, MAX_DESCRIPTION, "note") or None
    with db.atomic():
        activity = require_activity(actor, activity_id)
        if activity.completed_at is not None:
            raise InvalidActivity(messages.ALREADY_DONE.format(
                activity_id=activity.id, outcome=activity.outcome or "no outcome"))
        changes = {Activity.completed_at: now, Activity.completed_by: actor.user_id,
                   Activity.outcome: outcome}
        if description:
            changes[Activity.description] = description
        # Only the first of two presses completes it (and fires the rules).
        if not Activity.update(changes).where(Activity.id == activity.id,
                                              Activity.completed_at.is_null()).execute():
            raise InvalidActivity(messages.ALREADY_DONE_MEANWHILE.format(activity_id=activity.id))
        completion = events.changed(activity, changes)
        activity = Activity.get_by_id(activity.id)
        lead = Lead.get_by_id(activity.lead_id)
        _touch(lead, now)
        scheduled = _emit_done(actor, activity, now, completion)
    return activity, scheduled


def _emit_done(actor, activity, now, completion=None):
    """activity.completed (audited when it is the completing write, not when the
    activity was logged as done), and quote.sent for a quote."""
    fields = {"activity_type": activity.type, "outcome": activity.outcome,
              "activity_id": activity.id}
    lead = Lead.get_by_id(activity.lead_id)
    audited = ("activity", activity.id, completion) if completion is not None else ()
    scheduled = events.emit("activity.completed", actor, *audited, lead=lead, fields=fields,
                            now=now)
    if activity.type == "quote_sent":
        scheduled += events.emit("quote.sent", actor, lead=Lead.get_by_id(lead.id),
                                 fields=fields, now=now)
    return scheduled


def _touch(lead, now):
    """Activity on a lead makes it fresh again for stale detection."""
    Lead.update(last_activity_at=now).where(Lead.id == lead.id,
                                            Lead.last_activity_at < now).execute()


@dataclass
class Entry:
    at: datetime.datetime
    kind: str       # the activity type, "status_change", "edit" or "assignment"
    text: str       # plain text; the adapter escapes it
    who: str = ""


def timeline(actor, lead_id, limit=20):
    """Stage changes, activities, assignments and edits of one lead's fields, newest
    first. Edits and assignments are read from the audit log, which says who made them."""
    lead = require_lead(actor, lead_id)
    entries = []
    audited = list(audit.entries("lead", lead.id)
                   .where(AuditEntry.event.in_(("lead.updated", "lead.assigned"))).limit(limit))
    names = _owner_names(audited)
    for entry in audited:
        if entry.event == "lead.assigned":
            entries.append(Entry(entry.at, "assignment", _assignment(entry, names), entry.actor_label))
        else:
            entries.append(Entry(entry.at, "edit", audit.described(entry), entry.actor_label))
    assigned_at = {entry.at for entry in audited if entry.event == "lead.assigned"}
    for change in (StageChange.select().where(StageChange.lead == lead)
                   .order_by(StageChange.changed_at.desc()).limit(limit)):
        where = "sale" if change.pipeline == "sales" else "stage"
        entries.append(Entry(change.changed_at, "status_change",
                             f"{where}: {change.from_stage or '—'} → {change.to_stage}", change.actor))
    Assignee = User.alias()
    # Sorted by the time the entry shows, so the limit keeps the newest ones.
    shown_at = fn.COALESCE(Activity.completed_at, Activity.due_at, Activity.created_at)
    for activity in (Activity.select(Activity, Assignee).join(Assignee, JOIN.LEFT_OUTER,
                                                               on=Activity.assigned_to == Assignee.id)
                     .where(Activity.lead == lead)
                     .order_by(shown_at.desc(), Activity.id.desc()).limit(limit)):
        if _assignment_note(activity):
            if activity.created_at not in assigned_at:  # else the audit entry tells it
                entries.append(Entry(activity.created_at, "assignment", activity.subject,
                                     _noted_by(activity)))
            continue
        entries.append(Entry(activity.completed_at or activity.due_at or activity.created_at,
                             activity.type, describe(activity),
                             activity.assigned_to.display_name if activity.assigned_to_id else ""))
    entries.sort(key=lambda e: e.at, reverse=True)
    return lead, entries[:limit]


def _owner_names(audited):
    """{member id: display name} for the owners the lead.assigned entries name."""
    ids = {owner for entry in audited if entry.event == "lead.assigned"
           for owner in audit.changes_of(entry).get("owner", ()) if owner is not None}
    if not ids:
        return {}
    return {user.id: user.display_name for user in User.select().where(User.id.in_(list(ids)))}


def _assignment(entry, names):
    """What a lead.assigned audit entry did, as people read it (who did it is its actor)."""
    changes = audit.changes_of(entry)
    if "owner" not in changes:  # given again to the owner it had
        return "Assigned to its owner again"
    old, new = changes["owner"]
    after = "nobody" if new is None else names.get(new, f"member #{new}")
    before = "" if old is None else names.get(old, f"member #{old}")
    if entry.actor_kind == "member" and entry.actor_ref == str(new):
        return f"{after} took the lead" + (f" from {before}" if before else "")
    return f"Assigned to {after}" + (f" (was {before})" if before else "")


# Before issue 13 an assignment was also written as a note: "Assigned to Bob", "by
# Dana (dispatcher)", or "Taken by Bob". Such rows are shown as assignments.
def _assignment_note(activity):
    return (activity.type == "note" and activity.rule_id is None
            and activity.assigned_to_id is None and activity.completed_at == activity.created_at
            and ((activity.subject.startswith("Assigned to ")
                  and (activity.description or "").startswith("by "))
                 or (activity.subject.startswith("Taken by ") and activity.description is None)))


def _noted_by(note):
    if note.description:
        return note.description.removeprefix("by ")
    return note.created_by.display_name if note.created_by_id else ""


def describe(activity):
    text = f"{activity.subject}"
    if activity.completed_at:
        text += " — done" + (f", {activity.outcome.replace('_', ' ')}" if activity.outcome else "")
    elif activity.due_at:
        zone = policy().timezone
        text += f" — due {local_time(activity.due_at, zone)} {zone}"
    if activity.description:
        text += f"\n{activity.description}"
    return text


def open_activities():
    return Activity.select().where(Activity.completed_at.is_null())


def overdue(now=None, member_id=None):
    """Open activities past their due time, oldest first (uses the partial index)."""
    query = open_activities().where(Activity.due_at < (now or utcnow()))
    if member_id is not None:
        query = query.where(Activity.assigned_to == member_id)
    return query.order_by(Activity.due_at)


@dataclass
class Agenda:
    overdue: list = field(default_factory=list)
    today: list = field(default_factory=list)
    unassigned: list = field(default_factory=list)  # for dispatchers and admins
    unowned_leads: list = field(default_factory=list)  # open leads nobody owns, newest first
    more_unowned: int = 0                              # beyond UNOWNED_LIMIT


def agenda(actor, timezone, now=None):
    """What `actor` has to do: overdue, and due before the end of their day; for those
    who see everything (dispatchers, admins) also the activities and the open leads
    nobody has been given yet (such as leads added in the panel without an owner)."""
    now = now or utcnow()
    end = local_day_end(now, timezone)
    mine = (open_activities().where(Activity.assigned_to == actor.user_id, Activity.due_at < end)
            .order_by(Activity.due_at).limit(AGENDA_LIMIT))
    result = Agenda()
    for activity in mine.join(Lead).select(Activity, Lead):
        (result.overdue if activity.due_at < now else result.today).append(activity)
    if actor.sees_all:
        result.unassigned = list(open_activities().join(Lead).select(Activity, Lead)
                                 .where(Activity.assigned_to.is_null(), Activity.due_at < end)
                                 .order_by(Activity.due_at).limit(AGENDA_LIMIT))
        unowned = Lead.open().where(Lead.owner.is_null())
        result.unowned_leads = list(unowned.order_by(Lead.id.desc()).limit(UNOWNED_LIMIT))
        if len(result.unowned_leads) == UNOWNED_LIMIT:  # count only when there may be more
            result.more_unowned = unowned.count() - UNOWNED_LIMIT
    return result


def visible(actor):
    return visible_activities(actor)


def statistics(now=None):
    """Figures for the admin panel: activities by type and outcome, overdue per member,
    conversion by source."""
    now = now or utcnow()
    by_type = {}
    is_open = Activity.completed_at.is_null()
    for kind, outcome, still_open, count in (
            Activity.select(Activity.type, Activity.outcome, is_open, fn.COUNT(Activity.id))
            .group_by(Activity.type, Activity.outcome, is_open).tuples()):
        label = "open" if still_open else (outcome or "done")
        by_type.setdefault(kind, {})[label] = by_type.get(kind, {}).get(label, 0) + count
    overdue_rows = (Activity.select(Activity.assigned_to, fn.COUNT(Activity.id))
                    .where(Activity.completed_at.is_null(), Activity.due_at < now)
                    .group_by(Activity.assigned_to).tuples())
    names = {u.id: u.display_name for u in User.select()}
    overdue_by_member = sorted(((names.get(member, "unassigned") if member else "unassigned", count)
                                for member, count in overdue_rows), key=lambda r: -r[1])
    conversion = []
    transferred = fn.SUM(Case(None, [(Lead.stage == "transferred", 1)], 0))
    paid = fn.SUM(Case(None, [(Lead.sales_stage == "paid", 1)], 0))
    for source, total, moved, won in (Lead.select(Lead.source, fn.COUNT(Lead.id), transferred, paid)
                                      .group_by(Lead.source).order_by(Lead.source).tuples()):
        moved, won = int(moved or 0), int(won or 0)
        conversion.append((source, total, moved, won, moved / total if total else 0.0))
    return {"by_type": by_type, "overdue_by_member": overdue_by_member, "conversion": conversion}
