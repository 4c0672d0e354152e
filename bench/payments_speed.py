"""The dashboard's shop analytics at size: 100,000 payments and 1,000,000 ledger rows
(with bench/shop_speed.py's 100,000 orders and 20,000 customers), per backend.

Times what the dashboard computes with SHOP on (services.shop.analytics.summary and
growth, services.ops.revenue.revenue and problems: each call, the whole of them, and
each statement alone) for the default 30 days, the 90-day preset (by week) and the
longest period (366 days), and the rendered page `/` through the WSGI app for each;
prints median / p95 beside the 300 ms target. Also, for reference (no target), the
reconciliation summary (services.payments.reconciliation.summary) at that size.

  .venv/bin/python bench/payments_speed.py [--payments N] [--orders N] [--ledger N] [--no-postgres] [--explain]

or through `bench/run.py --only payments`. See bench/README.md.
"""
import argparse
import datetime
import random
import secrets
import sys
import time

from admin_speed import captured, get, queries_of, run_sql, timed
from common import TARGET_DASHBOARD_MS, cached_dataset, note, print_table, say, timing
from inbox_speed import show_plans
from outbox_speed import postgres_backend
from shop_speed import (
    CHUNK,
    DATA_VERSION as SHOP_DATA_VERSION,
    LEDGER,
    ORDERS,
    build_dataset as build_shop_dataset,
    bulk_insert,
)

import models  # noqa: E402
from models import Payment, db  # noqa: E402
from panel import create_app  # noqa: E402
from services.core.clock import local_date
from services.core.config import load_settings
from services.ops import heartbeat, revenue
from services.payments import reconciliation
from services.shop import analytics

PAYMENTS = 100_000
PAID_SHARE = 0.8            # the rest: expired mostly, some underpaid or failed, the newest pending
PENDING = 300               # invoices of the last hour, not paid yet
TOKEN_CENTS = 10            # $0.10 a token, TOKEN_PRICE_USD's default
DATA_VERSION = 1            # bump when the data below changes: the cache is keyed by it
ZONE = "Europe/Kyiv"        # a zone with a daylight-saving change in the longest period
PERIODS = (("30 days", ""), ("90 days, by week", "?days=90"), ("366 days, by week", "?days=366"))
PAYMENT_COLUMNS = ("id", "lead_id", "reference", "track_id", "tokens", "amount_cents", "currency", "status",
                   "provider_status", "paid_amount", "pay_url", "expires_at", "next_check_at", "checks",
                   "last_error", "request_key", "created_at", "updated_at", "paid_at")
HOUR, MINUTE = datetime.timedelta(hours=1), datetime.timedelta(minutes=1)


# The dataset ----------------------------------------------------------------------

def payment_row(payment_id, lead_id, tokens, status, created, paid_at=None):
    cents = tokens * TOKEN_CENTS
    return (payment_id, lead_id, f"LG-{payment_id:010x}", f"T{payment_id:09d}", tokens, cents, "USD", status,
            status, f"{cents / 100:.2f}" if paid_at else None, f"https://pay.example/{payment_id}",
            created + HOUR, created + 2 * MINUTE if status in ("new", "waiting", "paying") else None,
            1, "OxaPay answered 503" if status == "failed" else None, None, created, paid_at or created, paid_at)


