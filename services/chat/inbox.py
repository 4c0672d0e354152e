"""Client conversations in Telegram: what a client's messages do, and how the team
answers them (Telegram's reply to an alert, reply mode, /chats, /chat, /close, /t).

The bot hands every private message to the router as an Incoming; the client's, and
the team's answers to clients, come here.
"""
import logging
from dataclasses import dataclass, field

from models import Conversation, Message, MessageTemplate, OutboxMessage
from services.chat import buttons, dialogues
from services.chat.inbox_alerts import conversation_buttons
from services.chat.replies import Reply
from services.core import policy
from services.core.actors import Actor
from services.core.clock import to_local
from services.core.inputs import MAX_ID, split_id
from services.core.markup import h
from services.crm import pipeline
from services.delivery.channels import LABELS, TELEGRAM
from services.inbox import (
    attachments,
    clients,
    consent,
    conversations,
    destinations,
    messages as inbox_messages,
    sending,
    templates,
)
from services.inbox.reads import mark_read, reader_of, unread_conversations
from services.inbox.sending import CannotSend

log = logging.getLogger("leadgram.chat.inbox")
# A client's command menu: all a client can do besides writing.
CLIENT_COMMANDS = {
    "start": "Start the chat",
    "help": "How this chat works",
    "stop": "Stop messages from us",
}
MAX_TEMPLATE_BUTTONS = 30
SENT = "👌"   # the reaction that says a member's message is on its way to the client
CHAT_USAGE = "Send /chat with a conversation number, e.g. /chat 12 (/chats lists them)."
CLOSE_USAGE = "Send /close with a conversation number, e.g. /close 12."


@dataclass(frozen=True)
class Incoming:
    """A private message as the bot received it, Telegram's types left behind."""
    message_id: int
    text: str = None                 # the text, or a media message's caption
    attachments: list = field(default_factory=list)   # services/inbox/attachments.py dicts
    reply_to_message_id: int = None


# Clients ------------------------------------------------------------------

def from_client(ctx, user, command, incoming):
    """A client's message or command. Commands get answers; anything else is stored in
    their conversation and told to the team (services/chat/inbox_alerts.py)."""
    actor = Actor.client(user)
    lead, created = clients.from_telegram(actor, user, ctx.clock())
    if command == "stop":
        consent.opt_out(actor, lead, TELEGRAM, user.telegram_id, ctx.clock())
        return [Reply(inbox_messages.stopped(policy.current().company))]
    if command is None and not (incoming.text or "").strip() and not incoming.attachments:
        return [Reply(inbox_messages.UNSUPPORTED)]   # a poll, a dice, a game…
    if command is None:
        consent.opt_in(actor, lead, TELEGRAM, user.telegram_id)   # writing again is consent
        conversations.record_inbound(actor, lead, incoming.text, incoming.attachments,
                                     external_id=incoming.message_id, now=ctx.clock(),
                                     address=user.telegram_id)
    if created:
        _welcome(ctx, lead)
        return []
    if command is None:
        return []
    return [Reply(inbox_messages.client_help(policy.current().company))]


def client_of(ctx, user):
    """The client's lead, for what they do besides writing (the shop's commands); one
    met for the first time is greeted, as their first message would be."""
    lead, created = clients.from_telegram(Actor.client(user), user, ctx.clock())
    if created:
        _welcome(ctx, lead)
    return lead


def _welcome(ctx, lead):
    """Greet a new client once, with the `welcome` template, in their conversation."""
    conversation = conversations.open_for(lead, ctx.clock())
    try:
        sending.send_template(Actor.system("welcome"), conversation.id, templates.WELCOME,
                              now=ctx.clock())
    except CannotSend as exc:
        log.warning("client %s not greeted: %s", lead.id, exc)


# The team -----------------------------------------------------------------

def _ask_reply(step, values, note=""):
    text = inbox_messages.replying(values["name"], values.get("where", ""))
    return Reply(f"{note}\n\n{text}" if note else text)


REPLY_MODE = dialogues.Dialogue(
    flow="reply", steps=("writing",), ask=_ask_reply,
    inactive=Reply("You are not replying to a client. /chats lists conversations."),
    cancelled="You stopped replying. Messages you send now are commands to me again.",
    doing="replying to a client")


@dataclass(frozen=True)
class Target:
    """Whom a member's message answers: a conversation, and the channel of the client
    alert they answered with Telegram's reply (None: where the client last wrote)."""
    conversation_id: int
    destination: destinations.Destination = None


