"""Activities on every backend: logging and completing, the quote follow-up, the timeline,
the agenda in the team's time zone and the statistics."""
import datetime

import pytest

from models import Activity, Lead, RuleAction
from services.core.actors import Actor
from services.crm import activities, pipeline
from services.crm.access import AccessDenied
from services.crm.activities import InvalidActivity
from services.followups import automation

NOW = datetime.datetime(2026, 3, 2, 9, 0)
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def sam(make_user):
    return make_user(first_name="Sam")


@pytest.fixture
def lead(make_lead, sam):
    return make_lead(owner=sam, created_at=NOW - 24 * HOUR)


def test_a_note_is_done_at_once_and_fires_no_rules(any_db, sam, lead):
    note = activities.log(Actor.member(sam), lead.id, "note", "  Likes   the\x00 demo ",
                          description="Call after lunch", now=NOW)
    assert (note.subject, note.description, note.assigned_to_id, note.created_by_id) == \
        ("Likes the demo", "Call after lunch", sam.id, sam.id)
    assert (note.completed_at, note.completed_by_id, note.due_at) == (NOW, sam.id, None)
    assert RuleAction.select().count() == 0
    assert Lead.get_by_id(lead.id).last_activity_at == NOW


def test_a_planned_call_is_open_until_completed(any_db, sam, lead):
    actor = Actor.member(sam)
    call = activities.log(actor, lead.id, "call", "Discuss pricing", due_at=NOW + 2 * HOUR, now=NOW)
    assert (call.due_at, call.scheduled_at, call.completed_at, call.outcome) == \
        (NOW + 2 * HOUR, NOW + 2 * HOUR, None, None)
    done, scheduled = activities.complete(actor, call.id, "successful", description="They will sign",
                                          now=NOW + 3 * HOUR)
    assert (done.completed_at, done.completed_by_id, done.outcome, done.description) == \
        (NOW + 3 * HOUR, sam.id, "successful", "They will sign")
    assert scheduled == []  # no default rule follows a successful call
    assert Lead.get_by_id(lead.id).last_activity_at == NOW + 3 * HOUR
    with pytest.raises(InvalidActivity, match=rf"^Activity #{call.id} was already marked done \(successful\)\.$"):
        activities.complete(actor, call.id, "no_answer", now=NOW + 4 * HOUR)
    assert Activity.get_by_id(call.id).outcome == "successful"


@pytest.mark.parametrize("kind, subject, extra, message", [
    ("lunch", "Eat", {}, "Unknown activity type 'lunch'; one of: call, email, meeting, quote_sent, follow_up, note."),
    ("status_change", "Moved", {}, "Unknown activity type 'status_change'"),
    ("call", "Call", {"done": True, "outcome": "great"}, "Unknown outcome 'great'; one of: successful,"),
    ("call", " \x00 ", {}, "Say in a few words what it is about."),
    ("call", "x" * 201, {}, "The subject is 201 characters long; at most 200."),
    ("call", "Call", {"description": "y" * 4001}, "The description is 4001 characters long; at most 4000."),
])
def test_bad_activities_are_refused(any_db, sam, lead, kind, subject, extra, message):
    with pytest.raises(InvalidActivity) as refused:
        activities.log(Actor.member(sam), lead.id, kind, subject, now=NOW, **extra)
    assert str(refused.value).startswith(message)
    assert Activity.select().count() == 0


def test_completing_with_an_unknown_outcome_or_a_missing_activity_is_refused(any_db, sam, lead):
    call = activities.log(Actor.member(sam), lead.id, "call", "Call", now=NOW)
    with pytest.raises(InvalidActivity, match="^Unknown outcome 'meh'"):
        activities.complete(Actor.member(sam), call.id, "meh", now=NOW)
    with pytest.raises(LookupError, match="^There is no activity #999.$"):
        activities.complete(Actor.member(sam), 999, "successful", now=NOW)
    assert Activity.get_by_id(call.id).completed_at is None


