"""Pipeline, activities and follow-up rules (issue 4, seeds 003 and 004).

- `lead` gains stage, sales_stage, source, business_domain, priority, value, owner,
  assigned_at, last_activity_at (existing leads: their creation time) and stale_event_at.
- New tables: lead_score, stage_change (audit log), follow_up_rule, activity, rule_action,
  job_run.
- The eight default rules of seed 003 are added once; deployers may edit or delete them.

The tables are frozen copies of models.py as of this release, as peewee's runner expects.
"""
import datetime
import json

from peewee import (
    BooleanField, CharField, DateTimeField, DecimalField, FloatField, ForeignKeyField,
    IntegerField, Model, TextField,
)
from playhouse.migrate import migrate


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


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


def seed_default_rules(db):
    """Insert the default rules (also used by tests after they empty the tables)."""
    now = _now()
    for name, description, event, conditions, actions, priority in DEFAULT_RULES:
        db.execute_sql(
            "INSERT INTO follow_up_rule (name, description, event, conditions, actions, priority, "
            "active, created_at, updated_at) VALUES ({0})".format(", ".join([db.param] * 9)),
            (name, description, event, json.dumps(conditions), json.dumps(actions), priority,
             True, now, now))


def up(migrator, db):
    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    class Lead(Model):
        class Meta:
            database = db
            table_name = "lead"

    class LeadScore(Model):
        lead = ForeignKeyField(Lead, on_delete="CASCADE")
        score = FloatField()
        recommendation = CharField()
        reason = TextField()
        model = CharField()
        signature = CharField()
        created_at = DateTimeField(default=_now)

        class Meta:
            database = db
            table_name = "lead_score"
            indexes = ((("lead", "created_at"), False),)

    class StageChange(Model):
        lead = ForeignKeyField(Lead, on_delete="CASCADE")
        pipeline = CharField()
        from_stage = CharField(null=True)
        to_stage = CharField()
        changed_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        actor = CharField()
        changed_at = DateTimeField(default=_now)

        class Meta:
            database = db
            table_name = "stage_change"
            indexes = ((("lead", "changed_at"), False),)

    class FollowUpRule(Model):
        name = CharField(unique=True)
        description = TextField(default="")
        event = CharField()
        conditions = TextField(default="[]")
        actions = TextField(default="[]")
        priority = IntegerField(default=100)
        active = BooleanField(default=True, index=True)
        created_at = DateTimeField(default=_now)
        updated_at = DateTimeField(default=_now)

        class Meta:
            database = db
            table_name = "follow_up_rule"

    class Activity(Model):
        lead = ForeignKeyField(Lead, on_delete="CASCADE")
        type = CharField()
        subject = CharField(max_length=200)
        description = TextField(null=True)
        assigned_to = ForeignKeyField(User, null=True, on_delete="SET NULL")
        created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        rule = ForeignKeyField(FollowUpRule, null=True, on_delete="SET NULL")
        scheduled_at = DateTimeField(null=True)
        due_at = DateTimeField(null=True)
        completed_at = DateTimeField(null=True)
        completed_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
        outcome = CharField(null=True)
        reminded_at = DateTimeField(null=True)
        overdue_notified_at = DateTimeField(null=True)
        created_at = DateTimeField(default=_now)

        class Meta:
            database = db
            table_name = "activity"

    Activity.add_index(Activity.index(Activity.due_at).where(Activity.completed_at.is_null()))
    Activity.add_index(Activity.index(Activity.assigned_to, Activity.due_at)
                       .where(Activity.completed_at.is_null()))
    Activity.add_index(Activity.index(Activity.lead, Activity.created_at))

    class RuleAction(Model):
        key = CharField(unique=True)
        rule = ForeignKeyField(FollowUpRule, on_delete="CASCADE")
        action_index = IntegerField()
        action = TextField()
        event = CharField()
        payload = TextField()
        lead = ForeignKeyField(Lead, null=True, on_delete="CASCADE")
        depth = IntegerField(default=0)
        due_at = DateTimeField()
        status = CharField(default="pending")
        result = TextField(null=True)
        executed_at = DateTimeField(null=True)
        created_at = DateTimeField(default=_now)

        class Meta:
            database = db
            table_name = "rule_action"
            indexes = ((("status", "due_at"), False),)

    class JobRun(Model):
        name = CharField(primary_key=True)
        last_slot = DateTimeField()
        started_at = DateTimeField(null=True)
        finished_at = DateTimeField(null=True)
        last_error = TextField(null=True)

        class Meta:
            database = db
            table_name = "job_run"

    migrate(
        migrator.add_column("lead", "stage", CharField(default="new")),
        migrator.add_column("lead", "sales_stage", CharField(null=True)),
        migrator.add_column("lead", "source", CharField(default="other")),
        migrator.add_column("lead", "business_domain", CharField(null=True)),
        migrator.add_column("lead", "priority", CharField(default="normal")),
        migrator.add_column("lead", "value", DecimalField(max_digits=12, decimal_places=2,
                                                          default=0)),
        migrator.add_column("lead", "owner_id", ForeignKeyField(
            User, null=True, on_delete="SET NULL", field=User.id)),
        migrator.add_column("lead", "assigned_at", DateTimeField(null=True)),
        migrator.add_column("lead", "last_activity_at", DateTimeField(default=_now)),
        migrator.add_column("lead", "stale_event_at", DateTimeField(null=True)),
        migrator.add_index("lead", ["stage"]),
        migrator.add_index("lead", ["last_activity_at"]),
    )
    db.execute_sql("UPDATE lead SET last_activity_at = created_at")
    db.create_tables([LeadScore, StageChange, FollowUpRule, Activity, RuleAction, JobRun])
    seed_default_rules(db)