def add_payments(count):
    """`count` payments over the shop dataset: PAID_SHARE of them paid, each the payment
    of one of the ledger's purchases (linked as settlement links them); the purchases
    left over become bonuses, so every purchase has its paid payment and the dashboard
    shows no reconciliation problem. Customers' leads and wallets are dated from their
    first ledger row, so the growth chart has new customers every day."""
    rng, now = random.Random(15), models.utcnow().replace(microsecond=0)
    purchases = db.execute_sql("SELECT id, wallet_id, amount, created_at FROM ledger_entry "
                               "WHERE kind = 'purchase' ORDER BY id").fetchall()
    paid = sorted(rng.sample(range(len(purchases)), min(len(purchases), round(count * PAID_SHARE))))
    rows, links = [], []
    for payment_id, index in enumerate(paid, start=1):
        ledger_id, wallet_id, tokens, at = purchases[index]
        at = datetime.datetime.fromisoformat(at) if isinstance(at, str) else at
        rows.append(payment_row(payment_id, wallet_id, tokens, "paid", at - 10 * MINUTE, at))   # wallet id = lead id
        links.append((ledger_id, payment_id))
    first_at, customers = rows[0][PAYMENT_COLUMNS.index("created_at")], max(r[1] for r in rows)
    others = count - len(rows)
    for n in range(others):
        payment_id = len(paid) + n + 1
        if n >= others - PENDING:
            status, created = rng.choice(("new", "waiting", "waiting", "paying")), now - rng.random() * HOUR
        else:
            status = rng.choices(("expired", "underpaid", "failed"), weights=(14, 1, 1))[0]
            created = first_at + (now - 2 * HOUR - first_at) * (n / others)
        rows.append(payment_row(payment_id, 1 + rng.randrange(customers), rng.choice((100, 250, 500, 1000)),
                                status, created))
    with db.atomic():
        for start in range(0, len(rows), CHUNK):
            bulk_insert("payment", PAYMENT_COLUMNS, rows[start:start + CHUNK])
        db.execute_sql("CREATE TEMPORARY TABLE bench_link (ledger_id INTEGER PRIMARY KEY, payment_id INTEGER)")
        bulk_insert("bench_link", ("ledger_id", "payment_id"), links)
        db.execute_sql("UPDATE ledger_entry SET kind = 'bonus' WHERE kind = 'purchase' "
                       "AND id NOT IN (SELECT ledger_id FROM bench_link)")
        db.execute_sql("UPDATE ledger_entry SET payment_id = (SELECT payment_id FROM bench_link "
                       "WHERE ledger_id = ledger_entry.id) WHERE id IN (SELECT ledger_id FROM bench_link)")
        db.execute_sql("DROP TABLE bench_link")
        db.execute_sql("UPDATE wallet SET created_at = COALESCE((SELECT MIN(created_at) FROM ledger_entry "
                       "WHERE wallet_id = wallet.id), created_at)")
        db.execute_sql("UPDATE lead SET created_at = (SELECT created_at FROM wallet WHERE lead_id = lead.id) "
                       "WHERE id IN (SELECT lead_id FROM wallet)")
    if models.is_postgres():
        db.execute_sql("SELECT setval(pg_get_serial_sequence('payment', 'id'), (SELECT MAX(id) FROM payment))")
        db.execute_sql("VACUUM ANALYZE")


def build_dataset(payments, orders, ledger):
    build_shop_dataset(orders, ledger)
    add_payments(payments)


def sqlite_backend(payments, orders, ledger):
    yield cached_dataset(f"payments_v{DATA_VERSION}_{SHOP_DATA_VERSION}", (payments, orders, ledger),
                         lambda: build_dataset(payments, orders, ledger))


# Measuring ------------------------------------------------------------------------

def make_client(url):
    """The panel with the shop on in ZONE, logged in (as shop_speed.make_client)."""
    settings = load_settings({"DATABASE_URL": url, "ADMIN_USERNAME": "bench", "ADMIN_PASSWORD": "bench",
                              "SECRET_KEY": secrets.token_urlsafe(30), "TELEGRAM_BOT_TOKEN": "1:x",
                              "SHOP": "on", "TZ": ZONE})
    app = create_app(settings)
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    if client.post("/login", data={"username": "bench", "password": "bench"}).status_code != 302:
        raise RuntimeError("login refused")
    return client


def figure(backend, name, median, p95, target=TARGET_DASHBOARD_MS, detail=""):
    return timing("payments", backend, name, median, p95, target, detail, width=46)


def describe(backend):
    period = analytics.Period.last_days(ZONE)
    money, orders = revenue.revenue(ZONE, period), analytics.summary(ZONE, period=period)
    ledger, = db.execute_sql("SELECT COUNT(*) FROM ledger_entry").fetchone()
    by_status = reconciliation.by_status()
    say(f"{backend}: {Payment.select().count():,} payments ("
        + ", ".join(f"{status} {n:,}" for status, (n, _) in by_status.items() if n)
        + f"), {ledger:,} ledger rows; last 30 days: {money.usd} in {money.payments:,} top-ups, "
        f"{orders.orders:,} orders, {orders.subscribers:,} subscribers; "
        f"reconciliation problems: {reconciliation.problems()}")


def whole_analytics(period):
    """What the dashboard's shop part computes, without the page around it."""
    return (analytics.summary(ZONE, period=period), analytics.growth(ZONE, period),
            revenue.revenue(ZONE, period), reconciliation.problems())


