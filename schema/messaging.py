"""Messages and what the processes keep about them: client conversations and their
messages, templates, broadcasts, the outbox and its pace, dialogues, handled updates,
heartbeats, panel sessions and the audit log."""
from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateTimeField,
    DoubleField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from database import utcnow
from schema.base import BaseModel
from schema.crm import Lead, User


class Conversation(BaseModel):
    """A client's one conversation with the team, across channels (services/inbox)."""
    lead = ForeignKeyField(Lead, unique=True, backref="conversation", on_delete="CASCADE")
    status = CharField(default="open")       # open | closed; a client's message reopens it
    last_message_id = BigIntegerField(null=True)   # newest Message, for previews
    last_message_at = DateTimeField(null=True)     # set at creation: the lists sort by it
    last_inbound_id = BigIntegerField(null=True)   # the client's newest: unread past a mark
    created_at = DateTimeField(default=utcnow)
    closed_at = DateTimeField(null=True)

    # Migration 0008 indexes (status, last_message_at DESC, id DESC): the lists' order.


class Broadcast(BaseModel):
    """A message the deployer sent from the admin panel: one outbox row per recipient."""
    text = TextField()
    audience = CharField()
    test_mode = BooleanField(default=False)
    recipients = IntegerField(default=0)
    created_by = CharField()
    created_at = DateTimeField(default=utcnow)


class OutboxMessage(BaseModel):
    """One message to one recipient; the scheduler moves it
    pending -> sending -> sent | failed (or back to pending to retry), and
    the panel may cancel a pending one. A Telegram row goes to `recipient`'s chat; an
    email, SMS or WhatsApp row to `address` (services/delivery/channels.py)."""
    key = CharField(unique=True)
    recipient = ForeignKeyField(User, null=True, backref="outbox")
    channel = CharField(default="telegram")
    address = CharField(null=True)      # email address or E.164 phone: not a Telegram row
    headers = TextField(null=True)      # JSON: the channel's extras (email subject, threading…)
    broadcast = ForeignKeyField(Broadcast, null=True, backref="messages", on_delete="CASCADE")
    text = TextField()
    parse_mode = CharField(default="HTML")
    status = CharField(default="pending")
    attempts = IntegerField(default=0)
    parts_sent = IntegerField(default=0)
    next_attempt_at = DateTimeField(default=utcnow)
    claimed_by = CharField(null=True)
    claimed_at = DateTimeField(null=True)
    sent_at = DateTimeField(null=True)
    last_error = TextField(null=True)
    created_at = DateTimeField(default=utcnow)
    # Bot replies (services/chat/replies.py): buttons as JSON, the message a reply edits,
    # and when an unsent reply is too late to send.
    reply_markup = TextField(null=True)
    edit_message_id = BigIntegerField(null=True)
    expires_at = DateTimeField(null=True)
    reaction = CharField(null=True)   # set this emoji on `edit_message_id` instead of editing it
    # Set the recipient's command menu to this JSON [[name, description], …] ("[]": back to
    # the bot's default) instead of sending text: a role change reaches Telegram at once.
    commands = TextField(null=True)
    # Client conversations (services/inbox): the conversation a row is about (a relay to
    # the client, or a notification a member may answer with Telegram's reply), the id
    # Telegram gave the sent message, and for relayed media the message to copy.
    conversation = ForeignKeyField(Conversation, null=True, backref="outbox",
                                   on_delete="CASCADE")
    sent_message_id = BigIntegerField(null=True)
    copy_from_chat_id = BigIntegerField(null=True)
    copy_message_id = BigIntegerField(null=True)
    # The provider's id of the sent message (Twilio's SID, the email's Message-ID) and the
    # delivery state it last reported (queued, sent, delivered, undelivered, failed, read).
    provider_id = CharField(null=True)
    provider_status = CharField(null=True)
    provider_status_at = DateTimeField(null=True)
    # A client alert: the client's message it tells of, whose channel an answer takes.
    about_message_id = BigIntegerField(null=True)

    class Meta:
        table_name = "outbox"
        indexes = ((("status", "next_attempt_at", "id"), False),
                   (("recipient", "sent_message_id"), False),
                   (("provider_id",), False))


class SendPace(BaseModel):
    """The next free send slot of a channel (seconds since the epoch), shared by every
    process that sends on it: services/delivery/pacing.py."""
    name = CharField(primary_key=True)
    next_slot = DoubleField(default=0.0)

    class Meta:
        table_name = "send_pace"


class DialogueState(BaseModel):
    """A user's unfinished multi-step dialogue (e.g. the lead wizard)."""
    user = ForeignKeyField(User, unique=True, backref="dialogue", on_delete="CASCADE")
    flow = CharField()
    step = CharField()
    data = TextField(default="{}")
    updated_at = DateTimeField(default=utcnow)


class ProcessedUpdate(BaseModel):
    """Telegram update ids already handled, so a redelivered update is skipped."""
    update_id = BigIntegerField(primary_key=True)
    processed_at = DateTimeField(default=utcnow, index=True)


