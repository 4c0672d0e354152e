"""Buying tokens in a customer's chat (issue 15): /buy and Top up, the packs, another
amount, the invoice with its Pay link, Check payment, forged buttons, top-ups off, an
invoice OxaPay does not make, and a shortfall of /order leading into a top-up. The
payments services are real and OxaPay is the fake one (devtools/fake_oxapay.py) over
HTTP. Runs on SQLite and Postgres (any_db)."""
import dataclasses
import datetime
import json
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from devtools.fake_oxapay import FakeOxaPay
from models import DialogueState, LedgerEntry, Message, Order, Payment, utcnow
from services.chat import buttons, registration, topup
from services.chat.replies import Link, keyboard
from services.core import policy
from services.payments import messages as payment_messages, oxapay, settlement
from services.shop import wallet
from tests.chat.helpers import labels
from tests.chat.shop_helpers import add_profile, button, fund, lead_of, presses, writes
from tests.fuzz_values import SWEEP

KEY = "TEST-MERCHANT-KEY-0001"
INVALID = buttons.NO_LONGER_VALID
PACK_LABELS = ["100 tokens · $10.00", "250 tokens · $25.00", "500 tokens · $50.00",
               "1,000 tokens · $100.00", "✏️ Other amount", "✖️ Cancel"]
BAD_AMOUNT = payment_messages.BAD_AMOUNT.format(low=50, high=100000)


def terms(fake=None, **values):
    """The policy with the shop on, and top-ups through `fake` when given."""
    if fake is not None:
        values = dict(payments=True, oxapay_api_url=fake.base_url,
                      oxapay_merchant_api_key=KEY, **values)
    return policy.Policy(company="Acme & Sons", shop=True, **values)


@pytest.fixture
def fake():
    with FakeOxaPay(KEY, retry_delays=(), step_delay=0) as server:
        yield server


@pytest.fixture
def on(monkeypatch, fake):
    monkeypatch.setattr(policy, "_current", terms(fake))
    return fake


@pytest.fixture
def otto(any_db, make_user):
    return make_user(role=None, telegram_id=501, first_name="Otto")


def says(user, text, ctx):
    return writes(user, text, ctx)[-1]


def data_of(answer):
    return {label: data for row in answer.buttons for label, data in row}


def pay_link(answer):
    links = [data for row in answer.buttons for _, data in row if isinstance(data, Link)]
    assert len(links) <= 1, answer.buttons
    return links[0] if links else None


def buy(user, ctx, tokens=250, message_id=10):
    """The invoice a pack pressed on message `message_id` gives, and its payment."""
    answer = presses(user, f"topup:{tokens}", ctx, pressed_message_id=message_id)
    return answer, Payment.get(Payment.request_key == f"telegram:{user.telegram_id}:{message_id}")


def oxapay_moves(fake, payment, statuses, amount=None, source="webhook"):
    """OxaPay moves the payment through `statuses` and tells us (as its webhook would)."""
    fake.pay(payment.track_id, statuses, amount)
    fake.wait_for_webhooks()
    return settlement.apply(payment.track_id, oxapay.information(payment.track_id), source)


def balance(user):
    return wallet.balance(lead_of(user).id)


# The packs --------------------------------------------------------------------------------

def test_buy_shows_the_balance_the_price_and_the_packs(on, zoe, ctx):
    fund(zoe, 120)
    answer = says(zoe, "/buy", ctx)
    assert "💳 <b>Buy tokens</b>" in answer.text and not answer.replace
    assert "Your balance: <b>120 tokens</b>" in answer.text and "1 token = $0.10" in answer.text
    assert labels(answer) == PACK_LABELS
    assert [data_of(answer)[label] for label in PACK_LABELS] == [
        "topup:100", "topup:250", "topup:500", "topup:1000", "topup:other", "topup:cancel"]
    assert [len(row) for row in answer.buttons] == [2, 2, 1, 1]
    # /tokens' Top up and the client menu's lead to the same packs.
    tokens = says(zoe, "/tokens", ctx)
    assert labels(presses(zoe, button(tokens, "🪙 Top up"), ctx)) == PACK_LABELS
    assert labels(presses(zoe, "menu:topup", ctx)) == PACK_LABELS
    assert on.calls == [] and Payment.select().count() == 0   # nothing is asked of OxaPay yet


