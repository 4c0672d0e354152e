"""services/payments/settlement.py: what OxaPay reports moves a payment forward only, and
"paid" credits its tokens once, in the transaction that marks it paid, whoever reports it
and however often. On SQLite and Postgres."""
import datetime
import logging

import pytest

from models import AuditEntry, LedgerEntry, Payment
from services.payments import settlement
from services.shop import wallet
from tests.payments.conftest import (
    NOW,
    balance,
    credits,
    customer,
    reload,
    report,
    stored_payment,
)
from tests.shop.conftest import FUNDER
from tests.threads import at_once

LATER = NOW + datetime.timedelta(minutes=5)


@pytest.fixture
def payment(any_db):
    """A waiting payment of 250 tokens for $25.00, track_id T-1."""
    return stored_payment(customer()[1])


def moves(emitted):
    return [(e.changes["status"], e.data["source"]) for e in emitted
            if e.name == "payment.status_changed"]


def test_paying_then_paid_credits_once(payment, emitted):
    paying = settlement.apply("T-1", report("paying"), "webhook", NOW)
    assert (paying.changed, paying.previous, paying.entry) == (True, "waiting", None)
    assert paying.payment.status == "paying"
    paid = settlement.apply("T-1", report("paid", paid="25"), "webhook", LATER)
    assert paid.changed and paid.previous == "paying"
    assert (paid.entry.kind, paid.entry.amount, paid.entry.payment_id) == ("purchase", 250, payment.id)
    assert paid.entry.reference == f"top-up {payment.reference}" and paid.entry.actor_label == "Leadgram (oxapay)"
    kept = reload(payment)
    assert (kept.status, kept.paid_at, kept.next_check_at, kept.paid_amount, kept.provider_status) == (
        "paid", LATER, None, "25", "paid")
    assert balance(payment.lead) == 250 and wallet.problems() == []
    assert moves(emitted) == [(("waiting", "paying"), "webhook"), (("paying", "paid"), "webhook")]
    assert emitted[-1].data["entry"].id == paid.entry.id and emitted[-1].data["lead"].id == payment.lead_id
    assert AuditEntry.select().where(AuditEntry.entity == "payment").count() == 2


def test_the_same_news_again_changes_nothing_and_tells_nobody(payment, emitted):
    for source in ("webhook", "poll", "webhook", "poll"):
        settlement.apply("T-1", report("paid"), source, NOW)
    settlement.apply("T-1", report("paying"), "webhook", LATER)   # late, out of order
    assert reload(payment).status == "paid" and len(credits(payment)) == 1
    assert moves(emitted) == [(("waiting", "paid"), "webhook")]


@pytest.mark.parametrize("status", ["underpaid", "expired"])
def test_underpaid_or_expired_credits_nothing_and_ends_the_checks(payment, emitted, status):
    outcome = settlement.apply("T-1", report(status, paid="20"), "poll", NOW)
    assert outcome.changed and outcome.entry is None
    kept = reload(payment)
    assert (kept.status, kept.next_check_at, kept.paid_at) == (status, None, None)
    assert balance(payment.lead) == 0 and credits(payment) == []
    # Nothing moves it back or sideways.
    for other in ("waiting", "paying", "underpaid", "expired", "new"):
        assert not settlement.apply("T-1", report(other), "poll", LATER).changed
    assert moves(emitted) == [(("waiting", status), "poll")]


@pytest.mark.parametrize("first", ["underpaid", "expired"])
@pytest.mark.parametrize("late", ["paid", "manual_accept"])
def test_a_late_paid_after_underpaid_or_expired_credits_once(payment, first, late):
    settlement.apply("T-1", report(first), "webhook", NOW)
    outcome = settlement.apply("T-1", report(late), "webhook", LATER)
    assert outcome.changed and outcome.entry.amount == 250
    settlement.apply("T-1", report(late), "poll", LATER)
    assert reload(payment).status == "paid" and balance(payment.lead) == 250
    assert len(credits(payment)) == 1


@pytest.mark.parametrize("amount, currency, says", [
    ("2.50", "USD", "for 2.50, we asked 25"), ("25.01", "USD", "for 25.01"),
    ("25.00", "EUR", "in EUR, we asked USD")])
