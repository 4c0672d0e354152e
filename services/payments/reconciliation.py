"""Do the payments and the ledger agree? (seed 002 §3.3.2, read-only)

Every paid payment has exactly one purchase in the ledger (LedgerEntry.payment, unique),
and every purchase names a paid payment. Both lists below must be empty; the panel's
reconciliation page shows them and the dashboard turns red when they are not.
"""
from dataclasses import dataclass

from peewee import JOIN, SQL, fn

from models import PAYMENT_STATUSES, PENDING_PAYMENT_STATUSES, LedgerEntry, Payment, Wallet

UNPAID = tuple(status for status in PAYMENT_STATUSES if status != "paid")


@dataclass(frozen=True)
class Summary:
    by_status: dict                 # {status: (payments, cents asked)}, every status
    paid_without_credit: int        # paid payments no ledger row credits
    credits_without_payment: int    # purchases in the ledger without a paid payment
    unchecked: int                  # pending payments the scheduler no longer asks about

    @property
    def problems(self):
        return self.paid_without_credit + self.credits_without_payment


def paid_without_credit():
    """Paid payments whose tokens no ledger row credits, oldest first."""
    return (Payment.select().join(LedgerEntry, JOIN.LEFT_OUTER,
                                  on=(LedgerEntry.payment == Payment.id))
            .where(Payment.status == "paid", LedgerEntry.id.is_null())
            .order_by(Payment.id))


def credits_without_payment():
    """Ledger purchases that name no payment, or one that is not paid, oldest first; each
    row carries `.owner` (the wallet's lead id) and `.payment_status`."""
    return (LedgerEntry.select(LedgerEntry, Wallet.lead.alias("owner"),
                               Payment.status.alias("payment_status"))
            .join(Wallet).switch(LedgerEntry)
            .join(Payment, JOIN.LEFT_OUTER, on=(LedgerEntry.payment == Payment.id))
            .where(LedgerEntry.kind == "purchase",
                   Payment.id.is_null() | (Payment.status != "paid"))
            .order_by(LedgerEntry.id).objects())


def unchecked():
    """Pending payments the scheduler has stopped asking OxaPay about (it could not reach
    it until long after they expired): someone has to look at them in OxaPay."""
    return (Payment.select().where(Payment.status.in_(PENDING_PAYMENT_STATUSES),
                                   Payment.next_check_at.is_null())
            .order_by(Payment.id))


def by_status():
    counted = dict.fromkeys(PAYMENT_STATUSES, (0, 0))
    rows = (Payment.select(Payment.status, fn.COUNT(Payment.id),
                           fn.COALESCE(fn.SUM(Payment.amount_cents), 0))
            .group_by(Payment.status).tuples())
    counted.update({status: (count, int(cents)) for status, count, cents in rows})
    return counted


def summary():
    return Summary(by_status=by_status(), paid_without_credit=paid_without_credit().count(),
                   credits_without_payment=credits_without_payment().count(),
                   unchecked=unchecked().count())


def problems():
    """summary().problems for the dashboard's red card, cheaply. The two lists join every
    purchase to its payment (~150 ms at 100,000 payments); when the purchases and the paid
    payments are as many, and no purchase lacks a paid payment, both are empty (a purchase
    names one payment, and no other purchase names it: LedgerEntry.payment is unique),
    which four counts over indexes tell in a few ms. Only a disagreement pays for them."""
    purchase = LedgerEntry.kind == "purchase"
    purchases = LedgerEntry.select().where(purchase).count()
    paid = Payment.select().where(Payment.status == "paid").count()
    orphans = LedgerEntry.select().where(purchase, LedgerEntry.payment.is_null()).count()
    credited_unpaid = (Payment.select()
                       .where(Payment.status.in_(UNPAID),
                              fn.EXISTS(LedgerEntry.select(SQL("1"))
                                        .where(purchase, LedgerEntry.payment == Payment.id)))
                       .count())
    if purchases == paid and not orphans and not credited_unpaid:
        return 0
    return paid_without_credit().count() + credits_without_payment().count()
