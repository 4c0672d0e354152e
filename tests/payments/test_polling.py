"""services/payments/polling.py: when the scheduler asks OxaPay about a pending payment
(often while young, less often later, once after expiry, then never; a day past expiry
at most when OxaPay does not answer), and that asking catches what lost webhooks never
told. The fake OxaPay over real HTTP. On SQLite and Postgres."""
import datetime

import pytest

from models import Payment, utcnow
from services.payments import polling, reconciliation, topups
from services.shop import wallet
from tests.payments.conftest import (
    NOW,
    balance,
    credits,
    customer,
    oxapay_settings,
    reload,
    stored_payment,
    switch_on,
)

SECOND = datetime.timedelta(seconds=1)
MINUTE = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)


def row(status="waiting", lifetime=48 * HOUR):
    """A payment made at NOW (not stored: next_check reads its times and status)."""
    return Payment(status=status, created_at=NOW, expires_at=NOW + lifetime)


@pytest.mark.parametrize("age, then", [
    (0 * MINUTE, 2 * MINUTE), (30 * MINUTE, 32 * MINUTE), (59 * MINUTE, 61 * MINUTE),
    (HOUR, HOUR + 10 * MINUTE), (5 * HOUR, 5 * HOUR + 10 * MINUTE),
    (6 * HOUR, 6 * HOUR + 30 * MINUTE), (30 * HOUR, 30 * HOUR + 30 * MINUTE),
    (48 * HOUR - 5 * MINUTE, 48 * HOUR + 2 * MINUTE),   # not past the last look after expiry
    (48 * HOUR, 48 * HOUR + 2 * MINUTE)])
def test_often_while_young_less_often_later(age, then):
    assert polling.next_check(row(), NOW + age) == NOW + then


def test_once_more_just_after_expiry_then_never():
    payment = row(lifetime=HOUR)
    assert polling.next_check(payment, NOW + 59 * MINUTE) == NOW + 61 * MINUTE
    assert polling.next_check(payment, NOW + 61 * MINUTE) == NOW + 62 * MINUTE
    for late in (62 * MINUTE, 3 * HOUR, 30 * HOUR):
        assert polling.next_check(payment, NOW + late) is None


def test_the_pace_follows_payment_poll_seconds():
    switch_on(oxapay_settings(payment_poll_seconds=30.0))
    assert polling.next_check(row(), NOW) == NOW + 30 * SECOND
    assert polling.next_check(row(), NOW + 2 * HOUR) == NOW + 2 * HOUR + 5 * 30 * SECOND
    assert polling.next_check(row(), NOW + 7 * HOUR) == NOW + 7 * HOUR + 15 * 30 * SECOND


def test_when_oxapay_does_not_answer_it_keeps_asking_until_a_day_after_expiry():
    payment = row(lifetime=HOUR)
    assert polling.next_check(payment, NOW + 10 * MINUTE, answered=False) == NOW + 12 * MINUTE
    assert polling.next_check(payment, NOW + 2 * HOUR, answered=False) == NOW + 2 * HOUR + 10 * MINUTE
    assert polling.next_check(payment, NOW + 20 * HOUR, answered=False) == NOW + 20 * HOUR + 30 * MINUTE
    assert polling.next_check(payment, NOW + 25 * HOUR - MINUTE, answered=False) is not None
    assert polling.next_check(payment, NOW + 25 * HOUR, answered=False) is None


def test_a_payment_still_paying_at_expiry_is_asked_about_until_a_day_after():
    """Sent in time, confirming on its network when the invoice ran out: its "paid" is
    still to come, and its webhook may be lost."""
    payment = row("paying", lifetime=HOUR)
    assert polling.next_check(payment, NOW + 2 * HOUR) == NOW + 2 * HOUR + 10 * MINUTE
    assert polling.next_check(payment, NOW + 24 * HOUR) == NOW + 24 * HOUR + 30 * MINUTE
    assert polling.next_check(payment, NOW + 25 * HOUR) is None


def test_due_lists_pending_payments_whose_time_has_come(any_db):
    actor, lead = customer()
    soon = stored_payment(lead, track_id="A", next_check_at=NOW + MINUTE)
    now = stored_payment(lead, track_id="B", next_check_at=NOW)
    paying = stored_payment(lead, track_id="C", status="paying", next_check_at=NOW - MINUTE)
    stored_payment(lead, track_id="D", next_check_at=NOW + HOUR)                 # not yet
    stored_payment(lead, track_id="E", next_check_at=None)                      # given up
    stored_payment(lead, track_id="F", status="paid", next_check_at=NOW)        # final
    stored_payment(lead, track_id="G", status="expired", next_check_at=NOW)
    no_invoice = stored_payment(lead, track_id="H", status="new", next_check_at=NOW)
    Payment.update(track_id=None).where(Payment.id == no_invoice.id).execute()
    assert [p.track_id for p in polling.due(NOW + MINUTE)] == ["C", "B", "A"]
    assert [p.id for p in polling.due(NOW + MINUTE, limit=2)] == [paying.id, now.id]
    assert soon.id in [p.id for p in polling.due(NOW + HOUR)]


@pytest.fixture
def lost(on, fake):
    """OxaPay's webhooks never arrive: only polling can tell."""
    fake.lose_webhooks()
    return fake


