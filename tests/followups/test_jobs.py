"""The scheduler's follow-up jobs: time slots, catch-up, reminders, stale leads, summaries,
cleanup. The clock is always passed in."""
import datetime as dt

import pytest

from models import (
    Activity,
    DialogueState,
    FollowUpRule,
    JobRun,
    Lead,
    LeadScore,
    OutboxMessage,
    RuleAction,
)
from services.core.actors import Actor
from services.crm import activities, leads
from services.followups import jobs as followups, periodic

NOW = dt.datetime(2026, 11, 22, 9, 0)  # naive UTC, a Sunday
H = dt.timedelta(hours=1)


def at(text):
    return dt.datetime.fromisoformat(text)


# Slots ---------------------------------------------------------------------------------

def test_interval_slots_are_aligned_and_never_in_the_future():
    job = periodic.every("x", None, minutes=30)
    assert job.latest_slot(at("2026-11-22 09:44:59")) == at("2026-11-22 09:30")
    assert job.latest_slot(at("2026-11-22 10:00")) == at("2026-11-22 10:00")


@pytest.mark.parametrize("zone, now, slot", [
    ("UTC", "2026-11-22 07:59", "2026-11-21 08:00"),
    ("UTC", "2026-11-22 08:00", "2026-11-22 08:00"),
    ("Europe/Kyiv", "2026-11-22 06:30", "2026-11-22 06:00"),      # UTC+2 in winter
    ("Europe/Kyiv", "2026-07-01 05:30", "2026-07-01 05:00"),      # UTC+3 in summer
    ("Pacific/Auckland", "2026-11-22 09:00", "2026-11-21 19:00"),  # already the 23rd there
    ("America/New_York", "2026-03-08 13:00", "2026-03-08 12:00"),  # the day clocks go forward
])
def test_daily_slots_are_local_times(zone, now, slot):
    assert periodic.daily("x", None, at="08:00").latest_slot(at(now), zone) == at(slot)


def test_a_daily_time_that_does_not_exist_still_has_one_slot_that_day():
    job = periodic.daily("x", None, at="02:30")  # 02:30 is skipped in New York on 2026-03-08
    slots = {job.latest_slot(at("2026-03-08 00:00") + dt.timedelta(minutes=m), "America/New_York")
             for m in range(0, 24 * 60, 15)}
    assert len([s for s in slots if s.date() == dt.date(2026, 3, 8)]) == 1


# Running once per slot -------------------------------------------------------------------

@pytest.fixture
def calls():
    return []


def recording(calls, name, fail=False):
    def run(now):
        calls.append((name, now))
        if fail:
            raise RuntimeError("boom")
    return run


def test_each_slot_runs_once_even_when_asked_twice(any_db, calls):
    jobs = [periodic.every("tick", recording(calls, "tick"), minutes=1)]
    assert list(periodic.run_due(jobs, NOW)) == ["tick"]
    assert periodic.run_due(jobs, NOW + dt.timedelta(seconds=30)) == {}  # a second scheduler
    assert list(periodic.run_due(jobs, NOW + dt.timedelta(minutes=1))) == ["tick"]
    assert len(calls) == 2


def test_a_job_missed_while_down_runs_once_when_back(any_db, calls):
    jobs = [periodic.every("hourly", recording(calls, "hourly"), minutes=60),
            periodic.daily("summary", recording(calls, "summary"), at="08:00")]
    periodic.run_due(jobs, NOW)                       # first start at 09:00: summary waits
    assert [name for name, _ in calls] == ["hourly"]
    three_days_later = NOW + dt.timedelta(days=3, hours=2)
    periodic.run_due(jobs, three_days_later)          # back after three days down
    periodic.run_due(jobs, three_days_later + dt.timedelta(minutes=5))
    assert [name for name, _ in calls] == ["hourly", "hourly", "summary"]
    assert JobRun.get_by_id("summary").last_slot == at("2026-11-25 08:00")


