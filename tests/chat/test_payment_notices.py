"""What a customer is told of their top-up's payment (issue 15): seen and confirming, paid
with the new balance, underpaid, expired; each once however often OxaPay repeats it,
whether it came by webhook, the scheduler's polling or Check payment; nothing for the
invoice being made. The payments services are real and OxaPay is the fake one. Runs on
SQLite and Postgres (any_db)."""
import dataclasses
import datetime
import html
import json
import re
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from devtools.fake_oxapay import FakeOxaPay
from devtools.telegram_formatting import parse
from models import LedgerEntry, Message, OutboxMessage, Payment, User, db
from services.chat import payment_notices, topup
from services.core import events, policy
from services.core.actors import Actor
from services.payments import oxapay, polling, settlement
from tests.chat.conftest import (
    KEY,
    PACK_LABELS,
    balance,
    buy,
    near_now,
    oxapay_moves,
    terms,
)
from tests.chat.shop_helpers import fund, lead_of, presses

SENDER = payment_notices.SENDER.label
TAG = re.compile(r"<[^>]+>")


@pytest.fixture
def on(monkeypatch):
    with FakeOxaPay(KEY, retry_delays=(), step_delay=0) as fake:
        monkeypatch.setattr(policy, "_current", terms(fake))
        yield fake


def notices():
    """(html text, [button label, data…]) of each notice queued for customers, oldest first."""
    found = []
    for message in (Message.select().where(Message.sender_label == SENDER).order_by(Message.id)):
        row = OutboxMessage.get_by_id(message.outbox_id)
        parse(row.text, "HTML")    # Telegram takes it
        markup = json.loads(row.reply_markup) if row.reply_markup else {"inline_keyboard": []}
        found.append((row.text, [(b["text"], b["callback_data"])
                                 for line in markup["inline_keyboard"] for b in line]))
        assert message.text == html.unescape(TAG.sub("", row.text))   # the plain history
    return found


def reported(payment, status, paid="", amount=None):
    """What OxaPay's webhook would say of `payment`."""
    return oxapay.Information(status=status, currency="USD", order_id=payment.reference,
                              amount=Decimal(payment.amount_cents) / 100 if amount is None else amount,
                              paid=paid)


def test_paying_then_paid_are_each_told_once(on, zoe, ctx):
    fund(zoe, 10)
    _, payment = buy(zoe, ctx, 250)
    assert notices() == []          # the chat showed the invoice: nothing more to say
    oxapay_moves(on, payment, ("paying",))
    oxapay_moves(on, payment, ("paying",))          # the same news again
    assert notices() == [(
        f"🔄 We see your payment for 250 tokens for $25.00 ({payment.reference}). OxaPay is "
        "waiting for the network's confirmation; the tokens are added as soon as it is "
        "confirmed, and we will tell you here.", [])]
    for _ in range(3):                              # delivered again, and polled
        oxapay_moves(on, payment, ("paid",))
    polling.check_due(payment.expires_at + datetime.timedelta(hours=1))
    told = notices()
    assert len(told) == 2 and told[1] == (
        f"✅ Payment received ({payment.reference}): <b>+250 tokens</b>. Your balance is now "
        "<b>260 tokens</b>.", [("🛒 New order", "menu:order"), ("🪙 My tokens", "menu:tokens")])
    assert balance(zoe) == 260
    assert LedgerEntry.select().where(LedgerEntry.payment == payment.id).count() == 1
    # The notice's buttons work for the customer.
    assert "Register a profile first" in presses(zoe, told[1][1][0][1], ctx).text
    assert "Your balance: 260 tokens" in presses(zoe, told[1][1][1][1], ctx).text


def test_an_invoice_made_or_failing_tells_nothing(on, zoe, ctx):
    buy(zoe, ctx, 100, message_id=10)
    on.fail(503, times=1, path="invoice")
    buy(zoe, ctx, 100, message_id=11)
    assert [p.status for p in Payment.select().order_by(Payment.id)] == ["waiting", "failed"]
    assert notices() == []


def test_paid_at_once_is_told_once(on, zoe, ctx):
    _, payment = buy(zoe, ctx, 100)
    on.lose_webhooks(payment.track_id)
    on.pay(payment.track_id, ("paying", "paid"))
    on.wait_for_webhooks()
    # The scheduler finds it paid (its webhooks were lost): one notice, no "paying".
    assert polling.check_due(payment.next_check_at)["changed"] == 1
    ((text, _),) = notices()
    assert text.startswith(f"✅ Payment received ({payment.reference}): <b>+100 tokens</b>")
    assert balance(zoe) == 100


def test_check_payment_answers_itself_and_credits_once(on, zoe, ctx):
    """What Check payment finds is its answer: no notice says it again."""
    _, payment = buy(zoe, ctx, 100)
    on.pay(payment.track_id, ("paying", "paid"))
    on.wait_for_webhooks()
    answers = [presses(zoe, f"topup:check:{payment.id}", ctx) for _ in range(2)]
    assert all("✅ Paid: 100 tokens were added" in answer.text for answer in answers)
    assert notices() == [] and balance(zoe) == 100


