"""Client conversations (issue 11).

- A lead becomes the client record: profile columns (middle name, gender, date of
  birth, address, comments; passport number and tax PIN encrypted), an opt-out time,
  and last name and country may be empty ("" until known).
- `contact`: every way to reach a client, unique within its kind. The lead's email and
  phone move there, and the lead's own columns go, so there is one place for each.
- The dialogue table (the wizards' state) is renamed `dialogue_state`, freeing
  `conversation` for the clients' conversations: `conversation`, `message`,
  `conversation_read` (read state per reader) and `message_template` (seeded from
  services/inbox/default_templates.py).
- `outbox` rows can belong to a conversation, remember Telegram's id of the sent message
  (a member's reply to a notification finds its conversation by it), copy media and set
  a reaction (the bot's 👌 on a member's message it relayed).
"""
import logging

from peewee import (
    BigIntegerField,
    CharField,
    DateField,
    DateTimeField,
    ForeignKeyField,
    Model,
    PostgresqlDatabase,
    ProgrammingError,
    TextField,
)
from playhouse.migrate import migrate

log = logging.getLogger("leadgram.migrations")


def up(migrator, db):
    postgres = isinstance(db, PostgresqlDatabase)
    _rename_dialogues(db, postgres)

    class Lead(Model):
        class Meta:
            database = db
            table_name = "lead"

    class Contact(Model):
        lead = ForeignKeyField(Lead, backref="contacts", on_delete="CASCADE")
        kind = CharField()
        value = CharField()
        label = CharField(null=True)
        created_at = DateTimeField()

        class Meta:
            database = db
            table_name = "contact"
            indexes = ((("kind", "value"), True),)

    db.create_tables([Contact])
    for kind in ("email", "phone"):
        db.execute_sql(f"INSERT INTO contact (lead_id, kind, value, created_at) "
                       f"SELECT id, '{kind}', {kind}, created_at FROM lead ORDER BY id")
    for index in ("lead_search_trgm", "lead_email", "lead_phone"):
        db.execute_sql(f"DROP INDEX IF EXISTS {index}")
    db.execute_sql("ALTER TABLE lead DROP COLUMN email")
    db.execute_sql("ALTER TABLE lead DROP COLUMN phone")
    if postgres:
        _trigram_indexes(db)
    migrate(
        migrator.add_column("lead", "middle_name", CharField(null=True)),
        migrator.add_column("lead", "gender", CharField(null=True)),
        migrator.add_column("lead", "date_of_birth", DateField(null=True)),
        migrator.add_column("lead", "address", TextField(null=True)),
        migrator.add_column("lead", "passport_number", TextField(null=True)),
        migrator.add_column("lead", "tax_pin", TextField(null=True)),
        migrator.add_column("lead", "comments", TextField(null=True)),
        migrator.add_column("lead", "opted_out_at", DateTimeField(null=True)),
    )

    class User(Model):
        class Meta:
            database = db
            table_name = "user"

    class Conversation(Model):
        lead = ForeignKeyField(Lead, unique=True, on_delete="CASCADE")
        status = CharField(default="open")
        last_message_id = BigIntegerField(null=True)
        last_message_at = DateTimeField(null=True)
        last_inbound_id = BigIntegerField(null=True)
        created_at = DateTimeField()
        closed_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "conversation"

    class OutboxMessage(Model):
        class Meta:
            database = db
            table_name = "outbox"

    class Message(Model):
        conversation = ForeignKeyField(Conversation, on_delete="CASCADE")
        direction = CharField()
        sender_kind = CharField()
        sender = ForeignKeyField(User, null=True, on_delete="SET NULL")
        sender_label = CharField()
        transport = CharField(default="telegram")
        text = TextField(null=True)
        attachments = TextField(default="[]")
        external_id = BigIntegerField(null=True)
        outbox = ForeignKeyField(OutboxMessage, null=True, on_delete="SET NULL")
        created_at = DateTimeField()
        read_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "message"
            indexes = ((("conversation", "id"), False),)

    class ConversationRead(Model):
        conversation = ForeignKeyField(Conversation, on_delete="CASCADE")
        reader = CharField()
        last_read_id = BigIntegerField(default=0)
        notified_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "conversation_read"
            indexes = ((("conversation", "reader"), True), (("reader",), False))

    class MessageTemplate(Model):
        name = CharField(unique=True)
        text = TextField()
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            database = db
            table_name = "message_template"

    db.create_tables([Conversation, Message, ConversationRead, MessageTemplate])
    migrate(
        migrator.add_column("outbox", "conversation_id", ForeignKeyField(
            Conversation, null=True, field=Conversation.id, on_delete="CASCADE")),
        migrator.add_column("outbox", "sent_message_id", BigIntegerField(null=True)),
        migrator.add_column("outbox", "copy_from_chat_id", BigIntegerField(null=True)),
        migrator.add_column("outbox", "copy_message_id", BigIntegerField(null=True)),
        migrator.add_column("outbox", "reaction", CharField(null=True)),
    )
    # The conversation lists, newest first, read in index order on both databases.
    db.execute_sql("CREATE INDEX conversation_status_recent ON conversation "
                   "(status, last_message_at DESC, id DESC)")
    db.execute_sql("CREATE INDEX outbox_recipient_id_sent_message_id ON outbox "
                   "(recipient_id, sent_message_id)")
    from services.inbox.default_templates import seed_default_templates
    seed_default_templates(db, ("welcome", "quote_followup"))


def _rename_dialogues(db, postgres):
    db.execute_sql("ALTER TABLE conversation RENAME TO dialogue_state")
    if postgres:  # the names Postgres gave along with the table follow it
        db.execute_sql("ALTER SEQUENCE IF EXISTS conversation_id_seq RENAME TO dialogue_state_id_seq")
        db.execute_sql("ALTER INDEX IF EXISTS conversation_pkey RENAME TO dialogue_state_pkey")
        db.execute_sql("ALTER INDEX IF EXISTS conversation_user_id RENAME TO dialogue_state_user_id")
        db.execute_sql("ALTER TABLE dialogue_state RENAME CONSTRAINT conversation_user_id_fkey "
                       "TO dialogue_state_user_id_fkey")
    else:  # SQLite cannot rename an index
        db.execute_sql("DROP INDEX IF EXISTS conversation_user_id")
        db.execute_sql("CREATE UNIQUE INDEX dialogue_state_user_id ON dialogue_state (user_id)")


def _trigram_indexes(db):
    """Postgres: the lead search moves from the lead's email and phone to its contacts."""
    try:
        with db.atomic():  # a savepoint: no pg_trgm (see 0003) must not abort the migration
            db.execute_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except ProgrammingError as exc:
        log.warning("lead search stays unindexed: cannot create extension pg_trgm (%s)",
                    str(exc).strip())
        return
    db.execute_sql("CREATE INDEX lead_search_trgm ON lead USING gin "
                   "(first_name gin_trgm_ops, last_name gin_trgm_ops)")
    db.execute_sql("CREATE INDEX contact_search_trgm ON contact USING gin (value gin_trgm_ops)")
