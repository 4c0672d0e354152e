"""The fallback for lost webhooks: the scheduler asks OxaPay about pending payments.

Often while a payment is young (people pay within minutes of asking), less often later,
and once more just after it expires; then no more. A payment OxaPay still calls "paying"
then (sent in time, confirming on its network) and one OxaPay does not answer about are
asked about at the slowest pace until a day after expiry, and then left to a person (the
reconciliation page lists them).
"""
import datetime
import logging

from models import PENDING_PAYMENT_STATUSES, Payment, db, utcnow
from services.core import policy
from services.payments import oxapay, settlement

log = logging.getLogger("leadgram.payments")
# (age below which, ask every so many PAYMENT_POLL_SECONDS): by default every 2 minutes
# in the first hour, every 10 until 6 hours, then every 30.
PACE = ((datetime.timedelta(hours=1), 1), (datetime.timedelta(hours=6), 5))
LATE = 15
AFTER_EXPIRY = datetime.timedelta(minutes=2)   # OxaPay's last word on an expired invoice
GIVE_UP = datetime.timedelta(days=1)   # after expiry, when OxaPay never answered
BATCH = 50


def next_check(payment, now, answered=True):
    """When to ask about `payment` next after asking at `now`; None: never again."""
    final = payment.expires_at + AFTER_EXPIRY
    # "paying" outlives the invoice: its "paid" (a webhook that may be lost) is still to come.
    if answered and now >= final and payment.status != "paying":
        return None
    if now >= payment.expires_at + GIVE_UP:
        return None
    age = now - payment.created_at
    times = next((times for below, times in PACE if age < below), LATE)
    moment = now + datetime.timedelta(seconds=times * policy.current().payment_poll_seconds)
    return min(moment, final) if now < final else moment


def due(now=None, limit=BATCH):
    now = now or utcnow()
    return list(Payment.select().where(Payment.status.in_(PENDING_PAYMENT_STATUSES),
                                       Payment.track_id.is_null(False),
                                       Payment.next_check_at <= now)
                .order_by(Payment.next_check_at, Payment.id).limit(limit))


def check_due(now=None, limit=BATCH):
    """Ask OxaPay about each payment whose time has come and apply what it says; returns
    {"checked", "changed", "failed"} counts."""
    now = now or utcnow()
    counts = dict(checked=0, changed=0, failed=0)
    for payment in due(now, limit):
        counts["checked"] += 1
        try:
            reported = oxapay.information(payment.track_id)
        except oxapay.OxaPayError as exc:
            counts["failed"] += 1
            _asked(payment, now, answered=False, error=str(exc)[:500])
            log.warning("could not ask OxaPay about payment %s: %s", payment.reference, exc)
            continue
        outcome = settlement.apply(payment.track_id, reported, "poll", now)
        counts["changed"] += outcome.changed
        _asked(outcome.payment or payment, now, answered=True)
    return counts


def _asked(payment, now, answered, error=None):
    values = {"checks": Payment.checks + 1}
    if not answered:
        values["last_error"] = error
    with db.atomic():
        current = Payment.get_by_id(payment.id)
        if current.status in PENDING_PAYMENT_STATUSES:
            values["next_check_at"] = next_check(current, now, answered)
        Payment.update(**values).where(Payment.id == payment.id).execute()

