"""Email, SMS and WhatsApp beside Telegram (issue 14).

- `outbox` rows may go to an address instead of a member's or client's Telegram chat:
  `recipient` may be empty, `channel`, `address` and `headers` say where and how; the
  provider's id and delivery status are kept (`provider_id`, `provider_status`…); a
  client alert remembers the message it tells of (`about_message_id`).
- `message` keeps the client's address, other channels' message ids (`external_ref`) and
  channel details (an email's subject, References, its text before trimming).
- Consent moves from the lead to each contact (`contact.opted_out_at`): a client opts out
  of one channel at a time. A lead's Telegram /stop becomes its Telegram contact's.
- `message_template.whatsapp_content_sid`: the approved WhatsApp template to send for it.
- `inbound_event`: webhooks and mails stored before they are worked on; `channel_state`:
  each channel's last success and error, and the IMAP poll's UIDs.
"""
from peewee import (
    BigIntegerField,
    CharField,
    DateTimeField,
    IntegerField,
    Model,
    TextField,
)
from playhouse.migrate import migrate


def up(migrator, db):
    class InboundEvent(Model):
        source = CharField()
        external_ref = CharField()
        payload = TextField()
        received_at = DateTimeField()
        processed_at = DateTimeField(null=True)
        attempts = IntegerField(default=0)
        last_error = TextField(null=True)

        class Meta:
            database = db
            table_name = "inbound_event"
            indexes = ((("source", "external_ref"), True), (("processed_at", "id"), False))

    class ChannelState(Model):
        name = CharField(primary_key=True)
        ok_at = DateTimeField(null=True)
        error_at = DateTimeField(null=True)
        error = TextField(null=True)
        uid_validity = BigIntegerField(null=True)
        last_uid = BigIntegerField(null=True)

        class Meta:
            database = db
            table_name = "channel_state"

    db.create_tables([InboundEvent, ChannelState])
    migrate(
        migrator.drop_not_null("outbox", "recipient_id"),
        migrator.add_column("outbox", "channel", CharField(default="telegram")),
        migrator.add_column("outbox", "address", CharField(null=True)),
        migrator.add_column("outbox", "headers", TextField(null=True)),
        migrator.add_column("outbox", "provider_id", CharField(null=True)),
        migrator.add_column("outbox", "provider_status", CharField(null=True)),
        migrator.add_column("outbox", "provider_status_at", DateTimeField(null=True)),
        migrator.add_column("outbox", "about_message_id", BigIntegerField(null=True)),
        migrator.add_index("outbox", ("provider_id",)),
        migrator.add_column("message", "address", CharField(null=True)),
        migrator.add_column("message", "external_ref", CharField(null=True)),
        migrator.add_column("message", "details", TextField(null=True)),
        migrator.add_index("message", ("transport", "external_ref")),
        migrator.add_column("contact", "opted_out_at", DateTimeField(null=True)),
        migrator.add_column("message_template", "whatsapp_content_sid", CharField(null=True)),
    )
    db.execute_sql("UPDATE contact SET opted_out_at = (SELECT opted_out_at FROM lead "
                   "WHERE lead.id = contact.lead_id) WHERE kind = 'telegram'")
    migrate(migrator.drop_column("lead", "opted_out_at"))
