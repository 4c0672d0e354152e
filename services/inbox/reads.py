"""Read state: how far each reader has read each conversation, and what is unread.

A reader is a team member ("member:<id>") or a panel login ("panel:<login>"). Unread
means inbound messages after the reader's mark; whoever replies has read what came
before their reply.
"""
from peewee import JOIN, Case, fn

from models import Conversation, ConversationRead, Message, utcnow

# Counting stops here: "99+" says enough, and bounds the work for a busy conversation.
COUNT_CAP = 100


def reader_of(actor):
    """The read-state key of an Actor (member or panel), else None (rules, jobs)."""
    if actor.kind == "member" and actor.user is not None:
        return f"member:{actor.user.id}"
    if actor.kind == "panel":
        return f"panel:{actor.ref}"
    return None


def mark_read(reader, conversation_id, up_to_id, now=None):
    """Move the reader's mark forward to message `up_to_id` (never back); inbound messages
    first read now get their read time."""
    if reader is None or not up_to_id:
        return
    (ConversationRead
     .insert(conversation=conversation_id, reader=reader, last_read_id=up_to_id)
     .on_conflict(conflict_target=[ConversationRead.conversation, ConversationRead.reader],
                  update={ConversationRead.last_read_id: _greatest(up_to_id)})
     .execute())
    (Message.update(read_at=now or utcnow())
     .where(Message.conversation == conversation_id, Message.direction == "in",
            Message.id <= up_to_id, Message.read_at.is_null())
     .execute())


def _greatest(value):
    """The larger of the stored mark and `value`, written so both databases take it."""
    return Case(None, ((ConversationRead.last_read_id < value, value),),
                ConversationRead.last_read_id)


def unread_counts(reader, conversation_ids):
    """{conversation id: unread inbound messages (at most COUNT_CAP)} for these ids."""
    counts = {}
    marks = dict(ConversationRead.select(ConversationRead.conversation,
                                         ConversationRead.last_read_id)
                 .where(ConversationRead.reader == reader,
                        ConversationRead.conversation.in_(list(conversation_ids))).tuples())
    for conversation_id in conversation_ids:
        newer = (Message.select(Message.id)
                 .where(Message.conversation == conversation_id, Message.direction == "in",
                        Message.id > marks.get(conversation_id, 0))
                 .limit(COUNT_CAP))
        counts[conversation_id] = newer.count()
    return counts


def unread_conversations(reader, conversations):
    """How many of the `conversations` (a Conversation query) have unread messages for
    `reader`."""
    return (conversations
            .join(ConversationRead, JOIN.LEFT_OUTER,
                  on=((ConversationRead.conversation == Conversation.id)
                      & (ConversationRead.reader == reader)))
            .where(Conversation.last_inbound_id > fn.COALESCE(ConversationRead.last_read_id, 0))
            .count())


def claim_notification(reader, conversation_id, interval, now=None):
    """True when `reader` should be told about a new message now: not told within
    `interval` (a timedelta). A burst from one client tells each member once a minute."""
    now = now or utcnow()
    row, created = ConversationRead.get_or_create(conversation=conversation_id, reader=reader,
                                                  defaults={"notified_at": now})
    if created:
        return True
    return bool(ConversationRead.update(notified_at=now)
                .where(ConversationRead.id == row.id,
                       ConversationRead.notified_at.is_null()
                       | (ConversationRead.notified_at <= now - interval))
                .execute())
