"""What the bot answers: commands, wizard answers and buttons, as Replies.

The bot adapter turns a Telegram message into `on_text` and a button press
into `on_button`; everything else about the conversation is decided here.
"""
import re
from dataclasses import dataclass, replace
from typing import Any, Callable

from models import utcnow
from services.chat import (
    activities as chat_activities,
    buttons,
    dialogues,
    inbox as chat_inbox,
    lead_wizard,
    leads as chat_leads,
    ordering,
    pipeline as chat_pipeline,
    premium,
    queue as chat_queue,
    registration,
    shop as chat_shop,
    team as chat_team,
    topup,
)
from services.chat.replies import Reply
from services.core.actors import SEE_ALL_ROLES
from services.core.inputs import plain_text
from services.core.markup import h
from services.crm import team
from services.crm.access import AccessDenied
from services.inbox.conversations import NoSuchConversation


@dataclass(frozen=True)
class ChatContext:
    bot_username: str
    admin_ids: frozenset = frozenset()
    open_team: bool = False
    settings: Any = None                       # services.core.config.Settings: the LLM for /score
    clock: Callable[[], Any] = utcnow          # naive UTC "now"; tests pass a fixed one
    client_inbox: bool = True                  # CLIENT_INBOX: people not on the team write in
    shop: bool = False                         # SHOP: clients order, operators work the queue
    # The message whose button the update being answered pressed (on_button sets it): a
    # confirmation pressed twice is recognised by it.
    pressed_message_id: int = None


STRANGER = ("This bot is used by a team to manage their leads, and you are not on it yet. "
            "If you work with them, ask an admin for an invite link.")
UNKNOWN = "I didn't understand that. /help lists what I can do."
MEDIA_NOT_READ = ("I can only read text messages. To send a photo or file to a client, "
                  "reply to their message or press Reply first. /help lists what I can do.")
INVALID_BUTTON = buttons.NO_LONGER_VALID

# (description for the menu and /help, who may use it: None everyone, "team" members,
# "dispatch" dispatchers and admins, "admin" admins, "operate" operators and admins
# while the shop is on)
COMMANDS = {
    # Most used first: Telegram's command menu lists them in this order.
    "today": ("Your overdue and due-today activities", "team"),
    "leads": ("Recent leads", "team"),
    "find": ("Search leads: /find smith", "team"),
    "createlead": ("Add a lead step by step", "team"),
    "log": ("Log a call, meeting, note… on a lead: /log 12", "team"),
    "chats": ("Client conversations, newest first", "team"),
    "lead": ("Show one lead with its timeline: /lead 12", "team"),
    "stage": ("Move a lead along the pipeline: /stage 12", "team"),
    "assign": ("Give a lead to a member: /assign 12", "dispatch"),
    "transfer": ("Hand a qualified lead to sales: /transfer 12 [name]", "team"),
    "score": ("Advisory score of a lead: /score 12", "team"),
    "domain": ("Set a lead's business domain: /domain 12 dental clinics", "team"),
    "source": ("Set a lead's source: /source 12 referral", "team"),
    "chat": ("Show a conversation: /chat 12", "team"),
    "close": ("Close a conversation: /close 12", "team"),
    "done": ("Stop replying to a client", "team"),
    "t": ("Send a template while replying: /t name", "team"),
    "queue": ("Orders waiting for an operator, and yours", "operate"),
    "skip": ("Skip the order note being asked for", "operate"),
    "notify": ("Lead notifications: /notify on or off", "team"),
    "team": ("List and manage the team", "admin"),
    "invite": ("Invite link for a new member: /invite [sales|dispatcher|operator|admin]", "admin"),
    "cancel": ("Stop what you are doing", "team"),
    "back": ("Go back one step", "team"),
    "help": ("What I can do", None),
    "start": ("Start the bot", None),
}
# /help on one screen: the commands by what they are for, each with a word or an example.
HELP_GROUPS = (
    ("Leads", (("createlead", "add"), ("leads", "recent"), ("find", "smith"), ("lead", "12"),
               ("stage", "12"), ("score", "12"), ("transfer", "12"), ("assign", "12"),
               ("domain", "12"), ("source", "12"))),
    ("Follow-ups", (("today", "your agenda"), ("log", "12"))),
    ("Clients", (("chats", "newest"), ("chat", "12"), ("close", "12"), ("done", "stop replying"),
                 ("t", "template"))),
    ("Orders", (("queue", "to fulfil"), ("skip", "the note"))),
    ("Team", (("notify", "on|off"), ("team", "members"), ("invite", "[role]"))),
)
HELP_PER_LINE = 4
# Besides the queue, what an operator's menu and /help list (every team command still works).
OPERATOR_COMMANDS = ("start", "help", "cancel", "notify")   # /notify: new orders
ALIASES = {"newlead": "createlead"}
# Telegram makes "/lead_12" tappable where "/lead 12" is not: a list's links.
TAPPABLE = re.compile(r"(?P<command>lead)_(?P<id>[0-9]+)")
# Buttons only clients are sent (with the shop on), and the shop's for the team.
CLIENT_KINDS = frozenset({"menu", "order", "orders", "rerun", "reg", "topup", "premium"})
SHOP_KINDS = CLIENT_KINDS | {"op"}


