"""Saving follow-up rules (services.followups.rulebook): checked, names unique, one
transaction each, and every write in the audit log with its actor; on SQLite and Postgres."""
import datetime as dt
import json

import pytest

from models import Activity, AuditEntry, FollowUpRule, RuleAction
from services.core import audit
from services.core.actors import Actor
from services.followups import rulebook
from services.followups.defaults import DEFAULT_RULES
from services.followups.rules import RuleError

BOSS = Actor.panel("boss")
NOW = dt.datetime(2026, 11, 22, 9, 0)
CALL = {"type": "create_activity", "activity_type": "call", "subject": "Call the partner",
        "assign_to": "round_robin", "delay_minutes": 30}
PARTNER = {"field": "source", "operator": "equals", "value": "partner"}


def new_rule(name="Partner lead: call", **fields):
    return rulebook.create_rule(BOSS, name, fields.pop("event", "lead.created"),
                                fields.pop("conditions", [PARTNER]), fields.pop("actions", [CALL]),
                                **fields)


def logged(rule_id):
    """(event, actor, changes) of the audit entries about one rule, oldest first."""
    return [(e.event, e.actor_ref, audit.changes_of(e))
            for e in reversed(list(audit.entries(entity="follow_up_rule", entity_id=rule_id)))]


def test_a_new_database_has_the_eight_default_rules(any_db):
    stored = {r.name: r for r in FollowUpRule.select()}
    assert sorted(stored) == sorted(name for name, *_ in DEFAULT_RULES)
    for name, description, event, conditions, actions, priority in DEFAULT_RULES:
        row = stored[name]
        assert (row.description, row.event, row.priority, row.active) == (
            description, event, priority, True)
        assert (json.loads(row.conditions), json.loads(row.actions)) == (conditions, actions)
    assert AuditEntry.select().count() == 0


def test_create_stores_the_rule_as_check_rule_normalises_it(any_db):
    rule = rulebook.create_rule(
        BOSS, "  Partner   lead:  call ", "lead.created",
        [{"field": " Source ", "operator": "EQUALS", "value": " Partner "}],
        [{**CALL, "subject": "  Call   the partner "}], priority="25",
        description=" Partners are warm.\x00 ", now=NOW)
    saved = FollowUpRule.get_by_id(rule.id)
    assert (saved.name, saved.event, saved.priority, saved.active, saved.description) == (
        "Partner lead: call", "lead.created", 25, True, "Partners are warm.")
    assert json.loads(saved.conditions) == [PARTNER]
    assert json.loads(saved.actions) == [CALL]
    assert saved.created_at == saved.updated_at == NOW
    [(event, actor, changes)] = logged(rule.id)
    assert (event, actor) == ("rule.created", "boss")
    assert changes["name"] == (None, "Partner lead: call") and changes["priority"] == (None, 25)


@pytest.mark.parametrize("fields, field, message", [
    ({"name": "   "}, "name", "The rule needs a name."),
    ({"event": "lead.exploded"}, "event", "Unknown event 'lead.exploded'"),
    ({"priority": "5000"}, "priority", "Priority must be between -1000 and 1000."),
    ({"actions": []}, "actions", "The rule needs at least one action."),
    ({"actions": [{"type": "nap"}]}, "actions", "Action 1: unknown action 'nap'"),
    ({"conditions": [{"field": "mood", "operator": "equals", "value": "x"}]}, "conditions",
     "Condition 1: unknown field 'mood'"),
    ({"conditions": "source equals partner"}, "conditions", "The conditions must be a list"),
    ({"description": "x" * 2001}, "description", "The description is too long"),
])
def test_create_refuses_a_rule_that_cannot_work_and_writes_nothing(any_db, fields, field, message):
    before = FollowUpRule.select().count()
    with pytest.raises(RuleError) as refused:
        new_rule(**fields)
    assert (refused.value.field, str(refused.value)[:len(message)]) == (field, message)
    assert FollowUpRule.select().count() == before
    assert AuditEntry.select().count() == 0


