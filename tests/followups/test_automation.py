"""The follow-up rules engine on every backend: order, delays, self-cancelling
follow-ups, loop protection, exactly-once execution and failures."""
import datetime
import json
import logging
import threading

import pytest

from models import Activity, FollowUpRule, Lead, LeadScore, OutboxMessage, RuleAction, StageChange, db
from services.core.actors import Actor
from services.crm import activities, pipeline
from services.followups import automation, rule_lines

NOW = datetime.datetime(2026, 3, 2, 9, 0)
HOUR = datetime.timedelta(hours=1)
PANEL = Actor.panel()


def add_rule(name, event, conditions, actions, priority=100, active=True):
    return FollowUpRule.create(name=name, event=event,
                               conditions=json.dumps(rule_lines.parse_conditions(conditions, event)),
                               actions=json.dumps(rule_lines.parse_actions(actions)),
                               priority=priority, active=active)


def only_rules():
    """Leave just the rules a test adds (the eight defaults are seeded)."""
    FollowUpRule.delete().execute()


def default_rule(name_start):
    return FollowUpRule.get(FollowUpRule.name.startswith(name_start))


def actions_of(rule):
    return list(RuleAction.select().where(RuleAction.rule == rule.id).order_by(RuleAction.id))


def test_matching_rules_run_smaller_priority_first_and_ties_by_id(any_db, make_lead):
    only_rules()
    late = add_rule("late", "lead.created", "", 'create_activity note "late"', priority=20)
    first = add_rule("first", "lead.created", "", 'create_activity note "first"', priority=10)
    second = add_rule("second", "lead.created", "", 'create_activity note "second"', priority=10)
    add_rule("never", "lead.created", "source equals partner", 'create_activity note "never"')
    add_rule("off", "lead.created", "", 'create_activity note "off"', priority=0, active=False)
    lead = make_lead(source="website")
    created = automation.run_rules("lead.created", lead, now=NOW)
    assert [row.rule_id for row in created] == [first.id, second.id, late.id]
    assert [a.subject for a in Activity.select().order_by(Activity.id)] == ["first", "second", "late"]


def test_every_match_is_decided_on_one_snapshot_before_any_action_runs(any_db, make_lead):
    only_rules()
    add_rule("move", "lead.created", "stage equals new", "update_stage lead contacted", priority=1)
    add_rule("still new", "lead.created", "stage equals new", 'create_activity call "Call the new lead"',
             priority=2)
    add_rule("contacted", "lead.created", "stage equals contacted", 'create_activity email "Too late"',
             priority=3)
    lead = make_lead()
    created = automation.run_rules("lead.created", lead, now=NOW)
    assert [row.status for row in created] == ["done", "done"]
    assert Lead.get_by_id(lead.id).stage == "contacted"
    assert [a.subject for a in Activity.select()] == ["Call the new lead"]


def test_immediate_actions_run_at_once_and_delayed_ones_when_due_once(any_db, make_lead, make_user):
    only_rules()
    owner = make_user(first_name="Olga")
    rule = add_rule("later", "lead.created", "",
                    "send_notification stale_lead to lead_owner\n"
                    'create_activity call "Call in an hour" after 1h')
    lead = make_lead(owner=owner)
    now_row, later_row = automation.run_rules("lead.created", lead, now=NOW)
    assert (now_row.status, now_row.due_at, now_row.result) == ("done", NOW, "notified 1 member(s) with stale_lead")
    later = RuleAction.get_by_id(later_row.id)
    assert (later.status, later.due_at, later.executed_at) == ("pending", NOW + HOUR, None)
    assert Activity.select().count() == 0

    assert automation.run_due(NOW + HOUR - datetime.timedelta(seconds=1)) == \
        {"done": 0, "cancelled": 0, "failed": 0}
    assert RuleAction.get_by_id(later.id).status == "pending"

    assert automation.run_due(NOW + HOUR)["done"] == 1
    later = RuleAction.get_by_id(later.id)
    assert (later.status, later.executed_at) == ("done", NOW + HOUR)
    activity = Activity.get()
    assert (activity.subject, activity.assigned_to_id, activity.due_at, activity.rule_id) == \
        ("Call in an hour", owner.id, NOW + HOUR, rule.id)
    assert later.result == f"created activity #{activity.id} “Call in an hour” for Olga"
    assert automation.run_due(NOW + 2 * HOUR)["done"] == 0
    assert Activity.select().count() == 1


