"""Buying tokens in a customer's chat (issue 15), after the invoice: Check payment asking
OxaPay (throttled, unreachable, expired, underpaid, top-ups off), and a shortfall of /order
or a rerun leading into a top-up (the packs and invoices: test_topup.py). The
payments services are real and OxaPay is the fake one (devtools/fake_oxapay.py) over
HTTP. Runs on SQLite and Postgres (any_db)."""
import dataclasses
import datetime

from models import LedgerEntry, Order, Payment
from services.chat import topup
from services.core import policy
from tests.chat.conftest import (
    balance,
    buy,
    data_of,
    oxapay_moves,
    pay_link,
    says,
    terms,
)
from tests.chat.helpers import labels
from tests.chat.shop_helpers import add_profile, button, fund, presses

# Check payment ----------------------------------------------------------------------------

def test_check_payment_asks_oxapay_and_shows_where_it_stands(on, zoe, ctx):
    fund(zoe, 10)
    invoice, payment = buy(zoe, ctx, 250)
    check = data_of(invoice)["🔄 Check payment"]
    waiting = presses(zoe, check, ctx, pressed_message_id=10)
    assert waiting.replace and waiting.text == invoice.text and labels(waiting) == labels(invoice)
    on.pay(payment.track_id, ("paying",))
    on.wait_for_webhooks()
    paying = presses(zoe, check, ctx, pressed_message_id=10)
    assert "OxaPay sees your payment and is waiting for the network's confirmation" in paying.text
    assert labels(paying) == ["🔄 Check payment"] and Payment.get().status == "paying"
    on.pay(payment.track_id, ("paid",))
    on.wait_for_webhooks()
    paid = presses(zoe, check, ctx, pressed_message_id=10)
    assert "✅ Paid: 250 tokens were added to your balance. Your balance: <b>260 tokens</b>." in paid.text
    assert labels(paid) == ["🛒 New order", "🪙 My tokens"] and balance(zoe) == 260
    # Pressed again: nothing more is asked of OxaPay, nothing more credited.
    asked = len(on.calls)
    assert presses(zoe, check, ctx, pressed_message_id=10).text == paid.text
    assert len(on.calls) == asked and balance(zoe) == 260
    assert LedgerEntry.select().where(LedgerEntry.payment == payment.id).count() == 1


def test_check_payment_pressed_again_and_again_asks_oxapay_once_in_a_while(monkeypatch, on, zoe, ctx):
    monkeypatch.setattr(topup, "ASK_EVERY", 10.0)
    _, payment = buy(zoe, ctx, 250)
    asked = len(on.calls)
    for _ in range(3):   # within 10 s: OxaPay is asked the first time only
        presses(zoe, f"topup:check:{payment.id}", ctx)
    assert len(on.calls) == asked + 1
    on.pay(payment.track_id, ("paid",))
    on.wait_for_webhooks()
    topup._asked[payment.id] -= 10.0    # as if those 10 s had passed
    assert "✅ Paid" in presses(zoe, f"topup:check:{payment.id}", ctx).text
    assert len(on.calls) == asked + 2 and balance(zoe) == 250


def test_check_payment_when_oxapay_is_unreachable(on, zoe, ctx):
    invoice, payment = buy(zoe, ctx, 250)
    on.pay(payment.track_id, ("paying", "paid"))
    on.wait_for_webhooks()
    on.fail(503, times=1, path="info")
    answer = presses(zoe, f"topup:check:{payment.id}", ctx)
    assert answer.text.startswith(topup.UNREACHABLE + "\n\n🧾 <b>Invoice for 250 tokens")
    assert pay_link(answer) == payment.pay_url and Payment.get().status == "waiting"
    assert balance(zoe) == 0
    # Once OxaPay answers, the same button credits.
    assert "✅ Paid" in presses(zoe, f"topup:check:{payment.id}", ctx).text and balance(zoe) == 250


def test_check_payment_of_expired_and_underpaid_invoices(on, zoe, ctx):
    _, late = buy(zoe, ctx, 100, message_id=10)
    on.expire(late.track_id)
    expired = presses(zoe, f"topup:check:{late.id}", ctx)
    assert "⌛ This invoice expired unpaid; nothing was charged." in expired.text
    assert labels(expired) == ["🪙 Top up"] and pay_link(expired) is None
    _, short = buy(zoe, ctx, 250, message_id=11)
    on.pay(short.track_id, ("paid",), amount=10)
    on.wait_for_webhooks()
    underpaid = presses(zoe, f"topup:check:{short.id}", ctx)
    # The payment information names no amount received (the webhook's "value" does).
    assert "OxaPay received less than the invoice asked, short of the $25.00" in underpaid.text
    assert "<b>nothing was credited</b>" in underpaid.text and labels(underpaid) == ["🪙 Top up"]
    assert balance(zoe) == 0 and LedgerEntry.select().count() == 0


