"""Assignments on a lead's timeline (issue 13): what happened and who did it, read from the
audit log, shown as an assignment, not a note; the notes older versions wrote for an
assignment are shown the same way, once. On every backend."""
import datetime

from models import Activity, FollowUpRule, Lead
from services.core.actors import Actor
from services.crm import activities, pipeline
from services.followups import automation

NOW = datetime.datetime(2026, 3, 2, 9, 0)
HOUR = datetime.timedelta(hours=1)
PANEL = Actor.panel("boss")


def assignments(lead_id):
    return [(e.at, e.text, e.who) for e in activities.timeline(PANEL, lead_id)[1]
            if e.kind == "assignment"]


def test_assignments_say_who_got_the_lead_from_whom_and_who_gave_it(any_db, make_lead, make_user):
    dana = make_user(role="dispatcher", first_name="Dana")
    sue, sam = make_user(first_name="Sue"), make_user(first_name="Sam")
    lead = make_lead()
    assert pipeline.take(Actor.member(sue), lead.id, now=NOW) is None
    pipeline.assign(Actor.member(dana), lead.id, sam.id, now=NOW + HOUR)
    pipeline.assign(PANEL, lead.id, sam.id, now=NOW + 2 * HOUR)
    assert assignments(lead.id) == [
        (NOW + 2 * HOUR, "Assigned to its owner again", "admin panel (boss)"),
        (NOW + HOUR, "Assigned to Sam (was Sue)", "Dana (dispatcher)"),
        (NOW, "Sue took the lead", "Sue (sales)")]
    assert not Activity.select().exists()  # nothing of it is an activity or a note


def test_a_rule_assignment_names_the_rule(any_db, make_lead, make_user):
    sue = make_user(first_name="Sue")
    lead = make_lead(source="referral")
    automation.run_rules("lead.created", lead, now=NOW)
    rule = FollowUpRule.get(FollowUpRule.name.startswith("Referral lead"))
    assert Lead.get_by_id(lead.id).owner_id == sue.id
    assert assignments(lead.id) == [(NOW, "Assigned to Sue", f"rule “{rule.name}”")]


def test_assignment_notes_written_before_are_shown_as_assignments_once(any_db, make_lead, make_user):
    dana = make_user(role="dispatcher", first_name="Dana")
    sue = make_user(first_name="Sue")
    lead = make_lead()
    # As pipeline.assign and take wrote them: with an audit entry at the same time …
    pipeline.assign(Actor.member(dana), lead.id, sue.id, now=NOW)
    Activity.create(lead=lead, type="note", subject="Assigned to Sue", description="by Dana (dispatcher)",
                    created_by=dana, completed_at=NOW, completed_by=dana, created_at=NOW)
    # … and from before the audit log, with only the note to tell.
    for at, subject, description, by in ((NOW - 2 * HOUR, "Assigned to Sue", "by admin panel (admin)", None),
                                         (NOW - HOUR, "Taken by Sue", None, sue)):
        Activity.create(lead=lead, type="note", subject=subject, description=description,
                        created_by=by, completed_at=at, completed_by=by, created_at=at)
    # A note someone wrote that merely starts the same way stays a note.
    activities.log(Actor.member(dana), lead.id, "note", "Assigned to the wrong team?", now=NOW + HOUR)
    entries = [(e.kind, e.text, e.who) for e in activities.timeline(PANEL, lead.id)[1]]
    assert entries == [
        ("note", "Assigned to the wrong team? — done", "Dana"),
        ("assignment", "Assigned to Sue", "Dana (dispatcher)"),
        ("assignment", "Taken by Sue", "Sue"),
        ("assignment", "Assigned to Sue", "admin panel (admin)")]
