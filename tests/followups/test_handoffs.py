"""Rules that hand leads off (issue 13): within one event the immediate `assign` actions run
first, so the rest is for the owner they chose; activities rules made while a lead had
no owner follow the owner it gets. On every backend."""
import datetime
import json

from models import Activity, AuditEntry, FollowUpRule, Lead, OutboxMessage, RuleAction
from services.core.actors import Actor
from services.crm import activities, leads, pipeline
from services.followups import automation, rule_lines

NOW = datetime.datetime(2026, 3, 2, 9, 0)
HOUR = datetime.timedelta(hours=1)


def add_rule(name, event, conditions, actions, priority=100):
    return FollowUpRule.create(name=name, event=event,
                               conditions=json.dumps(rule_lines.parse_conditions(conditions, event)),
                               actions=json.dumps(rule_lines.parse_actions(actions)), priority=priority)


def texts_starting(prefix):
    return [m.text for m in OutboxMessage.select().order_by(OutboxMessage.id)
            if m.text.startswith(prefix)]


def test_an_urgent_referral_is_assigned_once_and_its_call_and_alert_are_for_that_owner(
        any_db, make_user):
    """The default rules on the issue's lead: source referral, priority urgent, no owner."""
    dana = make_user(role="dispatcher", first_name="Dana")
    sue = make_user(first_name="Sue")
    lead = leads.add_lead({"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com",
                           "phone": "+14155550100", "country": "US"},
                          details={"source": "referral", "priority": "urgent"})
    lead = Lead.get_by_id(lead.id)
    assert lead.owner_id == sue.id
    assert AuditEntry.select().where(AuditEntry.event == "lead.assigned").count() == 1
    [call] = Activity.select().where(Activity.subject == "Call urgent lead now")
    assert call.assigned_to_id == sue.id
    alerts = texts_starting("🚨 Urgent lead")
    assert len(alerts) == 2  # Dana and Sue: the team
    assert all("owner: Sue" in text and "nobody" not in text for text in alerts)
    agenda = activities.agenda(Actor.member(sue), "UTC", now=call.due_at + HOUR)
    assert call.id in [a.id for a in agenda.overdue + agenda.today]
    assert not activities.agenda(Actor.member(dana), "UTC", now=call.due_at + HOUR).unassigned


def test_immediate_assigns_run_first_in_priority_order_then_the_rest_in_priority_order(
        any_db, make_lead, make_user):
    FollowUpRule.delete().execute()
    ann, bob, cy = (make_user(first_name=name) for name in ("Ann", "Bob", "Cy"))
    later = add_rule("assign later", "lead.created", "", f"assign member:{cy.id} after 1h", priority=0)
    tell = add_rule("tell", "lead.created", "",
                    'create_activity call "Call now"\nsend_notification urgent_lead to team',
                    priority=1)
    first = add_rule("to Ann", "lead.created", "", f"assign member:{ann.id}", priority=2)
    second = add_rule("to Bob", "lead.created", "", f"assign member:{bob.id}", priority=3)
    lead = make_lead()
    created = automation.run_rules("lead.created", lead, now=NOW)
    # The rows keep rule priority order; the order they ran in is what they saw.
    assert [row.rule_id for row in created] == [later.id, tell.id, tell.id, first.id, second.id]
    assert [row.status for row in created] == ["pending", "done", "done", "done", "done"]
    owners = [json.loads(e.changes)["owner"] for e in
              AuditEntry.select().where(AuditEntry.event == "lead.assigned").order_by(AuditEntry.id)]
    assert owners == [[None, ann.id], [ann.id, bob.id]]
    assert Activity.get(Activity.subject == "Call now").assigned_to_id == bob.id
    assert texts_starting("🚨 Urgent lead") and \
        all("(owner: Bob)" in text for text in texts_starting("🚨 Urgent lead"))
    assert RuleAction.get_by_id(created[0].id).status == "pending"  # a delayed assign waits


def _unowned_website_lead(make_lead):
    """A website lead nobody owns whose rule call (due an hour after) has been created."""
    lead = make_lead(source="website")
    automation.run_rules("lead.created", lead, now=NOW)
    assert automation.run_due(NOW + HOUR)["done"] == 1
    call = Activity.get(Activity.lead == lead.id)
    assert (call.subject, call.assigned_to_id) == ("Call new website lead", None)
    return lead, call


def test_rule_activities_made_while_nobody_owned_the_lead_follow_the_owner_it_gets(
        any_db, make_lead, make_user):
    dana, sue, sam = make_user(role="dispatcher"), make_user(), make_user()
    lead, call = _unowned_website_lead(make_lead)
    logged = activities.log(Actor.panel(), lead.id, "email", "Someone's email", due_at=NOW,
                            now=NOW)  # not a rule's: stays for the dispatchers to give out
    done = Activity.create(lead=lead, type="call", subject="Done already", rule=call.rule_id,
                           completed_at=NOW, created_at=NOW)
    pipeline.assign(Actor.member(dana), lead.id, sue.id, now=NOW + 2 * HOUR)
    assert Activity.get_by_id(call.id).assigned_to_id == sue.id
    assert Activity.get_by_id(logged.id).assigned_to_id is None
    assert Activity.get_by_id(done.id).assigned_to_id is None
    [entry] = AuditEntry.select().where(AuditEntry.event == "activity.assigned")
    assert (entry.entity_id, json.loads(entry.changes), entry.actor_label) == \
        (call.id, {"assigned_to": [None, sue.id]}, dana.display_name + " (dispatcher)")
    # Handed on later, it stays with whoever has it: the owner's own work is theirs.
    pipeline.assign(Actor.member(dana), lead.id, sam.id, now=NOW + 3 * HOUR)
    assert Activity.get_by_id(call.id).assigned_to_id == sue.id


def test_taking_a_lead_takes_its_waiting_rule_activities(any_db, make_lead, make_user):
    sue = make_user()
    lead, call = _unowned_website_lead(make_lead)
    assert pipeline.take(Actor.member(sue), lead.id, now=NOW + 2 * HOUR) is None
    assert Activity.get_by_id(call.id).assigned_to_id == sue.id
