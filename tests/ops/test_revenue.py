"""The dashboard's money figures (services/ops/revenue.py) on a small known set of
payments, on SQLite and Postgres."""
import datetime
import itertools

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from models import PAYMENT_STATUSES, LedgerEntry, Payment, Wallet
from services.core import markup
from services.core.actors import Actor
from services.ops import revenue
from services.payments import reconciliation
from services.shop import wallet
from services.shop.analytics import Period

NOW = datetime.datetime(2026, 3, 10, 12, 0)
D = datetime.date
SYSTEM = Actor.system("test")
_numbers = itertools.count(1)


@pytest.fixture
def pay(any_db, make_lead):
    """pay(status, cents, paid_at=None, currency="USD"): a payment of a new customer."""
    def make(status, cents, paid_at=None, currency="USD"):
        n = next(_numbers)
        lead = make_lead(first_name=f"Payer{n}")
        return Payment.create(lead=lead, reference=f"LG-{n:06x}", track_id=f"T{n}", tokens=cents // 10,
                              amount_cents=cents, currency=currency, status=status,
                              expires_at=(paid_at or NOW) + datetime.timedelta(hours=1),
                              paid_at=paid_at, created_at=(paid_at or NOW) - datetime.timedelta(minutes=5))
    return make


def test_revenue_per_day_counts_paid_top_ups_on_their_local_day(pay):
    pay("paid", 1000, datetime.datetime(2026, 3, 10, 9, 0))
    pay("paid", 2550, datetime.datetime(2026, 3, 9, 18, 29))   # 23:59 in Kolkata, the 9th
    pay("paid", 500, datetime.datetime(2026, 3, 9, 18, 31))    # 00:01 in Kolkata, the 10th
    pay("paid", 700, datetime.datetime(2026, 3, 3, 23, 59))    # the day before the period
    pay("paid", 900, datetime.datetime(2026, 3, 10, 8, 0), currency="EUR")   # not USD
    for status in ("new", "waiting", "paying"):
        pay(status, 2500)
    pay("underpaid", 10_000), pay("expired", 20_000), pay("failed", 40_000)
    period = Period(D(2026, 3, 4), D(2026, 3, 10))
    utc = revenue.revenue("UTC", period)
    assert list(utc.trend.items())[-2:] == [(D(2026, 3, 9), 3050), (D(2026, 3, 10), 1000)]
    assert sum(utc.trend.values()) == utc.cents == 4050 and utc.payments == 3
    assert len(utc.trend) == 7 and utc.usd == "$40.50"
    assert (utc.pending, utc.pending_cents, utc.pending_usd) == (3, 7500, "$75.00")
    kolkata = revenue.revenue("Asia/Kolkata", period)
    assert list(kolkata.trend.items())[-2:] == [(D(2026, 3, 9), 2550), (D(2026, 3, 10), 1500)]
    # Its period began at 18:30 UTC on the 3rd: the payment of 23:59 UTC that day is in it.
    assert kolkata.trend[D(2026, 3, 4)] == 700 and kolkata.payments == 4


def test_revenue_by_week(pay):
    for day in (D(2026, 1, 7), D(2026, 1, 11), D(2026, 1, 12), D(2026, 3, 10)):
        pay("paid", 1000, datetime.datetime.combine(day, datetime.time(12)))
    figures = revenue.revenue("UTC", Period.ending(D(2026, 3, 10), 63))
    assert figures.trend[D(2026, 1, 7)] == 2000 and figures.trend[D(2026, 1, 12)] == 1000
    assert figures.trend[D(2026, 3, 9)] == 1000 and len(figures.trend) == 10 and figures.cents == 4000


def test_no_payments_no_revenue(any_db):
    figures = revenue.revenue("UTC", Period.ending(D(2026, 3, 10), 30))
    assert set(figures.trend.values()) == {0} and len(figures.trend) == 30
    assert (figures.cents, figures.payments, figures.pending, figures.usd) == (0, 0, 0, "$0.00")
    assert reconciliation.problems() == 0


@pytest.mark.parametrize("cents, shown", [(0, "$0.00"), (5, "$0.05"), (123_456_789, "$1,234,567.89")])
def test_usd(cents, shown):
    assert markup.usd(cents) == shown


def test_problems_count_what_the_ledger_and_the_payments_disagree_on(pay):
    credited = pay("paid", 1000, NOW)
    wallet.move(SYSTEM, credited.lead_id, "purchase", credited.tokens, reference="top-up", payment=credited.id)
    assert reconciliation.problems() == 0
    pay("paid", 2000, NOW)                                              # paid, never credited
    assert reconciliation.problems() == 1
    expired = pay("expired", 3000)
    wallet.move(SYSTEM, expired.lead_id, "purchase", 300, payment=expired.id)   # credited, not paid
    wallet.move(SYSTEM, expired.lead_id, "purchase", 50)                         # no payment at all
    wallet.move(SYSTEM, expired.lead_id, "bonus", 50)                            # not a purchase
    assert reconciliation.problems() == 3
    assert Wallet.select().count() == 2


CREDITS = st.sampled_from(["none", "purchase", "bonus"])


def test_problems_agree_with_the_reconciliation_summary(pay, request):
    """Whatever payments, credits and stray purchases there are, the quick answer is the
    reconciliation's own."""
    examples = 40 if request.node.callspec.params["any_db"] == "sqlite" else 20

    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(st.tuples(st.sampled_from(PAYMENT_STATUSES), CREDITS), max_size=6),
           st.integers(0, 2))
    def agree(payments, strays):
        LedgerEntry.delete().execute()
        Payment.delete().execute()
        for status, credit in payments:
            payment = pay(status, 1000, NOW if status == "paid" else None)
            if credit != "none":
                wallet.move(SYSTEM, payment.lead_id, credit, 100, payment=payment.id)
        for _ in range(strays):
            wallet.move(SYSTEM, Payment.select().first().lead_id if payments else
                        pay("expired", 100).lead_id, "purchase", 10)
        assert reconciliation.problems() == reconciliation.summary().problems

    agree()
