"""Buying tokens in a customer's chat (SHOP on, issue 15): /buy and the Top up of /tokens
and of a shortfall show the packs; "Other amount" asks for a number in a one-question
dialogue (flow "topup", answered through services/chat/shop.py); a pack or an amount
makes the payment and its OxaPay invoice, shown with its Pay link; "Check payment" asks
OxaPay at once instead of waiting for its webhook or the scheduler.

services.payments.topups.create stores the payment in the update's transaction before
the link is shown, and the link is only ever built from a stored payment. The tokens are
credited once by services/payments/settlement.py; services/chat/payment_notices.py tells
the customer.
"""
import dataclasses
import re
import time
from decimal import Decimal

from models import PENDING_PAYMENT_STATUSES, Payment, utcnow
from services.chat import buttons, dialogues, inbox as chat_inbox
from services.chat.replies import Link, Reply
from services.core.actors import Actor
from services.core.markup import h, usd
from services.core.policy import current as policy
from services.payments import oxapay, settlement, topups
from services.shop import wallet

FLOW = "topup"
# An amount asked this long ago is probably forgotten: what the customer writes then is
# more likely a message for the team than the answer.
IDLE_MINUTES = 60
PACKS_PER_ROW = 2
MY_TOKENS = ("🪙 My tokens", buttons.encode("menu", item="tokens"))
NEW_ORDER = ("🛒 New order", buttons.encode("menu", item="order"))
# A Top up that opens the packs in a new message: from a message that shows a payment,
# whose id already keys that payment (a pack pressed there again would show it again).
TOP_UP = ("🪙 Top up", buttons.encode("menu", item="topup"))
PACKS = ("◀ Packs", buttons.encode("topup", action="packs"))
OTHER = ("✏️ Other amount", buttons.encode("topup", action="other"))
CANCEL = ("✖️ Cancel", buttons.encode("topup", action="cancel"))
OFF = ("Buying tokens online is not set up here yet. Write in this chat how many tokens you "
       "need, and our team will top you up and tell you here.")
CANCELLED = "Cancelled. Nothing was charged."
UNREACHABLE = ("⚠️ Could not reach OxaPay just now. We keep checking this payment and will "
               "tell you here as soon as it changes.")
# Check payment pressed again and again asks OxaPay about a payment at most this often
# (seconds); in between it shows what is known. Per bot process, which is one.
ASK_EVERY = 10.0
_asked = {}   # payment id -> time.monotonic() of this process's last question about it
# "250 tokens" is as good an answer as "250".
_UNIT = re.compile(r"\s*tokens?\s*$", re.IGNORECASE)


def _ask_amount(note=""):
    terms = policy()
    prefix = f"{note}\n\n" if note else ""
    return Reply(f"{prefix}✏️ <b>How many tokens would you like?</b>\n"
                 f"Write a whole number from {terms.topup_min_tokens:,} to "
                 f"{terms.topup_max_tokens:,} ({_unit_price()} each). /cancel stops.",
                 [[PACKS, CANCEL]])


ASK = dialogues.Dialogue(
    flow=FLOW, steps=("amount",), ask=lambda step, values, note="": _ask_amount(note),
    inactive=Reply("No amount is being asked. Send /buy to buy tokens."),
    cancelled=CANCELLED, doing="buying tokens")


def _tokens(amount):
    return f"{amount:,} token" if amount == 1 else f"{amount:,} tokens"


def _unit_price():
    """"$0.10": the price of one token, with every digit TOKEN_PRICE_USD has."""
    price = policy().token_price_usd
    if price == price.quantize(Decimal("0.01")):
        return f"${price:,.2f}"
    return f"${price.normalize():f}"


def _request_key(user, ctx, message_id=None):
    """What makes a pack pressed twice (or a message delivered again) make one invoice:
    the pressed message, or the customer's message with the amount."""
    message_id = ctx.pressed_message_id if message_id is None else message_id
    if message_id is None:
        return None
    return f"telegram:{user.telegram_id}:{message_id}"


def _end(user):
    """End the amount question, and no other dialogue (a registration stays open)."""
    if ASK.is_active(user):
        ASK.end(user)


# The packs -------------------------------------------------------------------------------

