"""Users, invites, leads, outbox, conversations, processed updates, heartbeats.

A frozen copy of the schema as it was at this migration, independent of
models.py, as peewee's migration runner recommends.
"""
import datetime

from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)


def up(migrator, db):
    now = datetime.datetime.utcnow

    class Base(Model):
        class Meta:
            database = db
            legacy_table_names = False

    class User(Base):
        telegram_id = BigIntegerField(unique=True)
        username = CharField(null=True)
        first_name = CharField(null=True)
        last_name = CharField(null=True)
        role = CharField(null=True)
        notify = BooleanField(default=True)
        unreachable = BooleanField(default=False)
        unreachable_reason = TextField(null=True)
        last_message_sent_at = DateTimeField(null=True)
        created_at = DateTimeField(default=now)
        joined_at = DateTimeField(null=True)

    class Invite(Base):
        token = CharField(unique=True)
        role = CharField()
        created_by = ForeignKeyField(User)
        created_at = DateTimeField(default=now)
        expires_at = DateTimeField()
        used_by = ForeignKeyField(User, null=True)
        used_at = DateTimeField(null=True)

    class Lead(Base):
        email = CharField(unique=True)
        phone = CharField(unique=True)
        first_name = CharField()
        last_name = CharField()
        country = CharField(max_length=2)
        created_by = ForeignKeyField(User)
        created_at = DateTimeField(default=now, index=True)

    class OutboxMessage(Base):
        key = CharField(unique=True)
        recipient = ForeignKeyField(User)
        text = TextField()
        parse_mode = CharField(default="HTML")
        status = CharField(default="pending")
        attempts = IntegerField(default=0)
        parts_sent = IntegerField(default=0)
        next_attempt_at = DateTimeField(default=now)
        claimed_by = CharField(null=True)
        claimed_at = DateTimeField(null=True)
        sent_at = DateTimeField(null=True)
        last_error = TextField(null=True)
        created_at = DateTimeField(default=now)

        class Meta:
            table_name = "outbox"
            indexes = ((("status", "next_attempt_at", "id"), False),)

    class Conversation(Base):
        user = ForeignKeyField(User, unique=True, on_delete="CASCADE")
        flow = CharField()
        step = CharField()
        data = TextField(default="{}")
        updated_at = DateTimeField(default=now)

    class ProcessedUpdate(Base):
        update_id = BigIntegerField(primary_key=True)
        processed_at = DateTimeField(default=now, index=True)

    class Heartbeat(Base):
        name = CharField(primary_key=True)
        beat_at = DateTimeField()
        detail = TextField(null=True)

    db.create_tables([User, Invite, Lead, OutboxMessage, Conversation,
                      ProcessedUpdate, Heartbeat])
