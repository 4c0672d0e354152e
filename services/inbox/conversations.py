"""A client's one conversation with the team, and its messages.

Messages are never edited: an inbound one is stored as it came, an outbound one with
the outbox row that delivers it (whose status is the message's delivery state).
"""
import json

from peewee import JOIN

from models import Contact, Conversation, Lead, Message, OutboxMessage, User, db, utcnow
from services.core import events
from services.crm.access import AccessDenied, visible_leads
from services.inbox import attachments as attached, messages, reads

OPEN, CLOSED = "open", "closed"


class NoSuchConversation(LookupError):
    def __init__(self, conversation_id):
        super().__init__(messages.NO_SUCH_CONVERSATION.format(id=conversation_id))
HISTORY_SIZE = 20
PAGE_SIZE = 8


def of_lead(lead_id):
    return Conversation.get_or_none(Conversation.lead == lead_id)


def open_for(lead, now=None):
    """The lead's conversation, made on first use."""
    conversation = of_lead(lead.id)
    if conversation is None:
        now = now or utcnow()
        (Conversation.insert(lead=lead.id, status=OPEN, created_at=now, last_message_at=now)
         .on_conflict_ignore().execute())
        conversation = of_lead(lead.id)
    return conversation


def record_inbound(actor, lead, text, attachments=(), external_id=None, transport="telegram",
                   now=None, address=None, external_ref=None, details=None):
    """Store what a client sent on `transport` from `address` (the channel's ids of the
    message: Telegram's `external_id`, else `external_ref`; `details`: what else the
    channel tells, as a dict), reopen their conversation, and emit message.received (the
    team's notifications and the rules). Returns the Message."""
    now = now or utcnow()
    with db.atomic():
        conversation = open_for(lead, now)
        message = Message.create(
            conversation=conversation, direction="in", sender_kind="client",
            sender_label=lead.full_name, transport=transport, text=text or None,
            attachments=attached.dumps(attachments), external_id=external_id,
            address=None if address is None else str(address), external_ref=external_ref,
            details=json.dumps(details, ensure_ascii=False) if details else None,
            created_at=now)
        _latest(conversation, message, inbound=True)
        events.emit("message.received", actor, "conversation", conversation.id,
                    {"message": (None, message.id)}, lead=lead, conversation=conversation,
                    message=message, now=now, fields={"message_text": text or ""})
    return message


def record_outbound(actor, conversation, text, attachments, outbox_row, now=None,
                    details=None):
    """Store what the team (or a rule) sent, as delivered by `outbox_row` (on its channel,
    to its address); the sender has read everything before it."""
    now = now or utcnow()
    member = actor.user if actor.kind == "member" else None
    message = Message.create(
        conversation=conversation, direction="out", sender_kind=actor.kind, sender=member,
        sender_label=actor.label, transport=outbox_row.channel, text=text or None,
        address=outbox_row.address, attachments=attached.dumps(attachments),
        outbox=outbox_row, details=json.dumps(details, ensure_ascii=False) if details else None,
        created_at=now)
    _latest(conversation, message)
    reads.mark_read(reads.reader_of(actor), conversation.id, message.id, now)
    events.emit("message.sent", actor, "conversation", conversation.id,
                {"message": (None, message.id)}, conversation=conversation, message=message,
                now=now)
    return message


def _latest(conversation, message, inbound=False):
    """The conversation's newest message; the client's reopens it."""
    values = {"last_message_id": message.id, "last_message_at": message.created_at}
    if inbound:
        values.update(status=OPEN, closed_at=None, last_inbound_id=message.id)
    Conversation.update(values).where(Conversation.id == conversation.id).execute()


def close(actor, conversation_id, now=None):
    """Close a conversation (the client's next message reopens it); False if already closed."""
    with db.atomic():
        conversation = require(actor, conversation_id)
        if conversation.status == CLOSED:
            return False
        values = {"status": CLOSED, "closed_at": now or utcnow()}
        Conversation.update(values).where(Conversation.id == conversation.id).execute()
        events.emit("conversation.closed", actor, "conversation", conversation.id,
                    events.changed(conversation, values))
    return True


