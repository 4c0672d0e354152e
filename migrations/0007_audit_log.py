"""The audit log (issue 10): one row per write made by the bot, the panel, rules
and the scheduler's jobs, with who made it and the changed fields before -> after."""
from peewee import BigIntegerField, CharField, DateTimeField, Model, TextField


def up(migrator, db):
    class AuditEntry(Model):
        at = DateTimeField(index=True)
        actor_kind = CharField()
        actor_ref = CharField(null=True)
        actor_label = CharField()
        event = CharField()
        entity = CharField()
        entity_id = BigIntegerField(null=True)
        changes = TextField(default="{}")

        class Meta:
            database = db
            table_name = "audit_log"
            indexes = ((("entity", "entity_id", "at"), False),
                       (("actor_kind", "actor_ref", "at"), False))

    db.create_tables([AuditEntry])
