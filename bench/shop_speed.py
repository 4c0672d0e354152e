"""The shop at size: 100,000 orders and 1,000,000 ledger rows, per backend.

Times the dashboard's shop figures (services.shop.analytics.summary: the call, and each
of its statements alone), and through the WSGI app with SHOP on the dashboard `/` and,
when the panel has it, the orders list `/orders/` (first page, the queue, a search, the
middle page).

  .venv/bin/python bench/shop_speed.py [--orders N] [--ledger N] [--no-postgres] [--explain]

or through `bench/run.py --only shop`. See bench/README.md.
"""
import argparse
import datetime
import io
import itertools
import random
import secrets
import sys
import time

from admin_speed import captured, get, queries_of, run_sql, timed
from common import TARGET_DASHBOARD_MS, TARGET_LEAD_LIST_MS, cached_dataset, note, print_table, say, timing
from inbox_speed import show_plans
from outbox_speed import postgres_backend

import models  # noqa: E402
from models import Order, Package, db  # noqa: E402
from panel import create_app  # noqa: E402
from services.core.config import load_settings
from services.core.search import name_key
from services.ops import heartbeat
from services.shop import analytics

TARGET_LIST_MS = TARGET_LEAD_LIST_MS   # the orders list, as the lead list: median and p95
ORDERS, LEDGER = 100_000, 1_000_000
CUSTOMERS = 20_000
OPERATORS = 10                         # users 2..11; user 1 is an admin
DAYS = 180                             # orders over the last 180 days, ~555 a day
QUEUED = 1_500                         # the newest orders still wait (pending, processing, assigned)
CANCELLED, FREE_RERUNS, ADD_ON = 1 / 15, 1 / 50, 0.3   # shares of orders
SUBSCRIBER_EVERY = 5                   # every 5th customer is a Premium subscriber
# Orders per package, by sites: the small ones sell most.
PACKAGE_WEIGHTS = {100: 25, 250: 20, 550: 15, 650: 10, 850: 8, 1000: 10, 1200: 5, 1350: 4, 1500: 3}
CHUNK = 50_000                         # ledger rows per bulk insert
DATA_VERSION = 2                       # bump when the data below changes: the cache is keyed by it
PANEL = "admin panel (bench)"
HOUR = datetime.timedelta(hours=1)

ORDER_COLUMNS = ("id", "lead_id", "profile_id", "package_id", "package_name", "sites", "email_confirmation",
                 "price", "subscriber_price", "status", "priority", "queue_rank", "operator_id", "notes",
                 "rerun_of_id", "created_by_kind", "created_at", "updated_at", "assigned_at",
                 "completed_at", "cancelled_at")
LEDGER_COLUMNS = ("id", "wallet_id", "kind", "amount", "balance_after", "order_id", "reference",
                  "actor_kind", "actor_label", "created_at")


# The dataset ----------------------------------------------------------------------

def bulk_insert(table, columns, rows):
    """Many rows at once: executemany on SQLite, COPY on Postgres (every value here is a
    number, a date or a plain word: nothing COPY's text format would need escaped)."""
    cursor = db.cursor()
    if models.is_postgres():
        text = io.StringIO()
        for row in rows:
            text.write("\t".join(r"\N" if v is None else ("t" if v else "f") if isinstance(v, bool)
                                 else str(v) for v in row) + "\n")
        text.seek(0)
        cursor.copy_expert(f'COPY "{table}" ({", ".join(columns)}) FROM STDIN', text)
    else:
        cursor.executemany(f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES '
                           f'({", ".join("?" * len(columns))})', rows)