def visible(actor, query=None):
    """Conversations `actor` may see: as for leads, a salesperson only their clients'.
    The default query reads each conversation's client with it."""
    if query is None:
        return visible_leads(actor, Conversation.select(Conversation, Lead).join(Lead))
    if actor.sees_all:   # no join to count or filter: 45 ms saved at 50,000 conversations
        return query
    return visible_leads(actor, query.join(Lead))


def require(actor, conversation_id):
    """The conversation, if it exists and `actor` may see it."""
    conversation = Conversation.get_or_none(Conversation.id == conversation_id)
    if conversation is None:
        raise NoSuchConversation(conversation_id)
    lead = conversation.lead
    if not actor.sees_all and lead.owner_id != actor.user_id:
        raise AccessDenied(messages.NOT_YOUR_CONVERSATION.format(id=conversation_id))
    return conversation


def page(actor, number=0, per_page=PAGE_SIZE, status=OPEN, search=None):
    """One page of the conversations `actor` may see, newest first: (rows, page, pages),
    each row (conversation, last message or None, unread count)."""
    query = visible(actor)
    # Counting needs the client only to filter by owner or to search.
    counted = visible(actor, Conversation.select()) if search is None else query
    if status:
        query = query.where(Conversation.status == status)
        counted = counted.where(Conversation.status == status)
    if search is not None:
        query = counted = query.where(search)
    total = counted.count()
    pages = max(1, -(-total // per_page))
    number = min(max(number, 0), pages - 1)
    rows = list(query.order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
                .paginate(number + 1, per_page))
    last = {m.id: m for m in Message.select().where(
        Message.id.in_([c.last_message_id for c in rows if c.last_message_id]))}
    unread = reads.unread_counts(reads.reader_of(actor), [c.id for c in rows])
    return [(c, last.get(c.last_message_id), unread[c.id]) for c in rows], number, pages


def history(conversation_id, limit=HISTORY_SIZE, after_id=0, before_id=None):
    """The last `limit` messages after `after_id` (and before `before_id`: an older page),
    oldest first, with their outbox rows."""
    rows = (Message.select(Message, OutboxMessage)
            .join(OutboxMessage, JOIN.LEFT_OUTER, on=(Message.outbox == OutboxMessage.id))
            .where(Message.conversation == conversation_id, Message.id > after_id)
            .order_by(Message.id.desc()).limit(limit))
    if before_id is not None:
        rows = rows.where(Message.id < before_id)
    return list(reversed(list(rows)))


def find_by_external_ref(transport, refs):
    """The conversation of a message with one of the channel's ids `refs` (an email's
    In-Reply-To and References): one the client sent, or one we sent, by the id its
    provider gave it. None when there is none."""
    refs = [ref for ref in refs if ref][:100]
    if not refs:
        return None
    inbound = (Message.select(Message.conversation)
               .where(Message.transport == transport, Message.external_ref.in_(refs)).first())
    if inbound is not None:
        return inbound.conversation
    sent = (OutboxMessage.select(OutboxMessage.conversation)
            .where(OutboxMessage.channel == transport, OutboxMessage.provider_id.in_(refs),
                   OutboxMessage.conversation.is_null(False)).first())
    return sent.conversation if sent is not None else None


def has_message(transport, external_ref):
    """Whether the client's message with this channel id is stored (a provider's retry)."""
    return (Message.select().where(Message.transport == transport,
                                   Message.external_ref == external_ref).exists())


def last_inbound(lead_id, transport=None, address=None):
    """The client's newest message (on `transport`, from `address`), or None."""
    query = (Message.select(Message).join(Conversation)
             .where(Conversation.lead == lead_id, Message.direction == "in"))
    if transport is not None:
        query = query.where(Message.transport == transport)
    if address is not None:
        query = query.where(Message.address == str(address))
    return query.order_by(Message.id.desc()).first()


def received_since(lead_id, since):
    """How many messages the client wrote after `since` (rules: "unless they answered")."""
    return (Message.select().join(Conversation)
            .where(Conversation.lead == lead_id, Message.direction == "in",
                   Message.created_at > since).count())


def client_user(lead_id):
    """The client's Telegram account (a User), if they have written to the bot."""
    value = (Contact.select(Contact.value)
             .where(Contact.lead == lead_id, Contact.kind == "telegram")
             .order_by(Contact.id).scalar())
    return None if value is None else User.get_or_none(User.telegram_id == int(value))
