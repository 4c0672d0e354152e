"""Admin panel: broadcasts, leads added from the panel, the country filter.

- `broadcast` table; `outbox.broadcast_id` ties each message to its broadcast.
- `lead.created_by_id` may be NULL: a lead the deployer added in the panel.
- `lead.country` is indexed for the country filter and the dashboard chart.
"""
import datetime

from peewee import BooleanField, CharField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField
from playhouse.migrate import migrate


def up(migrator, db):
    class Broadcast(Model):
        text = TextField()
        audience = CharField()
        test_mode = BooleanField(default=False)
        recipients = IntegerField(default=0)
        created_by = CharField()
        created_at = DateTimeField(default=datetime.datetime.utcnow)

        class Meta:
            database = db
            table_name = "broadcast"

    db.create_tables([Broadcast])
    broadcast = ForeignKeyField(Broadcast, null=True, on_delete="CASCADE", field=Broadcast.id)
    migrate(
        migrator.add_column("outbox", "broadcast_id", broadcast),
        migrator.drop_not_null("lead", "created_by_id"),
        migrator.add_index("lead", ["country"]),
    )
