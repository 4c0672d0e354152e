"""Shared send pacing and durable bot replies (issue 9).

- `send_pace`: one row per channel holding the next free send slot, so every
  process that talks to Telegram (any number of schedulers and the bot) keeps
  one global pace between them.
- `outbox` gains what a bot reply needs: an inline keyboard (`reply_markup`),
  the message a reply edits (`edit_message_id`) and the time after which an
  unsent reply is dropped (`expires_at`).
"""
from peewee import BigIntegerField, CharField, DateTimeField, DoubleField, Model, TextField
from playhouse.migrate import migrate


def up(migrator, db):
    class SendPace(Model):
        name = CharField(primary_key=True)
        next_slot = DoubleField()

        class Meta:
            database = db
            table_name = "send_pace"

    db.create_tables([SendPace])
    SendPace.insert(name="telegram", next_slot=0.0).on_conflict_ignore().execute()
    migrate(
        migrator.add_column("outbox", "reply_markup", TextField(null=True)),
        migrator.add_column("outbox", "edit_message_id", BigIntegerField(null=True)),
        migrator.add_column("outbox", "expires_at", DateTimeField(null=True)),
    )
