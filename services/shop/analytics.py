"""The shop's figures for the panel's dashboard (issue 12, seed 002 §3.4.1): read-only.

Every figure comes out of an aggregate query (COUNT / SUM / AVG, GROUP BY), so the
dashboard runs the same five statements at 100 orders and at 100,000. The window is the
dashboard's own: today and the 29 days before it in the deployer's time zone, as the
leads-per-day chart (services/ops/dashboard.py).
"""
import datetime
from dataclasses import dataclass

from peewee import JOIN, Case, fn

from models import (
    OPEN_ORDER_STATUSES,
    ORDER_STATUSES,
    QUEUED_ORDER_STATUSES,
    Order,
    Package,
    Wallet,
    utcnow,
)
from services.core.clock import local_date, utc_midnight

DAYS = 30


@dataclass(frozen=True)
class ShopSummary:
    days: int
    by_status: dict                 # {status: orders placed in the window}, every status
    popularity: list                # [(package name, orders placed in the window)]
    average_order_value: float | None  # tokens; None before any paid order
    active_customers: int           # customers who ordered in the window
    orders_today: int
    queued_now: int                 # waiting for an operator, however old
    tokens_held: int                # the sum of every wallet's balance

    @property
    def completion_rate(self):
        """completed / (completed + cancelled + open), over the orders placed in the
        window; None without any."""
        completed = self.by_status["completed"]
        placed = completed + self.by_status["cancelled"] + sum(
            self.by_status[status] for status in OPEN_ORDER_STATUSES)
        return completed / placed if placed else None


def summary(zone, now=None, days=DAYS):
    now = now or utcnow()
    today = local_date(now, zone)
    since = utc_midnight(today - datetime.timedelta(days=days - 1), zone)
    by_status, customers, average = window_figures(since)
    return ShopSummary(
        days=days,
        by_status=by_status,
        popularity=package_popularity(since),
        average_order_value=average,
        active_customers=customers,
        orders_today=Order.select().where(Order.created_at >= utc_midnight(today, zone)).count(),
        queued_now=Order.select().where(Order.status.in_(QUEUED_ORDER_STATUSES)).count(),
        tokens_held=Wallet.select(fn.COALESCE(fn.SUM(Wallet.balance), 0)).scalar(),
    )


def window_figures(since):
    """({status: orders} for every status, customers who ordered, the average price of the
    paid orders or None) over the orders placed since `since`, in one pass over them.
    Paid: not cancelled (it was refunded) and a price above 0, which leaves out free reruns."""
    # A COUNT per status rather than GROUP BY status: SQLite (no ANALYZE statistics) would
    # read the whole status index in its order instead of the window's range of the
    # created_at index (35 ms against 10 at 100,000 orders; bench/shop_speed.py).
    by_status = [fn.COUNT(Case(None, [(Order.status == status, 1)])) for status in ORDER_STATUSES]
    paid = (Order.status != "cancelled") & (Order.price > 0)
    *counts, customers, average = (
        Order.select(*by_status, fn.COUNT(fn.DISTINCT(Order.lead)),
                     fn.AVG(Case(None, [(paid, Order.price)])))
        .where(Order.created_at >= since).tuples().get())
    return (dict(zip(ORDER_STATUSES, counts)), customers,
            None if average is None else float(average))  # Postgres: a Decimal


def package_popularity(since):
    """[(package name, orders placed since `since`)], the most ordered first: every active
    package (0 included), and an inactive one only if it was ordered."""
    # Counted over the window's range of created_at first, then joined to the ten or so
    # packages. Grouped by the joined package's id: by shop_order.package_id, SQLite would
    # read every order in that index's order instead (63 ms against 7 at 100,000 orders).
    counted = (Order.select(Package.id.alias("package_id"), fn.COUNT(Order.id).alias("orders"))
               .join(Package).where(Order.created_at >= since).group_by(Package.id).alias("counted"))
    orders = fn.COALESCE(counted.c.orders, 0)
    return list(Package.select(Package.name, orders)
                .join(counted, JOIN.LEFT_OUTER, on=(counted.c.package_id == Package.id))
                .where((Package.kind == "package") & (Package.active | counted.c.orders.is_null(False)))
                .order_by(orders.desc(), Package.position, Package.id).tuples())