def test_the_packs_follow_the_settings(monkeypatch, fake, zoe, ctx):
    monkeypatch.setattr(policy, "_current", terms(
        fake, token_price_usd=Decimal("0.015"), topup_packs=(70, 333), topup_min_tokens=60))
    answer = says(zoe, "/buy", ctx)
    assert "1 token = $0.015" in answer.text
    # Rounded up to the cent: 70 × 0.015 = 1.05, 333 × 0.015 = 4.995.
    assert labels(answer)[:2] == ["70 tokens · $1.05", "333 tokens · $5.00"]
    invoice, payment = buy(zoe, ctx, 333)
    assert payment.amount_cents == 500 and "$5.00" in invoice.text
    assert fake.invoice(payment.track_id)["amount"] == 5.0


def test_packs_and_cancel_edit_the_pressed_message(on, zoe, ctx):
    other = presses(zoe, "topup:other", ctx)
    assert other.replace and labels(presses(zoe, button(other, "◀ Packs"), ctx)) == PACK_LABELS
    cancelled = presses(zoe, "topup:cancel", ctx)
    assert (cancelled.text, cancelled.replace, labels(cancelled)) == (
        "Cancelled. Nothing was charged.", True, ["🪙 My tokens"])
    assert Payment.select().count() == 0


# The invoice ------------------------------------------------------------------------------

def test_a_pack_makes_a_stored_payment_and_shows_its_pay_link(on, zoe, ctx):
    invoice, payment = buy(zoe, ctx, 250)
    assert invoice.replace   # the packs become the invoice
    assert invoice.text.startswith("🧾 <b>Invoice for 250 tokens: $25.00</b>\nPay within <b>60 minutes</b>")
    assert f"Reference: <code>{payment.reference}</code>" in invoice.text
    assert labels(invoice) == ["💳 Pay $25.00", "🔄 Check payment"]
    assert pay_link(invoice) == payment.pay_url == f"{on.base_url}/pay/{payment.track_id}"
    assert data_of(invoice)["🔄 Check payment"] == f"topup:check:{payment.id}"
    assert (payment.status, payment.tokens, payment.amount_cents, payment.lead_id) == (
        "waiting", 250, 2500, lead_of(zoe).id)
    (made,) = on.invoices
    assert (made["track_id"], made["order_id"], made["amount"], made["currency"]) == (
        payment.track_id, payment.reference, 25.0, "USD")
    assert balance(zoe) == 0     # nothing is credited before OxaPay says it is paid


def test_a_pack_pressed_twice_makes_one_invoice(on, zoe, ctx):
    first, payment = buy(zoe, ctx, 250, message_id=10)
    again = presses(zoe, "topup:250", ctx, pressed_message_id=10)
    other_pack = presses(zoe, "topup:500", ctx, pressed_message_id=10)
    assert again == first and other_pack == first   # the message's payment, shown again
    assert Payment.select().count() == 1 and len(on.invoices) == 1
    # Another message (a new /buy) makes another.
    _, second = buy(zoe, ctx, 500, message_id=11)
    assert second.id != payment.id and len(on.invoices) == 2


def test_another_amount_is_asked_and_checked(on, zoe, ctx):
    asked = presses(zoe, "topup:other", ctx)
    assert "How many tokens would you like?" in asked.text
    assert "from 50 to 100,000 ($0.10 each)" in asked.text and asked.replace
    assert labels(asked) == ["◀ Packs", "✖️ Cancel"]
    for wrong in ("many", "10", "49", "100001", "12.5", "-100", "²", "1e3", "<b>250</b>"):
        again = says(zoe, wrong, ctx)
        assert again.text.startswith(f"⚠️ {BAD_AMOUNT}\n\n✏️ <b>How many tokens"), wrong
        assert labels(again) == ["◀ Packs", "✖️ Cancel"]
    assert Payment.select().count() == 0 and on.calls == []
    invoice = says(zoe, "1,234 tokens", ctx)
    assert invoice.text.startswith("🧾 <b>Invoice for 1,234 tokens: $123.40</b>")
    assert not invoice.replace and pay_link(invoice) == Payment.get().pay_url
    assert Payment.get().tokens == 1234
    # The question is answered: what she writes next is for the team again.
    assert DialogueState.select().count() == 0
    writes(zoe, "Thanks!", ctx)
    assert [m.text for m in Message.select().where(Message.direction == "in")] == ["Thanks!"]


def test_the_amount_message_delivered_twice_makes_one_invoice(on, zoe, ctx):
    presses(zoe, "topup:other", ctx)
    first = topup.answer(ctx, zoe, "300", message_id=42)
    topup.ASK.go(zoe, "amount", {})    # asked again, and the same message answers
    again = topup.answer(ctx, zoe, "300", message_id=42)
    assert again == first and pay_link(first) and Payment.select().count() == 1


