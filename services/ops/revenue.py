"""The dashboard's money figures (issue 15, seed 002 §3.4.1): read-only.

Revenue is what customers paid for tokens: the paid top-ups' invoice amounts (USD cents),
each on the local day OxaPay confirmed it (paid_at). Here in ops, above both payments and
the shop, because the dashboard reads both.
"""
from dataclasses import dataclass

from peewee import fn

from models import PENDING_PAYMENT_STATUSES, Payment
from services.core.markup import usd
from services.payments.topups import CURRENCY
from services.shop.analytics import per_day


@dataclass(frozen=True)
class Revenue:
    trend: dict        # {first day of a trend point: cents paid}, every point of the period
    cents: int         # paid in the period
    payments: int      # payments paid in the period
    pending: int       # payments waiting for money now (new, waiting, paying)
    pending_cents: int

    @property
    def usd(self):
        return usd(self.cents)

    @property
    def pending_usd(self):
        return usd(self.pending_cents)


def revenue(zone, period):
    """The period's revenue per trend point and in all, and the pending payments now:
    two statements (the paid ones over the period's range of paid_at)."""
    rows = list(per_day(period, zone, Payment.paid_at, fn.SUM(Payment.amount_cents),
                        fn.COUNT(Payment.id))
                .where(_unindexed(Payment.status) == "paid",
                       _unindexed(Payment.currency) == CURRENCY).tuples())
    pending, pending_cents = (Payment.select(fn.COUNT(Payment.id),
                                             fn.COALESCE(fn.SUM(Payment.amount_cents), 0))
                              .where(Payment.status.in_(PENDING_PAYMENT_STATUSES),
                                     Payment.currency == CURRENCY)
                              .tuples().get())
    return Revenue(trend=period.per_bucket((day, int(cents)) for day, cents, _ in rows),
                   cents=sum(int(cents) for _, cents, _ in rows),
                   payments=sum(count for _, _, count in rows),
                   pending=pending, pending_cents=int(pending_cents))


def _unindexed(field):
    """`field` as SQLite cannot look it up in an index: without statistics it would read
    every paid payment through the status index rather than the period's range of
    paid_at (28 against 14 ms for 30 days at 100,000 payments; bench/payments_speed.py)."""
    return field.concat("")

