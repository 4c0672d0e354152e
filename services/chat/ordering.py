"""A customer's orders in chat (SHOP on): /order step by step, /orders with their places
in the queue and Rerun, and /tokens with the ledger.

/order keeps no dialogue: each step's buttons carry the choices made so far
(services.chat.buttons "order"), and Confirm carries the price its summary showed, so a
summary gone stale (a new price, Premium ended) is shown again instead of being charged.
"""
import math

from services.chat import buttons, inbox as chat_inbox, topup
from services.chat.replies import Reply
from services.core.actors import Actor
from services.core.clock import local_date
from services.core.inputs import parse_bounded_int
from services.core.markup import h, token_amount
from services.core.policy import current as policy
from services.shop import catalogue, messages as shop_messages, orders, profiles, wallet

PAGE_SIZE = 5             # orders a /orders page
HISTORY = 10              # ledger lines /tokens shows
LABEL = 40                # characters of a name on a button
TOP_UP = ("🪙 Top up", buttons.encode("menu", item="topup"))
NEW_ORDER = ("🛒 New order", buttons.encode("menu", item="order"))
MY_ORDERS = ("📦 My orders", buttons.encode("orders", page=0))
REGISTER = ("📝 Register a profile", buttons.encode("menu", item="register"))
CANCEL = ("✖️ Cancel", buttons.encode("order", action="cancel"))
STATUSES = {
    "pending": "🕒 waiting in the queue",
    "processing": "⏳ being processed",
    "assigned": "👷 an operator is on it",
    "completed": "✅ completed",
    "cancelled": "❌ cancelled",
}


def _short(text, limit=LABEL):
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _day(moment):
    return f"{local_date(moment, policy().timezone):%Y-%m-%d}"


def _customer(ctx, user):
    """(the client's lead, the actor they act as)."""
    return chat_inbox.client_of(ctx, user), Actor.client(user)


def _request_key(user, ctx):
    """What makes a confirmation pressed twice place one order: the pressed message."""
    if ctx.pressed_message_id is None:
        return None
    return f"telegram:{user.telegram_id}:{ctx.pressed_message_id}"


def _top_up(shortfall):
    """The rows a shortfall offers: buy exactly what is missing (when top-ups are on), and
    Top up for the packs."""
    missing = topup.buy_missing(shortfall)
    return ([[missing]] if missing else []) + [[TOP_UP]]


def _price_in(text):
    """The price a Confirm button carries, written as encode() writes a number; else None."""
    price = parse_bounded_int(text, 0, 10 ** buttons.PRICE_WIDTH - 1)
    return price if price is not None and str(price) == text else None


# /order ---------------------------------------------------------------------------------

def start(ctx, user, replace=False):
    """Step 1: whom the order is for."""
    lead, _ = _customer(ctx, user)
    found = profiles.of_customer(lead.id)
    if not found:
        return Reply("Register a profile first: an order is always made for one of your "
                     "profiles.", [[REGISTER]], replace=replace)
    rows = [[(_short(profile.full_name), buttons.encode("order", profile_id=profile.id))]
            for profile in found]
    return Reply("🛒 <b>New order</b>\nStep 1 of 3: who is it for?", rows + [[CANCEL]],
                 replace=replace)


def pressed(ctx, user, action=None, profile_id=None, package_id=None, addon=None, price=None):
    """An /order button: the choices so far decide the step (see the "order" kind)."""
    if action == "cancel":
        return Reply("Cancelled. Nothing was ordered.", [[NEW_ORDER]], replace=True)
    lead, actor = _customer(ctx, user)
    try:
        profile = profiles.get_for(lead.id, profile_id)
        if package_id is None:
            return _packages(ctx, lead, profile)
        if addon is None:
            return _addon(ctx, lead, profile, package_id)
        quote = catalogue.quote(lead.id, package_id, addon == "yes", ctx.clock())
        if price is None:
            return _summary(lead, profile, quote)
        expected = _price_in(price)
        if expected is None:
            return Reply(buttons.NO_LONGER_VALID)
        return _place(ctx, actor, lead, profile, quote, expected)
    except (profiles.NoSuchProfile, catalogue.CatalogueError, orders.OrderError) as exc:
        return Reply(h(str(exc)), [[NEW_ORDER]], replace=True)


def _packages(ctx, lead, profile):
    """Step 2: the packages, at this customer's prices."""
    offered = catalogue.packages()
    if not offered:
        return Reply("There is nothing on offer right now. Please write to us here.", replace=True)
    subscriber = wallet.is_subscriber(lead.id, ctx.clock())
    lines = [f"🛒 <b>New order</b> for {h(profile.full_name)}",
             "Step 2 of 3: which package?",
             "⭐ You have Premium: you pay the subscriber prices." if subscriber
             else "Premium subscribers pay the price in brackets."]
    choices = []
    for package in offered:
        price = package.subscriber_price if subscriber else package.price
        line = f"• {h(package.name)}: <b>{token_amount(price)}</b>"
        if subscriber and package.price > price:
            line += f" (you save {package.price - price})"
        elif not subscriber and package.subscriber_price < price:
            line += f" ({package.subscriber_price})"
        lines.append(line)
        choices.append((_short(f"{package.name} · {price}"),
                        buttons.encode("order", profile_id=profile.id, package_id=package.id)))
    rows = [choices[i:i + 2] for i in range(0, len(choices), 2)]
    return Reply("\n".join(lines), rows + [[CANCEL]], replace=True)