def test_a_different_invoice_is_not_credited_and_a_person_must_look(payment, emitted, caplog,
                                                                      amount, currency, says):
    with caplog.at_level(logging.ERROR, logger="leadgram.payments"):
        outcome = settlement.apply("T-1", report("paid", amount, currency), "webhook", NOW)
    assert not outcome.changed
    kept = reload(payment)
    assert (kept.status, kept.provider_status) == ("waiting", "paid") and says in kept.last_error
    assert balance(payment.lead) == 0 and emitted == [] and says in caplog.text
    # OxaPay's next word that agrees clears the error.
    settlement.apply("T-1", report("paying"), "poll", LATER)
    assert reload(payment).last_error is None and reload(payment).status == "paying"


def test_the_same_amount_written_differently_agrees(payment):
    assert settlement.apply("T-1", report("paid", "25"), "webhook", NOW).entry is not None


def test_news_without_an_amount_or_currency_is_taken(payment):
    assert settlement.apply("T-1", report("paid", None, ""), "webhook", NOW).entry is not None


def test_an_unknown_payment_changes_nothing(payment, emitted, caplog):
    with caplog.at_level(logging.WARNING, logger="leadgram.payments"):
        outcome = settlement.apply("T-404", report("paid", order_id="LG-nope"), "webhook", NOW)
    assert outcome.payment is None and not outcome.changed and outcome.entry is None
    assert "T-404" in caplog.text and emitted == [] and LedgerEntry.select().count() == 0


def test_a_payment_whose_track_id_was_lost_is_found_by_its_reference(any_db):
    """The invoice was made, but its answer never reached us: OxaPay's news names our
    reference (order_id), and the payment takes the track_id from it."""
    actor, lead = customer()
    lost = stored_payment(lead, track_id="X", reference="LG-lost", status="new")
    Payment.update(track_id=None).where(Payment.id == lost.id).execute()
    outcome = settlement.apply("T-9", report("paid", order_id="LG-lost"), "webhook", NOW)
    assert outcome.entry is not None and reload(lost).track_id == "T-9"
    # A payment with a track_id is never found by another's reference.
    other = stored_payment(lead, track_id="T-10", reference="LG-other")
    assert settlement.apply("T-11", report("paid", order_id="LG-other"), "webhook", NOW).payment is None
    assert reload(other).status == "waiting" and balance(lead) == 250


@pytest.mark.parametrize("status", ["refunding", "refunded", "confirming", "sending", "whatever"])
def test_other_statuses_are_recorded_and_move_nothing(payment, emitted, status):
    settlement.apply("T-1", report("paid"), "webhook", NOW)
    outcome = settlement.apply("T-1", report(status), "webhook", LATER)
    assert not outcome.changed and reload(payment).provider_status == status
    assert reload(payment).status == "paid" and balance(payment.lead) == 250
    assert len(moves(emitted)) == 1


def test_a_credit_past_the_largest_balance_is_not_made_and_says_why(payment, caplog):
    wallet.move(FUNDER, payment.lead_id, "bonus", wallet.MAX_BALANCE - 100, "big")
    with caplog.at_level(logging.ERROR, logger="leadgram.payments"):
        outcome = settlement.apply("T-1", report("paid"), "webhook", NOW)
    assert not outcome.changed and outcome.entry is None
    kept = reload(payment)
    assert kept.status == "waiting" and kept.last_error.startswith("not credited:")
    assert credits(payment) == [] and wallet.problems() == [] and "could not be credited" in caplog.text


def test_reports_at_once_credit_once(any_db):
    """Five reports of "paid" for one payment released together (webhooks, polling, the
    customer's Check button), several payments over."""
    for n in range(4):
        actor, lead = customer()
        payment = stored_payment(lead, tokens=100, cents=1000, track_id=f"R-{n}")
        results = at_once(*[lambda n=n, source=source: settlement.apply(
            f"R-{n}", report("paid", "10.00"), source, NOW)
            for source in ("webhook", "poll", "webhook", "poll", "webhook")])
        assert not any(isinstance(r, Exception) for r in results), results
        assert sum(r.changed for r in results) == 1 and sum(r.entry is not None for r in results) == 1
        assert len(credits(payment)) == 1 and balance(lead) == 100
    assert wallet.problems() == []
