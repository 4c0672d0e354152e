"""The dashboard's shop figures (services/shop/analytics.py) on a small known dataset."""
import datetime
import logging
from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st
from peewee import fn

from models import CustomerProfile, Lead, Order, Package, Wallet
from services.core.clock import local_date
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


# The period (issue 15) --------------------------------------------------------------

TODAY = NOW.date()   # 10 March 2026 in UTC
D = datetime.date


def read(first="", last="", days="", zone="UTC", now=NOW):
    return analytics.read_period(first, last, days, zone, now=now)


def test_the_default_period_is_the_last_30_days_in_the_deployers_zone():
    assert read() == (analytics.Period(D(2026, 2, 9), TODAY), [])
    # 23:30 UTC on 10 March is already 11 March in Kyiv (UTC+2).
    late = datetime.datetime(2026, 3, 10, 23, 30)
    assert read(zone="Europe/Kyiv", now=late)[0] == analytics.Period(D(2026, 2, 10), D(2026, 3, 11))


def test_presets_and_dates_are_read():
    assert read(days="7") == (analytics.Period(D(2026, 3, 4), TODAY), [])
    assert read(days=" 90 ")[0].days == 90
    assert read("2026-01-01", "2026-01-31") == (analytics.Period(D(2026, 1, 1), D(2026, 1, 31)), [])
    assert read("2026-01-01", "2026-01-31", days="7")[0].days == 31   # the dates win
    assert read("2026-03-01") == (analytics.Period(D(2026, 3, 1), TODAY), [])   # to today
    assert read(last="2026-01-31") == (analytics.Period(D(2026, 1, 2), D(2026, 1, 31)), [])
    assert read("2026-04-01")[0] == analytics.Period(D(2026, 4, 1), D(2026, 4, 1))  # a future day
    assert read("2026-03-10", "2026-03-10")[0].days == 1


def test_an_end_before_the_start_is_swapped_and_said():
    period, notes = read("2026-03-05", "2026-03-01")
    assert period == analytics.Period(D(2026, 3, 1), D(2026, 3, 5))
    assert notes == ["The end came before the start: the two dates were swapped."]


def test_a_period_longer_than_366_days_keeps_its_end():
    period, notes = read("2020-01-01", "2026-03-10")
    assert period == analytics.Period(D(2025, 3, 10), TODAY) and period.days == 366
    assert notes == ["At most 366 days at once: showing 2025-03-10 to 2026-03-10."]


@pytest.mark.parametrize("first, last, days, note", [
    ("2026-02-30", "", "", "The start date '2026-02-30' is not a date written like 2026-03-01."),
    ("", "10/03/2026", "", "The end date '10/03/2026' is not a date written like 2026-03-01."),
    ("20260301", "", "", "The start date '20260301' is not a date written like 2026-03-01."),
    ("2026-W10-1", "", "", "The start date '2026-W10-1' is not a date written like 2026-03-01."),
    ("２０２６-03-01", "", "", "The start date '２０２６-03-01' is not a date written like 2026-03-01."),
    ("1999-12-31", "", "", "The start date must be between the years 2000 and 2998."),
    ("", "2999-12-31", "", "The end date must be between the years 2000 and 2998."),
    ("", "", "0", "The number of days must be 1 to 366: showing the last 30 days."),
    ("", "", "367", "The number of days must be 1 to 366: showing the last 30 days."),
    ("", "", "-7", "The number of days must be 1 to 366: showing the last 30 days."),
    ("", "", "²", "The number of days must be 1 to 366: showing the last 30 days."),
    ("", "", "9" * 50, "The number of days must be 1 to 366: showing the last 30 days."),
])
def test_what_cannot_be_read_says_so_and_shows_the_default(first, last, days, note):
    period, notes = read(first, last, days)
    assert period == analytics.Period(D(2026, 2, 9), TODAY)
    assert notes[0] == note
    if first or last:
        assert notes[-1] == "Showing the last 30 days instead."


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=60), st.dates().map(str)),
       st.one_of(st.none(), st.text(max_size=60), st.dates().map(str)),
       st.one_of(st.none(), st.text(max_size=10), st.integers(-10**6, 10**6).map(str)),
       st.sampled_from(["UTC", "Europe/Kyiv", "Asia/Kolkata", "Pacific/Kiritimati", "America/St_Johns"]),
       st.datetimes(min_value=datetime.datetime(2001, 1, 1), max_value=datetime.datetime(2997, 1, 1)))
def test_any_query_gives_a_period_of_1_to_366_days_or_says_why_not(first, last, days, zone, now):
    period, notes = analytics.read_period(first, last, days, zone, now=now)
    assert 1 <= period.days <= analytics.MAX_DAYS and period.first <= period.last
    assert all(isinstance(note, str) and note for note in notes)
    period.since(zone), period.until(zone)   # both exist as moments


