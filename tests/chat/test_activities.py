"""Activities in chat (services.chat): /today with Done and the outcome, and the /log
dialogue. The clock is fixed."""
import datetime
import json

import pytest

from models import Activity, DialogueState, FollowUpRule, RuleAction
from services.chat import router as chat
from services.core import policy
from services.core.actors import Actor
from services.crm import pipeline
from tests.chat.helpers import (
    HOUR,
    NOW,
    TRICKY,
    data_of,
    labels,
    make_lead,
    plan,
    press,
    reply,
    say,
)


def test_today_lists_overdue_and_due_today_with_done_buttons(any_db, admin, make_user):
    member, other = make_user(first_name="Max"), make_user(first_name="Eve")
    lead = make_lead(member)
    late = plan(member, lead, "Late call", NOW - 2 * HOUR)
    soon = plan(member, lead, "Afternoon call", NOW + 5 * HOUR)
    plan(member, lead, "Tomorrow's call", NOW + 24 * HOUR)
    plan(other, make_lead(other, 2), "Eve's call", NOW)
    unassigned = Activity.create(lead=lead, type="email", subject="Nobody's email",
                                 due_at=NOW, scheduled_at=NOW, created_at=NOW)
    agenda = reply(member, "/today")
    overdue, today = agenda.text.split("<b>Overdue</b>")[1].split("<b>Due today</b>")
    assert f"#{late.id} 2026-12-01 07:00 call: Late call · /lead_{lead.id} Ann Smith" in overdue
    assert f"#{soon.id} 2026-12-01 14:00 call: Afternoon call" in today
    assert "Tomorrow" not in agenda.text and "Eve's" not in agenda.text
    assert "Nobody's" not in agenda.text and "Unassigned" not in agenda.text
    assert [data for row in agenda.buttons for _, data in row] == [f"done:{late.id}", f"done:{soon.id}"]
    assert labels(agenda)[0] == f"✅ Done #{late.id}: Late call"
    assert f"✅ Done #{unassigned.id}: Nobody's email" in labels(reply(admin, "/today"))
    assert "Nothing is overdue or due today" in say(make_user(), "/today")


def test_done_asks_the_outcome_and_reports_the_follow_up_the_rules_scheduled(any_db, make_user):
    member = make_user()
    lead = make_lead(member)
    call = plan(member, lead, "First call", NOW - HOUR)
    question = press(member, f"done:{call.id}")
    assert "How did it go?" in question.text and "First call" in question.text and question.replace
    assert labels(question) == ["Successful", "No answer", "Voicemail", "Callback requested",
                                "Not interested", "Converted", "◀ Today"]
    answer = press(member, data_of(question, "Callback requested"))
    assert "✅ Done: Call “First call” on lead" in answer.text and "callback requested" in answer.text
    assert "Follow-up scheduled: Return customer callback, 2026-12-02 09:00 UTC" in answer.text
    call = Activity.get_by_id(call.id)
    assert (call.outcome, call.completed_at, call.completed_by_id) == ("callback_requested", NOW, member.id)
    pending = RuleAction.get(RuleAction.status == "pending", RuleAction.lead == lead.id,
                             RuleAction.event == "activity.completed")
    assert pending.rule.name == "Callback requested: call back next day"
    assert "already done (callback requested)" in press(member, f"done:{call.id}:successful").text
    assert "Nothing is overdue" in press(member, "today:").text
    for data in (f"done:{call.id}:won", "done:x", "done:"):
        assert press(member, data).text == "That button is no longer valid."
    assert "There is no activity #999" in press(member, "done:999").text


def test_a_follow_up_that_ran_at_once_is_reported_as_created(any_db, make_user):
    member = make_user()
    lead = make_lead(member)
    FollowUpRule.update(actions=json.dumps([{
        "type": "create_activity", "activity_type": "email", "subject": "Send the brochure",
        "assign_to": "lead_owner", "delay_minutes": 0}])).where(
        FollowUpRule.name == "Callback requested: call back next day").execute()
    call = plan(member, lead, "First call", NOW - HOUR)
    answer = press(member, f"done:{call.id}:callback_requested").text
    assert "Follow-up created: Send the brochure, due now" in answer


# /log --------------------------------------------------------------------------------

def test_log_a_planned_call_with_a_typed_local_time(any_db, make_user, monkeypatch):
    monkeypatch.setattr(policy, "_current", policy.Policy(timezone="Europe/Kyiv"))
    member = make_user()
    lead = make_lead(member)
    start = reply(member, f"/log {lead.id}")
    assert f"on lead #{lead.id}" in start.text
    assert labels(start) == ["Call", "Email", "Meeting", "Quote sent", "Follow up", "Note"]
    assert "Please choose one of the buttons" in say(member, "a phone call")
    subject_question = press(member, "log:type:call")
    assert "call's subject" in subject_question.text and subject_question.replace
    when = reply(member, f"Pricing {TRICKY}\nThey want a quote\nby Friday")
    assert "Call “Pricing &lt;b&gt;O'Neil &amp; Co&lt;/b&gt;”" in when.text
    assert labels(when) == ["Done now", "In 1 hour", "Tomorrow 10:00", "In 3 days"]
    assert "(Europe/Kyiv)" in when.text
    assert "could not read “tomorrow at 5”" in say(member, "tomorrow at 5")
    assert "2026-12-01 10:00 has already passed" in say(member, "2026-12-01 10:00")  # 08:00 UTC
    planned = say(member, "2026-12-03 15:30")
    assert "is planned for 2026-12-03 15:30 Europe/Kyiv" in planned
    call = Activity.get(Activity.subject == f"Pricing {TRICKY}")
    assert (call.type, call.due_at, call.description, call.assigned_to_id, call.completed_at) == (
        "call", datetime.datetime(2026, 12, 3, 13, 30), "They want a quote\nby Friday", member.id, None)
    assert DialogueState.select().count() == 0
    assert say(member, "2026-12-04 10:00") == chat.UNKNOWN