def test_a_failing_job_does_not_stop_the_others_and_is_recorded(any_db, calls):
    jobs = [periodic.every("broken", recording(calls, "broken", fail=True), minutes=1),
            periodic.every("fine", recording(calls, "fine"), minutes=1)]
    assert list(periodic.run_due(jobs, NOW)) == ["fine"]
    assert [name for name, _ in calls] == ["broken", "fine"]
    assert "RuntimeError: boom" in JobRun.get_by_id("broken").last_error
    periodic.run_due(jobs, NOW + dt.timedelta(minutes=1))
    assert len(calls) == 4  # the broken one is tried again next slot, not in a tight loop


def test_the_scheduler_runs_follow_ups_on_its_injected_clock(sqlite_db):
    from scheduler import Scheduler
    from services.core.config import load_settings
    clock = [NOW]
    scheduler = Scheduler(load_settings({"TELEGRAM_BOT_TOKEN": "1:x"}), transport=None,
                          clock=lambda: clock[0])
    scheduler.run_followups()
    ran_first = {row.name for row in JobRun.select()}
    assert ran_first == {"rule_actions", "overdue_reminders", "upcoming_reminders", "stale_leads",
                         "daily_summary", "cleanup"}
    clock[0] = NOW + dt.timedelta(days=1)
    scheduler.run_followups()
    assert JobRun.get_by_id("daily_summary").last_slot == at("2026-11-23 08:00")
    assert JobRun.get_by_id("cleanup").last_slot == at("2026-11-23 02:00")


# Reminders ---------------------------------------------------------------------------------

def new_lead(owner, n=1, **details):
    lead = leads.add_lead({"email": f"lead{n}@example.com", "phone": f"+38050123{n:04d}",
                           "first_name": "Jo<b>", "last_name": f"Do{n}", "country": "UA"},
                          details=details, owner=owner)
    OutboxMessage.delete().execute()  # the "new lead" notes are not what these tests look at
    return lead


def plan(member, lead, due, subject="Call"):
    return activities.log(Actor.member(member), lead.id, "call", subject, due_at=due, now=due - 2 * H)


def messages(member):
    return [m.text for m in OutboxMessage.select().where(OutboxMessage.recipient == member)
            .order_by(OutboxMessage.id)]


def test_overdue_reminders_go_once_per_activity_to_its_assignee(any_db, make_user):
    sam, kim, boss = make_user("sales"), make_user("sales"), make_user("dispatcher")
    lead = new_lead(sam)
    plan(sam, lead, NOW - 2 * H, "First call")
    plan(sam, lead, NOW - H, "Second call")
    plan(sam, lead, NOW + H, "Later")
    Activity.create(lead=lead, type="call", subject="Nobody's", due_at=NOW - H)
    assert followups.send_overdue_reminders(NOW, "Europe/Kyiv") == 3
    [text] = messages(sam)
    assert "<b>Overdue</b> (2)" in text and "First call" in text and "Later" not in text
    assert "Jo&lt;b&gt; Do1" in text and "due 2026-11-22 09:00" in text  # local time, escaped
    assert "Nobody's" in messages(boss)[0] and messages(kim) == []
    assert followups.send_overdue_reminders(NOW + 2 * H, "Europe/Kyiv") == 1  # "Later" is late now
    assert len(messages(sam)) == 2 and "Later" in messages(sam)[1]


def test_upcoming_reminders_cover_the_next_30_minutes_once(any_db, make_user):
    sam = make_user("sales")
    lead = new_lead(sam)
    plan(sam, lead, NOW + dt.timedelta(minutes=20), "Soon")
    plan(sam, lead, NOW + dt.timedelta(minutes=45), "Not yet")
    assert followups.send_upcoming_reminders(NOW) == 1
    assert followups.send_upcoming_reminders(NOW) == 0
    assert followups.send_upcoming_reminders(NOW + dt.timedelta(minutes=30)) == 1
    assert [("Soon" in t, "Not yet" in t) for t in messages(sam)] == [(True, False), (False, True)]


# Stale leads ----------------------------------------------------------------------------------

