"""Scheduler cost per message and claim time with a large queue, per backend."""
import datetime
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from common import POSTGRES_ADMIN_URL, TARGET_CLAIM_MS, TARGET_MS_PER_MESSAGE, note, percentile, say

import models  # noqa: E402
from models import OutboxMessage, User, db  # noqa: E402
from services.delivery import outbox
from services.delivery.pacing import Pacer  # noqa: E402
from services.delivery.sender import DeliveryPolicy, deliver_batch  # noqa: E402

BATCH_SIZE = 30
SCHEDULER_BATCHES = 100
CLAIMS = 200
TEAM_SIZE = 1000
FIRST_MEMBER_ID = 700001
CARD = ("<b>New lead #{n}</b>\nName: Ann Example{n}\nEmail: lead{n}@example.com\n"
        "Phone: +1415555{p:04d}\nCountry: United States (US)\n"
        "Added by Bench User on 2026-11-21 09:00 UTC")


class NullTransport:
    """Sends nothing, instantly: what is left is the scheduler's own work."""

    def __init__(self):
        self.sent = 0

    def send(self, chat_id, text, parse_mode=None, reply_markup=None):
        self.sent += 1
        return self.sent


def build_queue(rows):
    """TEAM_SIZE members and `rows` pending messages spread over them, all due."""
    now = models.utcnow()
    with db.atomic():
        for start in range(0, TEAM_SIZE, 500):
            User.insert_many([{"telegram_id": FIRST_MEMBER_ID + i, "first_name": f"Member{i}",
                               "role": "sales", "joined_at": now, "created_at": now}
                              for i in range(start, min(start + 500, TEAM_SIZE))]).execute()
    user_ids = [uid for (uid,) in User.select(User.id).order_by(User.id).tuples()]
    due = now - datetime.timedelta(minutes=5)
    with db.atomic():
        for start in range(0, rows, 500):
            OutboxMessage.insert_many([
                {"key": f"lead:{n}:to:{user_ids[n % TEAM_SIZE]}", "recipient": user_ids[n % TEAM_SIZE],
                 "text": CARD.format(n=n, p=n % 10000), "parse_mode": "HTML", "status": "pending",
                 "attempts": 0, "parts_sent": 0, "next_attempt_at": due + datetime.timedelta(microseconds=n),
                 "created_at": due}
                for n in range(start, min(start + 500, rows))]).execute()
    if models.is_postgres():
        db.execute_sql("ANALYZE")  # what autovacuum does soon after a load like this


def reset_queue():
    """Everything back to pending, as after build_queue."""
    (OutboxMessage.update(status="pending", claimed_by=None, claimed_at=None, sent_at=None, attempts=0)
     .where(OutboxMessage.status != "pending").execute())
    User.update(last_message_sent_at=None).execute()


def bench_scheduler(backend, batches=SCHEDULER_BATCHES):
    policy = DeliveryPolicy(per_chat_gap=0, messages_per_second=1e9)
    transport = NullTransport()
    no_sleep = lambda seconds: None  # noqa: E731

    def batch():
        started = time.perf_counter()
        result = deliver_batch(transport, BATCH_SIZE, policy, Pacer(policy, sleep=no_sleep))
        return time.perf_counter() - started, result

    for _ in range(3):  # warm-up, untimed
        batch()
    per_message, per_batch, sent = [], [], 0
    for _ in range(batches):
        elapsed, result = batch()
        if result.claimed:
            per_message.append(1000 * elapsed / result.claimed)
            per_batch.append(1000 * elapsed)
        sent += result.sent
    median, p95 = statistics.median(per_message), percentile(per_message, 0.95)
    say(f"{backend}: {batches} batches of {BATCH_SIZE}, {sent} sent; per message median {median:.3f} ms, "
        f"p95 {p95:.3f} ms; per batch median {statistics.median(per_batch):.1f} ms")
    note("scheduler ms/message, median", backend, f"{median:.3f} ms", f"<= {TARGET_MS_PER_MESSAGE:g} ms",
         median <= TARGET_MS_PER_MESSAGE)
    note("scheduler ms/message, p95", backend, f"{p95:.3f} ms", f"<= {TARGET_MS_PER_MESSAGE:g} ms",
         p95 <= TARGET_MS_PER_MESSAGE)


def bench_claim(backend, claims=CLAIMS):
    def claim():
        started = time.perf_counter()
        rows = outbox.claim_batch(BATCH_SIZE)
        return 1000 * (time.perf_counter() - started), len(rows)

    for _ in range(5):  # warm-up, untimed
        claim()
    times, short = [], 0
    for _ in range(claims):
        elapsed, count = claim()
        times.append(elapsed)
        short += count < BATCH_SIZE
    median, p95 = statistics.median(times), percentile(times, 0.95)
    say(f"{backend}: {claims} claims of {BATCH_SIZE}: median {median:.3f} ms, p95 {p95:.3f} ms"
        + (f" ({short} returned fewer than {BATCH_SIZE})" if short else ""))
    note("claim_batch(30) ms, median", backend, f"{median:.3f} ms", f"<= {TARGET_CLAIM_MS:g} ms",
         median <= TARGET_CLAIM_MS)
    note("claim_batch(30) ms, p95", backend, f"{p95:.3f} ms", f"<= {TARGET_CLAIM_MS:g} ms",
         p95 <= TARGET_CLAIM_MS)


def sqlite_backend():
    workdir = Path(tempfile.mkdtemp(prefix="leadgram_bench_"))
    try:
        yield f"sqlite:///{workdir / 'leadgram.db'}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def each_backend(figure, postgres=True):
    """(backend, url): a temp SQLite file, then (with `postgres`) a throwaway Postgres
    database, each removed once the caller's loop moves on; one that cannot be had is
    noted as skipped under `figure`."""
    sources = [("sqlite", sqlite_backend())] + ([("postgres", postgres_backend())] if postgres else [])
    for backend, source in sources:
        try:
            url = next(source)
            if not url.startswith(("sqlite", "postgres")):
                say(f"\n{backend}: {url}")
                note(figure, backend, "skipped (reason above)", "", None)
                continue
            yield backend, url
        finally:
            if models.db.obj is not None:
                models.db.close()
            source.close()


def postgres_backend(server_url=POSTGRES_ADMIN_URL):
    """A throwaway database on the server, or a string saying why there is none."""
    try:
        import psycopg2
        admin = psycopg2.connect(server_url, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        yield f"skipped ({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})"
        return
    admin.autocommit = True
    name = f"leadgram_bench_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{server_url.rsplit('/', 1)[0]}/{name}"
    finally:
        if models.db.obj is not None:
            models.db.close()
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def bench_outbox(sections, rows):
    for backend, make in (("sqlite", sqlite_backend), ("postgres", postgres_backend)):
        source = make()
        url = next(source)
        try:
            if not url.startswith(("sqlite", "postgres")):
                say(f"\n{backend}: {url}")
                note(" / ".join(sections), backend, "skipped (reason above)", "", None)
                continue
            say(f"\n== {' and '.join(sections)}: {rows:,} pending rows, {TEAM_SIZE} members, {backend} ==")
            models.bind(url)
            started = time.monotonic()
            build_queue(rows)
            say(f"{backend}: queue built in {time.monotonic() - started:.1f} s")
            if "scheduler" in sections:
                bench_scheduler(backend)
            if "claim" in sections:
                if "scheduler" in sections:
                    reset_queue()
                bench_claim(backend)
            models.db.close()
        finally:
            source.close()