def menu(role, client_inbox=False, shop=False):
    """(command, description) pairs this role can use, for the bot's command menu; with
    the client inbox on, people not on the team are clients and get theirs (and the
    shop's, with the shop on)."""
    if role is None and client_inbox:
        return list(chat_inbox.CLIENT_COMMANDS.items()) + (
            list(chat_shop.COMMANDS.items()) if shop else [])
    if role == "operator":
        # Operators fulfil orders: their menu is the queue, not the leads.
        allowed = {"operate"} if shop else set()
        return [(name, desc) for name, (desc, who) in COMMANDS.items()
                if who in allowed or name in OPERATOR_COMMANDS]
    allowed = ({None} | ({"team"} if role else set())
               | ({"dispatch"} if role in SEE_ALL_ROLES else set())
               | ({"admin"} if role == "admin" else set())
               | ({"operate"} if shop and role in chat_queue.OPERATE_ROLES else set()))
    return [(name, desc) for name, (desc, who) in COMMANDS.items() if who in allowed]


def _is_client(ctx, user):
    """Someone not on the team whose messages go to a conversation with the team."""
    # With OPEN_TEAM everyone who starts the bot joins the team: nobody is a client.
    return not user.is_team and ctx.client_inbox and not ctx.open_team


def parse_command(text, bot_username):
    """('createlead', 'rest of the line') for '/createLead@bot rest', else (None, text).
    A tappable link such as '/lead_12' (services/crm/messages.py: lead_command) is
    '/lead 12'."""
    if not text.startswith("/"):
        return None, text
    head, _, rest = text[1:].partition(" ")
    name, _, addressee = head.partition("@")
    if addressee and addressee.casefold() != bot_username.casefold():
        return None, text
    name = name.casefold()
    linked = TAPPABLE.fullmatch(name)
    if linked:
        name, rest = linked["command"], f"{linked['id']} {rest}"
    return ALIASES.get(name, name), rest.strip()


def refusing_access(handler):
    """An AccessDenied (or a conversation that is not there) becomes a polite answer
    rather than an error."""
    def run(ctx, user, *args):
        try:
            return handler(ctx, user, *args)
        except (AccessDenied, NoSuchConversation) as exc:
            return [Reply(h(str(exc)))]
    return run


@refusing_access
def on_message(ctx, user, incoming, chat_id):
    """A private message (text, media or both): clients' go to their conversation, a
    member's answer to a client goes to the client, the rest is commands and dialogues."""
    text = plain_text(incoming.text or "")
    if incoming.text is not None:  # stored and relayed as it is: Postgres refuses NUL in text
        incoming = replace(incoming, text=text)
    # A photo or file is never a command, whatever its caption says: it is passed on.
    command, args = ((None, text) if incoming.attachments
                     else parse_command(text.strip(), ctx.bot_username))
    if _is_client(ctx, user) and not (command == "start" and args):
        answers = chat_shop.on_client(ctx, user, command, args, incoming) if ctx.shop else None
        return chat_inbox.from_client(ctx, user, command, incoming) if answers is None else answers
    if user.is_team and command is None:
        target = chat_inbox.reply_target(user, incoming)
        if target is not None:
            return chat_inbox.relay(ctx, user, target, incoming, chat_id)
    if incoming.text is None or incoming.attachments:
        return [Reply(MEDIA_NOT_READ if user.is_team else STRANGER)]
    return on_text(ctx, user, incoming.text)


