"""Premium in a client's chat (SHOP on): /premium shows whether they have it, what it
gives and costs, and Subscribe (or Renew), which buys 30 days from the balance.

The Subscribe button carries the price the offer showed ("premium:<price>"), so an offer
gone stale (SUBSCRIPTION_PRICE_TOKENS changed) is shown again instead of being charged,
and the pressed message is the purchase's request key, so pressing twice buys once.
"""
from services.chat import buttons, inbox as chat_inbox, ordering
from services.chat.balance_alerts import when
from services.chat.replies import Reply
from services.core.actors import Actor
from services.core.inputs import parse_bounded_int
from services.core.markup import h, token_amount
from services.shop import catalogue, premium, wallet

CANCEL = ("✖️ Cancel", buttons.encode("premium", action="cancel"))
MY_TOKENS = ("🪙 My tokens", buttons.encode("menu", item="tokens"))
# What a button can carry: SUBSCRIPTION_PRICE_TOKENS is at most this (services/core/config.py).
LARGEST_PRICE = 10 ** buttons.PRICE_WIDTH - 1


def _request_key(user, ctx):
    """The pressed Subscribe message: pressing it twice buys once."""
    if ctx.pressed_message_id is None:
        return None
    return f"premium:telegram:{user.telegram_id}:{ctx.pressed_message_id}"


def offer(ctx, user, replace=False, note=""):
    """The customer's Premium, what it gives, its price and their balance, with Subscribe
    (Renew while they have it) carrying the price shown."""
    lead = chat_inbox.client_of(ctx, user)
    now = ctx.clock()
    cost = premium.price()
    balance = wallet.balance(lead.id)
    ends = premium.until(lead.id, now)
    lines = ([note, ""] if note else []) + ["⭐ <b>Premium</b>"]
    if ends is not None:
        lines.append(f"You have Premium until <b>{h(when(ends))}</b>.")
    else:
        lines.append("You do not have Premium now.")
    lines += ["", f"For {premium.DAYS} days:"] + _benefits() + [
        "", f"Price: <b>{token_amount(cost)}</b> for {premium.DAYS} days, paid from your balance."]
    if ends is not None:
        lines.append(f"Renewing now adds {premium.DAYS} days to the end: Premium until "
                     f"{h(when(premium.PERIOD + ends))}.")
    verb = "Renew" if ends is not None else "Subscribe"
    rows = [[(f"✅ {verb} for {token_amount(cost)}", buttons.encode("premium", price=str(cost)))],
            [CANCEL]]
    if balance >= cost:
        lines.append(f"Your balance: {token_amount(balance)}, {token_amount(balance - cost)} after this.")
    else:
        lines.append(f"Your balance: {token_amount(balance)}: {token_amount(cost - balance)} short. Top up "
                     f"first, then {verb.lower()}.")
        rows.insert(1, [ordering.TOP_UP])
    return Reply("\n".join(lines), rows, replace=replace)


def _benefits():
    """What Premium gives, from today's catalogue."""
    lines = []
    cheaper = next((p for p in catalogue.packages() if p.subscriber_price < p.price), None)
    if cheaper is not None:
        lines.append(f"• subscriber prices: {h(cheaper.name)} for {token_amount(cheaper.subscriber_price)} "
                     f"instead of {cheaper.price}, and less on every package")
    else:
        lines.append("• the subscriber prices of the packages")
    extra = catalogue.addon()
    if extra is not None and extra.subscriber_price < extra.price:
        lines.append(f"• the {h(extra.name.lower())} for {token_amount(extra.subscriber_price)} "
                     f"instead of {extra.price}")
    lines.append("• your orders go first in the queue")
    return lines


def pressed(ctx, user, action=None, price=None):
    """premium: shows the offer; premium:<price> buys at the price the offer showed;
    premium:cancel does not."""
    if action == "cancel":
        return Reply("No change: nothing was charged.", [[MY_TOKENS]], replace=True)
    if price is None:
        return offer(ctx, user, replace=True)
    expected = parse_bounded_int(price, 1, LARGEST_PRICE)
    if expected is None or str(expected) != price:
        return Reply(buttons.NO_LONGER_VALID)
    lead = chat_inbox.client_of(ctx, user)
    try:
        bought = premium.buy(Actor.client(user), lead.id, expected,
                             request_key=_request_key(user, ctx), now=ctx.clock())
    except premium.PriceChanged as exc:
        return offer(ctx, user, replace=True, note=f"⚠️ {h(str(exc))}")
    except wallet.InsufficientTokens as exc:
        return Reply(f"Not enough tokens: Premium costs {token_amount(exc.needed)} and your balance is "
                     f"{token_amount(exc.balance)}, so you need <b>{exc.shortfall}</b> more. Nothing was "
                     f"charged.",
                     [[ordering.TOP_UP], [("🔁 Try again", buttons.encode("premium", price=price)),
                                          CANCEL]], replace=True)
    except (premium.PremiumError, wallet.WalletError) as exc:
        return Reply(h(str(exc)), [[MY_TOKENS]], replace=True)
    balance = wallet.balance(lead.id)
    return Reply(f"⭐ <b>Premium is yours until {h(when(bought.until))}.</b>\n"
                 f"{token_amount(-bought.entry.amount)} came from your balance, which is now "
                 f"{token_amount(balance)}. You pay the subscriber prices and your orders go first "
                 f"in the queue.", [[ordering.NEW_ORDER, MY_TOKENS]], replace=True)
