"""services/payments/topups.py: prices in US cents rounded up, the limits, and a payment
with its OxaPay invoice (the fake, over real HTTP): stored before the link, kept as
"failed" when OxaPay makes none, one per pressed button. On SQLite and Postgres."""
import dataclasses
import datetime
import math
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, given, settings as hypothesis_settings, strategies as st

from models import AuditEntry, Payment
from services.core import policy
from services.core.config import ConfigError, load_settings
from services.payments import messages, polling, topups
from tests.fuzz_values import ODD_VALUES
from tests.payments.conftest import (
    KEY,
    NOW,
    customer,
    oxapay_settings,
    reload,
    switch_on,
)
from tests.threads import at_once


def terms(**values):
    """The policy with these values, for the test (restored afterwards)."""
    policy._current = dataclasses.replace(policy.current(), **values)
    return policy._current


def cents_for(tokens, price):
    return math.ceil(Fraction(tokens) * Fraction(price) * 100)


# ------------------------------------------------------------------ quotes


def test_default_prices():
    assert topups.quote(250) == topups.Quote(250, 2500)
    assert topups.quote(250).price == "$25.00" and topups.quote(250).usd == Decimal("25")
    assert topups.quote(100_000).price == "$10,000.00"
    assert [(q.tokens, q.price) for q in topups.packs()] == [
        (100, "$10.00"), (250, "$25.00"), (500, "$50.00"), (1000, "$100.00")]


@pytest.mark.parametrize("written, tokens", [
    ("250", 250), (" 250 ", 250), ("1,000", 1000), ("1_000", 1000), ("50", 50), ("100000", 100_000),
    (Decimal("75"), 75)])
def test_a_written_amount_is_read(written, tokens):
    assert topups.quote(written).tokens == tokens


@pytest.mark.parametrize("written", [
    0, 49, 100_001, -250, "49", "100001", "-250", "", " ", "250.0", "1e3", "2.5e2", "²", "٣", "０",
    "２５０", "250 tokens", "$25", "0x100", "9" * 5000, None, True, 250.0, [250], "1,0,0,0,0,0,0"])
def test_anything_else_says_what_to_write(written):
    with pytest.raises(topups.TopUpError) as refused:
        topups.quote(written)
    assert str(refused.value) == messages.BAD_AMOUNT.format(low=50, high=100_000)


@hypothesis_settings(max_examples=300, deadline=None)
@given(tokens=st.integers(-10, 200_000),
       price=st.decimals(Decimal("0.0001"), Decimal("1000"), places=4),
       low=st.integers(1, 1000), span=st.integers(0, 150_000))
def test_quotes_round_up_to_the_cent_within_the_limits(tokens, price, low, span):
    assume((low + span) * price * 100 <= 2**31 - 1)   # what the settings allow
    terms(token_price_usd=price, topup_min_tokens=low, topup_max_tokens=low + span)
    if not low <= tokens <= low + span:
        with pytest.raises(topups.TopUpError):
            topups.quote(tokens)
        return
    quoted = topups.quote(tokens)
    assert quoted.tokens == tokens and quoted.cents == cents_for(tokens, price)
    assert quoted.cents >= 1 and quoted.usd >= price * tokens > quoted.usd - Decimal("0.01")
    assert topups.quote(f" {tokens:,} ") == quoted


@hypothesis_settings(max_examples=200, deadline=None)
@given(written=st.one_of(st.sampled_from(ODD_VALUES), st.text(max_size=12)))
def test_any_text_is_a_quote_or_a_clear_refusal(written):
    try:
        quoted = topups.quote(written)
    except topups.TopUpError as refused:
        assert "whole number" in str(refused)
        return
    assert 50 <= quoted.tokens <= 100_000
    assert written.strip().replace(",", "").replace("_", "").lstrip("0").isascii()


def test_settings_whose_largest_top_up_a_payment_cannot_hold_are_refused():
    """amount_cents is a 32-bit column on Postgres: TOKEN_PRICE_USD 1000 with
    TOPUP_MAX_TOKENS 10,000,000 would cost more than it holds, so the settings say so."""
    with pytest.raises(ConfigError) as refused:
        load_settings({"TOKEN_PRICE_USD": "1000", "TOPUP_MAX_TOKENS": "10000000"})
    assert "TOPUP_MAX_TOKENS (10000000) at TOKEN_PRICE_USD (1000)" in str(refused.value)
    fits = load_settings({"TOKEN_PRICE_USD": "1000", "TOPUP_MAX_TOKENS": "21474"})
    assert (fits.topup_max_tokens, fits.token_price_usd) == (21474, Decimal("1000"))


def test_available_follows_the_merchant_key(any_db):
    assert topups.available() is False
    switch_on(oxapay_settings())
    assert topups.available() is True


# ------------------------------------------------------------------ payments


