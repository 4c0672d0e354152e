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

from peewee import JOIN, SQL, Case, fn

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
from services.core.clock import FIRST_YEAR, LAST_YEAR, local_date, to_local, utc_midnight
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
        """{bucket: sum} for every bucket (0 included) from (local day, number) rows."""
        sums = dict.fromkeys(self.buckets(), 0)
        for day, number in rows:
            day = _as_date(day)
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


# Local days in SQL ----------------------------------------------------------------

def offsets(zone, since, until):
    """[(from, seconds)]: `zone`'s UTC offset in seconds from each naive-UTC moment `from`
    on, between `since` and `until`, the first from `since`. One entry in most periods;
    a daylight-saving change adds one."""
    def offset(moment):
        return int(to_local(moment, zone).utcoffset().total_seconds())
    changes = [(since, offset(since))]
    before, at = since, since + DAY
    while before < until:
        at = min(at, until)
        if offset(at) != changes[-1][1]:
            low, high = before, at    # the change lies in (low, high]: halve it to the second
            while high - low > datetime.timedelta(seconds=1):
                middle = low + (high - low) / 2
                low, high = (low, middle) if offset(middle) != changes[-1][1] else (middle, high)
            changes.append((high.replace(microsecond=0), offset(high)))
        before, at = at, at + DAY
    return changes


def local_day(field, zone, since, until):
    """SQL for the local date in `zone` of the naive-UTC timestamp `field`, exact for any
    offset (whole hours, India's +5:30, a daylight-saving change) on rows between `since`
    and `until`: SQLite gives 'YYYY-MM-DD' text, Postgres a date. Grouping by hour (as
    services/ops/dashboard does) would misplace half-hour zones' midnights."""
    changes = offsets(zone, since, until)
    if is_postgres():
        seconds = _by_moment(field, changes)
        return (field + SQL("INTERVAL '1 second'") * seconds).cast("date")
    # SQLite's date() rounds to the millisecond (23:59:59.9999 would be the next day): the
    # stored text is cut to whole seconds first.
    modifiers = [(start, f"{seconds:+d} seconds") for start, seconds in changes]
    return fn.date(fn.substr(field, 1, 19), _by_moment(field, modifiers))


def _by_moment(field, values):
    """values[0][1], or the value of the last (from, value) whose `from` is <= `field`."""
    if len(values) == 1:
        return values[0][1]
    return Case(None, [(field < start, value) for (_, value), (start, _) in zip(values, values[1:])],
                values[-1][1])


def _as_date(day):
    return datetime.date.fromisoformat(day) if isinstance(day, str) else day


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
    placed that day. Two grouped statements over the period's range of created_at."""
    since, until = period.since(zone), period.until(zone)
    joined = local_day(Lead.created_at, zone, since, until)
    customer = (fn.EXISTS(Wallet.select(SQL("1")).where(Wallet.lead == Lead.id))
                | fn.EXISTS(CustomerProfile.select(SQL("1")).where(CustomerProfile.lead == Lead.id)))
    registrations = (Lead.select(joined, fn.COUNT(Lead.id))
                     .where(Lead.created_at >= since, Lead.created_at < until, customer)
                     .group_by(SQL("1")).tuples())
    ordered = local_day(Order.created_at, zone, since, until)
    first = (Order.select(ordered, fn.COUNT(Order.id))
             .where(_placed(since, until), _first_order(period.weekly))
             .group_by(SQL("1")).tuples())
    return Growth(period.per_bucket(registrations), period.per_bucket(first))


def _first_order(long):
    """The condition that an order is its customer's first (the lowest id). For a short
    period, no earlier order of the customer, looked up per order placed in it; for a
    long one, the customers' lowest ids at once from the (lead, id) index, which costs
    the same whatever the period (at 100,000 orders: 12 against 36 ms for 30 days, 85
    against 48 ms for 366; bench/payments_speed.py)."""
    if long:
        return Order.id.in_(Order.select(fn.MIN(Order.id)).group_by(Order.lead))
    earlier = Order.alias("earlier")
    return ~fn.EXISTS(earlier.select(SQL("1")).where(earlier.lead == Order.lead, earlier.id < Order.id))
