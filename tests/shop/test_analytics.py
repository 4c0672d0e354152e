"""The dashboard's shop figures (services/shop/analytics.py) on a small known dataset."""
import datetime
import logging

import pytest

from models import CustomerProfile, Order, Package, Wallet
from services.shop import analytics

NOW = datetime.datetime(2026, 3, 10, 12, 0)
DAY = datetime.timedelta(days=1)


@pytest.fixture
def shop(any_db, make_lead):
    """Four customers and eight orders: six placed in the 30-day window, two before it."""
    packages = {p.sites: p for p in Package.select().where(Package.kind == "package")}
    customers = {}
    for name, balance in (("A", 500), ("B", 0), ("C", 1200), ("D", 30)):
        lead = make_lead(first_name=name)
        Wallet.create(lead=lead, balance=balance)
        customers[name] = (lead, CustomerProfile.create(lead=lead, first_name=name, last_name="Example"))

    def order(name, sites, price, status, age, **fields):
        lead, profile = customers[name]
        package = packages[sites]
        created = NOW - age
        return Order.create(lead=lead, profile=profile, package=package, package_name=package.name,
                            sites=sites, price=price, status=status, queue_rank=created.timestamp(),
                            created_at=created, **fields)

    first = order("A", 100, 100, "completed", DAY)
    order("A", 250, 250, "cancelled", 2 * DAY)
    order("B", 100, 60, "pending", datetime.timedelta(hours=1))        # today
    order("B", 100, 0, "completed", 3 * DAY, rerun_of=first)          # a free rerun
    order("C", 550, 600, "assigned", 10 * DAY, email_confirmation=True)
    order("C", 550, 550, "processing", 29 * DAY)                      # the window's first day
    order("D", 1000, 1000, "completed", 40 * DAY)
    order("D", 100, 100, "pending", 45 * DAY)                         # old, still queued
    return packages


def test_the_figures_of_the_window(shop):
    summary = analytics.summary("UTC", now=NOW)
    assert summary.by_status == {"pending": 1, "processing": 1, "assigned": 1, "completed": 2,
                                 "cancelled": 1}
    assert summary.completion_rate == pytest.approx(2 / 6)
    # 100, 60, 600 and 550: the cancelled order and the free rerun are left out.
    assert summary.average_order_value == pytest.approx(327.5)
    assert summary.active_customers == 3
    assert summary.orders_today == 1
    assert summary.queued_now == 3       # pending and processing, the 45-day-old one included
    assert summary.tokens_held == 1730


def test_package_popularity_counts_the_window_and_hides_unordered_inactive_packages(shop):
    Package.update(active=False).where(Package.id.in_([shop[250].id, shop[1350].id])).execute()
    popularity = analytics.summary("UTC", now=NOW).popularity
    assert popularity == [("100 sites", 3), ("550 sites", 2), ("250 sites", 1), ("650 sites", 0),
                          ("850 sites", 0), ("1000 sites", 0), ("1200 sites", 0), ("1500 sites", 0)]


def test_today_and_the_window_follow_the_deployers_day(shop):
    # 11 March 01:00 UTC is 15:00 that day at UTC+14, whose day began at 10 March 10:00 UTC:
    # the order of 10 March 11:00 UTC is today's there, and yesterday's in UTC. The window's
    # first day, 10 February, begins there at 9 February 10:00 UTC, before the order of
    # 9 February 12:00 UTC, which UTC's window (from 10 February 00:00) leaves out.
    at = NOW + datetime.timedelta(hours=13)
    utc, kiritimati = (analytics.summary(zone, now=at) for zone in ("UTC", "Pacific/Kiritimati"))
    assert (utc.orders_today, kiritimati.orders_today) == (0, 1)
    assert (utc.by_status["processing"], kiritimati.by_status["processing"]) == (0, 1)


def test_a_shorter_window_leaves_the_older_orders_out(shop):
    summary = analytics.summary("UTC", now=NOW, days=2)
    assert summary.by_status == {"pending": 1, "processing": 0, "assigned": 0, "completed": 1,
                                 "cancelled": 0}
    assert summary.completion_rate == pytest.approx(1 / 2)
    assert summary.average_order_value == pytest.approx(80)
    assert summary.active_customers == 2
    assert summary.queued_now == 3


def test_an_empty_shop_has_no_rates(any_db):
    summary = analytics.summary("UTC", now=NOW)
    assert set(summary.by_status.values()) == {0}
    assert summary.completion_rate is None and summary.average_order_value is None
    assert (summary.active_customers, summary.orders_today, summary.queued_now,
            summary.tokens_held) == (0, 0, 0, 0)
    assert [name for name, _ in summary.popularity] == [
        p.name for p in Package.select().where(Package.kind == "package").order_by(Package.position)]
    assert {n for _, n in summary.popularity} == {0}


class Statements(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.sql = []

    def emit(self, record):
        self.sql.append(record.msg[0])


def statements_of_summary():
    handler, logger = Statements(), logging.getLogger("peewee")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        analytics.summary("UTC", now=NOW)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return handler.sql


def test_the_same_statements_whatever_the_number_of_orders(shop):
    few = statements_of_summary()
    order = Order.get()
    for _ in range(20):
        Order.create(**{**order.__data__, "id": None})
    assert statements_of_summary() == few
    assert len(few) == 5