def _callback_scheduled(make_lead, make_user):
    """A sales member's call ends with "callback requested" at NOW (default rule)."""
    member = make_user(first_name="Sam")
    lead = make_lead(owner=member, created_at=NOW - 3 * HOUR)
    actor = Actor.member(member)
    call = activities.log(actor, lead.id, "call", "First call", due_at=NOW - HOUR, now=NOW - 2 * HOUR)
    _, scheduled = activities.complete(actor, call.id, "callback_requested", now=NOW)
    [pending] = scheduled
    assert (pending.status, pending.due_at) == ("pending", NOW + 24 * HOUR)
    return member, lead, actor, pending


def test_callback_follow_up_runs_next_day_when_still_needed(any_db, make_lead, make_user):
    member, lead, _, pending = _callback_scheduled(make_lead, make_user)
    assert automation.run_due(NOW + 24 * HOUR)["done"] == 1
    follow_up = Activity.get(Activity.subject == "Return customer callback")
    assert (follow_up.lead_id, follow_up.assigned_to_id, follow_up.due_at) == (lead.id, member.id, NOW + 24 * HOUR)


def test_callback_follow_up_cancels_itself_when_the_call_already_happened(any_db, make_lead, make_user):
    _, lead, actor, pending = _callback_scheduled(make_lead, make_user)
    activities.log(actor, lead.id, "call", "They called back", done=True, outcome="successful",
                   now=NOW + 2 * HOUR)
    assert automation.run_due(NOW + 24 * HOUR) == {"done": 0, "cancelled": 1, "failed": 0}
    row = RuleAction.get_by_id(pending.id)
    assert row.status == "cancelled"
    assert row.result == "cancelled: no longer holds: activities_done_since_event less_than 1"
    assert not Activity.select().where(Activity.subject == "Return customer callback").exists()


def test_callback_follow_up_cancels_itself_when_the_lead_was_lost(any_db, make_lead, make_user):
    _, lead, actor, pending = _callback_scheduled(make_lead, make_user)
    pipeline.change_stage(actor, lead.id, "lost", now=NOW + HOUR)
    automation.run_due(NOW + 24 * HOUR)
    row = RuleAction.get_by_id(pending.id)
    assert (row.status, row.result) == ("cancelled", "cancelled: no longer holds: stage not_equals lost")


def test_a_follow_up_whose_rule_was_turned_off_is_cancelled(any_db, make_lead):
    rule = default_rule("New website lead")
    [pending] = automation.run_rules("lead.created", make_lead(source="website"), now=NOW)
    assert (pending.rule_id, pending.status) == (rule.id, "pending")
    FollowUpRule.update(active=False).where(FollowUpRule.id == rule.id).execute()
    assert automation.run_due(NOW + HOUR)["cancelled"] == 1
    row = RuleAction.get_by_id(pending.id)
    assert (row.status, row.result) == ("cancelled", "cancelled: the rule was turned off")
    assert Activity.select().count() == 0