def plan_orders(rng, now, orders):
    """The orders as rows, oldest first, ids from 1: customers (a few order a lot, most
    rarely), packages by PACKAGE_WEIGHTS, the newest QUEUED still waiting, the rest mostly
    completed; Premium subscribers pay the subscriber price and queue first."""
    start = now - datetime.timedelta(days=DAYS)
    step = DAYS * 86400 / orders
    packages = {p.sites: p for p in Package.select().where(Package.kind == "package")}
    addon = Package.get(Package.kind == "addon")
    weights = list(itertools.accumulate(rng.paretovariate(1.5) for _ in range(CUSTOMERS)))
    chosen_sites = rng.choices(list(PACKAGE_WEIGHTS), weights=list(PACKAGE_WEIGHTS.values()), k=orders)
    last_completed = {}   # customer -> their latest completed order, for reruns
    rows = []
    for i, (customer, sites) in enumerate(zip(rng.choices(range(CUSTOMERS), cum_weights=weights, k=orders),
                                              chosen_sites)):
        order_id, created = i + 1, start + datetime.timedelta(seconds=i * step)
        package, subscriber = packages[sites], customer % SUBSCRIBER_EVERY == 0
        with_addon = rng.random() < ADD_ON
        price = package.subscriber_price if subscriber else package.price
        price += (addon.subscriber_price if subscriber else addon.price) if with_addon else 0
        rerun_of = last_completed.get(customer) if rng.random() < FREE_RERUNS else None
        newest = orders - 1 - i
        if newest < QUEUED:
            status = "assigned" if newest % 7 == 3 else "processing" if newest % 4 == 1 else "pending"
        else:
            status = "cancelled" if rng.random() < CANCELLED else "completed"
        operator = 2 + rng.randrange(OPERATORS) if status in ("assigned", "completed") else None
        rows.append((order_id, customer + 1, customer + 1, package.id, package.name, sites, with_addon,
                     0 if rerun_of else price, subscriber and not rerun_of, status, subscriber,
                     created.replace(tzinfo=datetime.timezone.utc).timestamp(), operator, "",
                     rerun_of, "panel" if rerun_of else "client", created, created,
                     created + 2 * HOUR if operator else None,
                     created + 6 * HOUR if status == "completed" else None,
                     created + HOUR if status == "cancelled" else None))
        if status == "completed":
            last_completed[customer] = order_id
    return rows


