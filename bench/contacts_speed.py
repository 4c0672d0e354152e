"""Finding a client by a contact (services/crm/contacts.find_lead) among 100,000 clients
with an email, a phone and a Telegram id each, per backend."""
import random
import statistics
import time

from peewee import fn

from common import note, percentile, say
from outbox_speed import each_backend

import models  # noqa: E402
from models import Contact, Lead, db  # noqa: E402
from services.crm import contacts  # noqa: E402

TARGET_FIND_MS = 5.0      # median and p95 of one find_lead
LOOKUPS, WARM_UPS = 500, 20
AREA_CODES = (212, 213, 305, 310, 312, 404, 415, 512, 617, 646, 702, 718, 786, 917, 929, 971,
              201, 202, 206, 303)
MAX_CLIENTS = len(AREA_CODES) * 10_000 - 10_000   # the last area code's numbers stay free
FIRST_TELEGRAM_ID = 5_000_000_000
FIRST_NAMES = "Anna James Olivia Liam Emma Noah Mia Lucas Sofia Leo Zoe Omar Ivan Priya Lars".split()
LAST_NAMES = "Smith Garcia Miller Wilson Taylor Clark Walker King Lopez Green Baker Perez".split()


def email(n):
    return f"client{n}@example.com"


def phone(n):
    return f"+1{AREA_CODES[n // 10_000]}555{n % 10_000:04d}"


def telegram(n):
    return str(FIRST_TELEGRAM_ID + 7 * n)


def build_clients(clients):
    """`clients` leads with three contacts each, in bulk, in one transaction."""
    rng, now = random.Random(42), models.utcnow()
    with db.atomic():
        for start in range(0, clients, 1000):
            Lead.insert_many([(rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), now, now)
                              for _ in range(start, min(start + 1000, clients))],
                             fields=[Lead.first_name, Lead.last_name, Lead.created_at,
                                     Lead.last_activity_at]).execute()
        # One writer into an empty table: the ids are consecutive from the first.
        first, last = Lead.select(fn.MIN(Lead.id), fn.MAX(Lead.id)).scalar(as_tuple=True)
        if last - first + 1 != clients:
            raise RuntimeError(f"lead ids {first}..{last} are not {clients} in a row")
        for start in range(0, clients, 1000):
            Contact.insert_many(
                [(first + n, kind, value(n), now) for n in range(start, min(start + 1000, clients))
                 for kind, value in (("email", email), ("phone", phone), ("telegram", telegram))],
                fields=[Contact.lead, Contact.kind, Contact.value, Contact.created_at]).execute()
    db.execute_sql("ANALYZE")  # Postgres: as autovacuum would soon; SQLite: planner statistics


def typed(kind, n):
    """Contact n as a person might type it: not the stored spelling."""
    if kind == "email":
        return f"  Client{n}@Example.COM"
    if kind == "phone":
        number = phone(n)
        return f"{number[:2]} ({number[2:5]}) {number[5:8]}-{number[8:]}"
    return f" {telegram(n)} "


def missing(kind, n, clients):
    """A well-formed contact nobody has (a phone of the unused area code)."""
    if kind == "email":
        return f"Nobody{n}@Example.com"
    if kind == "phone":
        return f"+1 {AREA_CODES[-1]} 555 {n % 10_000:04d}"
    return str(FIRST_TELEGRAM_ID + 7 * clients + 3 + n)


def timed_lookups(texts, kind, expect_found):
    for text in texts[:WARM_UPS]:
        contacts.find_lead(kind, text)
    samples, wrong = [], 0
    for text in texts[WARM_UPS:]:
        started = time.perf_counter()
        lead = contacts.find_lead(kind, text)
        samples.append(1000 * (time.perf_counter() - started))
        wrong += (lead is not None) != expect_found
    if wrong:
        raise RuntimeError(f"{kind}: {wrong} lookups came back {'empty' if expect_found else 'found'}")
    return statistics.median(samples), percentile(samples, 0.95)


def plan(kind, value):
    """How the database finds a contact: it must be the (kind, value) unique index."""
    query = Lead.select().join(Contact).where(Contact.kind == kind, Contact.value == value)
    sql, params = query.sql()
    prefix = "EXPLAIN " if models.is_postgres() else "EXPLAIN QUERY PLAN "
    rows = db.execute_sql(prefix + sql, params).fetchall()
    return "; ".join(str(row[-1]).strip() for row in rows)


def bench_lookups(backend, clients, lookups):
    rng = random.Random(7)
    say(f"{backend}: plan: {plan('email', email(clients // 2))}")
    for kind in ("email", "phone", "telegram"):
        for label, found in (("existing", True), ("missing", False)):
            picks = [rng.randrange(clients) for _ in range(WARM_UPS + lookups)]
            texts = [typed(kind, n) if found else missing(kind, n, clients) for n in picks]
            median, p95 = timed_lookups(texts, kind, found)
            say(f"{backend}: find_lead({kind!r}, {label}): {lookups} lookups, median {median:.3f} ms, "
                f"p95 {p95:.3f} ms")
            note(f"find_lead {kind}, {label} ms, median / p95", backend,
                 f"{median:.3f} / {p95:.3f} ms", f"<= {TARGET_FIND_MS:g} ms",
                 median <= TARGET_FIND_MS and p95 <= TARGET_FIND_MS)


def bench_contacts(clients, lookups=LOOKUPS):
    for backend, url in each_backend("find_lead"):
        say(f"\n== contacts: {clients:,} clients, 3 contacts each, {backend} ==")
        models.bind(url)
        started = time.monotonic()
        build_clients(clients)
        say(f"{backend}: {Contact.select().count():,} contacts loaded in "
            f"{time.monotonic() - started:.1f} s")
        bench_lookups(backend, clients, lookups)