@refusing_access
def on_text(ctx, user, text):
    # What people send reaches queries (an invite token, /find), and Postgres refuses NUL.
    text = plain_text(text)
    command, args = parse_command(text.strip(), ctx.bot_username)
    if command == "start":
        return _start(ctx, user, args)
    if command == "help":
        return [_help(ctx, user)]
    if not user.is_team:
        return [Reply(STRANGER)]
    if command is None:
        return [lead_wizard.answer(user, text) or chat_activities.answer(ctx, user, text)
                or chat_queue.answer(ctx, user, text) or Reply(UNKNOWN)]
    if command not in COMMANDS or (COMMANDS[command][1] == "operate" and not ctx.shop):
        return [Reply(f"There is no /{h(command)} command. /help lists what I can do.")]
    if COMMANDS[command][1] == "admin":
        team.require_admin(user)
    return _TEAM_COMMANDS[command](ctx, user, args)


@refusing_access
def on_button(ctx, user, data, pressed_message_id=None):
    client = ctx.shop and _is_client(ctx, user)
    if not user.is_team and not client:
        return [Reply(STRANGER)]
    pressed = buttons.decode(data)  # None for forged or outdated data (NUL included)
    if pressed is None:
        return [Reply(INVALID_BUTTON)]
    kind, fields = pressed
    # Clients are sent only their kinds and members only theirs: anything else is forged,
    # or from before the shop was turned off or the person joined or left the team.
    if (kind in CLIENT_KINDS) != client or (kind in SHOP_KINDS and not ctx.shop):
        return [Reply(INVALID_BUTTON)]
    if kind == "team":
        team.require_admin(user)
    if kind == "op":
        chat_queue.require_operator(user)
    ctx = replace(ctx, pressed_message_id=pressed_message_id)
    return [_BUTTONS[kind](ctx, user, **fields)]


def _start(ctx, user, token):
    if token:
        try:
            role = team.accept_invite(user, token)
        except team.TeamError as exc:
            return [Reply(h(str(exc)))]
        return [Reply(f"Welcome to the team, {h(user.display_name)}! You joined as <b>{role}</b>."),
                _help(ctx, user)]
    if ctx.open_team and team.join_open_team(user):
        return [Reply(f"Welcome, {h(user.display_name)}! You are on the team."), _help(ctx, user)]
    if user.is_team:
        return [Reply(f"Hello, {h(user.display_name)}!"), _help(ctx, user)]
    return [Reply(f"Hello, {h(user.display_name)}! " + STRANGER)]


def _help(ctx, user):
    if not user.is_team:
        return Reply(STRANGER + "\n\n/start — start the bot\n/help — this message")
    usable = {name for name, _ in menu(user.role, shop=ctx.shop)}
    lines = [f"You are on the team as <b>{user.role}</b>. Commands:"]
    for group, commands in HELP_GROUPS:
        items = [f"/{name} <i>{h(hint)}</i>" for name, hint in commands if name in usable]
        if items:
            lines.append(f"\n<b>{group}</b>")
            lines += [" · ".join(items[at:at + HELP_PER_LINE])
                      for at in range(0, len(items), HELP_PER_LINE)]
    lines.append("\n/cancel stops what you are doing; /back goes back a step.")
    return Reply("\n".join(lines))


def _notify(ctx, user, args):
    choice = args.casefold()
    what = "New-order" if user.role == "operator" else "Lead"
    if choice not in ("on", "off"):
        state = "on" if user.notify else "off"
        return [Reply(f"{what} notifications are <b>{state}</b>. Send /notify on or /notify off.")]
    team.set_notify(user, choice == "on")
    return [Reply(f"{what} notifications are now <b>{choice}</b>.")]


def _cancel(ctx, user, args):
    dialogue = dialogues.current(user)
    return [dialogue.cancel(user) if dialogue else dialogues.NOTHING_TO_CANCEL]


def _back(ctx, user, args):
    dialogue = dialogues.current(user)
    if dialogue is None:
        return [Reply("/back goes back one question in a form, and you are not filling one "
                      "in now. /help lists what I can do.")]
    return [dialogue.back(user)]


def _finish_first(user, starting, command):
    """A member has one dialogue at a time: starting another would silently drop the
    open one, so they finish or cancel it first. None when no other one is open."""
    busy = dialogues.current(user)
    if busy is None or busy is starting:
        return None
    return Reply(f"You are in the middle of {busy.doing}. Finish it, or /cancel it, "
                 f"then send /{h(command.strip())} again.")