def start(ctx, user, replace=False, note=""):
    """/buy, and every Top up: the balance, the price and the packs; with top-ups off,
    who to ask instead."""
    lead = chat_inbox.client_of(ctx, user)
    _end(user)
    balance = f"🪙 Your balance: <b>{_tokens(wallet.balance(lead.id))}</b>."
    prefix = f"{note}\n\n" if note else ""
    if not topups.available():
        return Reply(f"{prefix}{balance}\n{OFF}", [[MY_TOKENS, NEW_ORDER]], replace=replace)
    choices = [(f"{_tokens(pack.tokens)} · {pack.price}", buttons.encode("topup", tokens=pack.tokens))
               for pack in topups.packs()]
    rows = [choices[at:at + PACKS_PER_ROW] for at in range(0, len(choices), PACKS_PER_ROW)]
    return Reply(f"{prefix}💳 <b>Buy tokens</b>\n{balance}\n"
                 f"1 token = {_unit_price()}. You pay in cryptocurrency on OxaPay's page; the "
                 f"tokens are added as soon as the payment is confirmed.\n"
                 f"Choose a pack, or another amount:",
                 rows + [[OTHER], [CANCEL]], replace=replace)


def buy_missing(shortfall):
    """A shortfall's first button: buy what is missing (at least TOPUP_MIN_TOKENS); None
    when top-ups are off or it is more than one top-up may buy."""
    if not topups.available():
        return None
    try:
        priced = topups.quote(max(shortfall, policy().topup_min_tokens))
    except topups.TopUpError:
        return None
    return (f"💳 Buy {_tokens(priced.tokens)} · {priced.price}",
            buttons.encode("topup", tokens=priced.tokens))


def pressed(ctx, user, action=None, tokens=None, payment_id=None):
    """A "topup" button: packs, other, cancel, check:<payment> or <tokens>."""
    if action == "packs":
        return start(ctx, user, replace=True)
    if action == "cancel":
        _end(user)
        return Reply(CANCELLED, [[MY_TOKENS]], replace=True)
    if action == "other":
        return _other(ctx, user)
    lead = chat_inbox.client_of(ctx, user)
    if action == "check":
        return check(ctx, lead, payment_id)
    _end(user)
    return _buy(ctx, user, lead, tokens, _request_key(user, ctx), replace=True)


def _other(ctx, user):
    if not topups.available():
        return start(ctx, user, replace=True)
    busy = dialogues.current(user)
    if busy is not None and busy is not ASK:
        # One dialogue at a time: asking the amount would silently drop the other one.
        return start(ctx, user, replace=True, note=(
            f"You are in the middle of {busy.doing}. Finish it, or /cancel it, then press "
            f"{OTHER[0]} again."))
    ASK.go(user, "amount", {})
    return dataclasses.replace(_ask_amount(), replace=True)


def answer(ctx, user, text, message_id=None):
    """The customer's text while the amount is asked: the invoice, or the question again
    saying what was wrong; None when no amount is asked (or it was asked too long ago,
    when the text is for the team)."""
    state = ASK.get(user)
    if state is None:
        return None
    # dialogues.save stamps updated_at with the wall clock, not ctx.clock().
    if (utcnow() - state.updated_at).total_seconds() > IDLE_MINUTES * 60:
        ASK.end(user)
        return None
    if not topups.available():     # turned off since the question was asked
        return start(ctx, user)
    try:
        priced = topups.quote(_UNIT.sub("", text))
    except topups.TopUpError as exc:
        dialogues.advance(state, "amount", {})   # asked again: not idle
        return _ask_amount(f"⚠️ {h(str(exc))}")
    ASK.end(user)
    lead = chat_inbox.client_of(ctx, user)
    return _buy(ctx, user, lead, priced.tokens, _request_key(user, ctx, message_id))


def _buy(ctx, user, lead, tokens, request_key, replace=False):
    try:
        payment = topups.create(Actor.client(user), lead.id, tokens, request_key=request_key,
                                now=ctx.clock())
    except topups.InvoiceFailed as exc:
        return Reply(f"⚠️ {h(str(exc))}", [[TOP_UP]], replace=replace)
    except topups.TopUpError as exc:
        return Reply(h(str(exc)), replace=replace)
    if payment.lead_id != lead.id:   # a request key is the customer's own: never happens
        return Reply(buttons.NO_LONGER_VALID)
    return status(ctx, payment, replace=replace)


# A payment -------------------------------------------------------------------------------