def ledger_rows(rng, orders, total):
    """Exactly `total` ledger rows in time order, balances never below 0: each paid order's
    debit (with a purchase first when the wallet is short) and a cancelled one's refund,
    and between orders purchases, bonuses and adjustments of any customer's wallet."""
    balance = [0] * (CUSTOMERS + 1)   # by wallet id = customer id
    emitted = 0

    def entry(wallet, kind, amount, at, order_id=None, reference="", actor=("panel", PANEL)):
        nonlocal emitted
        emitted += 1
        balance[wallet] += amount
        return (emitted, wallet, kind, amount, balance[wallet], order_id, reference, *actor, at)

    def filler(at):
        wallet, roll = 1 + rng.randrange(CUSTOMERS), rng.random()
        if roll < 0.25:
            return entry(wallet, "purchase", rng.choice((100, 250, 500, 1000)), at,
                         reference=f"payment {secrets.token_hex(6)}", actor=("system", "Leadgram (payment)"))
        if roll < 0.9:
            return entry(wallet, "bonus", rng.choice((5, 10, 25, 50)), at, reference="loyalty bonus")
        amount = -20 if balance[wallet] >= 20 else 20
        return entry(wallet, "adjustment", amount, at, reference="correction")

    previous = orders[0][ORDER_COLUMNS.index("created_at")]
    for i, row in enumerate(orders):
        order = dict(zip(ORDER_COLUMNS, row))
        order_id, wallet, price, created = order["id"], order["lead_id"], order["price"], order["created_at"]
        fillers = round(total * (i + 1) / len(orders)) - emitted - 3   # room for this order's own
        for k in range(max(0, fillers)):
            yield filler(previous + (created - previous) * (k + 1) / (fillers + 1))
        previous = created
        if not price:
            continue
        client = ("client", f"Customer{wallet} Example (client)")
        if balance[wallet] < price:
            yield entry(wallet, "purchase", max(500, -(-(price - balance[wallet]) // 100) * 100), created,
                        reference=f"payment {secrets.token_hex(6)}", actor=("system", "Leadgram (payment)"))
        yield entry(wallet, "order", -price, created, order_id, f"order #{order_id}", client)
        if order["status"] == "cancelled":
            yield entry(wallet, "refund", price, order["cancelled_at"], order_id, f"order #{order_id} cancelled")
    while emitted < total:
        yield filler(previous)


def build_dataset(orders_count, ledger_count):
    rng, now = random.Random(20), models.utcnow().replace(microsecond=0)
    joined = now - datetime.timedelta(days=DAYS + 30)
    with db.atomic():
        bulk_insert("user", ("id", "telegram_id", "username", "first_name", "last_name", "role",
                             "notify", "unreachable", "created_at", "joined_at"),
                    [(n + 1, 900_001 + n, f"member{n}", f"Member{n}", "Bench",
                      "admin" if n == 0 else "operator", True, False, joined, joined)
                     for n in range(OPERATORS + 1)])
        bulk_insert("lead", ("id", "first_name", "last_name", "search_name", "country", "source",
                             "stage", "priority", "value", "created_at", "last_activity_at"),
                    [(c, f"Customer{c}", "Example", name_key(f"Customer{c}", "Example"), "US",
                      "telegram", "new", "normal", 0, joined, joined)
                     for c in range(1, CUSTOMERS + 1)])
        bulk_insert("wallet", ("id", "lead_id", "balance", "premium_until", "created_at", "updated_at"),
                    [(c, c, 0, now + datetime.timedelta(days=30) if (c - 1) % SUBSCRIBER_EVERY == 0 else None,
                      joined, joined) for c in range(1, CUSTOMERS + 1)])
        # Each customer's first profile has the customer's id; every 4th has a second.
        bulk_insert("customer_profile", ("id", "lead_id", "first_name", "last_name", "search_name",
                                         "country", "created_at", "updated_at"),
                    [(c, c, f"Customer{c}", "Example", name_key(f"Customer{c}", "Example"), "US",
                      joined, joined) for c in range(1, CUSTOMERS + 1)]
                    + [(CUSTOMERS + c // 4, c, f"Partner{c}", "Example",
                        name_key(f"Partner{c}", "Example"), "US", joined, joined)
                       for c in range(4, CUSTOMERS + 1, 4)])
        orders = plan_orders(rng, now, orders_count)
        bulk_insert("shop_order", ORDER_COLUMNS, orders)
    rows = ledger_rows(rng, orders, ledger_count)
    while chunk := list(itertools.islice(rows, CHUNK)):
        with db.atomic():
            bulk_insert("ledger_entry", LEDGER_COLUMNS, chunk)
    with db.atomic():   # every wallet holds what its ledger says (services/shop/wallet.problems)
        db.execute_sql("UPDATE wallet SET balance = COALESCE((SELECT balance_after FROM ledger_entry "
                       "WHERE wallet_id = wallet.id ORDER BY id DESC LIMIT 1), 0)")
    if models.is_postgres():
        for table in ("user", "lead", "wallet", "customer_profile", "shop_order", "ledger_entry"):
            db.execute_sql(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                           f"(SELECT MAX(id) FROM \"{table}\"))")
        db.execute_sql("VACUUM ANALYZE")  # what autovacuum does soon after a load like this


def cached_sqlite(orders, ledger):
    return cached_dataset(f"shop_v{DATA_VERSION}", (orders, ledger),
                          lambda: build_dataset(orders, ledger))


def sqlite_backend(orders, ledger):
    yield cached_sqlite(orders, ledger)


# Measuring ------------------------------------------------------------------------

def make_client(url):
    """The panel with the shop on, logged in (as admin_speed.make_client)."""
    settings = load_settings({"DATABASE_URL": url, "ADMIN_USERNAME": "bench", "ADMIN_PASSWORD": "bench",
                              "SECRET_KEY": secrets.token_urlsafe(30), "TELEGRAM_BOT_TOKEN": "1:x",
                              "SHOP": "on"})
    app = create_app(settings)
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    if client.post("/login", data={"username": "bench", "password": "bench"}).status_code != 302:
        raise RuntimeError("login refused")
    return client


def figure(backend, name, median, p95, target, detail=""):
    return timing("shop", backend, name, median, p95, target, detail)


def describe(backend):
    summary = analytics.summary("UTC")
    ledger, held = db.execute_sql("SELECT COUNT(*), SUM(amount) FROM ledger_entry").fetchone()
    say(f"{backend}: {Order.select().count():,} orders ({summary.queued_now:,} queued, "
        f"{summary.orders_today:,} today; last {summary.days} days: "
        f"{sum(summary.by_status.values()):,} orders by {summary.active_customers:,} customers, "
        f"completion {100 * summary.completion_rate:.1f} %, average {summary.average_order_value:.1f} "
        f"tokens), {ledger:,} ledger rows; tokens held {summary.tokens_held:,} "
        f"({'=' if held == summary.tokens_held else '!='} the ledger's sum)")


def bench_analytics(backend, explain_always):
    median, p95 = timed(lambda: analytics.summary("UTC"))
    queries = captured(lambda: analytics.summary("UTC"))
    ok = figure(backend, "analytics.summary()", median, p95, TARGET_DASHBOARD_MS,
                f"{len(queries)} queries")
    for sql, params in queries:
        sql_median, sql_p95 = timed(lambda sql=sql, params=params: run_sql([(sql, params)]))
        say(f"{backend}:   {sql_median:7.2f} ms (p95 {sql_p95:7.2f})  {sql[:150]}{'…' if len(sql) > 150 else ''}")
    if not ok or explain_always:
        show_plans(backend, "analytics.summary()", queries, top=len(queries))


def bench_panel(backend, url, explain_always):
    client = make_client(url)
    heartbeat.beat("scheduler")  # as a running scheduler keeps it
    # The orders list: newest first; the queue (status filter "queued", sorted by the
    # queue's order: the 10th column); a customer's orders by search; a page in the middle.
    pages = [("panel dashboard / (WSGI)", "/", TARGET_DASHBOARD_MS)] + [
        (f"panel /orders/, {what} (WSGI)", "/orders/" + query, TARGET_LIST_MS)
        for what, query in (("first page", ""), ("the queue", "?flt0_0=queued&sort=9"),
                            ("search", "?search=customer4242"),
                            ("middle page", f"?page={Order.select().count() // 40}"))]
    for name, path, target in pages:
        median, p95 = timed(lambda path=path: get(client, path))
        queries = queries_of(client, path)
        sql_median, _ = timed(lambda queries=queries: run_sql(queries))
        ok = figure(backend, name, median, p95, target, f"SQL median {sql_median:.1f} ms, "
                    f"{len(queries)} queries")
        if not ok or explain_always:
            show_plans(backend, path, queries)


def bench_shop(orders=ORDERS, ledger=LEDGER, postgres=True, explain_always=False):
    say(f"\n== shop: {orders:,} orders, {ledger:,} ledger rows, {CUSTOMERS:,} customers ==")
    backends = [("sqlite", sqlite_backend(orders, ledger))]
    if postgres:
        backends.append(("postgres", postgres_backend()))
    for backend, source in backends:
        try:
            url = next(source)
            if not url.startswith(("sqlite", "postgres")):
                say(f"\n{backend}: {url}")
                note("shop", backend, "skipped (reason above)", "", None)
                continue
            say("")
            models.bind(url)
            if backend == "postgres":
                started = time.monotonic()
                build_dataset(orders, ledger)
                say(f"postgres: dataset built in {time.monotonic() - started:.1f} s")
            describe(backend)
            bench_analytics(backend, explain_always)
            bench_panel(backend, url, explain_always)
            db.close()
        finally:
            source.close()


def add_arguments(parser, prefix=""):
    parser.add_argument(f"--{prefix}orders", type=int, default=ORDERS,
                        help=f"shop: orders (default {ORDERS:,})")
    parser.add_argument(f"--{prefix}ledger", type=int, default=LEDGER,
                        help=f"shop: ledger rows (default {LEDGER:,})")


def check_arguments(parser, orders, ledger, prefix=""):
    if orders < 2 * QUEUED or ledger < 3 * orders:
        parser.error(f"--{prefix}orders must be at least {2 * QUEUED}, --{prefix}ledger at least 3 "
                     "per order")


def main(argv=None):
    parser = argparse.ArgumentParser(description="The shop at size (bench/README.md).")
    add_arguments(parser)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--explain", action="store_true", help="print the plans even when on target")
    args = parser.parse_args(argv)
    check_arguments(parser, args.orders, args.ledger)
    bench_shop(args.orders, args.ledger, not args.no_postgres, args.explain)
    print_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