def test_a_name_another_rule_has_is_refused_on_create_and_on_rename(any_db):
    urgent = FollowUpRule.get(FollowUpRule.name == "Urgent lead: call now")
    with pytest.raises(rulebook.DuplicateName) as refused:
        new_rule("Urgent lead: call now")
    assert str(refused.value) == f"Rule #{urgent.id} already has this name; choose another."
    assert (refused.value.field, refused.value.existing_id) == ("name", urgent.id)
    mine = new_rule()
    with pytest.raises(rulebook.DuplicateName):
        rulebook.update_rule(BOSS, mine.id, name=" Urgent   lead: call now")
    assert FollowUpRule.get_by_id(mine.id).name == "Partner lead: call"
    # Its own name is no clash.
    assert rulebook.update_rule(BOSS, mine.id, name="Partner lead: call", priority=7).priority == 7


def test_a_name_saved_meanwhile_is_refused_by_the_database_and_named(any_db, monkeypatch):
    """Another writer took the name between the check and the insert: the unique index
    refuses it, the transaction rolls back and the caller still gets DuplicateName."""
    real = rulebook._refuse_taken
    calls = []

    def too_late(name, except_id=None):
        calls.append(name)
        if len(calls) > 1:  # the check after the database refused
            real(name, except_id)
    monkeypatch.setattr(rulebook, "_refuse_taken", too_late)
    before = FollowUpRule.select().count()
    with pytest.raises(rulebook.DuplicateName):
        new_rule("Urgent lead: call now")
    assert len(calls) == 2
    assert FollowUpRule.select().count() == before and AuditEntry.select().count() == 0
    assert new_rule().id  # the connection is usable again


def test_update_changes_only_the_fields_given_and_checks_the_whole_rule(any_db):
    rule = new_rule(priority=25, description="Warm.", now=NOW)
    later = NOW + dt.timedelta(hours=1)
    saved = rulebook.update_rule(BOSS, rule.id, priority=5, now=later)
    assert (saved.name, saved.priority, saved.description, saved.event) == (
        "Partner lead: call", 5, "Warm.", "lead.created")
    assert json.loads(saved.conditions) == [PARTNER] and json.loads(saved.actions) == [CALL]
    assert (saved.created_at, saved.updated_at) == (NOW, later)
    # Another event: the kept conditions must still make sense for it.
    with pytest.raises(RuleError, match="outcome is only known for activity.completed") as refused:
        rulebook.update_rule(BOSS, rule.id, conditions=[
            {"field": "outcome", "operator": "equals", "value": "no_answer"}])
    assert refused.value.field == "conditions"
    saved = rulebook.update_rule(BOSS, rule.id, event="activity.completed", conditions=[
        {"field": "outcome", "operator": "equals", "value": "no_answer"}])
    assert saved.event == "activity.completed"
    assert [(event, changes) for event, _, changes in logged(rule.id)][1:] == [
        ("rule.updated", {"priority": (25, 5)}),
        ("rule.updated", {"event": ("lead.created", "activity.completed"), "conditions": (
            json.dumps([PARTNER]),
            json.dumps([{"field": "outcome", "operator": "equals", "value": "no_answer"}]))})]


def test_saving_a_rule_unchanged_writes_nothing(any_db):
    """Not even when its stored JSON has its keys in another order (the default rules)."""
    default = FollowUpRule.get(FollowUpRule.name == "Urgent lead: call now")
    saved = rulebook.update_rule(BOSS, default.id, name=default.name, priority=default.priority,
                                 conditions=json.loads(default.conditions),
                                 actions=json.loads(default.actions), now=NOW)
    assert saved.updated_at == default.updated_at
    assert logged(default.id) == []