def test_a_quote_schedules_a_call_two_days_later(any_db, sam, lead):
    quote = activities.log(Actor.member(sam), lead.id, "quote_sent", "Quote #7 sent", done=True,
                           outcome="successful", now=NOW)
    [pending] = RuleAction.select().where(RuleAction.event == "quote.sent")
    assert (pending.status, pending.due_at) == ("pending", NOW + 48 * HOUR)
    assert automation.run_due(NOW + 47 * HOUR)["done"] == 0
    assert automation.run_due(NOW + 48 * HOUR)["done"] == 1
    follow_up = Activity.get(Activity.subject == "Follow up on quote")
    assert (follow_up.lead_id, follow_up.assigned_to_id, follow_up.type, follow_up.due_at) == \
        (lead.id, sam.id, "call", NOW + 48 * HOUR)
    assert quote.id != follow_up.id


def test_a_planned_quote_counts_as_sent_when_it_is_marked_done(any_db, sam, lead):
    actor = Actor.member(sam)
    planned = activities.log(actor, lead.id, "quote_sent", "Send the quote", due_at=NOW, now=NOW)
    assert not RuleAction.select().where(RuleAction.event == "quote.sent").exists()
    _, scheduled = activities.complete(actor, planned.id, "successful", now=NOW + HOUR)
    assert [(row.event, row.due_at) for row in scheduled] == [("quote.sent", NOW + 49 * HOUR)]


def test_the_quote_follow_up_cancels_itself_after_a_call(any_db, sam, lead):
    actor = Actor.member(sam)
    activities.log(actor, lead.id, "quote_sent", "Quote #7 sent", done=True, now=NOW)
    activities.log(actor, lead.id, "call", "They rang about the quote", done=True, outcome="successful",
                   now=NOW + 5 * HOUR)
    assert automation.run_due(NOW + 48 * HOUR) == {"done": 0, "cancelled": 1, "failed": 0}
    assert not Activity.select().where(Activity.subject == "Follow up on quote").exists()


def test_the_timeline_lists_stage_changes_and_activities_newest_first(any_db, sam, lead, make_user):
    actor = Actor.member(sam)
    call = activities.log(actor, lead.id, "call", "First call", due_at=NOW, now=NOW - 2 * HOUR)
    activities.complete(actor, call.id, "no_answer", now=NOW + HOUR)
    pipeline.change_stage(actor, lead.id, "contacted", now=NOW + 2 * HOUR)
    activities.log(actor, lead.id, "note", "Wants a demo", description="Tuesday suits", now=NOW + 3 * HOUR)
    activities.log(actor, lead.id, "meeting", "Demo", due_at=NOW + 24 * HOUR, now=NOW + 3 * HOUR)
    shown, entries = activities.timeline(actor, lead.id)
    assert shown.id == lead.id
    assert [(e.at, e.kind, e.text, e.who) for e in entries] == [
        (NOW + 24 * HOUR, "meeting", "Demo — due 2026-03-03 09:00 UTC", "Sam"),
        (NOW + 3 * HOUR, "note", "Wants a demo — done\nTuesday suits", "Sam"),
        (NOW + 2 * HOUR, "status_change", "stage: new → contacted", "Sam (sales)"),
        (NOW + HOUR, "call", "First call — done, no answer", "Sam")]
    assert len(activities.timeline(actor, lead.id, limit=2)[1]) == 2
    with pytest.raises(AccessDenied):
        activities.timeline(Actor.member(make_user()), lead.id)


AUCKLAND = "Pacific/Auckland"  # UTC+13 in January


def test_local_day_end_is_the_next_local_midnight_in_utc():
    # 23:30 on 15 January in Auckland is 10:30 UTC; its midnight is 11:00 UTC.
    assert activities.local_day_end(datetime.datetime(2026, 1, 15, 10, 30), AUCKLAND) == \
        datetime.datetime(2026, 1, 15, 11, 0)
    assert activities.local_day_end(datetime.datetime(2026, 1, 15, 11, 0), AUCKLAND) == \
        datetime.datetime(2026, 1, 16, 11, 0)
    # Daylight saving ends on 5 April 2026: that day's midnight is an hour later in UTC.
    assert activities.local_day_end(datetime.datetime(2026, 4, 5, 0, 30), AUCKLAND) == \
        datetime.datetime(2026, 4, 5, 12, 0)
    assert activities.local_day_end(datetime.datetime(2026, 3, 2, 9, 0), "UTC") == datetime.datetime(2026, 3, 3)