def test_trends_go_by_day_up_to_62_days_then_by_week_from_monday():
    daily = analytics.Period.ending(TODAY, 62)
    assert not daily.weekly and len(daily.buckets()) == 62
    weekly = analytics.Period.ending(TODAY, 63)        # 7 January (a Wednesday) to 10 March
    buckets = weekly.buckets()
    assert weekly.weekly and buckets[0] == D(2026, 1, 7) and buckets[1] == D(2026, 1, 12)
    assert all(day.weekday() == 0 for day in buckets[1:]) and buckets[-1] == D(2026, 3, 9)
    assert weekly.per_bucket([("2026-01-07", 1), (D(2026, 1, 11), 2), ("2026-01-12", 4),
                              ("2026-03-10", 8), ("2026-03-11", 16)]) == {
        **dict.fromkeys(buckets, 0), D(2026, 1, 7): 3, D(2026, 1, 12): 4, D(2026, 3, 9): 8}


# Trend points in SQL -------------------------------------------------------------------

def test_each_point_runs_from_its_local_midnight_to_the_next():
    """Kyiv moves from UTC+2 to UTC+3 at 01:00 UTC on 29 March 2026: that day has 23 hours."""
    assert analytics.bounds(analytics.Period(D(2026, 3, 28), D(2026, 3, 30)), "Europe/Kyiv") == [
        (D(2026, 3, 28), datetime.datetime(2026, 3, 27, 22), datetime.datetime(2026, 3, 28, 22)),
        (D(2026, 3, 29), datetime.datetime(2026, 3, 28, 22), datetime.datetime(2026, 3, 29, 21)),
        (D(2026, 3, 30), datetime.datetime(2026, 3, 29, 21), datetime.datetime(2026, 3, 30, 21))]
    weekly = analytics.Period.ending(D(2026, 3, 10), 63)    # from Wednesday 7 January
    first, second, *_, last = analytics.bounds(weekly, "Asia/Kolkata")
    assert first == (D(2026, 1, 7), datetime.datetime(2026, 1, 6, 18, 30),
                     datetime.datetime(2026, 1, 11, 18, 30))
    assert second[1:] == (datetime.datetime(2026, 1, 11, 18, 30), datetime.datetime(2026, 1, 18, 18, 30))
    assert last[2] == datetime.datetime(2026, 3, 10, 18, 30)


# (zone, UTC moment, local date there): around midnight, +5:30, and a DST change.
BOUNDARIES = [
    ("Asia/Kolkata", datetime.datetime(2026, 3, 27, 18, 29, 59, 999999), D(2026, 3, 27)),
    ("Asia/Kolkata", datetime.datetime(2026, 3, 27, 18, 30), D(2026, 3, 28)),
    ("Europe/Kyiv", datetime.datetime(2026, 3, 28, 21, 59, 59), D(2026, 3, 28)),
    ("Europe/Kyiv", datetime.datetime(2026, 3, 28, 22, 0), D(2026, 3, 29)),
    ("Europe/Kyiv", datetime.datetime(2026, 3, 29, 20, 59, 59), D(2026, 3, 29)),   # UTC+3 now
    ("Europe/Kyiv", datetime.datetime(2026, 3, 29, 21, 0), D(2026, 3, 30)),
    ("America/St_Johns", datetime.datetime(2026, 3, 28, 2, 29), D(2026, 3, 27)),  # UTC-2:30
    ("America/St_Johns", datetime.datetime(2026, 3, 28, 2, 31), D(2026, 3, 28)),
    ("UTC", datetime.datetime(2026, 3, 28, 23, 59, 59, 999999), D(2026, 3, 28)),
]


def test_rows_count_on_their_local_day_on_both_databases(any_db, make_lead):
    for n, (_, moment, _) in enumerate(BOUNDARIES):
        make_lead(first_name=f"At{n}", created_at=moment)
    period = analytics.Period(D(2026, 3, 20), D(2026, 4, 4))
    for zone in {zone for zone, _, _ in BOUNDARIES}:
        counted = period.per_bucket(analytics.per_day(period, zone, Lead.created_at,
                                                      fn.COUNT(Lead.id)).tuples())
        expected = Counter(local_date(moment, zone) for _, moment, _ in BOUNDARIES)
        assert counted == {day: expected[day] for day in period.buckets()}, zone
        for z, moment, day in BOUNDARIES:   # the boundaries as written above
            if z == zone:
                assert local_date(moment, zone) == day


# User growth ----------------------------------------------------------------------------

