"""Sending to a client: a member's reply (text, or media copied from their chat), a
template, or a rule's message. Each becomes a Message and an outbox row in one
transaction; the bot sends the row at once (rows with an expiry are the bot's), with the
outbox's guarantees: exactly once, 429s and 5xx retried, a blocked client marked.
"""
import datetime
import uuid

from models import OutboxMessage, db, utcnow
from services.core import policy
from services.core.inputs import plain_text
from services.core.markup import h
from services.delivery import outbox
from services.delivery.html import TELEGRAM_TEXT_LIMIT
from services.inbox import conversations, messages, templates

# A message to a client is still worth sending after a bot outage of hours; one a whole
# day late is dropped, and its conversation shows it was not delivered.
RELAY_MAX_AGE = datetime.timedelta(days=1)


class CannotSend(ValueError):
    pass


def send_text(actor, conversation_id, text, now=None):
    """A member's (or the panel's) typed reply, as plain text."""
    text = plain_text(text or "").strip()
    if not text:
        raise CannotSend(messages.EMPTY)
    if len(text) > TELEGRAM_TEXT_LIMIT:
        raise CannotSend(messages.TOO_LONG.format(length=len(text), limit=TELEGRAM_TEXT_LIMIT))
    return _send(actor, conversation_id, lambda lead: (h(text), text), (), None, now)


def send_copy(actor, conversation_id, from_chat_id, message_id, caption, attachments, now=None):
    """Media a member sent the bot, copied to the client (Telegram's copyMessage)."""
    caption = plain_text(caption or "").strip()
    return _send(actor, conversation_id, lambda lead: ("", caption), attachments,
                 (from_chat_id, message_id), now)


def send_notice(actor, conversation_id, html_text, plain, now=None):
    """A notice Leadgram composed (the shop's order and wallet news): Telegram HTML with
    user data already escaped, and its plain text for the conversation's history."""
    return _send(actor, conversation_id, lambda lead: (html_text, plain), (), None, now)


def send_template(actor, conversation_id, name, agent=None, now=None):
    """A template, its placeholders filled for the client, `agent` (a member) and the
    company (COMPANY_NAME)."""
    template = templates.get(name)
    if template is None:
        raise CannotSend(messages.NO_TEMPLATE.format(name=h(name)))

    def filled(lead):
        values = templates.values_for(lead, agent, policy.current().company)
        return templates.render(template.text, values), templates.render_plain(template.text, values)
    return _send(actor, conversation_id, filled, (), None, now)


def why_not(lead, client):
    """Why nothing can be sent to this client (`client`: their Telegram User or None) now,
    in Telegram HTML, or None when it can."""
    if lead.opted_out_at is not None:
        return messages.OPTED_OUT.format(name=h(lead.full_name))
    if client is None:
        return messages.NO_TELEGRAM
    if client.unreachable:
        return messages.UNREACHABLE.format(name=h(lead.full_name),
                                           reason=h(client.unreachable_reason or "blocked"))
    return None


def _send(actor, conversation_id, compose, attachments, copy_from, now):
    """Queue what `compose(lead)` makes, (Telegram HTML, plain text), for the client."""
    now = now or utcnow()
    with db.atomic():
        conversation = conversations.require(actor, conversation_id)
        lead = conversation.lead
        client = conversations.client_user(lead.id)
        refusal = why_not(lead, client)
        if refusal is not None:
            raise CannotSend(refusal)
        html_text, plain = compose(lead)
        key = f"client:{conversation.id}:{uuid.uuid4().hex}"
        copy_chat, copy_id = copy_from or (None, None)
        outbox.enqueue(key, client, html_text, conversation=conversation,
                       copy_from_chat_id=copy_chat, copy_message_id=copy_id,
                       expires_at=now + RELAY_MAX_AGE, next_attempt_at=now)
        row = OutboxMessage.get(OutboxMessage.key == key)
        return conversations.record_outbound(actor, conversation, plain, attachments, row, now)
