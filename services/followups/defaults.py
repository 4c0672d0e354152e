"""The eight follow-up rules a new Leadgram starts with (seed 003); deployers may edit or
delete them.

Migration 0004 seeds them once, and the tests seed them again after emptying the tables
(as a fresh database has them). The rules are written in stored form, as
services.followups.rules.check_rule normalises them (tests/followups/test_rules.py holds
them to that).

`seed_default_rules` writes plain INSERTs through the database it is given, not through
the models or services.followups.rulebook: a migration runs against the schema of its
own release, before later migrations (such as the audit log's table) exist.
Nothing here imports the models, so a migration may import this module.
"""
import datetime
import json


def _condition(field, operator, value=None):
    condition = {"field": field, "operator": operator}
    if value is not None:
        condition["value"] = value
    return condition


def _activity(kind, subject, hours, assign_to="lead_owner"):
    return {"type": "create_activity", "activity_type": kind, "subject": subject,
            "assign_to": assign_to, "delay_minutes": int(hours * 60)}


# (name, description, event, conditions, actions, priority). Conditions are checked again
# when a delayed action comes due, so each follow-up cancels itself once it no longer fits.
DEFAULT_RULES = [
    ("New website lead: call within the hour",
     "A lead from the website gets a call an hour after it arrives, unless someone already "
     "moved it on.",
     "lead.created",
     [_condition("source", "equals", "website"), _condition("stage", "equals", "new")],
     [_activity("call", "Call new website lead", 1)], 20),
    ("Quote sent: follow up after 2 days",
     "Two days after a quote goes out, call about it, unless the lead was lost or someone "
     "has talked to them since.",
     "quote.sent",
     [_condition("stage", "not_equals", "lost"),
      _condition("activities_done_since_event", "less_than", 1)],
     [_activity("call", "Follow up on quote", 48)], 30),
    ("Callback requested: call back next day",
     "When a call ends with 'callback requested', call back a day later, unless the "
     "callback already happened or the lead was lost.",
     "activity.completed",
     [_condition("outcome", "equals", "callback_requested"),
      _condition("stage", "not_equals", "lost"),
      _condition("activities_done_since_event", "less_than", 1)],
     [_activity("call", "Return customer callback", 24)], 10),
    ("Deal won: kickoff meeting",
     "When a sale is paid, book the kickoff meeting and tell the team.",
     "lead.stage_changed",
     [_condition("pipeline", "equals", "sales"), _condition("to_stage", "equals", "paid")],
     [_activity("meeting", "Job kickoff call", 0),
      {"type": "send_notification", "template": "deal_won", "to": "team", "delay_minutes": 0}],
     40),
    ("Lost lead: re-engage after 30 days",
     "Thirty days after a lead is lost, try once more.",
     "lead.stage_changed",
     [_condition("pipeline", "equals", "lead"), _condition("to_stage", "equals", "lost"),
      _condition("stage", "equals", "lost")],
     [_activity("call", "Re-engagement call", 24 * 30)], 90),
    ("Urgent lead: call now",
     "An urgent lead gets a call at once and the whole team hears about it.",
     "lead.created",
     [_condition("priority", "equals", "urgent")],
     [_activity("call", "Call urgent lead now", 0),
      {"type": "send_notification", "template": "urgent_lead", "to": "team", "delay_minutes": 0}],
     1),
    ("Referral lead: thank the referrer",
     "A referred lead is handed to the next salesperson if nobody owns it, who calls "
     "within two hours and thanks whoever referred them.",
     "lead.created",
     [_condition("source", "equals", "referral")],
     [{"type": "assign", "to": "round_robin_if_unowned", "delay_minutes": 0},
      {"type": "send_notification", "template": "referral_lead", "to": "lead_owner",
       "delay_minutes": 0},
      _activity("call", "Call referred lead and thank the referrer", 2)], 15),
    ("Agreement stage: weekly check-in",
     "A week after a sale reaches the agreement stage, check in, if it is still there.",
     "lead.stage_changed",
     [_condition("pipeline", "equals", "sales"), _condition("to_stage", "equals", "agreement"),
      _condition("sales_stage", "equals", "agreement")],
     [{"type": "create_activity", "activity_type": "follow_up",
       "subject": "Weekly check-in on the agreement", "assign_to": "lead_owner",
       "delay_minutes": 7 * 24 * 60}], 50),
]


def seed_default_rules(database):
    """Insert the default rules into `database` (a peewee database, e.g. the one a
    migration is given): the rows migration 0004 adds to a new install."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)  # naive UTC
    sql = ("INSERT INTO follow_up_rule (name, description, event, conditions, actions, priority, "
           "active, created_at, updated_at) VALUES ({})".format(", ".join([database.param] * 9)))
    for name, description, event, conditions, actions, priority in DEFAULT_RULES:
        database.execute_sql(sql, (name, description, event, json.dumps(conditions),
                                   json.dumps(actions), priority, True, now, now))
