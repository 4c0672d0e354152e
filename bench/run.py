"""Leadgram speed measurements; `make bench` runs this file.

Prints figures, never asserts: see bench/README.md for what each one means.

  wizard     updates/s one real `python bot.py` handles against the Bot API emulator
             (SQLite), every user running the /createLead wizard, then pressing Save
  scheduler  ms of scheduler work per message (claim, split, mark sent, user update)
             with 100,000 pending outbox rows and a transport that does nothing
  claim      ms per outbox.claim_batch(30) with 100,000 pending rows

scheduler and claim run on SQLite and, when it answers, on Postgres
(BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test; a throwaway
database is created there and dropped afterwards).

  .venv/bin/python bench/run.py [--only wizard|scheduler|claim] [--users N] [--rows N]
                                [--skip-save] [--profile-bot FILE]
"""
import argparse
import datetime
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import models  # noqa: E402
from models import Lead, OutboxMessage, User, db  # noqa: E402
from services import outbox  # noqa: E402
from services.delivery import DeliveryPolicy, Pacer, deliver_batch  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"
BOT_USERNAME = "leadgram_bench_bot"
ADMIN_ID = 910001
FIRST_MEMBER_ID = 700001
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")

TARGET_UPDATES_PER_S = 300.0
TARGET_MS_PER_MESSAGE = 2.0
TARGET_CLAIM_MS = 5.0

BATCH_SIZE = 30
SCHEDULER_BATCHES = 100
CLAIMS = 200
TEAM_SIZE = 1000
CARD = ("<b>New lead #{n}</b>\nName: Ann Example{n}\nEmail: lead{n}@example.com\n"
        "Phone: +1415555{p:04d}\nCountry: United States (US)\n"
        "Added by Bench User on 2026-11-21 09:00 UTC")

results = []  # (figure, backend, measured text, target text, met: bool | None)


def note(figure, backend, measured, target="", met=None):
    results.append((figure, backend, measured, target, met))


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]  # nearest rank


def say(*parts):
    print(*parts, flush=True)


# --------------------------------------------------------------------------- wizard

class CallCounter:
    """Counts the emulator's recorded calls per method; wakes a waiter at a threshold."""

    def __init__(self):
        self.cond = threading.Condition()
        self.counts = {}
        self.last_at = {}

    def __call__(self, call):
        with self.cond:
            self.counts[call.method] = self.counts.get(call.method, 0) + 1
            self.last_at[call.method] = call.at
            self.cond.notify_all()

    def count(self, method):
        with self.cond:
            return self.counts.get(method, 0)

    def wait(self, method, at_least, timeout):
        """The monotonic time of the call that reached `at_least`, or None on timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.counts.get(method, 0) < at_least:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.cond.wait(min(remaining, 1.0))
            return self.last_at[method]


def cpu_seconds(pid=None):
    """User+system CPU seconds of a process (this one when pid is None)."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busy(pid, since, elapsed):
    """'bot 93% CPU, emulator 60%' over a window that began at `since` = (bot, us)."""
    try:
        bot = (cpu_seconds(pid) - since[0]) / elapsed
    except OSError:
        return ""
    return f"bot process {100 * bot:.0f}% of a core, emulator (this process) " \
           f"{100 * (cpu_seconds() - since[1]) / elapsed:.0f}%"


def wizard_answers(index):
    return ["/createLead", f"lead{index:04d}@example.com", f"+1415555{index:04d}",
            f"Ann{index:04d}", f"Example{index:04d}", "US"]