def test_the_agenda_splits_overdue_and_today_by_the_local_day(any_db, sam, lead, make_user):
    dispatcher, sue = make_user(role="dispatcher"), make_user()
    as_dispatcher = Actor.member(dispatcher)
    before_midnight = datetime.datetime(2026, 1, 15, 10, 30)  # 23:30 local

    def plan(subject, due, who=sam.id, done=False):
        by = as_dispatcher if who else Actor.panel()  # assigned_to=None means "the actor"
        return activities.log(by, lead.id, "call", subject, due_at=due, assigned_to=who,
                              done=done, now=due - 48 * HOUR)

    plan("Late", datetime.datetime(2026, 1, 15, 9, 0))
    plan("Tonight", datetime.datetime(2026, 1, 15, 10, 45))
    plan("Tomorrow morning", datetime.datetime(2026, 1, 15, 11, 15))  # same UTC date, next local day
    plan("Done already", datetime.datetime(2026, 1, 15, 9, 30), done=True)
    plan("Sue's", datetime.datetime(2026, 1, 15, 9, 0), who=sue.id)
    plan("Nobody's", datetime.datetime(2026, 1, 15, 10, 0), who=None)

    mine = activities.agenda(Actor.member(sam), AUCKLAND, now=before_midnight)
    assert [a.subject for a in mine.overdue] == ["Late"]
    assert [a.subject for a in mine.today] == ["Tonight"]
    assert mine.unassigned == []

    after_midnight = datetime.datetime(2026, 1, 15, 11, 5)  # 00:05 local, 16 January
    mine = activities.agenda(Actor.member(sam), AUCKLAND, now=after_midnight)
    assert [a.subject for a in mine.overdue] == ["Late", "Tonight"]
    assert [a.subject for a in mine.today] == ["Tomorrow morning"]
    assert mine.today[0].lead.id == lead.id

    theirs = activities.agenda(as_dispatcher, AUCKLAND, now=after_midnight)
    assert (theirs.overdue, theirs.today) == ([], [])
    assert [a.subject for a in theirs.unassigned] == ["Nobody's"]


def test_overdue_lists_open_activities_past_due_oldest_first(any_db, sam, lead, make_user):
    sue = make_user()
    for subject, due, who, done in (("b", NOW - HOUR, sam, False), ("a", NOW - 2 * HOUR, sue, False),
                                    ("done", NOW - 3 * HOUR, sam, True), ("future", NOW + HOUR, sam, False),
                                    ("exactly now", NOW, sam, False)):
        Activity.create(lead=lead, type="call", subject=subject, assigned_to=who, due_at=due,
                        completed_at=NOW - 4 * HOUR if done else None, created_at=NOW - 24 * HOUR)
    assert [a.subject for a in activities.overdue(NOW)] == ["a", "b"]
    assert [a.subject for a in activities.overdue(NOW, sam.id)] == ["b"]


def test_statistics(any_db, make_lead, make_user):
    sam, sue = make_user(first_name="Sam"), make_user(first_name="Sue")
    website = [make_lead(source="website", stage="transferred", sales_stage="new"),
               make_lead(source="website", stage="transferred", sales_stage="paid"),
               make_lead(source="website")]
    make_lead(source="referral", stage="lost")
    lead = website[0]
    for kind, outcome, who, due, done in (
            ("call", "successful", sam, NOW - HOUR, True), ("call", "successful", sue, NOW - HOUR, True),
            ("call", "no_answer", sam, NOW - HOUR, True),
            ("call", None, sam, NOW - HOUR, False), ("call", None, sam, NOW - 2 * HOUR, False),
            ("call", None, sue, NOW + HOUR, False),
            ("email", None, None, NOW - HOUR, False),
            ("note", None, sam, None, True)):
        Activity.create(lead=lead, type=kind, subject=kind, assigned_to=who, due_at=due, outcome=outcome,
                        completed_at=NOW - HOUR if done else None, created_at=NOW - 24 * HOUR)
    figures = activities.statistics(NOW)
    assert figures["by_type"] == {"call": {"successful": 2, "no_answer": 1, "open": 3},
                                  "email": {"open": 1}, "note": {"done": 1}}
    assert figures["overdue_by_member"] == [("Sam", 2), ("unassigned", 1)]
    assert figures["conversion"] == [("referral", 1, 0, 0, 0.0), ("website", 3, 2, 1, 2 / 3)]