def reply_target(user, incoming):
    """What a member's non-command message answers (a Target, or None): the client alert
    it replies to (Telegram's reply), on that message's channel, else the client they are
    in reply mode with."""
    if incoming.reply_to_message_id and 0 < incoming.reply_to_message_id <= MAX_ID:
        row = (OutboxMessage.select(OutboxMessage.conversation, OutboxMessage.about_message_id)
               .where(OutboxMessage.recipient == user.id,
                      OutboxMessage.sent_message_id == incoming.reply_to_message_id,
                      OutboxMessage.conversation.is_null(False))
               .first())
        if row is not None:
            return Target(row.conversation_id, _channel_of(row.about_message_id))
    state = REPLY_MODE.get(user)
    return Target(dialogues.data(state)["conversation_id"]) if state else None


def _channel_of(message_id):
    """Where the client wrote the message an alert told of, if it can still be reached."""
    message = Message.get_or_none(Message.id == message_id) if message_id else None
    if message is None:
        return None
    return destinations.of_channel(message.conversation.lead_id, message.transport,
                                   message.address)


def relay(ctx, user, target, incoming, chat_id):
    """Send what a member wrote (or the media they sent, copied) to the client."""
    actor = Actor.member(user)
    try:
        if incoming.attachments:
            message = sending.send_copy(actor, target.conversation_id, chat_id,
                                        incoming.message_id, incoming.text, incoming.attachments,
                                        now=ctx.clock(), destination=target.destination)
        else:
            message = sending.send_text(actor, target.conversation_id, incoming.text,
                                        now=ctx.clock(), destination=target.destination)
    except CannotSend as exc:
        return [Reply(str(exc))]
    # 👌 on the member's own message: a "✓ Sent" message after each one would take the
    # chat's one message a second from the client's next alert.
    return [Reply(inbox_messages.sent(message.conversation.lead.full_name, _where(message)),
                  reaction=SENT)]


def start_reply(ctx, user, conversation_id):
    conversation = conversations.require(Actor.member(user), conversation_id)
    name = conversation.lead.full_name
    target = destinations.default_for(conversation)
    where = "" if target is None or target.channel == TELEGRAM else target.label
    REPLY_MODE.go(user, "writing", {"conversation_id": conversation.id, "name": name,
                                    "where": where})
    return Reply(inbox_messages.replying(name, where))


def done(ctx, user, args):
    return [REPLY_MODE.cancel(user) if REPLY_MODE.is_active(user)
            else REPLY_MODE.inactive]


def chats(ctx, user, args, page_number=0, replace=False):
    """/chats: open conversations the member may see, newest first, with unread counts."""
    actor = Actor.member(user)
    rows, number, pages = conversations.page(actor, page_number)
    if not rows:
        return Reply("No open conversations. When a client writes to the bot, it shows up here.",
                     replace=replace)
    unread = unread_conversations(reader_of(actor), conversations.visible(
        actor, Conversation.select()).where(Conversation.status == conversations.OPEN))
    lines = [f"<b>Conversations</b> (page {number + 1} of {pages})"
             + (f" · {unread} with unread messages" if unread else "")]
    keyboard = []
    for conversation, last, unread in rows:
        badge = f" · <b>{unread if unread < 100 else '99+'} new</b>" if unread else ""
        preview = attachments.preview(last.text, attachments.loads(last.attachments), 80) \
            if last else ""
        lines.append(f"#{conversation.id} {h(conversation.lead.full_name)}{badge}\n"
                     f"   {h(preview)}")
        keyboard.append([(f"#{conversation.id} {conversation.lead.full_name}"[:60],
                          buttons.encode("chat", action="open", conversation_id=conversation.id))])
    nav = []
    if number > 0:
        nav.append(("◀ Newer", buttons.encode("chats", page=number - 1)))
    if number + 1 < pages:
        nav.append(("Older ▶", buttons.encode("chats", page=number + 1)))
    if nav:
        keyboard.append(nav)
    return Reply("\n".join(lines), keyboard, replace=replace)


def show(ctx, user, args):
    """/chat 12: the last messages of a conversation, now read by the member."""
    conversation_id, _ = split_id(args)
    return Reply(CHAT_USAGE) if conversation_id is None else show_conversation(ctx, user, conversation_id)


