"""Pipeline, activities and follow-up rules (issue 4, seeds 003 and 004).

- `lead` gains stage, sales_stage, source, business_domain, priority, value, owner,
  assigned_at, last_activity_at (existing leads: their creation time) and stale_event_at.
- New tables: lead_score, stage_change (audit log), follow_up_rule, activity, rule_action,
  job_run.
- The eight default rules of seed 003 are added once; deployers may edit or delete them.
  Their data lives in services/followups/defaults.py (the tests seed them from there too).

The tables are frozen copies of models.py as of this release, as peewee's runner expects.
"""
import datetime

from peewee import (
    BooleanField,
    CharField,
    DateTimeField,
    DecimalField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)
from playhouse.migrate import migrate


def _now():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


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
    # Imported here, when the migration runs: plain INSERTs through this `db`, no models.
    from services.followups.defaults import seed_default_rules
    seed_default_rules(db)