def _addon(ctx, lead, profile, package_id):
    """Step 3: the email confirmation, when it is on offer."""
    quote = catalogue.quote(lead.id, package_id, False, ctx.clock())
    extra = catalogue.addon()
    if extra is None:
        return _summary(lead, profile, quote)
    price = extra.subscriber_price if quote.subscriber else extra.price
    premium = ("" if quote.subscriber or extra.subscriber_price >= price
               else f" (Premium subscribers pay {extra.subscriber_price})")

    def choice(answer):
        return buttons.encode("order", profile_id=profile.id, package_id=package_id, addon=answer)
    return Reply(f"🛒 <b>{h(quote.package.name)}</b> for {h(profile.full_name)}\n"
                 f"Step 3 of 3: add an email confirmation for <b>{token_amount(price)}</b>{premium}?",
                 [[(f"✅ Yes, +{price}", choice("yes")), ("No, thanks", choice("no"))], [CANCEL]],
                 replace=True)


def _summary(lead, profile, quote, note=""):
    """The order as it would be placed, with Confirm carrying its price."""
    balance = wallet.balance(lead.id)
    price = f"Price: <b>{token_amount(quote.price)}</b>"
    if quote.subscriber and quote.saving:
        price += f" (⭐ Premium: you save {quote.saving})"
    elif not quote.subscriber:
        premium = quote.package.subscriber_price + (
            catalogue.addon().subscriber_price if quote.email_confirmation else 0)
        if premium < quote.price:
            price += f" (Premium subscribers pay {premium})"
    lines = ([note, ""] if note else []) + [
        "🧾 <b>Check your order</b>",
        f"For: {h(profile.full_name)}",
        f"Package: {h(quote.package.name)}",
        f"Email confirmation: {'yes' if quote.email_confirmation else 'no'}",
        price]
    rows = [[("✅ Confirm", _confirm(profile, quote)), CANCEL]]
    if balance >= quote.price:
        lines.append(f"Your balance: {token_amount(balance)}, {token_amount(balance - quote.price)} after "
                     f"this order.")
    else:
        lines.append(f"Your balance: {token_amount(balance)}: {token_amount(quote.price - balance)} short. "
                     f"Top up first, then confirm.")
        rows += _top_up(quote.price - balance)
    return Reply("\n".join(lines), rows, replace=True)


def _confirm(profile, quote):
    return buttons.encode("order", profile_id=profile.id, package_id=quote.package.id,
                          addon="yes" if quote.email_confirmation else "no", price=str(quote.price))


def _place(ctx, actor, lead, profile, quote, expected):
    try:
        order = orders.place(actor, lead.id, profile.id, quote.package.id,
                             email_confirmation=quote.email_confirmation, expected_price=expected,
                             now=ctx.clock(), request_key=_request_key(actor.user, ctx))
    except orders.AlreadyPlaced as exc:
        return _placed(exc.order, exc.order.profile)
    except orders.PriceChanged as exc:
        return _summary(lead, profile, exc.quote, note=f"⚠️ {h(str(exc))}")
    except wallet.InsufficientTokens as exc:
        # Top up, and the same Confirm to press once the balance covers it.
        return Reply(f"Not enough tokens: this order costs {token_amount(exc.needed)} and your "
                     f"balance is {token_amount(exc.balance)}, so you need <b>{exc.shortfall}</b> more. "
                     f"Nothing was charged.",
                     _top_up(exc.shortfall) + [[("🔁 Try again", _confirm(profile, quote)), CANCEL]],
                     replace=True)
    return _placed(order, profile)


def _placed(order, profile, rerun_of=None):
    position = orders.position(order)
    again = f" (a rerun of #{rerun_of})" if rerun_of else ""
    lines = [f"✅ Order #{order.id}{again} is confirmed: {h(order.package_name)}"
             f"{' + email confirmation' if order.email_confirmation else ''} for "
             f"{h(profile.full_name)}, {token_amount(order.price)}."]
    if position:
        lines.append(f"Its position in the queue: <b>{position}</b>.")
    lines.append("We will tell you here when it is done.")
    return Reply("\n".join(lines), [[MY_ORDERS]], replace=True)


# /orders and Rerun ----------------------------------------------------------------------