def test_update_refuses_unknown_fields_and_rules_that_are_gone(any_db):
    rule = new_rule()
    with pytest.raises(TypeError, match="colour"):
        rulebook.update_rule(BOSS, rule.id, colour="red")
    with pytest.raises(rulebook.NoSuchRule, match=r"Rule #999999 no longer exists\."):
        rulebook.update_rule(BOSS, 999_999, priority=1)


def test_switching_off_and_on(any_db):
    rule = new_rule(now=NOW)
    off = rulebook.set_active(BOSS, rule.id, False, now=NOW + dt.timedelta(minutes=1))
    assert (off.active, FollowUpRule.get_by_id(rule.id).active) == (False, False)
    assert rulebook.set_active(BOSS, rule.id, False).updated_at == NOW + dt.timedelta(minutes=1)
    assert rulebook.set_active(Actor.panel("ops"), rule.id, True).active
    assert [(event, actor, changes) for event, actor, changes in logged(rule.id)][1:] == [
        ("rule.switched_off", "boss", {"active": (True, False)}),
        ("rule.switched_on", "ops", {"active": (False, True)})]
    with pytest.raises(rulebook.NoSuchRule):
        rulebook.set_active(BOSS, 999_999, True)


def test_a_stored_rule_that_no_longer_passes_can_be_switched_off_not_on(any_db):
    rule = new_rule()
    FollowUpRule.update(actions=json.dumps([{"type": "send_notification", "template": "retired",
                                             "to": "team"}])).where(FollowUpRule.id == rule.id).execute()
    assert not rulebook.set_active(BOSS, rule.id, False).active
    with pytest.raises(RuleError, match="unknown template 'retired'") as refused:
        rulebook.set_active(BOSS, rule.id, True)
    assert refused.value.field == "actions"
    assert not FollowUpRule.get_by_id(rule.id).active
    FollowUpRule.update(conditions="not json").where(FollowUpRule.id == rule.id).execute()
    with pytest.raises(RuleError, match="stored conditions cannot be read"):
        rulebook.set_active(BOSS, rule.id, True)
    rulebook.update_rule(BOSS, rule.id, conditions=[], actions=[CALL], active=True)
    assert FollowUpRule.get_by_id(rule.id).active


def test_delete_drops_waiting_follow_ups_and_keeps_activities(any_db, make_lead):
    rule = new_rule()
    lead = make_lead()
    activity = Activity.create(lead=lead, type="call", subject="Call the partner", rule=rule)
    RuleAction.create(key="k1", rule=rule, action_index=0, action=json.dumps(CALL),
                      event="lead.created", payload="{}", lead=lead, due_at=NOW)
    gone = rulebook.delete_rule(BOSS, rule.id)
    assert gone.name == "Partner lead: call"
    assert FollowUpRule.get_or_none(FollowUpRule.id == rule.id) is None
    assert RuleAction.select().count() == 0
    assert Activity.get_by_id(activity.id).rule_id is None
    event, actor, changes = logged(rule.id)[-1]
    assert (event, actor, changes["name"]) == ("rule.deleted", "boss", ("Partner lead: call", None))
    with pytest.raises(rulebook.NoSuchRule):
        rulebook.delete_rule(BOSS, rule.id)


def test_each_write_is_one_transaction_with_its_audit_entry(any_db, monkeypatch):
    """A subscriber failing (here: the event itself) undoes the write."""
    rule = new_rule()

    def broken(*args, **kwargs):
        raise RuntimeError("subscriber failed")
    monkeypatch.setattr(rulebook.events, "emit", broken)
    before = FollowUpRule.select().count()
    for write in (lambda: new_rule("Another"),
                  lambda: rulebook.update_rule(BOSS, rule.id, priority=3),
                  lambda: rulebook.set_active(BOSS, rule.id, False),
                  lambda: rulebook.delete_rule(BOSS, rule.id)):
        with pytest.raises(RuntimeError):
            write()
    kept = FollowUpRule.get_by_id(rule.id)
    assert (FollowUpRule.select().count(), kept.priority, kept.active) == (before, 100, True)