def test_a_payment_is_stored_with_its_invoice(on, fake, emitted):
    actor, lead = customer()
    switch_on(dataclasses.replace(on, company_name="Acme <Shop>"))
    payment = topups.create(actor, lead.id, 250, now=NOW)
    sent = fake.calls[-1].body
    assert {key: sent[key] for key in ("amount", "currency", "lifetime", "order_id", "description",
                                       "callback_url")} == {
        "amount": 25.0, "currency": "USD", "lifetime": 60, "order_id": payment.reference,
        "description": "250 tokens · Acme <Shop>",
        "callback_url": "https://crm.example.com/hooks/oxapay"}
    invoice = fake.invoices[-1]
    assert (payment.status, payment.track_id, payment.pay_url) == (
        "waiting", invoice["track_id"], f"{fake.base_url}/pay/{invoice['track_id']}")
    assert (payment.tokens, payment.amount_cents, payment.currency, payment.lead_id) == (
        250, 2500, "USD", lead.id)
    assert payment.reference.startswith("LG-") and payment.last_error is None
    # OxaPay's expiry, in naive UTC.
    assert payment.expires_at == datetime.datetime.fromtimestamp(
        invoice["expired_at"], datetime.UTC).replace(tzinfo=None)
    assert payment.next_check_at == polling.next_check(payment, NOW)
    assert [(e.name, e.changes.get("status"), e.data.get("source")) for e in emitted] == [
        ("payment.created", (None, "new"), None), ("payment.status_changed", ("new", "waiting"), "invoice")]
    assert AuditEntry.select().where(AuditEntry.entity == "payment").count() == 2


def test_without_a_public_url_no_callback_is_asked(on, fake):
    switch_on(dataclasses.replace(on, public_base_url=""))
    actor, lead = customer()
    topups.create(actor, lead.id, 100)
    assert "callback_url" not in fake.calls[-1].body


def test_top_ups_off_or_a_bad_amount_store_nothing_and_ask_nothing(any_db, fake, emitted):
    actor, lead = customer()
    with pytest.raises(topups.TopUpError) as off:
        topups.create(actor, lead.id, 250)
    assert str(off.value) == messages.PAYMENTS_OFF
    switch_on(oxapay_settings(fake))
    for amount in (10, "lots", 10**9):
        with pytest.raises(topups.TopUpError) as bad:
            topups.create(actor, lead.id, amount)
        assert not isinstance(bad.value, topups.InvoiceFailed)
    assert Payment.select().count() == 0 and fake.calls == [] and emitted == []


@pytest.mark.parametrize("fault", [503, 500, 429, "drop"])
def test_oxapay_failing_keeps_the_payment_as_failed(on, fake, fault, emitted):
    actor, lead = customer()
    fake.fail(fault, path="invoice")
    with pytest.raises(topups.InvoiceFailed) as failed:
        topups.create(actor, lead.id, 250, request_key="tg:1:2")
    assert str(failed.value) == messages.INVOICE_FAILED
    kept = failed.value.payment
    assert (kept.status, kept.track_id, kept.pay_url, kept.next_check_at) == ("failed", None, None, None)
    assert kept.last_error and "OxaPay" in kept.last_error
    assert reload(kept).status == "failed" and fake.invoices == []
    assert [e.changes.get("status") for e in emitted] == [(None, "new"), ("new", "failed")]
    # The same press again: the same answer, no second invoice asked for.
    with pytest.raises(topups.InvoiceFailed) as again:
        topups.create(actor, lead.id, 250, request_key="tg:1:2")
    assert again.value.payment.id == kept.id and Payment.select().count() == 1
    # A new press works.
    assert topups.create(actor, lead.id, 250, request_key="tg:1:3").status == "waiting"


def test_a_wrong_key_is_an_invoice_failed(on, fake):
    switch_on(dataclasses.replace(on, oxapay_merchant_api_key="not-" + KEY))
    actor, lead = customer()
    with pytest.raises(topups.InvoiceFailed) as failed:
        topups.create(actor, lead.id, 250)
    assert "refused" in failed.value.payment.last_error and KEY not in failed.value.payment.last_error


def test_the_same_press_makes_one_payment(on, fake):
    actor, lead = customer()
    first = topups.create(actor, lead.id, 250, request_key="tg:7:100")
    again = topups.create(actor, lead.id, 250, request_key="tg:7:100")
    assert again.id == first.id and again.pay_url == first.pay_url
    other = topups.create(actor, lead.id, 250, request_key="tg:7:101")
    unkeyed = [topups.create(actor, lead.id, 250) for _ in range(2)]
    assert len({first.id, other.id, *(p.id for p in unkeyed)}) == 4
    assert len(fake.invoices) == 4
    assert len({p.reference for p in Payment.select()}) == 4


def test_two_presses_at_once_make_one_payment(on, fake):
    """The bot's two threads (a double tap) with the same button: one payment, one invoice."""
    actor, lead = customer()
    for n in range(4):
        key = f"tg:7:{200 + n}"
        results = at_once(*[lambda key=key: topups.create(actor, lead.id, 100, request_key=key)
                            for _ in range(3)])
        assert all(isinstance(r, Payment) for r in results), results
        assert len({r.id for r in results}) == 1
        assert Payment.select().where(Payment.request_key == key).count() == 1
    assert len(fake.invoices) == 4
