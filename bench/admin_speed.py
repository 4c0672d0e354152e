"""Admin panel pages through the WSGI app (Flask test client), beside the raw SQL time of
the same queries, with 100,000 leads and 1,000,000 outbox rows, per backend."""
import datetime
import logging
import random
import secrets
import statistics
import time

from peewee import fn

from common import (
    TARGET_DASHBOARD_MS,
    TARGET_LEAD_LIST_MS,
    cached_dataset,
    insert_team,
    note,
    percentile,
    say,
)
from outbox_speed import postgres_backend

import models  # noqa: E402
from models import Contact, Lead, db  # noqa: E402
from panel import create_app  # noqa: E402
from services.core import search
from services.core.config import load_settings
from services.crm import leads as crm_leads
from services.ops import heartbeat

REQUESTS, WARM_UPS = 30, 3
TEAM_SIZE = 50                      # >= 10: outbox keys are lead x recipient, 10 per lead
FIRST_MEMBER_ID = 800001
PENDING = 300                       # the newest outbox rows are still waiting
DAYS = 90                           # leads and messages are spread over the last 90 days
DATA_VERSION = 3                    # bump when the data below changes: the cache is keyed by it
COUNTRIES = ("US " * 6 + "GB " * 3 + "DE " * 3 + "IN " * 3 + "FR FR BR BR CA CA AU ES IT NL PL UA "
             "MX JP KR TR SE NO DK FI IE PT AT CH BE NG ZA AR IL SG").split()
FIRST_NAMES = ("Anna Hannah Joanna Annette James Olivia Liam Emma Noah Ava Lucas Mia Ethan Sofia "
               "Mateo Chloe Leo Zoe Omar Yuki Ivan Olga Priya Arjun Lars Ingrid Pierre Marie Hans "
               "Greta Diego Lucia Kenji Aiko Tomasz Zofia Kwame Amara Noor Elif").split()
LAST_NAMES = ("Smith Johnson Brown Garcia Miller Davis Wilson Taylor Clark Lewis Walker Young King "
              "Wright Lopez Hill Green Adams Baker Nelson Carter Mitchell Perez Roberts Turner "
              "Phillips Campbell Parker Evans Edwards Collins Stewart Morris Rogers Reed Cook "
              "Bell Murphy Bailey Cooper").split()
DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "example.com", "acme.io", "mail.de")
AREA_CODES = (212, 213, 305, 310, 312, 404, 415, 512, 617, 646, 702, 718, 786, 917, 929, 971)
MAX_LEADS = len(AREA_CODES) * 10_000  # phones are +1 <area> 555 <4 digits>, all distinct
MANY = "ann"                        # in Anna, Hannah, Joanna, Annette: about a tenth of the leads
CARD = ("<b>New lead #' || (i / 10 + 1) || '</b>\nName: Ann Example\nEmail: lead' || (i / 10 + 1) || "
        "'@example.com\nPhone: +12125550100\nCountry: United States (US)\nAdded by Bench User")
OUTBOX_SQL = """{numbers}
INSERT INTO outbox (key, recipient_id, text, parse_mode, status, attempts, parts_sent,
                    next_attempt_at, sent_at, last_error, created_at, broadcast_id)
SELECT 'lead:' || (i / 10 + 1) || ':to:' || ({first} + i % {team}), {first} + i % {team},
       '{card}', 'HTML', s, CASE s WHEN 'pending' THEN 0 WHEN 'sent' THEN 1 ELSE 5 END,
       CASE s WHEN 'sent' THEN 1 ELSE 0 END, t, CASE s WHEN 'sent' THEN t END,
       CASE s WHEN 'failed' THEN 'Forbidden: bot was blocked by the user' END, t, NULL
FROM (SELECT i, {time} AS t, CASE WHEN i >= {rows} - {pending} THEN 'pending'
                                  WHEN i % 37 = 5 THEN 'failed' ELSE 'sent' END AS s FROM n) AS r"""
SQLITE_PARTS = {"numbers": "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {rows} - 1)",
                "time": "datetime('{start}', '+' || (i * {step}) || ' seconds')"}