def test_an_invoice_whose_time_is_over_offers_no_pay_link(on, zoe, ctx):
    _, payment = buy(zoe, ctx, 250)
    later = dataclasses.replace(ctx, clock=lambda: payment.expires_at)
    on.fail(503, times=1, path="info")
    answer = presses(zoe, f"topup:check:{payment.id}", later)
    assert "⌛ The time to pay is over" in answer.text and pay_link(answer) is None
    assert labels(answer) == ["🔄 Check payment", "🪙 Top up"]
    # Shortly before, the time left is rounded down.
    for before, within in ((90, "a minute"), (30, "less than a minute"), (150, "2 minutes")):
        moment = payment.expires_at - datetime.timedelta(seconds=before)
        sooner = dataclasses.replace(ctx, clock=lambda moment=moment: moment)
        on.fail(503, times=1, path="info")
        answer = presses(zoe, f"topup:check:{payment.id}", sooner)
        assert f"Pay within <b>{within}</b>" in answer.text and pay_link(answer) == payment.pay_url


def test_check_payment_with_top_ups_turned_off_shows_what_is_stored(monkeypatch, on, zoe, ctx):
    _, payment = buy(zoe, ctx, 250)
    monkeypatch.setattr(policy, "_current", terms())
    asked = len(on.calls)
    answer = presses(zoe, f"topup:check:{payment.id}", ctx)
    assert "Invoice for 250 tokens" in answer.text and len(on.calls) == asked


# From a shortfall -------------------------------------------------------------------------

def order_summary(user, ctx, sites=250):
    step = presses(user, button(says(user, "/order", ctx), "Ann"), ctx)
    step = presses(user, button(step, f"{sites} sites"), ctx)
    return presses(user, button(step, "No"), ctx)


def test_a_shortfall_offers_to_buy_what_is_missing_then_the_order_goes_through(on, zoe, ctx):
    add_profile(zoe)
    fund(zoe, 100)
    summary = order_summary(zoe, ctx)
    assert labels(summary) == ["✅ Confirm", "✖️ Cancel", "💳 Buy 150 tokens · $15.00", "🪙 Top up"]
    refused = presses(zoe, button(summary, "✅ Confirm"), ctx, pressed_message_id=30)
    assert "you need <b>150</b> more" in refused.text
    assert labels(refused) == ["💳 Buy 150 tokens · $15.00", "🪙 Top up", "🔁 Try again", "✖️ Cancel"]
    invoice = presses(zoe, button(refused, "💳 Buy"), ctx, pressed_message_id=30)
    payment = Payment.get()
    assert invoice.text.startswith("🧾 <b>Invoice for 150 tokens: $15.00</b>")
    assert payment.tokens == 150 and pay_link(invoice) == payment.pay_url
    oxapay_moves(on, payment, ("paying", "paid"))
    assert balance(zoe) == 250
    placed = presses(zoe, button(refused, "🔁 Try again"), ctx, pressed_message_id=30)
    assert "is confirmed" in placed.text and balance(zoe) == 0 and Order.select().count() == 1


def test_a_small_shortfall_buys_the_least_a_top_up_may(on, zoe, ctx):
    add_profile(zoe)
    fund(zoe, 240)
    refused = presses(zoe, button(order_summary(zoe, ctx), "✅ Confirm"), ctx)
    assert labels(refused)[0] == "💳 Buy 50 tokens · $5.00"
    assert button(refused, "💳 Buy") == "topup:50"


def test_a_shortfall_past_the_largest_top_up_offers_the_packs_only(monkeypatch, fake, zoe, ctx):
    monkeypatch.setattr(policy, "_current", terms(fake, topup_max_tokens=100, topup_packs=(50, 100)))
    add_profile(zoe)
    fund(zoe, 100)
    refused = presses(zoe, button(order_summary(zoe, ctx), "✅ Confirm"), ctx)
    assert labels(refused) == ["🪙 Top up", "🔁 Try again", "✖️ Cancel"]


def test_a_rerun_short_of_tokens_offers_to_buy_what_is_missing(on, zoe, ctx, make_user):
    from tests.chat.test_ordering import complete, place
    fund(zoe, 100)
    order = complete(place(zoe), make_user(role="operator"))
    question = presses(zoe, f"rerun:{order.id}", ctx)
    assert "💳 Buy 100 tokens · $10.00" in labels(question)
    refused = presses(zoe, f"rerun:{order.id}:100", ctx)
    assert labels(refused) == ["💳 Buy 100 tokens · $10.00", "🪙 Top up", "📦 My orders"]


def test_with_top_ups_off_a_shortfall_offers_top_up_only(zoe, ctx):
    add_profile(zoe)
    fund(zoe, 100)
    refused = presses(zoe, button(order_summary(zoe, ctx), "✅ Confirm"), ctx)
    assert labels(refused) == ["🪙 Top up", "🔁 Try again", "✖️ Cancel"]