def test_underpaid_is_told_with_what_arrived_escaped(on, zoe, ctx):
    _, payment = buy(zoe, ctx, 250)
    for _ in range(2):
        settlement.apply(payment.track_id, reported(payment, "underpaid", paid="9.5<script>"),
                         "webhook")
    ((text, rows),) = notices()
    assert text.startswith(f"Your payment for 250 tokens for $25.00 ({payment.reference}):\n"
                           "⚠️ OxaPay received only 9.5&lt;script&gt; USD, short of the $25.00")
    assert "<b>nothing was credited</b>" in text and "Write to us here" in text
    assert rows == [("🪙 Top up", "menu:topup")] and balance(zoe) == 0
    # Its Top up opens the packs.
    assert [label for row in presses(zoe, rows[0][1], ctx).buttons for label, _ in row] == PACK_LABELS


def test_expired_is_told_once_and_a_late_payment_still_credits(on, zoe, ctx):
    _, payment = buy(zoe, ctx, 100)
    on.expire(payment.track_id)
    after = payment.expires_at + polling.AFTER_EXPIRY
    assert polling.check_due(after)["changed"] == 1
    assert polling.check_due(after + datetime.timedelta(hours=1))["checked"] == 0
    ((text, rows),) = notices()
    assert text == (f"⌛ The invoice for 100 tokens for $10.00 ({payment.reference}) expired "
                    "unpaid; nothing was charged. Press Top up to make a new one.")
    assert rows == [("🪙 Top up", "menu:topup")]
    # The payment arrives after all (OxaPay's late "paid"): credited and told, once.
    for _ in range(2):
        settlement.apply(payment.track_id, reported(payment, "paid", paid="10"), "webhook")
    assert [text[0] for text, _ in notices()] == ["⌛", "✅"] and balance(zoe) == 100


def test_a_mismatched_amount_tells_nothing(on, zoe, ctx):
    _, payment = buy(zoe, ctx, 100)
    settlement.apply(payment.track_id, reported(payment, "paid", amount=Decimal("1")), "webhook")
    assert notices() == [] and balance(zoe) == 0 and Payment.get().status == "waiting"


def test_a_customer_who_cannot_be_reached_still_gets_the_tokens(on, zoe, ctx):
    _, payment = buy(zoe, ctx, 100)
    User.update(unreachable=True).where(User.id == zoe.id).execute()
    outcome = settlement.apply(payment.track_id, reported(payment, "paid"), "webhook")
    assert outcome.changed and notices() == [] and balance(zoe) == 100


def test_a_notice_rolls_back_with_its_payment(on, zoe, ctx):
    _, payment = buy(zoe, ctx, 100)

    def fail(event):
        raise RuntimeError("after the notice")
    events.subscribe("payment.status_changed", fail)
    try:
        with pytest.raises(RuntimeError), db.atomic():
            settlement.apply(payment.track_id, reported(payment, "paid"), "webhook")
    finally:
        events.unsubscribe("payment.status_changed", fail)
    assert notices() == [] and balance(zoe) == 0 and Payment.get().status == "waiting"


def test_only_real_moves_are_told(on, zoe, ctx):
    """A status_changed without a move, or to a status with nothing to say, tells nothing."""
    _, payment = buy(zoe, ctx, 100)
    lead = lead_of(zoe)
    for changes in ({"status": ("paying", "paying")}, {"status": ("new", "waiting")},
                    {"status": ("waiting", "failed")}, {}):
        events.emit("payment.status_changed", Actor.system("test"), "payment", payment.id,
                    changes, payment=payment, lead=lead, entry=None, source="poll")
    assert notices() == []


@settings(max_examples=200, deadline=None)
@given(paid=st.text(max_size=60), currency=st.text(max_size=10),
       status=st.sampled_from(["paying", "paid", "underpaid", "expired"]))
def test_what_oxapay_reports_is_escaped_everywhere(paid, currency, status):
    """Whatever OxaPay's fields hold (they reach us signed, but are not ours), every
    message showing a payment is HTML Telegram takes, showing the text as it was."""
    payment = Payment(id=7, lead=1, reference="LG-<i>&", tokens=100, amount_cents=1000,
                      currency=currency, status=status, paid_amount=paid, pay_url="https://pay",
                      expires_at=datetime.datetime(2026, 1, 1))
    later = dataclasses.replace(near_now(), clock=lambda: datetime.datetime(2026, 1, 2))
    entry = LedgerEntry(amount=100, balance_after=100)
    for text in (topup.status(later, payment).text,
                 payment_notices.NOTICES[status](payment, entry)[0]):
        parse(text, "HTML")
        assert "LG-&lt;i&gt;&amp;" in text
        if status == "underpaid" and paid:
            assert f"only {paid} {currency}," in html.unescape(TAG.sub("", text))
