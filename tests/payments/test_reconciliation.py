"""services/payments/reconciliation.py: do the payments and the ledger agree? Mismatches
are written directly (as a bug, a restore or a hand edit would leave them), and each is
listed; what the services write together always agrees. On SQLite and Postgres."""
from models import LedgerEntry, Payment
from services.payments import reconciliation, settlement
from services.shop import wallet
from tests.payments.conftest import NOW, customer, report, stored_payment
from tests.shop.conftest import FUNDER


def ids(query):
    return [row.id for row in query]


def test_an_empty_database_agrees(any_db):
    summary = reconciliation.summary()
    assert summary.by_status == {status: (0, 0) for status in
                                 ("new", "waiting", "paying", "paid", "underpaid", "expired", "failed")}
    assert (summary.paid_without_credit, summary.credits_without_payment, summary.unchecked,
            summary.problems) == (0, 0, 0, 0)


def test_payments_settled_by_the_services_agree(any_db):
    actor, lead = customer()
    for n, status in enumerate(["paid", "paid", "underpaid", "expired", "paying"]):
        stored_payment(lead, track_id=f"T-{n}", cents=1000 * (n + 1))
        settlement.apply(f"T-{n}", report(status, amount=str(10 * (n + 1))), "webhook", NOW)
    stored_payment(lead, track_id="T-9", status="failed", cents=700)
    summary = reconciliation.summary()
    assert summary.problems == 0 and summary.unchecked == 0
    assert summary.by_status["paid"] == (2, 3000)
    assert {status: summary.by_status[status] for status in ("underpaid", "expired", "paying", "failed",
                                                             "waiting")} == {
        "underpaid": (1, 3000), "expired": (1, 4000), "paying": (1, 5000), "failed": (1, 700),
        "waiting": (0, 0)}
    assert wallet.balance(lead.id) == 500 and wallet.problems() == []


def test_a_paid_payment_without_a_credit_is_listed(any_db):
    actor, lead = customer()
    credited = stored_payment(lead, track_id="OK")
    settlement.apply("OK", report("paid"), "webhook", NOW)
    lonely = stored_payment(lead, track_id="LONELY", status="paid", paid_at=NOW)
    waiting = stored_payment(lead, track_id="W")
    assert ids(reconciliation.paid_without_credit()) == [lonely.id]
    assert credited.id not in ids(reconciliation.paid_without_credit())
    assert waiting.id not in ids(reconciliation.paid_without_credit())
    assert reconciliation.summary().paid_without_credit == 1
    assert reconciliation.summary().problems == 1


def test_a_credit_whose_payment_went_is_listed(any_db):
    """The ledger row outlives its payment (SET NULL): a purchase naming none."""
    actor, lead = customer()
    payment = stored_payment(lead, track_id="GONE")
    settlement.apply("GONE", report("paid"), "webhook", NOW)
    LedgerEntry.update(payment=None).where(LedgerEntry.payment == payment.id).execute()
    assert ids(reconciliation.paid_without_credit()) == [payment.id]
    listed = list(reconciliation.credits_without_payment())
    assert [(row.amount, row.owner, row.payment_status) for row in listed] == [(250, lead.id, None)]
    assert reconciliation.summary().problems == 2


def test_purchases_without_a_paid_payment_are_listed_with_their_owner(any_db):
    actor, lead = customer()
    other_actor, other = customer()
    loose = wallet.move(FUNDER, lead.id, "purchase", 40, reference="by hand", now=NOW)
    waiting = stored_payment(other, track_id="W")
    early = wallet.move(FUNDER, other.id, "purchase", 250, reference="early", payment=waiting.id, now=NOW)
    # Other kinds are not purchases.
    wallet.move(FUNDER, lead.id, "bonus", 5, reference="thanks", now=NOW)
    wallet.move(FUNDER, lead.id, "adjustment", -5, reference="fix", now=NOW)
    listed = list(reconciliation.credits_without_payment())
    assert [(row.id, row.owner, row.payment_status) for row in listed] == [
        (loose.id, lead.id, None), (early.id, other.id, "waiting")]
    summary = reconciliation.summary()
    assert (summary.credits_without_payment, summary.paid_without_credit, summary.problems) == (2, 0, 2)
    # Paid later, the early credit agrees (its payment is paid and credited once).
    Payment.update(status="paid").where(Payment.id == waiting.id).execute()
    assert ids(reconciliation.credits_without_payment()) == [loose.id]
    assert ids(reconciliation.paid_without_credit()) == []


def test_pending_payments_no_longer_checked_are_listed(any_db):
    actor, lead = customer()
    given_up = stored_payment(lead, track_id="A", next_check_at=None)
    paying = stored_payment(lead, track_id="B", status="paying", next_check_at=None)
    stored_payment(lead, track_id="C")                                       # still checked
    stored_payment(lead, track_id="D", status="expired", next_check_at=None)  # final: fine
    stored_payment(lead, track_id="E", status="paid", next_check_at=None)
    assert ids(reconciliation.unchecked()) == [given_up.id, paying.id]
    summary = reconciliation.summary()
    assert summary.unchecked == 2
    assert summary.problems == 1   # "E" is paid without a credit; unchecked is no mismatch
