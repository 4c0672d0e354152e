"""Buying tokens in a customer's chat (issue 15): /buy and Top up, the packs, another
amount, the invoice with its Pay link, forged buttons, top-ups off, an invoice OxaPay does
not make (Check payment and shortfalls: test_topup_check.py). The
payments services are real and OxaPay is the fake one (devtools/fake_oxapay.py) over
HTTP. Runs on SQLite and Postgres (any_db)."""
import datetime
import json
from decimal import Decimal

from hypothesis import HealthCheck, assume, given, settings, strategies as st

from models import DialogueState, Message, Payment, utcnow
from services.chat import registration, topup
from services.chat.replies import keyboard
from services.core import policy
from services.payments import messages as payment_messages
from tests.chat.conftest import (
    BAD_AMOUNT,
    INVALID,
    PACK_LABELS,
    balance,
    buy,
    data_of,
    pay_link,
    says,
    terms,
)
from tests.chat.helpers import labels
from tests.chat.shop_helpers import button, fund, lead_of, presses, writes
from tests.fuzz_values import SWEEP

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