@pytest.fixture
def growing(any_db, make_lead):
    """Customers made on known days (10 March 2026 is the last day of the period)."""
    packages = {p.sites: p for p in Package.select().where(Package.kind == "package")}

    def customer(name, joined, wallet=True, profile=True):
        lead = make_lead(first_name=name, created_at=joined)
        if wallet:
            Wallet.create(lead=lead, balance=0)
        profile_row = CustomerProfile.create(lead=lead, first_name=name, last_name="X") if profile else None
        return lead, profile_row

    def order(customer, at, status="completed"):
        lead, profile = customer
        profile = profile or CustomerProfile.create(lead=lead, first_name="P", last_name="X")
        return Order.create(lead=lead, profile=profile, package=packages[100], package_name="100 sites",
                            sites=100, price=100, status=status, queue_rank=at.timestamp(),
                            created_at=at)
    return customer, order


def test_new_customers_and_first_orders_per_day(growing, make_lead):
    customer, order = growing
    at = lambda day, hour=12: datetime.datetime(2026, 3, day, hour)  # noqa: E731
    old = customer("Old", datetime.datetime(2025, 12, 1))           # joined before the period
    order(old, datetime.datetime(2026, 1, 5))                       # first order before it too
    order(old, at(9))                                               # not a first order
    amy = customer("Amy", at(8), profile=False)                     # a wallet only
    ben = customer("Ben", at(8, 23), wallet=False)                  # a profile only
    customer("Cat", at(10, 1))
    make_lead(first_name="Lead only", created_at=at(9))             # no shop account: not counted
    order(amy, at(9, 8)), order(amy, at(9, 9)), order(ben, at(10, 0))
    order(ben, at(10, 2), status="cancelled")
    growth = analytics.growth("UTC", analytics.Period.ending(TODAY, 7))
    assert growth.rows()[-3:] == [(D(2026, 3, 8), 2, 0), (D(2026, 3, 9), 0, 1), (D(2026, 3, 10), 1, 1)]
    assert sum(joined for _, joined, _ in growth.rows()) == 3 and len(growth.rows()) == 7
    # Ben joined at 23:00 UTC on the 8th and ordered at 00:00 UTC on the 10th: in Kolkata
    # (+5:30) that is the 9th and the 10th at 04:30 and 05:30.
    kolkata = analytics.growth("Asia/Kolkata", analytics.Period.ending(TODAY, 7))
    assert kolkata.rows()[-3:] == [(D(2026, 3, 8), 1, 0), (D(2026, 3, 9), 1, 1), (D(2026, 3, 10), 1, 1)]


def test_user_growth_by_week(growing):
    customer, order = growing
    for n, day in enumerate((D(2026, 1, 7), D(2026, 1, 11), D(2026, 1, 12), D(2026, 3, 10))):
        order(customer(f"C{n}", datetime.datetime.combine(day, datetime.time(9))),
              datetime.datetime.combine(day, datetime.time(10)))
    growth = analytics.growth("UTC", analytics.Period.ending(TODAY, 63))
    assert growth.registrations[D(2026, 1, 7)] == 2 and growth.first_orders[D(2026, 1, 7)] == 2
    assert growth.registrations[D(2026, 1, 12)] == 1 and growth.registrations[D(2026, 3, 9)] == 1
    assert sum(growth.first_orders.values()) == 4 and len(growth.rows()) == 10


def test_an_empty_database_grows_by_nothing(any_db):
    growth = analytics.growth("Europe/Kyiv", analytics.Period.ending(TODAY, 90))
    assert {joined + first for _, joined, first in growth.rows()} == {0}


def test_the_period_bounds_the_figures_and_subscribers_are_counted_now(shop):
    Wallet.update(premium_until=NOW + DAY).where(Wallet.balance >= 500).execute()   # A and C
    Wallet.update(premium_until=NOW - DAY).where(Wallet.balance == 0).execute()     # B: ended
    # 7 and 8 March: B's free rerun and A's cancelled order; A's completed order (9 March)
    # and B's pending one (today) stay out, so no order was paid.
    summary = analytics.summary("UTC", now=NOW, period=analytics.Period(D(2026, 3, 7), D(2026, 3, 8)))
    assert summary.by_status == {"pending": 0, "processing": 0, "assigned": 0, "completed": 1,
                                 "cancelled": 1}
    assert summary.days == 2 and summary.orders == 2 and summary.active_customers == 2
    assert summary.average_order_value is None and summary.completion_rate == pytest.approx(1 / 2)
    assert summary.subscribers == 2 and summary.orders_today == 1 and summary.tokens_held == 1730


def test_both_ways_of_finding_first_orders_find_the_same(shop):
    first_by_lookup = {o.id for o in Order.select(Order.id).where(analytics._first_order(False))}
    first_by_minimum = {o.id for o in Order.select(Order.id).where(analytics._first_order(True))}
    assert first_by_lookup == first_by_minimum
    assert len(first_by_lookup) == 4     # one per customer: A, B, C and D