def bench_wizard(users, profile_path=None, skip_save=False, recipients=30):
    from devtools.telegram_emulator import TelegramEmulator

    say(f"\n== wizard: {users} team members, one `python bot.py`, SQLite ==")
    workdir = Path(tempfile.mkdtemp(prefix="leadgram_bench_"))
    url = f"sqlite:///{workdir / 'leadgram.db'}"
    models.bind(url)
    member_ids = [FIRST_MEMBER_ID + i for i in range(users)]
    now = models.utcnow()
    with db.atomic():
        for start in range(0, users, 500):
            # Everyone runs the wizard; `recipients` of them (the product's largest
            # team is ~30) get lead notifications, so a Save costs what it would there.
            User.insert_many([{"telegram_id": tid, "first_name": f"Member{tid}", "role": "sales",
                               "notify": start + n < recipients,
                               "joined_at": now, "created_at": now}
                              for n, tid in enumerate(member_ids[start:start + 500])]).execute()
    db.close()

    counter = CallCounter()
    emu = TelegramEmulator(token=TOKEN, bot_username=BOT_USERNAME, global_rate=None, on_call=counter)
    emu.start()
    for tid in member_ids:
        emu.add_user(tid, first_name=f"Member{tid}")
    env = dict(os.environ, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=emu.base_url,
               DATABASE_URL=url, ADMIN_TELEGRAM_IDS=str(ADMIN_ID), OPEN_TEAM="false",
               PYTHONUNBUFFERED="1")
    command = [sys.executable, "bot.py"]
    if profile_path:
        command = [sys.executable, "-m", "cProfile", "-o", str(profile_path), "bot.py"]
    log_path = workdir / "bot.log"
    log = open(log_path, "w")
    bot = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _run_wizard(emu, counter, bot, member_ids, url, skip_save)
    finally:
        bot.send_signal(signal.SIGTERM)
        try:
            bot.wait(timeout=20)
        except subprocess.TimeoutExpired:
            bot.kill()
            bot.wait()
        emu.stop()
        log.close()
        errors = [line for line in open(log_path) if " ERROR " in line or "Traceback" in line]
        if errors:
            say(f"bot log has {len(errors)} error lines, first: {errors[0].strip()}")
        if emu.violations:
            say(f"emulator saw {len(emu.violations)} Bot API spec violations, first: {emu.violations[0]}")
        models.db.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _run_wizard(emu, counter, bot, member_ids, url, skip_save=False):
    users = len(member_ids)
    # Start-up: the default menu plus one per team member, before anything is timed.
    started = counter.wait("setMyCommands", 1 + users, timeout=120)
    if started is None:
        raise RuntimeError(f"the bot made only {counter.count('setMyCommands')} of "
                           f"{1 + users} setMyCommands calls at start (exit code {bot.poll()})")
    say(f"bot started; {1 + users} setMyCommands calls made")

    # Warm-up, untimed: the admin's /start and one full wizard, so lazily loaded
    # phone and country data are in memory as in a bot that has been running a while.
    def admin_says(text):
        expected = counter.count("sendMessage") + (2 if text == "/start" else 1)
        emu.user_sends(ADMIN_ID, text, first_name="Admin")
        if counter.wait("sendMessage", expected, timeout=30) is None:
            raise RuntimeError(f"no reply to the admin's {text!r}")
    for text in ["/start"] + wizard_answers(9999)[:-1] + ["GB", "/cancel"]:
        admin_says(text)
    counter.wait("setMyCommands", 2 + users, timeout=10)
    base = counter.count("sendMessage")

    # Phase 1: every member's six wizard messages, queued at once (step by step across users).
    expected = base + 6 * users
    cpu0 = (cpu_seconds(bot.pid), cpu_seconds())
    t0 = time.monotonic()
    for step in range(6):
        for index, tid in enumerate(member_ids):
            emu.user_sends(tid, wizard_answers(index)[step], first_name=f"Member{tid}")
    queued = time.monotonic() - t0
    last = counter.wait("sendMessage", expected, timeout=300)
    if last is None:
        raise RuntimeError(f"only {counter.count('sendMessage') - base} of {6 * users} wizard replies")
    elapsed = last - t0
    summaries = {}
    for tid in member_ids:
        final = emu.sent_messages(tid)[-1]
        if final.get("text", "").startswith("Check the lead") and final.get("reply_markup"):
            summaries[tid] = final["message_id"]
    rate = 6 * users / elapsed
    say(f"{6 * users} text updates in {elapsed:.2f} s (queueing took {queued:.2f} s): "
        f"{rate:.0f} updates/s; {len(summaries)}/{users} summaries shown")
    say(f"  CPU while handling them: {busy(bot.pid, cpu0, elapsed)}")
    note("wizard text updates/s", "sqlite", f"{rate:.0f}/s", f">= {TARGET_UPDATES_PER_S:.0f}/s",
         rate >= TARGET_UPDATES_PER_S)
    note("  mean handling time per update", "sqlite", f"{1000 * elapsed / (6 * users):.2f} ms",
         f"<= {1000 / TARGET_UPDATES_PER_S:.2f} ms")

    # Phase 2: every member presses Save (one callback update each); the bot
    # answers by editing the summary into the confirmation.
    base = counter.count("editMessageText")
    if skip_save:
        return
    cpu0 = (cpu_seconds(bot.pid), cpu_seconds())
    t1 = time.monotonic()
    for tid, message_id in summaries.items():
        emu.user_presses(tid, message_id, "wiz:save")
    last = counter.wait("editMessageText", base + len(summaries), timeout=300)
    if last is None:
        raise RuntimeError(f"only {counter.count('editMessageText') - base} of "
                           f"{len(summaries)} Save replies")
    save_elapsed = last - t1
    say(f"  CPU while saving: {busy(bot.pid, cpu0, save_elapsed)}")
    models.bind(url)
    leads = Lead.select().count()
    queued_rows = OutboxMessage.select().count()
    recipients = User.lead_recipients().count()
    save_rate = len(summaries) / save_elapsed
    say(f"{len(summaries)} Save presses in {save_elapsed:.2f} s: {save_rate:.0f} updates/s; "
        f"{leads} leads saved, {queued_rows} notifications queued ({recipients} per lead)")
    note("Save presses/s (callback)", "sqlite", f"{save_rate:.0f}/s", "")
    note("  notifications queued per Save", "sqlite", f"{recipients}", "")
    note("  leads saved", "sqlite", f"{leads}/{users}", f"{users}/{users}", leads == users)
    note(f"all wizard updates/s (6 texts + Save, {recipients} recipients)", "sqlite",
         f"{7 * users / (elapsed + save_elapsed):.0f}/s", f">= {TARGET_UPDATES_PER_S:.0f}/s",
         7 * users / (elapsed + save_elapsed) >= TARGET_UPDATES_PER_S)



