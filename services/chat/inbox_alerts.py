"""Telling the team that a client wrote: their owner, else the dispatchers and admins,
once a minute per member however fast the client types. The alert carries Reply, Open
and Take buttons, and answering it with Telegram's reply answers the client
(services/chat/inbox.py)."""
import datetime

from models import Message, User, utcnow
from services.chat import buttons
from services.chat.replies import keyboard
from services.core import events
from services.core.actors import SEE_ALL_ROLES
from services.delivery import outbox
from services.delivery.channels import TELEGRAM
from services.inbox import destinations, messages, reads
from services.inbox.sending import RELAY_MAX_AGE

QUIET_INTERVAL = datetime.timedelta(minutes=1)


def register():
    events.subscribe("message.received", on_message_received)
    events.subscribe("message.undelivered", on_message_undelivered)


def recipients(owner):
    """The client's owner (a User or None) when reachable, else the dispatchers and admins
    who take notifications."""
    if owner is not None and owner.is_team and not owner.unreachable:
        return [owner]
    return list(User.lead_recipients().where(User.role.in_(SEE_ALL_ROLES)))


def on_message_received(event):
    lead, conversation, message = (event.data["lead"], event.data["conversation"],
                                   event.data["message"])
    now = event.data.get("now") or utcnow()
    owner = User.get_or_none(User.id == lead.owner_id) if lead.owner_id else None
    channel = "" if message.transport == TELEGRAM else \
        destinations.describe(message.transport, message.address)
    text = messages.client_message(lead, message, owner.display_name if owner else None, channel)
    markup = keyboard(conversation_buttons(conversation.id, owned=owner is not None))
    for member in recipients(owner):
        if reads.claim_notification(f"member:{member.id}", conversation.id, QUIET_INTERVAL, now):
            outbox.enqueue(f"inbox:{message.id}:to:{member.id}", member, text,
                           reply_markup=markup, conversation=conversation,
                           about_message_id=message.id,
                           expires_at=now + RELAY_MAX_AGE, next_attempt_at=now)
    return ()


def on_message_undelivered(event):
    """A member's message to a client failed for good: tell them why, in their chat."""
    message = (Message.select().where(Message.outbox == event.entity_id).first())
    if message is None or message.sender_id is None:
        return ()
    member = User.get_or_none(User.id == message.sender_id)
    if member is None or not member.is_team:
        return ()
    now = utcnow()
    outbox.enqueue(f"undelivered:{event.entity_id}", member,
                   messages.undelivered(message.conversation.lead.full_name,
                                        event.data.get("error") or ""),
                   conversation=message.conversation_id, expires_at=now + RELAY_MAX_AGE,
                   next_attempt_at=now)
    return ()


def conversation_buttons(conversation_id, owned, with_open=True):
    """Reply, Open (unless the conversation is what is shown) and, for a client nobody
    owns yet, Take."""
    row = [("↩️ Reply", buttons.encode("chat", action="reply", conversation_id=conversation_id))]
    if with_open:
        row.append(("📖 Open", buttons.encode("chat", action="open",
                                              conversation_id=conversation_id)))
    if not owned:
        row.append(("✋ Take", buttons.encode("chat", action="take",
                                             conversation_id=conversation_id)))
    return [row]