def ask_now(payment):
    """The scheduler's next run finds `payment` due."""
    Payment.update(next_check_at=utcnow() - MINUTE).where(Payment.id == payment.id).execute()


def test_a_lost_webhook_is_caught_by_polling_and_credited_once(lost):
    actor, lead = customer()
    payment = topups.create(actor, lead.id, 250)
    assert polling.check_due() == dict(checked=0, changed=0, failed=0)   # not due yet
    lost.pay(payment.track_id, statuses=("paying",))
    lost.wait_for_webhooks()
    ask_now(payment)
    assert polling.check_due() == dict(checked=1, changed=1, failed=0)
    assert reload(payment).status == "paying" and reload(payment).next_check_at > utcnow()
    lost.pay(payment.track_id, statuses=("paid",))
    lost.wait_for_webhooks()
    ask_now(payment)
    assert polling.check_due() == dict(checked=1, changed=1, failed=0)
    kept = reload(payment)
    assert (kept.status, kept.next_check_at, kept.checks) == ("paid", None, 2)
    assert balance(lead) == 250 and len(credits(payment)) == 1
    ask_now(payment)   # paid: never asked about again
    assert polling.check_due() == dict(checked=0, changed=0, failed=0)
    assert lost.webhooks == [] and wallet.problems() == []


def test_oxapay_failing_is_counted_noted_and_asked_again(lost):
    actor, lead = customer()
    payment = topups.create(actor, lead.id, 100)
    lost.pay(payment.track_id, statuses=("paid",))
    lost.wait_for_webhooks()
    lost.fail(503, times=2, path="info")
    for attempt in (1, 2):
        ask_now(payment)
        before = utcnow()
        assert polling.check_due() == dict(checked=1, changed=0, failed=1)
        kept = reload(payment)
        assert kept.status == "waiting" and kept.checks == attempt
        assert "OxaPay is not answering" in kept.last_error
        assert kept.next_check_at >= before + datetime.timedelta(seconds=100)
    ask_now(payment)
    assert polling.check_due() == dict(checked=1, changed=1, failed=0)
    kept = reload(payment)
    assert (kept.status, kept.last_error, kept.checks) == ("paid", None, 3)
    assert balance(lead) == 100


def test_an_expired_invoice_is_seen_once_after_expiry_and_credits_nothing(lost):
    actor, lead = customer()
    payment = topups.create(actor, lead.id, 100)
    lost.expire(payment.track_id)
    after_expiry = reload(payment).expires_at + polling.AFTER_EXPIRY
    ask_now(payment)
    assert polling.check_due(after_expiry) == dict(checked=1, changed=1, failed=0)
    kept = reload(payment)
    assert (kept.status, kept.next_check_at) == ("expired", None) and balance(lead) == 0


def test_still_waiting_after_expiry_means_no_more_checks(lost):
    """OxaPay's invoice says "new" (the fake expires it only when it is read after its
    time): the last look after expiry, then none."""
    actor, lead = customer()
    payment = topups.create(actor, lead.id, 100)
    ask_now(payment)
    after_expiry = reload(payment).expires_at + polling.AFTER_EXPIRY
    polling.check_due(after_expiry)
    kept = reload(payment)
    assert (kept.status, kept.next_check_at, kept.checks) == ("waiting", None, 1)


def test_when_oxapay_never_answers_the_payment_is_left_to_a_person(lost):
    actor, lead = customer()
    payment = topups.create(actor, lead.id, 100)
    expires = reload(payment).expires_at
    lost.fail(503, times=100, path="info")
    for moment, pace in ((expires + 3 * HOUR, 10 * MINUTE), (expires + 6 * HOUR, 30 * MINUTE),
                         (expires + 23 * HOUR, 30 * MINUTE)):
        ask_now(payment)
        assert polling.check_due(moment)["failed"] == 1
        assert reload(payment).next_check_at == moment + pace
    ask_now(payment)
    polling.check_due(expires + polling.GIVE_UP)
    kept = reload(payment)
    assert kept.status == "waiting" and kept.next_check_at is None
    assert [p.id for p in reconciliation.unchecked()] == [payment.id]


def test_a_paying_payment_past_expiry_is_still_credited_by_polling(lost):
    actor, lead = customer()
    payment = topups.create(actor, lead.id, 100)
    lost.pay(payment.track_id, statuses=("paying",))
    lost.wait_for_webhooks()
    expires = reload(payment).expires_at
    ask_now(payment)
    polling.check_due(expires + HOUR)
    assert reload(payment).status == "paying" and reload(payment).next_check_at is not None
    lost.pay(payment.track_id, statuses=("paid",))
    lost.wait_for_webhooks()
    ask_now(payment)
    assert polling.check_due(expires + 5 * HOUR)["changed"] == 1
    assert reload(payment).status == "paid" and balance(lead) == 100


def test_a_batch_is_at_most_the_limit(lost):
    actor, lead = customer()
    made = [topups.create(actor, lead.id, 100) for _ in range(3)]
    for payment in made:
        ask_now(payment)
    assert polling.check_due(limit=2)["checked"] == 2
    assert polling.check_due(limit=2)["checked"] == 1
