"""The shop's figures for the panel's dashboard (issues 12 and 15, seed 002 §3.4.1): read-only.

Every figure comes out of an aggregate query (COUNT / SUM / AVG, GROUP BY), so the
dashboard runs the same statements at 100 orders and at 100,000. The figures cover a
Period: whole days in the deployer's time zone, by default today and the 29 days before
it, as the leads-per-day chart (services/ops/dashboard.py); the trends go by day, or by
week (Monday to Sunday) when the period is longer than WEEKLY_AFTER days.
"""
import datetime
import re
from dataclasses import dataclass

from peewee import JOIN, SQL, Case, ValuesList, fn

from models import (
    OPEN_ORDER_STATUSES,
    ORDER_STATUSES,
    QUEUED_ORDER_STATUSES,
    CustomerProfile,
    Lead,
    Order,
    Package,
    Wallet,
    is_postgres,
    utcnow,
)
from services.core.clock import FIRST_YEAR, LAST_YEAR, local_date, utc_midnight
from services.core.inputs import plain_text

DAYS = 30
PRESETS = (7, 30, 90)
MAX_DAYS = 366
WEEKLY_AFTER = 62          # a longer period's trends go by week: 9+ points, not 63+
DAY = datetime.timedelta(days=1)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class Period:
    """Local days `first` to `last`, both included."""
    first: datetime.date
    last: datetime.date

    @classmethod
    def ending(cls, last, days=DAYS):
        return cls(last - (days - 1) * DAY, last)

    @classmethod
    def last_days(cls, zone, now=None, days=DAYS):
        """Today in `zone` and the `days` - 1 before it."""
        return cls.ending(local_date(now or utcnow(), zone), days)

    @property
    def days(self):
        return (self.last - self.first).days + 1

    @property
    def weekly(self):
        return self.days > WEEKLY_AFTER

    def since(self, zone):
        """Its first moment, as naive UTC."""
        return utc_midnight(self.first, zone)

    def until(self, zone):
        """The moment after its last day, as naive UTC."""
        return utc_midnight(self.last, zone, days_later=1)

    def bucket(self, day):
        """The first day of the trends' point `day` falls in: the day itself, or with
        weekly points its Monday (the period's first day for the first, partial, week)."""
        return max(self.first, day - day.weekday() * DAY) if self.weekly else day

    def buckets(self):
        """The first days of the trends' points, oldest first."""
        days = (self.first + n * DAY for n in range(self.days))
        return list(dict.fromkeys(self.bucket(day) for day in days))

    def per_bucket(self, rows):
        """{bucket: sum} for every bucket (0 included) from (local day, number) rows (a
        date, or its text as SQLite gives it; per_day() below)."""
        sums = dict.fromkeys(self.buckets(), 0)
        for day, number in rows:
            day = datetime.date.fromisoformat(day) if isinstance(day, str) else day
            if self.first <= day <= self.last:
                sums[self.bucket(day)] += number or 0
        return sums


def read_period(first_text, last_text, days_text, zone, now=None):
    """The Period the dashboard's query string asks for, and notes on what was not taken
    as written: (Period, [note]). `first_text` and `last_text` are local dates written
    2026-03-01 (the date picker's format), `days_text` a number of days ending today (the
    presets); the dates win. Anything unreadable gives the default, the last DAYS days."""
    today = local_date(now or utcnow(), zone)
    default = Period.ending(today)
    notes = []
    first_text, last_text = (plain_text(t or "").strip()[:40] for t in (first_text, last_text))
    if first_text or last_text:
        first, last = _date(first_text, notes, "start"), _date(last_text, notes, "end")
        if first is False or last is False:
            notes.append(f"Showing the last {DAYS} days instead.")
            return default, notes
        last = last or (today if first is None or first <= today else first)
        first = first or last - (DAYS - 1) * DAY
        if last < first:
            first, last = last, first
            notes.append("The end came before the start: the two dates were swapped.")
        period = Period(first, last)
    elif days_text:
        days = _whole_number(days_text)
        if days is None or not 1 <= days <= MAX_DAYS:
            notes.append(f"The number of days must be 1 to {MAX_DAYS}: showing the last {DAYS} days.")
            return default, notes
        period = Period.ending(today, days)
    else:
        return default, notes
    if period.days > MAX_DAYS:
        period = Period.ending(period.last, MAX_DAYS)
        notes.append(f"At most {MAX_DAYS} days at once: showing {period.first} to {period.last}.")
    return period, notes