def test_the_amount_question_ends_with_cancel(on, zoe, ctx):
    presses(zoe, "topup:other", ctx)
    assert presses(zoe, "topup:cancel", ctx).text == "Cancelled. Nothing was charged."
    assert DialogueState.select().count() == 0
    writes(zoe, "250", ctx)     # no longer an amount: a message to the team
    assert Payment.select().count() == 0
    assert [m.text for m in Message.select().where(Message.direction == "in")] == ["250"]


def test_slash_cancel_ends_the_amount_question(on, zoe, ctx):
    presses(zoe, "topup:other", ctx)
    back = says(zoe, "/back", ctx)      # one question: /back asks it again
    assert back.text.startswith("This is the first question.\n\n✏️ <b>How many tokens")
    assert says(zoe, "/cancel", ctx).text == "Cancelled. Nothing was charged."
    assert DialogueState.select().count() == 0 and Payment.select().count() == 0


def test_a_forgotten_question_lets_the_text_go_to_the_team(on, zoe, ctx):
    presses(zoe, "topup:other", ctx)
    DialogueState.update(updated_at=utcnow() - datetime.timedelta(minutes=61)).execute()
    writes(zoe, "300", ctx)
    assert Payment.select().count() == 0 and DialogueState.select().count() == 0
    assert [m.text for m in Message.select().where(Message.direction == "in")] == ["300"]


def test_another_amount_does_not_drop_a_registration(on, zoe, ctx):
    writes(zoe, "/register", ctx)
    answer = presses(zoe, "topup:other", ctx)
    assert answer.text.startswith("You are in the middle of registering a profile. Finish it, "
                                  "or /cancel it, then press ✏️ Other amount again.")
    assert labels(answer) == PACK_LABELS
    assert presses(zoe, "topup:cancel", ctx).text == "Cancelled. Nothing was charged."
    assert registration.WIZARD.is_active(zoe)     # Cancel of the packs leaves it be
    buy(zoe, ctx, 250)
    assert registration.WIZARD.is_active(zoe)     # and so does buying a pack


def test_an_answer_while_registering_is_the_registrations(on, zoe, ctx):
    writes(zoe, "/register", ctx)
    answer = says(zoe, "250", ctx)
    assert pay_link(answer) is None and "Invoice" not in answer.text
    assert registration.WIZARD.is_active(zoe) and Payment.select().count() == 0


# Off, failing, forged ---------------------------------------------------------------------

def test_with_top_ups_off_the_team_is_asked_instead(monkeypatch, zoe, ctx):
    monkeypatch.setattr(policy, "_current", terms())
    fund(zoe, 30)
    answer = says(zoe, "/buy", ctx)
    assert answer.text == ("🪙 Your balance: <b>30 tokens</b>.\n" + topup.OFF)
    assert labels(answer) == ["🪙 My tokens", "🛒 New order"]
    for data in ("topup:250", "topup:other", "topup:packs"):
        refused = presses(zoe, data, ctx, pressed_message_id=3)
        assert topup.OFF in refused.text or refused.text == payment_messages.PAYMENTS_OFF, data
        assert pay_link(refused) is None
    assert "🪙 <b>Your balance: 30 tokens</b>" in says(zoe, "/tokens", ctx).text
    assert "our team will top you up" in says(zoe, "/help", ctx).text
    assert Payment.select().count() == 0 and DialogueState.select().count() == 0


def test_top_ups_turned_off_while_an_amount_is_asked(monkeypatch, on, zoe, ctx):
    presses(zoe, "topup:other", ctx)
    monkeypatch.setattr(policy, "_current", terms())
    assert topup.OFF in says(zoe, "300", ctx).text
    assert Payment.select().count() == 0 and DialogueState.select().count() == 0


def test_an_invoice_oxapay_does_not_make_shows_no_link(on, zoe, ctx):
    on.fail(503, times=1, path="invoice")
    failed = presses(zoe, "topup:250", ctx, pressed_message_id=10)
    assert failed.text == f"⚠️ {payment_messages.INVOICE_FAILED}"
    assert labels(failed) == ["🪙 Top up"] and data_of(failed)["🪙 Top up"] == "menu:topup"
    payment = Payment.get()
    assert (payment.status, payment.pay_url, payment.track_id) == ("failed", None, None)
    # Pressed again on the same message: the same failed payment, still no link; Check
    # payment on it (a forged button) says so too.
    assert presses(zoe, "topup:250", ctx, pressed_message_id=10) == failed
    checked = presses(zoe, f"topup:check:{payment.id}", ctx)
    assert "⚠️ OxaPay did not make this invoice, so nothing was charged." in checked.text
    assert pay_link(checked) is None and labels(checked) == ["🪙 Top up"]
    assert Payment.select().count() == 1
    # Top up opens the packs in a new message, whose pack makes a new invoice.
    assert labels(presses(zoe, "menu:topup", ctx, pressed_message_id=10)) == PACK_LABELS
    invoice, second = buy(zoe, ctx, 250, message_id=12)
    assert second.status == "waiting" and pay_link(invoice) == second.pay_url


