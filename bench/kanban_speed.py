"""The pipeline board (/board/) at size, through the WSGI app: 10,000 open leads (and 2,500
lost or paid), 50 members, one to three open activities per open lead, per backend.

Times each board page (both pipelines, filtered by owner, by source, a column's next
cards) and a card's move (the JSON answer kanban.js reads), median and p95 beside the
target, with the number of queries each one runs.

  .venv/bin/python bench/kanban_speed.py [--leads N] [--no-postgres]

or through `bench/run.py --only kanban`. See bench/README.md.
"""
import argparse
import datetime
import decimal
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from peewee import fn

from admin_speed import FIRST_NAMES, LAST_NAMES, make_client, queries_of, timed
from common import cached_dataset, insert_team, note, percentile, print_table, say, timing
from outbox_speed import postgres_backend

import models  # noqa: E402
from models import PRIORITIES, SOURCES, Activity, Lead, db  # noqa: E402

TARGET_BOARD_MS = 150.0       # one board page, or one move; median and p95
OPEN_LEADS = 10_000
CLOSED_SHARE = 0.25           # lost leads and paid sales, on top of the open ones
TEAM_SIZE = 50
FIRST_MEMBER_ID = 810001
DAYS = 90                     # leads were made over the last 90 days
DATA_VERSION = 1              # bump when the data below changes: the cache is keyed by it
# Where the open leads are: (stage, sales stage, weight).
OPEN_STAGES = (("new", None, 30), ("contacted", None, 20), ("qualified", None, 15),
               ("transferred", "new", 15), ("transferred", "kyc", 10), ("transferred", "agreement", 10))
CLOSED_STAGES = (("lost", None), ("transferred", "paid"))
ACTIVITY_TYPES = ("call", "email", "meeting", "follow_up")
MOVES = 30
CHUNK = 1000


def build_dataset(open_leads):
    """TEAM_SIZE members, `open_leads` open leads and CLOSED_SHARE as many closed ones, and
    their activities, inserted in bulk."""
    rng, now = random.Random(13), models.utcnow().replace(microsecond=0)
    closed = int(open_leads * CLOSED_SHARE)
    stages = [(s, sales) for s, sales, weight in OPEN_STAGES for _ in range(weight)]
    with db.atomic():
        first = insert_team(TEAM_SIZE, FIRST_MEMBER_ID, now)
        fields = [Lead.first_name, Lead.last_name, Lead.stage, Lead.sales_stage, Lead.source,
                  Lead.priority, Lead.value, Lead.owner, Lead.created_at, Lead.last_activity_at]
        rows = []
        for n in range(open_leads + closed):
            stage, sales_stage = rng.choice(stages) if n < open_leads else rng.choice(CLOSED_STAGES)
            created = now - datetime.timedelta(seconds=rng.random() * DAYS * 86400)
            rows.append((rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES), stage, sales_stage,
                         rng.choice(SOURCES), rng.choice(PRIORITIES),
                         decimal.Decimal(rng.randrange(0, 5_000_000)) / 100,
                         first + rng.randrange(TEAM_SIZE) if rng.random() < 0.9 else None,
                         created, created + (now - created) * rng.random()))
            if len(rows) == CHUNK or n == open_leads + closed - 1:
                Lead.insert_many(rows, fields=fields).execute()
                rows = []
        first_lead = Lead.select(fn.MIN(Lead.id)).scalar()
        activities = []
        for n in range(open_leads):  # the open leads came first: their ids are the first ones
            for _ in range(rng.randint(1, 3)):
                due = now + datetime.timedelta(minutes=rng.randint(-15 * 1440, 20 * 1440))
                activities.append((first_lead + n, rng.choice(ACTIVITY_TYPES), "Follow up",
                                   due, None, due - datetime.timedelta(days=1)))
            done = now - datetime.timedelta(days=rng.randint(1, DAYS))
            activities.append((first_lead + n, "call", "First call", done, done, done))
        for start in range(0, len(activities), CHUNK):
            Activity.insert_many(activities[start:start + CHUNK], fields=[
                Activity.lead, Activity.type, Activity.subject, Activity.due_at,
                Activity.completed_at, Activity.created_at]).execute()
    if models.is_postgres():
        db.execute_sql("VACUUM ANALYZE")  # what autovacuum does soon after a load like this