POSTGRES_PARTS = {"numbers": "WITH n(i) AS (SELECT generate_series(0, {rows} - 1))",
                  "time": "TIMESTAMP '{start}' + make_interval(secs => i * {step})"}


def build_dataset(leads, outbox_rows):
    """TEAM_SIZE members, `leads` leads and `outbox_rows` messages, inserted in bulk."""
    rng, now = random.Random(42), models.utcnow().replace(microsecond=0)
    start, span = now - datetime.timedelta(days=DAYS), DAYS * 86400
    with db.atomic():
        first = insert_team(TEAM_SIZE, FIRST_MEMBER_ID, now)
        fields = [Lead.first_name, Lead.last_name, Lead.search_name, Lead.country, Lead.created_by,
                  Lead.created_at]
        rows, reach = [], []   # each lead's email and phone, its contacts
        for n in range(leads):
            name, surname = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            created = start + datetime.timedelta(seconds=span * n / leads + rng.random())
            rows.append((name, surname, search.name_key(name, surname), rng.choice(COUNTRIES),
                         first + rng.randrange(TEAM_SIZE) if rng.random() < 0.9 else None, created))
            reach.append((f"{name.lower()}.{surname.lower()}{n}@{rng.choice(DOMAINS)}",
                          f"+1{AREA_CODES[n // 10_000]}555{n % 10_000:04d}", created))
            if len(rows) == 1000 or n == leads - 1:
                Lead.insert_many(rows, fields=fields).execute()
                rows = []
        # One writer into an empty table: the leads' ids are consecutive from the first.
        first_lead, last_lead = Lead.select(fn.MIN(Lead.id), fn.MAX(Lead.id)).scalar(
            as_tuple=True)
        if last_lead - first_lead + 1 != leads:
            raise RuntimeError(f"lead ids {first_lead}..{last_lead} are not {leads} in a row")
        for chunk in range(0, leads, 1000):
            Contact.insert_many(
                [(first_lead + n, kind, value, search.fold(value), created)
                 for n, (email, phone, created) in enumerate(reach[chunk:chunk + 1000], chunk)
                 for kind, value in (("email", email), ("phone", phone))],
                fields=[Contact.lead, Contact.kind, Contact.value, Contact.search_value,
                        Contact.created_at]).execute()
        parts = POSTGRES_PARTS if models.is_postgres() else SQLITE_PARTS
        values = {"rows": outbox_rows, "start": start.isoformat(" "), "step": span / outbox_rows}
        sql = OUTBOX_SQL.format(numbers=parts["numbers"].format(**values),
                                time=parts["time"].format(**values),
                                first=first, team=TEAM_SIZE, card=CARD, pending=PENDING, **values)
        db.execute_sql(sql.replace("%", "%%") if models.is_postgres() else sql)  # psycopg2's %s style
    if models.is_postgres():
        db.execute_sql("VACUUM ANALYZE")  # what autovacuum does soon after a load like this


def cached_sqlite(leads, outbox_rows):
    return cached_dataset(f"admin_v{DATA_VERSION}", (leads, outbox_rows),
                          lambda: build_dataset(leads, outbox_rows))