def test_a_payment_whose_invoice_is_being_made_shows_no_link(on, zoe, ctx):
    _, payment = buy(zoe, ctx, 100)
    Payment.update(status="new", track_id=None).execute()   # as the first press leaves it
    answer = presses(zoe, "topup:100", ctx, pressed_message_id=10)
    assert "⏳ OxaPay is making this invoice" in answer.text and pay_link(answer) is None
    assert labels(answer) == ["🔄 Check payment"] and len(on.invoices) == 1


def test_an_unanswered_invoice_request_shows_no_link(on, zoe, ctx):
    on.fail("drop", times=1, path="invoice")
    failed = presses(zoe, "topup:100", ctx, pressed_message_id=10)
    assert payment_messages.INVOICE_FAILED in failed.text and pay_link(failed) is None
    assert Payment.get().status == "failed"


def test_forged_top_up_buttons(on, zoe, otto, ctx):
    _, ottos = buy(otto, ctx, 100)
    for data in ("topup:10", "topup:49", "topup:100001", f"topup:{2**31}"):
        refused = presses(zoe, data, ctx, pressed_message_id=20)
        assert (refused.text, refused.buttons) == (BAD_AMOUNT, []), data
    for data in (f"topup:check:{ottos.id}", "topup:check:999", "topup:0", "topup:007",
                 "topup:-100", "topup:check:x", "topup:check", "topup:250:1", "topup:other:1",
                 *(f"topup:{value}" for value in SWEEP), *(f"topup:check:{v}" for v in SWEEP)):
        assert presses(zoe, data, ctx, pressed_message_id=21).text == INVALID, data
    assert Payment.select().count() == 1 and len(on.invoices) == 1
    # A team member may not press a customer's buttons.
    assert "no longer valid" in presses_as_member(otto, f"topup:check:{ottos.id}", ctx)


def presses_as_member(user, data, ctx):
    user.role = "sales"
    user.save()
    return presses(user, data, ctx).text


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


# Fuzz -------------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.sampled_from([*SWEEP, "50", "100000", " 7,000 ", "٣٠٠", "250 TOKENS"]),
                      st.integers(-10, 200_000).map(str), st.text(max_size=40)))
def test_any_amount_is_an_invoice_or_the_question_again(on, zoe, ctx, text):
    read = text.replace("\x00", "").strip()
    assume(read and not read.startswith("/"))    # nothing to read, or a command
    presses(zoe, "topup:other", ctx)
    before = Payment.select().count()
    (answer,) = writes(zoe, text, ctx)
    payments = Payment.select().count() - before
    if payments:
        payment = Payment.select().order_by(Payment.id.desc()).first()
        assert 50 <= payment.tokens <= 100_000 and pay_link(answer) == payment.pay_url
        assert DialogueState.select().count() == 0
    else:
        assert answer.text.startswith(f"⚠️ {BAD_AMOUNT}") and pay_link(answer) is None
        assert topup.ASK.is_active(zoe)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(
    st.builds("topup:{}".format, st.one_of(st.sampled_from(SWEEP), st.integers(-5, 10**6).map(str),
                                           st.text(max_size=20))),
    st.builds("topup:check:{}".format, st.one_of(st.sampled_from(SWEEP), st.integers(-5, 50).map(str),
                                                 st.text(max_size=20)))))
def test_any_top_up_button_is_answered_without_a_stray_link(on, zoe, otto, ctx, data):
    if not Payment.select().where(Payment.lead == lead_of(otto).id).exists():
        buy(otto, ctx, 100)
    answer = presses(zoe, data, ctx, pressed_message_id=99)
    link = pay_link(answer)
    if link is not None:
        assert Payment.get(Payment.pay_url == link).lead_id == lead_of(zoe).id
    assert not Payment.select().where(Payment.lead == lead_of(zoe).id,
                                      (Payment.tokens < 50) | (Payment.tokens > 100_000)).exists()


def test_keyboards_are_what_telegram_takes(on, zoe, ctx):
    invoice, _ = buy(zoe, ctx, 250)
    markup = json.loads(keyboard(invoice.buttons))
    assert markup["inline_keyboard"][0] == [{"text": "💳 Pay $25.00", "url": Payment.get().pay_url}]
    assert markup["inline_keyboard"][1][0]["callback_data"].startswith("topup:check:")
