"""Tells customers in their conversation what happened to their top-up's payment: seen
and confirming, paid (with the new balance), underpaid or expired (nothing credited).

The settlement (services/payments/settlement.py) emits payment.status_changed only when
a payment really moves, in the transaction of the move, so each news is told once however
often OxaPay repeats it, and a move rolled back tells nobody. The moves made while the
invoice is created (source "invoice": new -> waiting or failed) are answered by the chat
that asked for it, and so are those its Check payment found (source "check"): they are
not told again here. A customer who cannot be reached
misses the notice; the payment goes ahead.
"""
from services.chat import buttons, topup
from services.chat.replies import keyboard
from services.core import events
from services.core.actors import Actor
from services.core.markup import h
from services.inbox import sending
from services.shop import wallet

SENDER = Actor.system("payments")
TOP_UP = ("🪙 Top up", buttons.encode("menu", item="topup"))
ANSWERED = ("invoice", "check")   # moves the customer's own request already answers


def _paying(payment, entry):
    return (f"🔄 We see your payment for {topup.describe(payment)}. OxaPay is waiting for the "
            f"network's confirmation; the tokens are added as soon as it is confirmed, and we "
            f"will tell you here."), []


def _paid(payment, entry):
    amount = entry.amount if entry is not None else payment.tokens
    balance = entry.balance_after if entry is not None else wallet.balance(payment.lead_id)
    return (f"✅ Payment received ({h(payment.reference)}): <b>+{amount:,} tokens</b>. "
            f"Your balance is now <b>{balance:,} tokens</b>."), [[topup.NEW_ORDER, topup.MY_TOKENS]]


def _underpaid(payment, entry):
    return (f"Your payment for {topup.describe(payment)}:\n{topup.underpaid_text(payment)}"), [[TOP_UP]]


def _expired(payment, entry):
    return (f"⌛ The invoice for {topup.describe(payment)} expired unpaid; nothing was charged. "
            f"Press Top up to make a new one."), [[TOP_UP]]


NOTICES = {"paying": _paying, "paid": _paid, "underpaid": _underpaid, "expired": _expired}


def on_status_changed(event):
    if event.data.get("source") in ANSWERED:
        return None
    before, after = event.changes.get("status", (None, None))
    notice = NOTICES.get(after)
    if notice is None or before == after:
        return None
    payment = event.data["payment"]
    text, rows = notice(payment, event.data.get("entry"))
    sending.tell(SENDER, event.data["lead"], text, event.data.get("now"), keyboard(rows))
    return None


def register():
    events.subscribe("payment.status_changed", on_status_changed)