def _date(text, notes, which):
    """The date in `text`; None when empty; False (noted) when it is no date we take."""
    if not text:
        return None
    day = None
    if _ISO_DATE.fullmatch(text):
        try:
            day = datetime.date.fromisoformat(text)
        except ValueError:
            day = None
    if day is None:
        notes.append(f"The {which} date {text!r} is not a date written like 2026-03-01.")
        return False
    if not FIRST_YEAR <= day.year < LAST_YEAR:   # the day after it must be a date too
        notes.append(f"The {which} date must be between the years {FIRST_YEAR} and {LAST_YEAR - 1}.")
        return False
    return day


def _whole_number(text):
    text = plain_text(text or "").strip()
    return int(text) if len(text) <= 4 and text.isascii() and text.isdigit() else None


# Local days in SQL ---------------------------------------------------------------

def bounds(period, zone):
    """[(first day, first moment, moment after)] of the period's trend points, the
    moments as naive UTC. A local day (or week) is what zoneinfo says it is: 23 or 25
    hours across a daylight-saving change, from a half-hour zone's midnight."""
    firsts = period.buckets()
    afters = firsts[1:] + [period.last + DAY]
    return [(first, utc_midnight(first, zone), utc_midnight(after, zone))
            for first, after in zip(firsts, afters)]


def per_day(period, zone, field, *aggregates):
    """(local day, *aggregates) over the rows whose `field` falls in the period, grouped
    by the local day (with weekly trends, SQLite groups by the week's first day);
    Period.per_bucket reads them; .where() picks the rows. Postgres converts each row's
    time to the zone itself. SQLite cannot: it joins each trend point's bounds (a CTE) and
    finds the point's rows through `field`'s index, which is twice as fast at 366 days
    as computing an offset for each row (bench/payments_speed.py). Postgres would compare
    every row with every point instead."""
    if is_postgres():
        day = fn.timezone(zone, fn.timezone("UTC", field)).cast("date")
        return (field.model.select(day, *aggregates)
                .where(field >= period.since(zone), field < period.until(zone))
                .group_by(SQL("1")))
    point = ValuesList([(first.isoformat(), field.db_value(starts), field.db_value(ends))
                        for first, starts, ends in bounds(period, zone)]
                       ).cte("point", columns=("day", "starts", "ends"))
    return (field.model.select(point.c.day, *aggregates).from_(point)
            .join(field.model, on=(field >= point.c.starts) & (field < point.c.ends))
            .group_by(point.c.day).with_cte(point))


# The figures ----------------------------------------------------------------------

@dataclass(frozen=True)
class ShopSummary:
    days: int
    by_status: dict                 # {status: orders placed in the period}, every status
    popularity: list                # [(package name, orders placed in the period)]
    average_order_value: float | None  # tokens; None before any paid order
    active_customers: int           # customers who ordered in the period
    orders_today: int
    queued_now: int                 # waiting for an operator, however old
    tokens_held: int                # the sum of every wallet's balance
    subscribers: int = 0            # Premium now (premium_until later than now)
    period: Period | None = None

    @property
    def completion_rate(self):
        """completed / (completed + cancelled + open), over the orders placed in the
        period; None without any."""
        completed = self.by_status["completed"]
        placed = completed + self.by_status["cancelled"] + sum(
            self.by_status[status] for status in OPEN_ORDER_STATUSES)
        return completed / placed if placed else None

    @property
    def orders(self):
        return sum(self.by_status.values())


def summary(zone, now=None, days=DAYS, period=None):
    """The figures over `period` (default: the last `days` days), and the ones of now."""
    now = now or utcnow()
    period = period or Period.last_days(zone, now, days)
    today = local_date(now, zone)
    since, until = period.since(zone), period.until(zone)
    by_status, customers, average = window_figures(since, until)
    held, subscribers = (Wallet.select(fn.COALESCE(fn.SUM(Wallet.balance), 0),
                                       fn.COUNT(Case(None, [(Wallet.premium_until > now, 1)])))
                         .tuples().get())
    return ShopSummary(
        days=period.days,
        by_status=by_status,
        popularity=package_popularity(since, until),
        average_order_value=average,
        active_customers=customers,
        orders_today=Order.select().where(Order.created_at >= utc_midnight(today, zone)).count(),
        queued_now=Order.select().where(Order.status.in_(QUEUED_ORDER_STATUSES)).count(),
        tokens_held=int(held),
        subscribers=subscribers,
        period=period,
    )