@pytest.mark.parametrize("button, due", [
    ("1h", datetime.datetime(2026, 12, 1, 10, 0)),
    ("tomorrow", datetime.datetime(2026, 12, 2, 8, 0)),  # 10:00 in Kyiv
    ("3d", datetime.datetime(2026, 12, 4, 9, 0)),
])
def test_log_time_buttons(any_db, make_user, monkeypatch, button, due):
    monkeypatch.setattr(policy, "_current", policy.Policy(timezone="Europe/Kyiv"))
    member = make_user()
    lead = make_lead(member)
    say(member, f"/log {lead.id}")
    say(member, "Meeting")
    say(member, "Demo")
    answer = press(member, f"log:when:{button}")
    assert "is planned for" in answer.text and answer.replace
    assert Activity.get(Activity.subject == "Demo").due_at == due


def test_log_done_now_asks_the_outcome_and_runs_the_rules(any_db, make_user):
    member = make_user()
    lead = make_lead(member)
    say(member, f"/log {lead.id}")
    press(member, "log:type:call")
    say(member, "Called back")
    outcome = press(member, "log:when:now")
    assert "How did the call go?" in outcome.text and "Callback requested" in labels(outcome)
    assert "choose the outcome with the buttons" in say(member, "went well")
    assert "That button belongs to an earlier question" in press(member, "log:when:1h").text
    answer = press(member, "log:outcome:callback_requested").text
    assert "✅ Done: Call “Called back”" in answer
    assert "Follow-up scheduled: Return customer callback, 2026-12-02 09:00 UTC" in answer
    call = Activity.get(Activity.subject == "Called back")
    assert (call.outcome, call.completed_at) == ("callback_requested", NOW)
    assert "no activity being logged" in press(member, "log:outcome:successful").text


def test_log_a_note_is_saved_at_once(any_db, make_user):
    member = make_user()
    lead = make_lead(member)
    say(member, f"/log {lead.id}")
    press(member, "log:type:note")
    assert "The subject is empty" in say(member, "   ")
    assert "at most 200" in say(member, "x" * 201)
    assert f"Note saved on lead #{lead.id}" in say(member, "Met at the fair\nLikes the blue plan")
    note = Activity.get()
    assert (note.type, note.completed_at, note.description) == ("note", NOW, "Likes the blue plan")


def test_back_and_cancel_work_in_the_log_dialogue_and_the_wizard(any_db, make_user):
    member = make_user()
    lead = make_lead(member)
    say(member, f"/log {lead.id}")
    assert "This is the first question" in say(member, "/back")
    press(member, "log:type:email")
    say(member, "Prices")
    assert "email's subject" in say(member, "/back")
    assert "What do you want to log" in say(member, "/back")
    assert say(member, "/cancel") == "Cancelled. Nothing was logged."
    assert Activity.select().count() == 0 and DialogueState.select().count() == 0
    assert "no activity being logged" in press(member, "log:type:call").text
    assert "you are not filling one in now" in say(member, "/back")
    assert say(member, "/cancel") == "Nothing to cancel."
    say(member, "/createLead")
    assert "Step 1/5" in say(member, "/back")
    assert say(member, "/cancel") == "Cancelled. Nothing was saved."


def test_lead_taken_away_mid_dialogue_ends_it_politely(any_db, admin, make_user):
    member, other = make_user(), make_user()
    lead = make_lead(member)
    say(member, f"/log {lead.id}")
    press(member, "log:type:call")
    say(member, "Check in")
    pipeline.assign(Actor.member(admin), lead.id, other.id, now=NOW)
    answer = press(member, "log:when:1h").text
    assert f"Lead #{lead.id} is not yours" in answer and "Nothing was logged" in answer
    assert DialogueState.select().count() == 0
    assert Activity.select().where(Activity.type == "call").count() == 0


# Escaping and help -------------------------------------------------------------------


def test_one_dialogue_at_a_time_the_open_one_is_never_dropped_unsaid(any_db, admin):
    lead = make_lead(admin, 1)
    say(admin, "/createlead")
    busy = say(admin, f"/log {lead.id}")
    assert "in the middle of adding a lead" in busy and f"/log {lead.id} again" in busy
    say(admin, "/cancel")
    say(admin, f"/log {lead.id}")
    assert "in the middle of logging an activity" in say(admin, "/createlead")
    say(admin, "/cancel")
    assert "email" in say(admin, "/createlead").lower()
