"""The shop in a client's chat (SHOP on): their commands and menu, and the registration
they are in the middle of.

The router hands every client message here first (on_client); what is not for the
shop comes back as None and goes to the client's conversation with the team, as it
does with the shop off.
"""
import datetime

from models import utcnow
from services.chat import (
    buttons,
    dialogues,
    inbox as chat_inbox,
    ordering,
    premium,
    registration,
    topup,
)
from services.chat.replies import Reply
from services.core import policy
from services.inbox import messages as inbox_messages
from services.payments import topups

# What a client's command menu gains (services.chat.router.menu).
COMMANDS = {
    "register": "Register a profile",
    "order": "New order",
    "orders": "My orders",
    "tokens": "My tokens",
    "buy": "Buy tokens",
    "premium": "Premium subscription",
    "profiles": "My profiles",
}
MENU = [[("📝 Register", buttons.encode("menu", item="register")),
         ("🛒 New order", buttons.encode("menu", item="order"))],
        [("📦 My orders", buttons.encode("menu", item="orders")),
         ("🪙 Tokens", buttons.encode("menu", item="tokens"))],
        [("👤 My profiles", buttons.encode("menu", item="profiles")),
         ("❓ Help", buttons.encode("menu", item="help"))]]
# A registration left this long is probably forgotten: what the client writes then is
# more likely a question for the team than the answer to the question asked long ago.
IDLE = datetime.timedelta(hours=12)

_ACTIONS = {   # the shop's commands and menu items: (ctx, user) -> Reply
    "register": registration.start,
    "profiles": registration.profiles,
    "order": ordering.start,
    "orders": ordering.page,
    "tokens": ordering.tokens,
    "buy": topup.start,
    "topup": topup.start,
    "premium": premium.offer,
    # Whichever dialogue the client is in (the registration, a top-up's amount).
    "back": lambda ctx, user: (dialogues.current(user) or registration.WIZARD).back(user),
    "cancel": lambda ctx, user: (dialogues.current(user) or registration.WIZARD).cancel(user),
}


def on_client(ctx, user, command, args, incoming):
    """A client's message: Replies when it is for the shop (a command, an answer to the
    registration), else None. `args` is the text after the command, or the whole text."""
    if command == "stop":
        return None
    if command is None:
        return _written(ctx, user, args, incoming)
    chat_inbox.client_of(ctx, user)       # the shop's commands make (and greet) a new client too
    action = _ACTIONS.get(command)
    if action is not None:
        return [action(ctx, user)]
    answers = [help_reply()]              # /start, /help, and commands the shop does not know
    unfinished = registration.unfinished(ctx, user) if command == "start" else None
    return answers + ([unfinished] if unfinished else [])


def _written(ctx, user, text, incoming):
    """Text (not a command) while a registration is open answers it; after IDLE it goes to
    the team instead, with the offer to continue, so nothing the client wrote is lost.
    Text while a top-up's amount is asked is the amount (services/chat/topup.py)."""
    if incoming.attachments or not text:
        return None
    amount = topup.answer(ctx, user, text, incoming.message_id)
    if amount is not None:
        return [amount]
    state = registration.WIZARD.get(user)
    if state is None:
        return None
    # dialogues.save stamps updated_at with the wall clock, not ctx.clock().
    if utcnow() - state.updated_at > IDLE:
        return (chat_inbox.from_client(ctx, user, None, incoming)
                + [registration.unfinished(ctx, user)])
    return [registration.answer(ctx, user, text)]


def help_reply():
    lines = [inbox_messages.client_help(policy.current().company), "", "<b>Orders</b>"]
    lines += [f"/{name} — {description}" for name, description in COMMANDS.items()]
    lines += ["", "Orders are paid in tokens. " + (
        "Buy them with /buy: you pay in cryptocurrency through OxaPay."
        if topups.available() else
        "To get some, write here how many you need and our team will top you up.")]
    return Reply("\n".join(lines), MENU)


def pressed_menu(ctx, user, item):
    """A menu button under /start and /help (and the Top up of /tokens and /order)."""
    chat_inbox.client_of(ctx, user)
    if item == "help":
        return help_reply()
    return _ACTIONS[item](ctx, user)