def test_rules_causing_stage_changes_stop_at_the_depth_limit_and_say_so(any_db, make_lead, caplog):
    only_rules()
    for before, after, pipe in (("contacted", "qualified", "lead"), ("qualified", "transferred", "lead"),
                                ("transferred", "kyc", "sales"), ("kyc", "agreement", "sales"),
                                ("agreement", "paid", "sales")):
        add_rule(f"{before} -> {after}", "lead.stage_changed", f"to_stage equals {before}",
                 f"update_stage {pipe} {after}")
    lead = make_lead(business_domain="fintech")
    LeadScore.create(lead=lead, score=0.9, recommendation="qualify", reason="test", model="local",
                     signature="x", created_at=NOW)
    with caplog.at_level(logging.WARNING, logger="leadgram.automation"):
        pipeline.change_stage(PANEL, lead.id, "contacted", now=NOW)
    lead = Lead.get_by_id(lead.id)
    # user: new->contacted (depth 0); rules: ->qualified (1), ->transferred (2), ->kyc (3),
    # ->agreement (4: past MAX_DEPTH, so "agreement -> paid" never hears of it)
    assert (lead.stage, lead.sales_stage) == ("transferred", "agreement")
    assert StageChange.select().count() == 5
    assert not actions_of(FollowUpRule.get(FollowUpRule.name == "agreement -> paid"))
    assert "lead.stage_changed on lead #%d not passed to rules" % lead.id in caplog.text
    assert "looks like a loop" in caplog.text


def test_emit_beyond_the_depth_limit_creates_nothing(any_db, make_lead):
    lead = make_lead(source="website")
    assert automation.run_rules("lead.created", lead, depth=automation.MAX_DEPTH + 1, now=NOW) == []
    assert len(automation.run_rules("lead.created", lead, depth=automation.MAX_DEPTH, now=NOW)) == 1


def _pending_calls(make_lead, count):
    only_rules()
    add_rule("later", "lead.created", "", 'create_activity call "Call later" after 1h')
    for _ in range(count):
        automation.run_rules("lead.created", make_lead(), now=NOW)
    assert RuleAction.select().where(RuleAction.status == "pending").count() == count


def test_running_due_actions_twice_runs_each_once(any_db, make_lead):
    _pending_calls(make_lead, 5)
    first = automation.run_due(NOW + HOUR)
    second = automation.run_due(NOW + HOUR)
    assert (first["done"], second["done"]) == (5, 0)
    assert Activity.select().count() == 5


def test_two_schedulers_racing_run_each_action_once(any_db, make_lead, monkeypatch):
    _pending_calls(make_lead, 40)
    both_looked, results, errors = threading.Barrier(2, timeout=30), [], []
    first_transaction_done = threading.local()

    class BothHaveTheList:
        """Both schedulers have read the same 40 due rows before either claims one."""

        def atomic(self, *args):
            if not getattr(first_transaction_done, "value", False):
                first_transaction_done.value = True
                both_looked.wait()
            return db.atomic(*args)

    monkeypatch.setattr(automation, "db", BothHaveTheList())

    def scheduler():  # peewee gives each thread its own connection
        try:
            results.append(automation.run_due(NOW + HOUR))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []  # SQLite: the second waits for the lock rather than failing
    assert sum(r["done"] for r in results) == 40
    assert Activity.select().count() == 40
    assert RuleAction.select().where(RuleAction.status != "done").count() == 0


def test_a_failing_action_is_recorded_and_undoes_neither_the_event_nor_other_actions(any_db, make_lead):
    only_rules()
    add_rule("bad", "lead.created", "", "update_stage lead qualified\n"
                                        'create_activity call "Runs anyway"')
    with db.atomic():
        lead = make_lead()
        failed, ran = automation.run_rules("lead.created", lead, now=NOW)
    assert Lead.get_by_id(lead.id).stage == "new"
    failed, ran = RuleAction.get_by_id(failed.id), RuleAction.get_by_id(ran.id)
    assert failed.status == "failed"
    assert failed.result == f"failed: Lead #{lead.id} is new; it can move to contacted or lost, not qualified."
    assert ran.status == "done"
    assert [a.subject for a in Activity.select()] == ["Runs anyway"]