def check(ctx, lead, payment_id):
    """Check payment: ask OxaPay now about the customer's own payment, then show it."""
    payment = Payment.get_or_none(Payment.id == payment_id, Payment.lead == lead.id)
    if payment is None:
        return Reply(buttons.NO_LONGER_VALID)
    note = ""
    if (payment.status in PENDING_PAYMENT_STATUSES and payment.track_id and topups.available()
            and _may_ask(payment.id)):
        try:
            reported = oxapay.information(payment.track_id)
        except oxapay.OxaPayError:
            note = UNREACHABLE
        else:
            # "check": this answer says what happened, so no notice tells it again.
            outcome = settlement.apply(payment.track_id, reported, "check", now=ctx.clock())
            payment = outcome.payment or payment
    return status(ctx, Payment.get_by_id(payment.id), note=note, replace=True)


def _may_ask(payment_id):
    """Whether this process may ask OxaPay about the payment now (ASK_EVERY)."""
    now = time.monotonic()
    for known, at in list(_asked.items()):
        if now - at >= ASK_EVERY:
            del _asked[known]
    if payment_id in _asked:
        return False
    _asked[payment_id] = now
    return True


def describe(payment):
    """"250 tokens for $25.00 (LG-1a2b3c)": what a payment buys, for its messages."""
    return f"{_tokens(payment.tokens)} for {usd(payment.amount_cents)} ({h(payment.reference)})"


def received(payment):
    """What OxaPay says arrived, as it wrote it, escaped; "" when it said nothing."""
    return f"{h(payment.paid_amount)} {h(payment.currency)}" if payment.paid_amount else ""


def status(ctx, payment, note="", replace=True):
    """A payment as its customer sees it: the invoice with its Pay link while it can be
    paid, else where it stands and what to do next."""
    prefix = f"{note}\n\n" if note else ""
    title = f"🧾 <b>Invoice for {_tokens(payment.tokens)}: {usd(payment.amount_cents)}</b>"
    reference = f"Reference: <code>{h(payment.reference)}</code>"
    checking = ("🔄 Check payment", buttons.encode("topup", action="check", payment_id=payment.id))
    if payment.status == "waiting" and payment.pay_url:
        seconds = (payment.expires_at - ctx.clock()).total_seconds()
        if seconds > 0:
            # Rounded down: never promise more time than the invoice has.
            left = int(seconds // 60)
            within = f"{left} minutes" if left > 1 else "a minute" if left else "less than a minute"
            return Reply(f"{prefix}{title}\nPay within <b>{within}</b> with cryptocurrency on OxaPay's page: "
                         f"press 💳 Pay. The tokens are added as soon as the payment is confirmed, "
                         f"and we tell you here.\n{reference}",
                         [[(f"💳 Pay {usd(payment.amount_cents)}", Link(payment.pay_url))],
                          [checking]], replace=replace)
        return Reply(f"{prefix}{title}\n⌛ The time to pay is over. If you paid just now, press "
                     f"Check payment in a minute.\n{reference}", [[checking], [TOP_UP]],
                     replace=replace)
    if payment.status == "paying":
        return Reply(f"{prefix}{title}\n🔄 OxaPay sees your payment and is waiting for the "
                     f"network's confirmation. The tokens are added as soon as it is confirmed; "
                     f"we will tell you here.\n{reference}", [[checking]], replace=replace)
    if payment.status == "paid":
        return Reply(f"{prefix}{title}\n✅ Paid: {_tokens(payment.tokens)} were added to your "
                     f"balance. Your balance: <b>{_tokens(wallet.balance(payment.lead_id))}</b>."
                     f"\n{reference}", [[NEW_ORDER, MY_TOKENS]], replace=replace)
    if payment.status == "underpaid":
        return Reply(f"{prefix}{title}\n{underpaid_text(payment)}\n{reference}", [[TOP_UP]],
                     replace=replace)
    if payment.status == "expired":
        return Reply(f"{prefix}{title}\n⌛ This invoice expired unpaid; nothing was charged.\n"
                     f"{reference}", [[TOP_UP]], replace=replace)
    if payment.status == "new":   # the press that makes it is still waiting for OxaPay
        return Reply(f"{prefix}{title}\n⏳ OxaPay is making this invoice. Press Check payment "
                     f"in a moment to see it.\n{reference}", [[checking]], replace=replace)
    return Reply(f"{prefix}{title}\n⚠️ OxaPay did not make this invoice, so nothing was charged. "
                 f"Press Top up to try again.\n{reference}", [[TOP_UP]], replace=replace)


def underpaid_text(payment):
    got = received(payment)
    what = f"only {got}" if got else "less than the invoice asked"
    return (f"⚠️ OxaPay received {what}, short of the {usd(payment.amount_cents)} the invoice "
            f"asked, so <b>nothing was credited</b>. Write to us here with the reference and "
            f"the team will sort it out with you (OxaPay can refund what was sent).")