def show_conversation(ctx, user, conversation_id):
    actor = Actor.member(user)
    conversation = conversations.require(actor, conversation_id)
    lead = conversation.lead
    history = conversations.history(conversation.id)
    if history:
        mark_read(reader_of(actor), conversation.id, history[-1].id, ctx.clock())
    zone = policy.current().timezone
    lines = [f"<b>{h(lead.full_name)}</b> · conversation #{conversation.id} · "
             f"{conversation.status}"]
    for message in history:
        when = to_local(message.created_at, zone).strftime("%d %b %H:%M")
        who = "🧑 " + h(lead.first_name) if message.direction == "in" else \
            "↪️ " + h(message.sender_label)
        text = attachments.preview(message.text, attachments.loads(message.attachments), 300)
        state = f" ({_delivery(message)})" if message.direction == "out" else ""
        channel = "" if message.transport == TELEGRAM else f" [{LABELS[message.transport]}]"
        lines.append(f"<i>{when}</i> {who}{channel}{state}: {h(text)}")
    if not history:
        lines.append("No messages yet.")
    keyboard = conversation_buttons(conversation.id, owned=lead.owner_id is not None,
                                    with_open=False)
    if conversation.status == conversations.OPEN:
        keyboard.append([("Close", buttons.encode("chat", action="close",
                                                   conversation_id=conversation.id))])
    return Reply("\n".join(lines), keyboard)


def _delivery(message):
    row = message.outbox
    if row is None:
        return "not sent"
    if row.status == "sent" and row.provider_status in ("delivered", "read"):
        return f"✓✓ {row.provider_status}"
    return {"sent": "✓", "pending": "sending…", "sending": "sending…"}.get(
        row.status, h(f"✗ {row.status}: {row.last_error or ''}".strip()))


def close(ctx, user, args):
    conversation_id, _ = split_id(args)
    return Reply(CLOSE_USAGE) if conversation_id is None else close_conversation(ctx, user, conversation_id)


def close_conversation(ctx, user, conversation_id):
    closed = conversations.close(Actor.member(user), conversation_id, ctx.clock())
    if not closed:
        return Reply(f"Conversation #{conversation_id} is already closed.")
    return Reply(f"Conversation #{conversation_id} is closed. The client's next message "
                 f"opens it again.")


def take(ctx, user, conversation_id):
    """Become the client's owner; when someone was quicker, say who."""
    conversation = conversations.require(Actor.member(user), conversation_id)
    lead = conversation.lead
    owner = pipeline.take(Actor.member(user), lead.id, ctx.clock())
    if owner is None:
        return Reply(f"✋ {h(lead.full_name)} is yours now. Reply to their messages, or press "
                     f"Reply.", conversation_buttons(conversation.id, owned=True))
    if owner.id == user.id:
        return Reply(f"{h(lead.full_name)} is already yours.")
    return Reply(f"{h(owner.display_name)} already took {h(lead.full_name)}.")


def template(ctx, user, args):
    """/t in reply mode: the templates as buttons; /t name sends one."""
    state = REPLY_MODE.get(user)
    if state is None:
        return Reply("Templates are sent while replying to a client: press Reply on a "
                     "client's message (or their /chat), then /t.")
    conversation_id = dialogues.data(state)["conversation_id"]
    name = args.strip().casefold()
    if name:
        return _send_template(ctx, user, conversation_id, templates.get(name), name)
    rows = [[(t.name, buttons.encode("tpl", template_id=t.id))]
            for t in templates.all()[:MAX_TEMPLATE_BUTTONS]]
    if not rows:
        return Reply("There are no templates yet: add them in the admin panel.")
    return Reply("Which template?", rows)


def template_pressed(ctx, user, template_id):
    state = REPLY_MODE.get(user)
    if state is None:
        return Reply("You are no longer replying to that client: press Reply first.")
    chosen = MessageTemplate.get_or_none(MessageTemplate.id == template_id)
    return _send_template(ctx, user, dialogues.data(state)["conversation_id"], chosen,
                          str(template_id), replace=True)


def _send_template(ctx, user, conversation_id, chosen, name, replace=False):
    if chosen is None:
        return Reply(inbox_messages.NO_TEMPLATE.format(name=h(name)), replace=replace)
    try:
        message = sending.send_template(Actor.member(user), conversation_id, chosen.name,
                                        agent=user, now=ctx.clock())
    except CannotSend as exc:
        return Reply(str(exc), replace=replace)
    return Reply(inbox_messages.sent(message.conversation.lead.full_name, _where(message)),
                 replace=replace)


def _where(message):
    """"by email", "by SMS"…: where a message went, unless Telegram."""
    return "" if message.transport == TELEGRAM else f"by {LABELS[message.transport]}"


def pressed(ctx, user, action, conversation_id):
    """A client alert's (or /chat's) button."""
    if action == "reply":
        return start_reply(ctx, user, conversation_id)
    if action == "open":
        return show_conversation(ctx, user, conversation_id)
    if action == "take":
        return take(ctx, user, conversation_id)
    return close_conversation(ctx, user, conversation_id)
