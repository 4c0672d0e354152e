"""What OxaPay tells us about a payment (its webhook, or the scheduler asking), applied
once. A payment only moves forward:

    new -> waiting -> paying -> paid
                   \\-> underpaid | expired   (nothing credited; a later "paid" still credits)

"paid" credits the payment's tokens in the transaction that marks it paid, through the
ledger row that names it (unique), so a webhook delivered five times, the same news from
the scheduler's polling, or both at once credit once. Each move emits
payment.status_changed (the audit log; the customer is told, services/chat).
"""
import logging
from dataclasses import dataclass
from decimal import Decimal

from models import FINAL_PAYMENT_STATUSES, LedgerEntry, Payment, db, for_change, utcnow
from services.core import events
from services.core.actors import Actor
from services.shop import wallet

log = logging.getLogger("leadgram.payments")
OXAPAY = Actor.system("oxapay")
# OxaPay's statuses (lower case: webhooks write them "Paying") -> ours. manual_accept: the
# merchant accepted an underpaid payment in OxaPay's dashboard. Others (refunding,
# refunded) are recorded as OxaPay's word and change nothing here.
OURS = {"new": "waiting", "waiting": "waiting", "paying": "paying", "paid": "paid",
        "manual_accept": "paid", "underpaid": "underpaid", "expired": "expired"}
RANK = {"new": 0, "waiting": 1, "paying": 2, "underpaid": 3, "expired": 3, "failed": 3, "paid": 4}


@dataclass(frozen=True)
class Outcome:
    payment: Payment | None     # None: no payment of ours has that track_id or order_id
    previous: str = ""          # its status before
    entry: LedgerEntry | None = None   # the credit, when this news paid it

    @property
    def changed(self):
        return self.payment is not None and self.payment.status != self.previous


def apply(track_id, reported, source, now=None):
    """Apply `reported` (oxapay.Information) to the payment with `track_id` (else the one
    whose reference is its order_id: the answer that gave us the track_id may have been
    lost). `source`: "webhook", "poll" (the scheduler) or "check" (the customer asked),
    for the log and for whoever is told."""
    now = now or utcnow()
    try:
        with db.atomic():
            return _apply(track_id, reported, source, now)
    except wallet.WalletError as exc:   # the balance would pass its limit: nothing moved
        with db.atomic():
            payment = _find(track_id, reported.order_id)
            Payment.update(last_error=f"not credited: {exc}", updated_at=now).where(
                Payment.id == payment.id).execute()
        log.error("payment %s is paid but could not be credited: %s", track_id, exc)
        return Outcome(Payment.get_by_id(payment.id), payment.status)


def _apply(track_id, reported, source, now):
    payment = _find(track_id, reported.order_id)
    if payment is None:
        log.warning("OxaPay (%s) told of a payment we do not know: track_id %s, order_id %r",
                    source, track_id, reported.order_id)
        return Outcome(None)
    previous = payment.status
    seen = {"provider_status": reported.status[:50] or payment.provider_status,
            "paid_amount": reported.paid[:50] or payment.paid_amount,
            "track_id": payment.track_id or str(track_id), "updated_at": now}
    mismatch = _mismatch(payment, reported)
    status = OURS.get(reported.status)
    seen["last_error"] = mismatch or None    # OxaPay answered: an earlier failure is over
    if mismatch or status is None or not _moves(previous, status):
        if mismatch:
            log.error("payment %s: %s", payment.reference, mismatch)
        Payment.update(**seen).where(Payment.id == payment.id).execute()
        return Outcome(Payment.get_by_id(payment.id), previous)
    values = dict(seen, status=status)
    if status in FINAL_PAYMENT_STATUSES:
        values["next_check_at"] = None
    if status == "paid":
        values["paid_at"] = now
    # Conditional on the status read: with the row locked (Postgres) or the writer lock
    # held (SQLite) it always holds, and it costs nothing to be sure.
    if not Payment.update(**values).where(Payment.id == payment.id,
                                          Payment.status == previous).execute():
        return Outcome(Payment.get_by_id(payment.id), previous)
    entry = None
    if status == "paid":
        entry = wallet.move(OXAPAY, payment.lead_id, "purchase", payment.tokens,
                            reference=f"top-up {payment.reference}", payment=payment.id, now=now)
    payment = Payment.get_by_id(payment.id)
    events.emit("payment.status_changed", OXAPAY, "payment", payment.id,
                {"status": (previous, status)}, payment=payment, lead=payment.lead, entry=entry,
                source=source, now=now)
    log.info("payment %s (%s): %s -> %s", payment.reference, source, previous, status)
    return Outcome(payment, previous, entry)


def _find(track_id, order_id):
    query = for_change(Payment.select().where(Payment.track_id == str(track_id)))
    payment = query.first()
    if payment is None and order_id:
        payment = for_change(Payment.select().where(Payment.reference == order_id,
                                                    Payment.track_id.is_null())).first()
    return payment


def _moves(previous, status):
    """Forward only; a final payment moves only to paid (a late or completed payment)."""
    if previous in FINAL_PAYMENT_STATUSES:
        return status == "paid" and previous != "paid"
    return RANK[status] > RANK[previous]


def _mismatch(payment, reported):
    """Why the news cannot be about this payment, or "" (a signed webhook with another
    amount means our record and OxaPay's disagree: a person must look)."""
    asked = Decimal(payment.amount_cents) / 100
    if reported.amount is not None and reported.amount != asked:
        return f"OxaPay says the invoice is for {reported.amount}, we asked {asked}"
    if reported.currency and reported.currency != payment.currency:
        return f"OxaPay says the invoice is in {reported.currency}, we asked {payment.currency}"
    return ""