def bench_services(backend, explain_always):
    today = local_date(models.utcnow(), ZONE)
    for label, days in (("30 days", 30), ("90 days", 90), ("366 days", 366)):
        period = analytics.Period.ending(today, days)
        calls = [("analytics.summary()", lambda p=period: analytics.summary(ZONE, period=p)),
                 ("analytics.growth()", lambda p=period: analytics.growth(ZONE, p)),
                 ("revenue.revenue()", lambda p=period: revenue.revenue(ZONE, p)),
                 ("reconciliation.problems()", reconciliation.problems)]
        for name, call in calls:
            if name == "reconciliation.problems()" and days != 30:
                continue   # the same statements whatever the period
            median, p95 = timed(call)
            queries = captured(call)
            say(f"{backend}: {label}: {name:<22} median {median:7.2f} ms, p95 {p95:7.2f} ms, "
                f"{len(queries)} queries")
            for sql, params in queries:
                sql_median, _ = timed(lambda sql=sql, params=params: run_sql([(sql, params)]), times=5)
                say(f"{backend}:     {sql_median:7.2f} ms  {sql[:140]}{'…' if len(sql) > 140 else ''}")
        median, p95 = timed(lambda p=period: whole_analytics(p))
        queries = captured(lambda p=period: whole_analytics(p))
        ok = figure(backend, f"shop analytics, {label}", median, p95, detail=f"{len(queries)} queries")
        if not ok or explain_always:
            show_plans(backend, f"the shop analytics, {label}", queries, top=4)
    median, p95 = timed(reconciliation.summary, times=10)
    figure(backend, "reconciliation.summary() (reference)", median, p95, target=None)


def bench_panel(backend, url, explain_always):
    client = make_client(url)
    heartbeat.beat("scheduler")  # as a running scheduler keeps it
    for label, query in PERIODS:
        path = "/" + query
        median, p95 = timed(lambda path=path: get(client, path))
        queries = queries_of(client, path)
        sql_median, _ = timed(lambda queries=queries: run_sql(queries))
        ok = figure(backend, f"panel dashboard {label} (WSGI)", median, p95,
                    detail=f"SQL median {sql_median:.1f} ms, {len(queries)} queries")
        if not ok or explain_always:
            show_plans(backend, path, queries)


def bench_payments(payments=PAYMENTS, orders=ORDERS, ledger=LEDGER, postgres=True, explain_always=False):
    say(f"\n== payments: {payments:,} payments, {orders:,} orders, {ledger:,} ledger rows; dashboard in "
        f"{ZONE} ==")
    backends = [("sqlite", sqlite_backend(payments, orders, ledger))]
    if postgres:
        backends.append(("postgres", postgres_backend()))
    for backend, source in backends:
        try:
            url = next(source)
            if not url.startswith(("sqlite", "postgres")):
                say(f"\n{backend}: {url}")
                note("payments", backend, "skipped (reason above)", "", None)
                continue
            say("")
            models.bind(url)
            if backend == "postgres":
                started = time.monotonic()
                build_dataset(payments, orders, ledger)
                say(f"postgres: dataset built in {time.monotonic() - started:.1f} s")
            describe(backend)
            bench_services(backend, explain_always)
            bench_panel(backend, url, explain_always)
            db.close()
        finally:
            source.close()


def add_arguments(parser, prefix=""):
    parser.add_argument(f"--{prefix}payments", type=int, default=PAYMENTS,
                        help=f"payments: payments (default {PAYMENTS:,})")


def check_arguments(parser, payments, prefix=""):
    if payments < 2 * PENDING:
        parser.error(f"--{prefix}payments must be at least {2 * PENDING}")


def main(argv=None):
    parser = argparse.ArgumentParser(description="The dashboard's shop analytics at size (bench/README.md).")
    add_arguments(parser)
    parser.add_argument("--orders", type=int, default=ORDERS, help=f"orders (default {ORDERS:,})")
    parser.add_argument("--ledger", type=int, default=LEDGER, help=f"ledger rows (default {LEDGER:,})")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--explain", action="store_true", help="print the plans even when on target")
    args = parser.parse_args(argv)
    check_arguments(parser, args.payments)
    if args.orders < 3_000 or args.ledger < 3 * args.orders:
        parser.error("--orders must be at least 3000, --ledger at least 3 per order")
    bench_payments(args.payments, args.orders, args.ledger, not args.no_postgres, args.explain)
    print_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