# --------------------------------------------------------------------------- outbox

class NullTransport:
    """Sends nothing, instantly: what is left is the scheduler's own work."""

    def __init__(self):
        self.sent = 0

    def send(self, chat_id, text, parse_mode=None):
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


def postgres_backend():
    """A throwaway database on the server, or a string saying why there is none."""
    try:
        import psycopg2
        admin = psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        yield f"skipped ({type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''})"
        return
    admin.autocommit = True
    name = f"leadgram_bench_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    try:
        yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
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


# --------------------------------------------------------------------------- report

def print_table():
    headers = ("figure", "db", "measured", "target", "")
    rows = [(f, b, m, t, "" if ok is None else ("ok" if ok else "MISSED")) for f, b, m, t, ok in results]
    widths = [max(len(str(r[i])) for r in rows + [headers]) for i in range(5)]
    line = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    say("\n" + line(headers))
    say(line(["-" * w for w in widths]))
    for row in rows:
        say(line(row))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Leadgram speed measurements (see bench/README.md).")
    parser.add_argument("--only", choices=("wizard", "scheduler", "claim"))
    parser.add_argument("--users", type=int, default=300, help="wizard users (default 300)")
    parser.add_argument("--recipients", type=int, default=30,
                        help="members who get lead notifications (default 30)")
    parser.add_argument("--rows", type=int, default=100_000, help="pending outbox rows (default 100,000)")
    parser.add_argument("--profile-bot", metavar="FILE",
                        help="run bot.py under cProfile and write its stats to FILE")
    parser.add_argument("--skip-save", action="store_true",
                        help="wizard: time the six text updates only, no Save presses")
    args = parser.parse_args(argv)
    if not 1 <= args.users <= 10_000:
        parser.error("--users must be 1..10000 (phone numbers are +1415555 and four digits)")
    if args.rows < BATCH_SIZE * (SCHEDULER_BATCHES + CLAIMS + 10):
        parser.error(f"--rows must be at least {BATCH_SIZE * (SCHEDULER_BATCHES + CLAIMS + 10)}")

    import sqlite3
    say(f"Leadgram bench, {datetime.date.today()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}")
    started = time.monotonic()
    if args.only in (None, "wizard"):
        bench_wizard(args.users, args.profile_bot and Path(args.profile_bot).resolve(), args.skip_save,
                     args.recipients)
    sections = [s for s in ("scheduler", "claim") if args.only in (None, s)]
    if sections:
        bench_outbox(sections, args.rows)
    print_table()
    say(f"\ntotal {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