class QueryLog(logging.Handler):
    """Collects the (sql, params) peewee logs at DEBUG while it is installed."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.queries = []

    def emit(self, record):
        self.queries.append(record.msg)


def get(client, path):
    response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"GET {path} answered {response.status_code}, not 200")
    return response


def captured(action):
    """The (sql, params) peewee runs during action()."""
    log, logger = QueryLog(), logging.getLogger("peewee")
    level, propagate = logger.level, logger.propagate
    logger.addHandler(log)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        action()
    finally:
        logger.removeHandler(log)
        logger.setLevel(level)
        logger.propagate = propagate
    return log.queries


def queries_of(client, path):
    return captured(lambda: get(client, path))


def run_sql(queries):
    """The statements again, back to back on the same connection (fetching what they return)."""
    for sql, params in queries:
        cursor = db.cursor()
        cursor.execute(sql, params or ())
        if cursor.description:
            cursor.fetchall()


def timed(action, times=REQUESTS):
    for _ in range(WARM_UPS):
        action()
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        action()
        samples.append(1000 * (time.perf_counter() - started))
    return statistics.median(samples), percentile(samples, 0.95)


def make_client(url):
    settings = load_settings({"DATABASE_URL": url, "ADMIN_USERNAME": "bench", "ADMIN_PASSWORD": "bench",
                              "SECRET_KEY": secrets.token_urlsafe(30), "TELEGRAM_BOT_TOKEN": "1:x"})
    app = create_app(settings)
    app.config["WTF_CSRF_ENABLED"] = False
    client = app.test_client()
    response = client.post("/login", data={"username": "bench", "password": "bench"})
    if response.status_code != 302:
        raise RuntimeError(f"login answered {response.status_code}, not a redirect")
    return client


def search_terms():
    """(few, many): a last name and digits that a handful of emails contain, and MANY."""
    lead = Lead.select().order_by(Lead.id).offset(424).first()
    few = f"{lead.last_name.lower()}{lead.email.split('@')[0][-3:]}"
    return few, MANY


def matches(term):
    return Lead.select().where(crm_leads.matching(term)).count()


def bench_pages(backend, client, profile=None):
    heartbeat.beat("scheduler")  # as a running scheduler keeps it, so the dashboard shows "fresh"
    few, many = search_terms()
    pages = [("lead list, first page", "/leads/", TARGET_LEAD_LIST_MS, ""),
             ("lead search, few rows", f"/leads/?search={few}", TARGET_LEAD_LIST_MS,
              f"'{few}': {matches(few):,} rows"),
             ("lead search, many rows", f"/leads/?search={many}", TARGET_LEAD_LIST_MS,
              f"'{many}': {matches(many):,} rows"),
             ("dashboard", "/", TARGET_DASHBOARD_MS, ""),
             ("outbox list, first page", "/outbox/", None, ""),
             ("/health", "/health", None, "")]
    slowest = (0, None)
    for name, path, target, detail in pages:
        median, p95 = timed(lambda path=path: get(client, path))
        queries = queries_of(client, path)
        sql_median, _ = timed(lambda queries=queries: run_sql(queries))
        count = f"{len(queries)} quer{'y' if len(queries) == 1 else 'ies'}"
        say(f"{backend}: {name:<23} WSGI median {median:6.1f} ms, p95 {p95:6.1f} ms;"
            f" SQL median {sql_median:6.1f} ms ({count}){'  ' + detail if detail else ''}")
        note(f"admin {name} ms, median", backend, f"{median:.1f} ms (SQL {sql_median:.1f}, {len(queries)} q)",
             f"<= {target:g} ms" if target else "", None if target is None else median <= target)
        slowest = max(slowest, (median, path))
    for view in ("leads", "outbox"):  # N+1 check: the same number of queries at any page size
        counts = [len(queries_of(client, f"/{view}/?page_size={size}")) for size in (20, 100)]
        say(f"{backend}: /{view}/ queries with 20 rows: {counts[0]}, with 100 rows: {counts[1]}"
            + ("" if counts[0] == counts[1] else "  <- grows with the page: a query per row"))
    if profile:
        import cProfile
        out = f"{profile}.{backend}"
        cProfile.runctx("get(client, path)", globals(), {"client": client, "path": slowest[1]}, out)
        say(f"{backend}: cProfile of one GET {slowest[1]} (the slowest page) written to {out}")


def sqlite_backend(leads, outbox_rows):
    yield cached_sqlite(leads, outbox_rows)


def bench_admin(leads, outbox_rows, profile=None):
    for backend, source in (("sqlite", sqlite_backend(leads, outbox_rows)),
                            ("postgres", postgres_backend())):
        try:
            url = next(source)
            if not url.startswith(("sqlite", "postgres")):
                say(f"\n{backend}: {url}")
                note("admin pages", backend, "skipped (reason above)", "", None)
                continue
            say(f"\n== admin panel: {leads:,} leads, {outbox_rows:,} outbox rows, {backend} ==")
            if backend == "postgres":
                started = time.monotonic()
                models.bind(url)
                build_dataset(leads, outbox_rows)
                say(f"postgres: dataset built in {time.monotonic() - started:.1f} s")
            bench_pages(backend, make_client(url), profile)
            db.close()
        finally:
            source.close()
