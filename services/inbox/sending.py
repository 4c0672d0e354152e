"""Sending to a client: a member's reply (text, or media copied from their chat), a
template, or a rule's message, on one of the client's channels (services/inbox/
destinations.py). Each becomes a Message and an outbox row in one transaction, with the
outbox's guarantees: exactly once, 429s and 5xx retried, failures kept and told.

A Telegram row is the bot's: it sends it the moment the transaction commits. An email,
SMS or WhatsApp row is the scheduler's, which the commit wakes (services/delivery).
"""
import datetime
import html
import json
import logging
import re
import uuid

from models import OutboxMessage, User, db, utcnow
from services.core import policy
from services.core.inputs import one_newline, plain_text
from services.core.markup import h
from services.delivery import outbox, sms_segments
from services.delivery.channels import EMAIL, LABELS, SMS, TELEGRAM, WHATSAPP
from services.delivery.html import TELEGRAM_TEXT_LIMIT
from services.inbox import conversations, destinations, email_threads, messages, templates

# A message to a client is still worth sending after a bot outage of hours; one a whole
# day late is dropped, and its conversation shows it was not delivered.
RELAY_MAX_AGE = datetime.timedelta(days=1)
AUTOMATED = ("rule", "system", "job")   # actors whose messages opted-out contacts never get
TAG = re.compile(r"<[^>]+>")
log = logging.getLogger("leadgram.inbox")


class CannotSend(ValueError):
    pass


class OptedOut(CannotSend):
    """The client opted out of every channel that could take this (automated) message:
    skipped, as they asked, rather than failed."""


def send_text(actor, conversation_id, text, now=None, destination=None):
    """A member's (or the panel's) typed reply, as plain text; `destination` (a
    destinations.Destination) picks the channel, else the client's last one."""
    # A line break is one character, as Telegram and the SMS count see it, however typed.
    text = one_newline(plain_text(text or "")).strip()
    if not text:
        raise CannotSend(messages.EMPTY)
    if len(text) > TELEGRAM_TEXT_LIMIT:
        raise CannotSend(messages.TOO_LONG.format(length=len(text), limit=TELEGRAM_TEXT_LIMIT))
    return _send(actor, conversation_id, lambda lead: (h(text), text), now=now,
                 destination=destination)


def send_copy(actor, conversation_id, from_chat_id, message_id, caption, attachments, now=None,
              destination=None):
    """Media a member sent the bot, copied to the client's Telegram (copyMessage)."""
    caption = plain_text(caption or "").strip()
    return _send(actor, conversation_id, lambda lead: ("", caption), attachments,
                 (from_chat_id, message_id), now, destination)


def send_notice(actor, conversation_id, html_text, plain, now=None, reply_markup=None):
    """A notice Leadgram composed (the shop's order and wallet news): Telegram HTML with
    user data already escaped, and its plain text for the conversation's history.
    `reply_markup` (JSON, the bot's buttons) goes with it on Telegram only."""
    return _send(actor, conversation_id, lambda lead: (html_text, plain), now=now,
                 reply_markup=reply_markup)


def tell(actor, lead, html_text, now=None, reply_markup=None):
    """Tell the client `html_text` (Leadgram's news: their orders, wallet, payments,
    Premium) in their conversation, opened if need be. A client who cannot be reached (no
    chat, /stop, a blocked bot) is not told, and that is logged: the change told of goes
    ahead. Returns whether the notice was queued."""
    conversation = conversations.open_for(lead, now)
    plain = html.unescape(TAG.sub("", html_text))
    try:
        send_notice(actor, conversation.id, html_text, plain, now, reply_markup=reply_markup)
    except CannotSend as exc:
        log.info("client #%s was not told (%s): %s", lead.id, plain, exc)
        return False
    return True


def send_template(actor, conversation_id, name, agent=None, now=None, destination=None):
    """A template, its placeholders filled for the client, `agent` (a member) and the
    company (COMPANY_NAME). On WhatsApp its approved content SID goes, when it has one."""
    template = templates.get(name)
    if template is None:
        raise CannotSend(messages.NO_TEMPLATE.format(name=h(name)))

    def filled(lead):
        values = templates.values_for(lead, agent, policy.current().company)
        return templates.render(template.text, values), templates.render_plain(template.text, values)
    return _send(actor, conversation_id, filled, now=now, destination=destination,
                 template=template, agent=agent)


def _send(actor, conversation_id, compose, attachments=(), copy_from=None, now=None,
          destination=None, template=None, agent=None, reply_markup=None):
    """Queue what `compose(lead)` makes, (Telegram HTML, plain text), for the client."""
    now = now or utcnow()
    with db.atomic():
        conversation = conversations.require(actor, conversation_id)
        lead = conversation.lead
        automated = actor.kind in AUTOMATED
        whatsapp_template = bool(template and template.whatsapp_content_sid)
        if destination is None:
            target, refusal = destinations.choose(conversation, automated, whatsapp_template, now)
        else:
            target = destination
            refusal = destinations.refusal(lead, target, automated, whatsapp_template, now)
        if refusal is not None:
            raise (OptedOut if target is not None and target.opted_out else CannotSend)(refusal)
        html_text, plain = compose(lead)
        key = f"client:{conversation.id}:{uuid.uuid4().hex}"
        if target.channel == TELEGRAM:
            copy_chat, copy_id = copy_from or (None, None)
            client = User.get(User.telegram_id == int(target.address))
            outbox.enqueue(key, client, html_text, conversation=conversation,
                           copy_from_chat_id=copy_chat, copy_message_id=copy_id,
                           reply_markup=reply_markup, expires_at=now + RELAY_MAX_AGE,
                           next_attempt_at=now)
        else:
            if copy_from is not None:
                raise CannotSend(messages.MEDIA_TELEGRAM_ONLY.format(channel=LABELS[target.channel]))
            text, parse_mode, headers = _for_channel(target, conversation, lead, html_text, plain,
                                                     template, agent)
            outbox.enqueue(key, None, text, parse_mode=parse_mode, channel=target.channel,
                           address=target.address, headers=json.dumps(headers),
                           conversation=conversation, next_attempt_at=now)
        row = OutboxMessage.get(OutboxMessage.key == key)
        return conversations.record_outbound(actor, conversation, plain, attachments, row, now)


def _for_channel(target, conversation, lead, html_text, plain, template, agent):
    """(text, parse mode, headers) of an email, SMS or WhatsApp row."""
    if target.channel == EMAIL:
        return html_text, "HTML", email_threads.headers(conversation, lead, target.address)
    if target.channel == WHATSAPP and template and template.whatsapp_content_sid:
        values = templates.values_for(lead, agent, policy.current().company)
        variables = {str(n): templates.clean_value(values.get(name, "")) or "-"
                     for n, name in enumerate(templates.placeholders(template.text), start=1)}
        return plain, "plain", {"content_sid": template.whatsapp_content_sid,
                                "content_variables": variables}
    if target.channel == SMS:
        counted = sms_segments.count(plain)
        limit = policy.current().sms_max_segments
        if counted.segments > limit:
            raise CannotSend(messages.TOO_MANY_SEGMENTS.format(
                segments=counted.segments, encoding=counted.encoding, limit=limit))
    return plain, "plain", {}