def window_figures(since, until=None):
    """({status: orders} for every status, customers who ordered, the average price of the
    paid orders or None) over the orders placed from `since` until `until`, in one pass
    over them. Paid: not cancelled (it was refunded) and a price above 0, which leaves out
    free reruns."""
    # A COUNT per status rather than GROUP BY status: SQLite (no ANALYZE statistics) would
    # read the whole status index in its order instead of the window's range of the
    # created_at index (35 ms against 10 at 100,000 orders; bench/shop_speed.py).
    by_status = [fn.COUNT(Case(None, [(Order.status == status, 1)])) for status in ORDER_STATUSES]
    paid = (Order.status != "cancelled") & (Order.price > 0)
    *counts, customers, average = (
        Order.select(*by_status, fn.COUNT(fn.DISTINCT(Order.lead)),
                     fn.AVG(Case(None, [(paid, Order.price)])))
        .where(_placed(since, until)).tuples().get())
    return (dict(zip(ORDER_STATUSES, counts)), customers,
            None if average is None else float(average))  # Postgres: a Decimal


def _placed(since, until):
    return (Order.created_at >= since) & (Order.created_at < until) if until else Order.created_at >= since


def package_popularity(since, until=None):
    """[(package name, orders placed from `since` until `until`)], the most ordered first:
    every active package (0 included), and an inactive one only if it was ordered."""
    # Counted over the window's range of created_at first, then joined to the ten or so
    # packages. Grouped by the joined package's id: by shop_order.package_id, SQLite would
    # read every order in that index's order instead (63 ms against 7 at 100,000 orders).
    counted = (Order.select(Package.id.alias("package_id"), fn.COUNT(Order.id).alias("orders"))
               .join(Package).where(_placed(since, until)).group_by(Package.id).alias("counted"))
    orders = fn.COALESCE(counted.c.orders, 0)
    return list(Package.select(Package.name, orders)
                .join(counted, JOIN.LEFT_OUTER, on=(counted.c.package_id == Package.id))
                .where((Package.kind == "package") & (Package.active | counted.c.orders.is_null(False)))
                .order_by(orders.desc(), Package.position, Package.id).tuples())


@dataclass(frozen=True)
class Growth:
    """Per trend point (its first day): new customers, and customers' first orders."""
    registrations: dict
    first_orders: dict

    def rows(self):
        return [(day, self.registrations[day], self.first_orders[day]) for day in self.registrations]


def growth(zone, period):
    """New customers per point of the period: a customer (a lead with a wallet or a
    profile, as the panel's Customers list) counts on the day their lead was made (their
    first message to the bot, or the team adding them), as that list's "Lead since"; and
    the customers whose first order (the lowest id: orders are numbered as placed) was
    placed that day. Two statements, through each trend point's range of created_at."""
    customer = (fn.EXISTS(Wallet.select(SQL("1")).where(Wallet.lead == Lead.id))
                | fn.EXISTS(CustomerProfile.select(SQL("1")).where(CustomerProfile.lead == Lead.id)))
    registrations = per_day(period, zone, Lead.created_at, fn.COUNT(Lead.id)).where(customer)
    first = per_day(period, zone, Order.created_at, fn.COUNT(Order.id)).where(
        _first_order(period.weekly))
    return Growth(period.per_bucket(registrations.tuples()), period.per_bucket(first.tuples()))


def _first_order(long):
    """The condition that an order is its customer's first (the lowest id). For a short
    period, no earlier order of the customer, looked up per order placed in it; for a
    long one, the customers' lowest ids at once from the (lead, id) index, which costs
    the same whatever the period (at 100,000 orders: 12 against 36 ms for 30 days, 85
    against 48 ms for 366; bench/payments_speed.py). The id is compared as an expression
    (id + 0): as a column, SQLite would read every listed id for each trend point instead
    of the point's range of created_at (0.5 s at 366 days)."""
    if long:
        return (Order.id + 0).in_(Order.select(fn.MIN(Order.id)).group_by(Order.lead))
    earlier = Order.alias("earlier")
    return ~fn.EXISTS(earlier.select(SQL("1")).where(earlier.lead == Order.lead, earlier.id < Order.id))