def test_stale_leads_fire_once_per_quiet_spell(any_db, make_user):
    sam = make_user("sales")
    quiet, busy, lost = new_lead(sam, 1), new_lead(sam, 2), new_lead(sam, 3)
    Lead.update(last_activity_at=NOW - dt.timedelta(days=8)).execute()
    Lead.update(stage="lost").where(Lead.id == lost.id).execute()
    activities.log(Actor.member(sam), busy.id, "note", "talked", now=NOW - dt.timedelta(days=1))
    rule = FollowUpRule.create(name="Stale: nudge", event="lead.stale", conditions="[]",
                               actions='[{"type": "send_notification", "template": "stale_lead", '
                                       '"to": "lead_owner", "delay_minutes": 0}]')
    assert followups.detect_stale(NOW, stale_days=7) == 1
    assert followups.detect_stale(NOW + H, stale_days=7) == 0
    [run] = RuleAction.select().where(RuleAction.rule == rule)
    assert run.lead_id == quiet.id and '"days_without_activity": 8' in run.payload
    assert any("no activity for a while" in t for t in messages(sam))
    # Activity makes it fresh; quiet again for a week, it fires again.
    activities.log(Actor.member(sam), quiet.id, "note", "called", now=NOW + H)
    assert followups.detect_stale(NOW + dt.timedelta(days=8, hours=2), stale_days=7) == 2


# Daily summary ------------------------------------------------------------------------------------

def test_daily_summary_once_per_member_per_local_day(any_db, make_user):
    sam, idle = make_user("sales", first_name="Sam"), make_user("sales", first_name="Ida")
    lead = new_lead(sam)
    plan(sam, lead, NOW - H, "Late call")
    plan(sam, lead, NOW + 3 * H, "Today call")
    plan(sam, lead, NOW + dt.timedelta(days=2), "Later call")
    assert followups.send_daily_summaries(NOW, "Europe/Kyiv") == 2
    assert followups.send_daily_summaries(NOW + H, "Europe/Kyiv") == 0
    [text] = messages(sam)
    assert "<b>Overdue</b> (1)" in text and "<b>Due today</b> (1)" in text
    assert "Later call" not in text and "1 lead(s) assigned to you" in text
    assert "Nothing is due today" in messages(idle)[0]


# Cleanup ----------------------------------------------------------------------------------------

def test_cleanup_deletes_only_finished_records_past_their_keep_time(any_db, make_user):
    sam = make_user("sales")
    lead, other = new_lead(sam), new_lead(sam, 2)
    old, recent = NOW - dt.timedelta(days=100), NOW - dt.timedelta(days=1)
    for status, created in (("sent", old), ("sent", recent), ("pending", old), ("failed", old)):
        OutboxMessage.create(key=f"{status}{created}", recipient=sam, text="x", status=status,
                             created_at=created)
    rule = FollowUpRule.get()
    for status, executed in (("done", old), ("done", recent), ("pending", None)):
        RuleAction.create(key=f"{status}{executed}", rule=rule, action_index=0, action="{}",
                          event="lead.created", payload="{}", lead=lead, due_at=old,
                          status=status, executed_at=executed)
    for created in (old, old + H, recent):
        LeadScore.create(lead=lead, score=0.5, recommendation="nurture", reason="r",
                         model="local", signature="s", created_at=created)
    only_old = LeadScore.create(lead=other, score=0.5, recommendation="nurture",
                                reason="r", model="local", signature="s", created_at=old)
    DialogueState.create(user=sam, flow="lead", step="email", updated_at=old)
    weeks_ago = DialogueState.create(user=make_user(role=None), flow="register", step="city",
                                     updated_at=NOW - dt.timedelta(days=20))
    plan(sam, lead, old)  # activities are history: kept
    deleted = followups.cleanup(NOW)
    assert deleted["sent or cancelled messages"] == 1 and deleted["failed messages"] == 1
    assert deleted["rule log entries"] == 1 and deleted["old scores"] == 2
    assert deleted["abandoned dialogues"] == 1
    assert [d.id for d in DialogueState.select()] == [weeks_ago.id]
    assert OutboxMessage.select().count() == 2 and RuleAction.select().count() == 2
    assert LeadScore.get_or_none(LeadScore.id == only_old.id) is not None
    assert Activity.select().count() == 1