def sqlite_copy(open_leads):
    """A copy of the cached dataset to move cards in, removed afterwards."""
    cached = cached_dataset(f"kanban_v{DATA_VERSION}", (open_leads,), lambda: build_dataset(open_leads))
    workdir = Path(tempfile.mkdtemp(prefix="leadgram_bench_"))
    try:
        shutil.copyfile(cached.removeprefix("sqlite:///"), workdir / "leadgram.db")
        yield f"sqlite:///{workdir / 'leadgram.db'}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def board_get(client, path):
    response = client.get(path)
    if response.status_code != 200 or b'class="kanban-card"' not in response.data:
        raise RuntimeError(f"GET {path} answered {response.status_code} without cards")
    return response


def bench_pages(backend, client):
    owner = (Lead.select(Lead.owner).where(Lead.owner.is_null(False))
             .group_by(Lead.owner).order_by(fn.COUNT(Lead.id).desc()).scalar())
    new_leads = Lead.select().where(Lead.stage == "new").count()
    pages = [("lead board", "/board/"),
             ("sales board", "/board/?pipeline=sales"),
             ("lead board, one owner", f"/board/?owner={owner}"),
             ("lead board, one source", "/board/?source=referral"),
             ("sales board, owner and source", f"/board/?pipeline=sales&owner={owner}&source=partner"),
             ("column new, cards 51-100", "/board/column?stage=new&offset=50"),
             ("column new, last 50 cards", f"/board/column?stage=new&offset={new_leads - 50}")]
    for name, path in pages:
        median, p95 = timed(lambda path=path: board_get(client, path))
        body = board_get(client, path).data
        cards = body.count(b'class="kanban-card"')
        detail = f"{len(queries_of(client, path))} queries, {cards} cards, {len(body) // 1024} KB"
        timing("kanban", backend, name, median, p95, TARGET_BOARD_MS, detail, width=30)


def bench_moves(backend, client):
    """MOVES cards dragged from new to contacted, one request each, as kanban.js sends them."""
    ids = [lead.id for lead in Lead.select(Lead.id).where(Lead.stage == "new")
           .order_by(Lead.last_activity_at.desc()).limit(MOVES)]
    samples = []
    for lead_id in ids:
        started = time.perf_counter()
        response = client.post("/board/move", data={"lead_id": str(lead_id), "stage": "contacted"},
                               headers={"Accept": "application/json"})
        samples.append(1000 * (time.perf_counter() - started))
        if response.status_code != 200:
            raise RuntimeError(f"moving lead {lead_id} answered {response.status_code}: {response.data[:200]}")
    timing("kanban", backend, "move a card (JSON answer)", statistics.median(samples),
           percentile(samples, 0.95), TARGET_BOARD_MS, f"{MOVES} moves", width=30)


def bench_kanban(open_leads=OPEN_LEADS, postgres=True):
    say(f"\n== pipeline board: {open_leads:,} open leads, {int(open_leads * CLOSED_SHARE):,} closed, "
        f"{TEAM_SIZE} members ==")
    backends = [("sqlite", sqlite_copy(open_leads))] + ([("postgres", postgres_backend())] if postgres else [])
    for backend, source in backends:
        try:
            url = next(source)
            if not url.startswith(("sqlite", "postgres")):
                say(f"{backend}: {url}")
                note("kanban board pages", backend, "skipped (reason above)", "", None)
                continue
            if backend == "postgres":
                started = time.monotonic()
                models.bind(url)
                build_dataset(open_leads)
                say(f"postgres: dataset built in {time.monotonic() - started:.1f} s")
            client = make_client(url)
            bench_pages(backend, client)
            bench_moves(backend, client)
            db.close()
        finally:
            source.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description="The pipeline board at size (bench/README.md).")
    parser.add_argument("--leads", type=int, default=OPEN_LEADS,
                        help=f"open leads (default {OPEN_LEADS:,})")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    if args.leads < 1000:
        parser.error("--leads must be at least 1000")
    bench_kanban(args.leads, not args.no_postgres)
    print_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