def test_update_stage_for_the_other_pipeline_fails_with_a_reason(any_db, make_lead):
    only_rules()
    add_rule("sales", "lead.created", "", "update_stage sales kyc")
    lead = make_lead()
    [row] = automation.run_rules("lead.created", lead, now=NOW)
    assert (row.status, row.result) == ("failed", f"failed: lead #{lead.id} is in the lead pipeline, not sales")


def test_notifications_go_to_the_outbox_with_the_lead_name_escaped(any_db, make_lead, make_user):
    only_rules()
    a, b = make_user(), make_user(role="dispatcher")
    make_user(role=None)  # not on the team
    make_user(notify=False)
    add_rule("urgent", "lead.created", "priority equals urgent", "send_notification urgent_lead to team")
    lead = make_lead(first_name="<b>Ann</b>", last_name="& Co", priority="urgent")
    [row] = automation.run_rules("lead.created", lead, now=NOW)
    assert row.result == "notified 2 member(s) with urgent_lead"
    sent = {m.recipient_id: m for m in OutboxMessage.select()}
    assert set(sent) == {a.id, b.id}
    assert sent[a.id].key == f"rule-action:{row.id}:to:{a.id}"
    assert "&lt;b&gt;Ann&lt;/b&gt; &amp; Co" in sent[a.id].text
    assert "<b>Ann" not in sent[a.id].text
    assert sent[a.id].text.startswith(f"🚨 Urgent lead #{lead.id} ")


def test_assign_round_robin_cycles_through_the_salespeople(any_db, make_lead, make_user):
    only_rules()
    make_user(role="admin")
    sales = [make_user() for _ in range(3)]
    add_rule("share", "lead.created", "", "assign round_robin")
    owners = []
    for n in range(5):
        lead = make_lead()
        automation.run_rules("lead.created", lead, now=NOW + n * HOUR)
        owners.append(Lead.get_by_id(lead.id).owner_id)
    assert owners == [s.id for s in sales + sales[:2]]


def test_the_referral_rule_keeps_an_existing_owner_and_tells_them(any_db, make_lead, make_user):
    owner, other = make_user(first_name="Olga"), make_user()
    lead = make_lead(source="referral", owner=owner)
    assign, notify, call = automation.run_rules("lead.created", lead, now=NOW)
    assert (assign.status, assign.result) == ("done", "kept owner Olga")
    assert notify.result == "notified 1 member(s) with referral_lead"
    assert [m.recipient_id for m in OutboxMessage.select()] == [owner.id]
    assert (call.status, call.due_at) == ("pending", NOW + 2 * HOUR)
    unowned = make_lead(source="referral")
    automation.run_rules("lead.created", unowned, now=NOW)
    assert Lead.get_by_id(unowned.id).owner_id in (owner.id, other.id)


def test_events_in_a_rolled_back_transaction_leave_no_rule_actions(any_db, make_lead):
    with pytest.raises(RuntimeError):
        with db.atomic():
            lead = make_lead(source="website", priority="urgent")
            assert automation.run_rules("lead.created", lead, now=NOW)
            raise RuntimeError("the event's own work failed")
    assert RuleAction.select().count() == 0
    assert Activity.select().count() == 0
    assert Lead.select().count() == 0


def test_test_mode_explains_without_running_anything(any_db, make_lead):
    rule = automation.to_rule(default_rule("New website lead"))
    shown = automation.test_rule(rule, sample={"source": "Website", "stage": "new"}, now=NOW)
    assert shown.matched
    assert shown.actions == [('create_activity call "Call new website lead" assign lead_owner after 1h', 60)]
    shown = automation.test_rule(rule, lead=make_lead(source="telegram"), now=NOW)
    assert not shown.matched and shown.actions == []
    assert shown.conditions[0] == ("source equals website", "telegram", False)
    assert RuleAction.select().count() == 0 and Activity.select().count() == 0