_TEAM_COMMANDS = {
    "createlead": lambda ctx, user, args: [
        _finish_first(user, lead_wizard.WIZARD, "createLead") or lead_wizard.start(user)],
    "leads": lambda ctx, user, args: [chat_leads.page(user, 0, replace=False)],
    "lead": lambda ctx, user, args: [chat_leads.show(user, args)],
    "find": lambda ctx, user, args: [chat_leads.find(user, args)],
    "today": lambda ctx, user, args: [chat_activities.today(ctx, user)],
    "log": lambda ctx, user, args: [
        _finish_first(user, chat_activities.LOG, f"log {args}")
        or chat_activities.start(ctx, user, args)],
    "stage": lambda ctx, user, args: [chat_pipeline.stage(ctx, user, args)],
    "score": lambda ctx, user, args: [chat_pipeline.score(ctx, user, args)],
    "transfer": lambda ctx, user, args: [chat_pipeline.transfer(ctx, user, args)],
    "domain": lambda ctx, user, args: [chat_pipeline.domain(ctx, user, args)],
    "source": lambda ctx, user, args: [chat_pipeline.source(ctx, user, args)],
    "assign": lambda ctx, user, args: [chat_pipeline.assign(ctx, user, args)],
    "cancel": _cancel,
    "back": _back,
    "notify": _notify,
    "invite": lambda ctx, user, args: [chat_team.invite(ctx, user, args)],
    "team": lambda ctx, user, args: [chat_team.listing()],
    "chats": lambda ctx, user, args: [chat_inbox.chats(ctx, user, args)],
    "chat": lambda ctx, user, args: [chat_inbox.show(ctx, user, args)],
    "close": lambda ctx, user, args: [chat_inbox.close(ctx, user, args)],
    "done": chat_inbox.done,
    "t": lambda ctx, user, args: [chat_inbox.template(ctx, user, args)],
    "queue": lambda ctx, user, args: [chat_queue.show(ctx, user)],
    "skip": chat_queue.skip,
}

# One handler per kind of button (services.chat.buttons), called with the fields
# its data decoded to; each answers one Reply.
_BUTTONS = {
    "stage": chat_pipeline.press_stage,
    "score": chat_pipeline.press_score,
    "assign": chat_pipeline.press_assign,
    "today": lambda ctx, user: chat_activities.today(ctx, user, replace=True),
    "done": chat_activities.press_done,
    # The lead card's "Log activity" starts a dialogue, as /log does: not over another one.
    "log": lambda ctx, user, step, **fields: (
        step == "lead" and _finish_first(user, chat_activities.LOG, f"log {fields['lead_id']}")
        or chat_activities.press(ctx, user, step, **fields)),
    "team": chat_team.press,                     # for admins: on_button checks
    "wiz": lambda ctx, user, **fields: lead_wizard.press(user, **fields),
    "leads": lambda ctx, user, page: chat_leads.page(user, page),
    "lead": chat_leads.pressed,
    "chat": lambda ctx, user, action, conversation_id: chat_inbox.pressed(
        ctx, user, action, conversation_id),
    "chats": lambda ctx, user, page: chat_inbox.chats(ctx, user, "", page, replace=True),
    "tpl": lambda ctx, user, template_id: chat_inbox.template_pressed(ctx, user, template_id),
    # The shop's, for clients (on_button checks): the menu, /order, /orders and Rerun.
    "menu": chat_shop.pressed_menu,
    "order": ordering.pressed,
    "orders": lambda ctx, user, page: ordering.page(ctx, user, page, replace=True),
    "rerun": lambda ctx, user, order_id, price=None: ordering.rerun(ctx, user, order_id, price),
    "topup": topup.pressed,
    "premium": premium.pressed,
    # The operators' queue (on_button checks the role). Complete and Add note ask for a
    # note in a dialogue: not over another one.
    "op": lambda ctx, user, action, order_id=None: (
        action in ("complete", "note") and _finish_first(user, chat_queue.NOTE, "queue")
        or chat_queue.pressed(ctx, user, action, order_id)),
    "reg": lambda ctx, user, **fields: registration.pressed(ctx, user, **fields),
}
if _BUTTONS.keys() != buttons.KINDS.keys():
    raise RuntimeError("a kind of button without a handler, or a handler without a kind")