class Heartbeat(BaseModel):
    name = CharField(primary_key=True)
    beat_at = DateTimeField()
    detail = TextField(null=True)


class PanelSession(BaseModel):
    """A login to the admin panel; its id is the token in the signed session cookie.
    Logging out deletes the row, and a row made under other credentials (the password
    changed) is refused, so a copied cookie stops working: services/ops/panel_login.py."""
    id = CharField(primary_key=True)
    username = CharField()
    fingerprint = CharField()   # of the login it was opened with
    created_at = DateTimeField(default=utcnow)
    last_seen_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()


class AuditEntry(BaseModel):
    """One write by the bot, the panel, a rule or a scheduled job: services/core/audit.py."""
    at = DateTimeField(default=utcnow, index=True)
    actor_kind = CharField()             # member | panel | rule | job | system
    actor_ref = CharField(null=True)     # member id, panel login, rule id or job name
    actor_label = CharField()            # as people read it, kept if the actor goes
    event = CharField()                  # "lead.stage_changed": entity and action
    entity = CharField()
    entity_id = BigIntegerField(null=True)
    changes = TextField(default="{}")    # JSON {field: [before, after]}, secrets masked

    class Meta:
        table_name = "audit_log"
        indexes = ((("entity", "entity_id", "at"), False),
                   (("actor_kind", "actor_ref", "at"), False))

    @property
    def action(self):
        return self.event.rpartition(".")[2]


class Message(BaseModel):
    """One message of a conversation, never edited. An outbound one is delivered by its
    outbox row, whose status, sent time and error are the message's."""
    conversation = ForeignKeyField(Conversation, backref="messages", on_delete="CASCADE")
    direction = CharField()                  # in | out
    sender_kind = CharField()                # client | member | panel | rule | system
    sender = ForeignKeyField(User, null=True, on_delete="SET NULL")   # the member
    sender_label = CharField()               # as people read it, kept if the sender goes
    transport = CharField(default="telegram")   # the channel: telegram | email | sms | whatsapp
    address = CharField(null=True)           # the client's: email address, E.164 phone, chat id
    text = TextField(null=True)
    attachments = TextField(default="[]")    # JSON: services/inbox/attachments.py
    external_id = BigIntegerField(null=True)  # Telegram's id of an inbound message
    # Other channels' id of a message, in or out: an email's Message-ID, Twilio's SID.
    external_ref = CharField(null=True)
    # JSON: what the channel adds (an email's subject, References, and the text as it
    # came, before quoted history and signature were trimmed).
    details = TextField(null=True)
    outbox = ForeignKeyField(OutboxMessage, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    read_at = DateTimeField(null=True)       # inbound: first read by someone on the team

    class Meta:
        indexes = ((("conversation", "id"), False),
                   (("transport", "external_ref"), False))


class ConversationRead(BaseModel):
    """How far one reader ("member:<id>" or "panel:<login>") has read a conversation, and
    when that member was last notified of it (a burst notifies once a minute)."""
    conversation = ForeignKeyField(Conversation, backref="reads", on_delete="CASCADE")
    reader = CharField()
    last_read_id = BigIntegerField(default=0)
    notified_at = DateTimeField(null=True)

    class Meta:
        table_name = "conversation_read"
        indexes = ((("conversation", "reader"), True), (("reader",), False))


class MessageTemplate(BaseModel):
    """A canned message with placeholders: services/inbox/templates.py."""
    name = CharField(unique=True)
    text = TextField()
    # The approved WhatsApp template (Twilio Content SID, HX…) sent for it outside the
    # 24 hours after a client's last WhatsApp message.
    whatsapp_content_sid = CharField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "message_template"


class InboundEvent(BaseModel):
    """Something a provider told us, stored before it is acted on (store, then work): a
    Twilio webhook (an SMS or WhatsApp message, a delivery status) or a mail taken from
    the IMAP mailbox. Unique by the provider's id, so a retried delivery is stored once;
    the scheduler works through the unprocessed ones: services/inbox/inbound.py."""
    source = CharField()                  # sms | whatsapp | status | email
    external_ref = CharField()            # MessageSid (+ status), the mailbox UID…
    payload = TextField()                 # JSON, as received
    received_at = DateTimeField(default=utcnow)
    processed_at = DateTimeField(null=True)
    attempts = IntegerField(default=0)
    last_error = TextField(null=True)

    class Meta:
        table_name = "inbound_event"
        indexes = ((("source", "external_ref"), True), (("processed_at", "id"), False))


class ChannelState(BaseModel):
    """How a channel last fared, for the log's reader and the panel (sending, polling
    the mailbox, refused webhooks), and where the mailbox poll stands (IMAP UIDs)."""
    name = CharField(primary_key=True)    # email | imap | sms | whatsapp | twilio_webhooks | oxapay_webhooks
    ok_at = DateTimeField(null=True)
    error_at = DateTimeField(null=True)
    error = TextField(null=True)
    uid_validity = BigIntegerField(null=True)
    last_uid = BigIntegerField(null=True)

    class Meta:
        table_name = "channel_state"