def page(ctx, user, number=0, replace=False):
    """Page `number` (0-based) of the customer's orders, newest first; past the last, the last."""
    lead, _ = _customer(ctx, user)
    total = orders.count_of_customer(lead.id)
    if not total:
        return Reply("You have no orders yet.", [[NEW_ORDER]], replace=replace)
    pages = math.ceil(total / PAGE_SIZE)
    number = min(number, pages - 1)
    lines = [f"📦 <b>Your orders</b> (page {number + 1} of {pages}, newest first)"]
    rows = []
    for order in orders.of_customer(lead.id, limit=PAGE_SIZE, offset=number * PAGE_SIZE):
        lines.append(_line(order))
        if order.status == "completed":
            rows.append([(f"🔁 Rerun #{order.id}", buttons.encode("rerun", order_id=order.id))])
    nav = []
    if number > 0:
        nav.append(("◀ Newer", buttons.encode("orders", page=number - 1)))
    if number + 1 < pages:
        nav.append(("Older ▶", buttons.encode("orders", page=number + 1)))
    return Reply("\n\n".join(lines), rows + ([nav] if nav else []) + [[NEW_ORDER]], replace=replace)


def _line(order):
    extra = " + email confirmation" if order.email_confirmation else ""
    status = STATUSES.get(order.status, order.status)
    position = orders.position(order)
    if position:
        status += f", position {position}"
    return (f"<b>#{order.id}</b> · {_day(order.created_at)} · {h(order.package_name)}{extra}\n"
            f"for {h(order.profile.full_name)} · {token_amount(order.price)} · {status}")


def rerun(ctx, user, order_id, price=None):
    """rerun:<order> asks to confirm at today's price; rerun:<order>:<price> places it."""
    lead, actor = _customer(ctx, user)
    expected = None if price is None else _price_in(price)
    if price is not None and expected is None:
        return Reply(buttons.NO_LONGER_VALID)
    try:
        original = orders.require(actor, order_id)
        if original.status != "completed":
            return Reply(shop_messages.RERUN_NOT_COMPLETED.format(
                id=original.id, status=original.status), [[MY_ORDERS]], replace=True)
        if expected is None:
            quote = catalogue.quote(lead.id, original.package_id, original.email_confirmation,
                                    ctx.clock())
            return _rerun_question(lead, original, quote)
        order = orders.rerun(actor, original.id, now=ctx.clock(), expected_price=expected,
                             request_key=_request_key(user, ctx))
    except orders.AlreadyPlaced as exc:
        return _placed(exc.order, exc.order.profile, rerun_of=exc.order.rerun_of_id)
    except orders.PriceChanged as exc:
        return _rerun_question(lead, original, exc.quote, note="⚠️ The price has changed "
                               f"since: it is now {token_amount(exc.quote.price)}.")
    except wallet.InsufficientTokens as exc:
        return Reply(f"Not enough tokens: running order #{order_id} again costs "
                     f"{token_amount(exc.needed)} and your balance is {token_amount(exc.balance)}, so you "
                     f"need <b>{exc.shortfall}</b> more. Nothing was charged.",
                     _top_up(exc.shortfall) + [[MY_ORDERS]], replace=True)
    except (catalogue.CatalogueError, orders.OrderError) as exc:
        return Reply(h(str(exc)), [[MY_ORDERS]], replace=True)
    return _placed(order, order.profile, rerun_of=original.id)


def _rerun_question(lead, original, quote, note=""):
    balance = wallet.balance(lead.id)
    extra = " + email confirmation" if original.email_confirmation else ""
    lines = ([note, ""] if note else []) + [
        f"🔁 Run order #{original.id} again?",
        f"{h(original.package_name)}{extra} for {h(original.profile.full_name)}",
        f"Today's price: <b>{token_amount(quote.price)}</b>. Your balance: {token_amount(balance)}."]
    rows = [[("✅ Confirm", buttons.encode("rerun", order_id=original.id, price=str(quote.price))),
             ("✖️ Cancel", buttons.encode("orders", page=0))]]
    if balance < quote.price:
        lines.append(f"You need {token_amount(quote.price - balance)} more: top up first.")
        rows += _top_up(quote.price - balance)
    return Reply("\n".join(lines), rows, replace=True)


# /tokens --------------------------------------------------------------------------------

def tokens(ctx, user, replace=False):
    """The balance, Premium, and the newest ledger lines."""
    lead, _ = _customer(ctx, user)
    account = wallet.wallet_of(lead.id)
    lines = [f"🪙 <b>Your balance: {token_amount(account.balance)}</b>"]
    if account.premium_until is not None and account.premium_until > ctx.clock():
        lines.append(f"⭐ Premium until {_day(account.premium_until)}: you pay the subscriber prices.")
    entries = wallet.history(lead.id, limit=HISTORY)
    if entries:
        lines += ["", f"<b>Last {len(entries)} operations</b> (newest first)"]
        lines += [f"{_day(e.created_at)} <b>{e.amount:+d}</b> {e.kind}"
                  f"{' · ' + h(e.reference) if e.reference else ''} → {e.balance_after}"
                  for e in entries]
    else:
        lines.append("No operations yet.")
    return Reply("\n".join(lines), [[TOP_UP, NEW_ORDER]], replace=replace)
