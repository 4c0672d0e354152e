"""Shared pacing: several real `python scheduler.py` processes draining one outbox into the
Bot API emulator, measured by what the emulator (Telegram's side) saw.

  .venv/bin/python bench/pacing.py [--messages N] [--chats N] [--schedulers N] [--postgres URL]

or through `bench/run.py --only pacing`. See bench/README.md.
"""
import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, note, print_table, say
from outbox_speed import postgres_backend, sqlite_backend

import models  # noqa: E402
from devtools.pace import per_chat_gaps, sliding_peak  # noqa: E402
from models import User, db  # noqa: E402
from services.delivery import outbox

TOKEN = "123456:BENCH-TOKEN"
BOT_USERNAME = "leadgram_bench_bot"
FIRST_CHAT = 800001
MESSAGES, CHATS, SCHEDULERS = 10_000, 500, 3
SEND_INTERVAL_SECONDS, SEND_BATCH_SIZE = "0.5", "30"
TELEGRAM_RATE = 30          # sends in any sliding second, the emulator's limit (Telegram's)
PER_CHAT_GAP = 1.0          # seconds between two messages to one chat
STALL_SECONDS = 120         # no delivery for this long: give up and report what happened
TEXT = "Pacing bench {n}/{total} for chat {chat}: <b>New lead</b> Ann Example, ann{n}@example.com"


class Progress:
    """Counts the emulator's sendMessage answers as they happen."""

    def __init__(self):
        self.lock = threading.Lock()
        self.delivered = 0
        self.too_many = 0
        self.last_delivery = time.monotonic()

    def __call__(self, call):
        if call.method != "sendMessage":
            return
        with self.lock:
            if call.status == 200:
                self.delivered += 1
                self.last_delivery = call.at
            elif call.status == 429:
                self.too_many += 1


def send_order(messages, chats, group=int(SEND_BATCH_SIZE)):
    """Chat indexes in queue order: chats in groups of one batch, each group's messages round
    robin (so the batches that several schedulers claim at once reach the same chats, about
    once a second: what the shared per-chat gap is about), one group after the other."""
    per_chat = -(-messages // chats)
    order = []
    for first in range(0, chats, group):
        members = range(first, min(first + group, chats))
        order += [chat for _ in range(per_chat) for chat in members]
    return order[:messages]


def fill_outbox(messages, chats):
    """`chats` team members and `messages` pending messages to them, in send_order()."""
    now = models.utcnow()
    with db.atomic():
        for start in range(0, chats, 500):
            User.insert_many([{"telegram_id": FIRST_CHAT + i, "first_name": f"Member{i}", "role": "sales",
                               "joined_at": now, "created_at": now}
                              for i in range(start, min(start + 500, chats))]).execute()
    members = list(User.select().where(User.telegram_id >= FIRST_CHAT).order_by(User.telegram_id))
    with db.atomic():
        for n, chat in enumerate(send_order(messages, chats)):
            member = members[chat]
            outbox.enqueue(f"pacing-bench:{n}", member,
                           TEXT.format(n=n + 1, total=messages, chat=member.telegram_id))
    return [m.telegram_id for m in members]


def analyse(calls, messages):
    attempts = [c for c in calls if c.method == "sendMessage"]
    delivered = [c for c in attempts if c.status == 200]
    texts = collections.Counter((c.params["chat_id"], c.params["text"]) for c in delivered)
    gaps = per_chat_gaps(delivered)
    seconds = (delivered[-1].at - attempts[0].at) if delivered else 0.0
    return {
        "attempts": len(attempts),
        "delivered": len(texts),
        "missing": messages - len(texts),
        "duplicates": len(delivered) - len(texts),
        "too_many": sum(c.status == 429 for c in attempts),
        "other_errors": sum(c.status not in (200, 429) for c in attempts),
        "peak": sliding_peak([c.at for c in attempts]),
        "smallest_gap": min(gaps.values()) if gaps else None,
        "chats_under_gap": sum(gap < PER_CHAT_GAP for gap in gaps.values()),
        "seconds": seconds,
        "rate": len(texts) / seconds if seconds else 0.0,
    }


def run_schedulers(emu, progress, url, messages, schedulers, workdir):
    env = dict(os.environ, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=emu.base_url, DATABASE_URL=url,
               SEND_INTERVAL_SECONDS=SEND_INTERVAL_SECONDS, SEND_BATCH_SIZE=SEND_BATCH_SIZE,
               ADMIN_TELEGRAM_IDS="", OPEN_TEAM="false", PYTHONUNBUFFERED="1")
    logs, processes = [], []
    try:
        for number in range(schedulers):
            log = open(workdir / f"scheduler.{number}.log", "w")
            logs.append(log)
            processes.append(subprocess.Popen([sys.executable, "scheduler.py"], cwd=ROOT, env=env,
                                              stdout=log, stderr=subprocess.STDOUT))
        started = time.monotonic()
        next_report = started + 30
        while True:
            with progress.lock:
                delivered, too_many, quiet = progress.delivered, progress.too_many, \
                    time.monotonic() - progress.last_delivery
            if delivered >= messages:
                break
            dead = [p.args[1] for p in processes if p.poll() is not None]
            if dead or (delivered and quiet > STALL_SECONDS) or \
                    time.monotonic() - started > STALL_SECONDS + messages / 5:
                say(f"stopped waiting: {delivered}/{messages} delivered"
                    + (f", a scheduler exited (logs in {workdir})" if dead else ", no progress"))
                break
            if time.monotonic() >= next_report:
                say(f"  {time.monotonic() - started:4.0f} s: {delivered:,}/{messages:,} delivered, "
                    f"{too_many:,} answered 429")
                next_report += 30
            time.sleep(0.2)
        time.sleep(2)  # a late duplicate would show up now
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


def bench_pacing(messages=MESSAGES, chats=CHATS, schedulers=SCHEDULERS, postgres_url=None):
    from devtools.telegram_emulator import TelegramEmulator

    backend = "postgres" if postgres_url else "sqlite"
    say(f"\n== pacing: {messages:,} messages to {chats} chats, {schedulers} `python scheduler.py`, "
        f"{backend}, emulator limit {TELEGRAM_RATE}/s ==")
    source = postgres_backend(postgres_url) if postgres_url else sqlite_backend()
    url = next(source)
    if not url.startswith(("sqlite", "postgresql")):
        raise SystemExit(f"pacing bench: Postgres {url}")
    workdir = Path(tempfile.mkdtemp(prefix="leadgram_bench_pacing_"))
    try:
        models.bind(url)
        started = time.monotonic()
        chat_ids = fill_outbox(messages, chats)
        db.close()
        say(f"{backend}: {messages:,} messages queued in {time.monotonic() - started:.1f} s")
        progress = Progress()
        emu = TelegramEmulator(token=TOKEN, bot_username=BOT_USERNAME, global_rate=TELEGRAM_RATE,
                               on_call=progress)
        emu.start()
        try:
            for chat_id in chat_ids:
                emu.add_user(chat_id)
            run_schedulers(emu, progress, url, messages, schedulers, workdir)
            calls = emu.calls
        finally:
            emu.stop()
        report(analyse(calls, messages), backend, messages, schedulers)
    finally:
        if models.db.obj is not None:
            models.db.close()
        source.close()
        shutil.rmtree(workdir, ignore_errors=True)


def report(r, backend, messages, schedulers):
    gap = "none (no chat got two)" if r["smallest_gap"] is None else f"{r['smallest_gap']:.3f} s"
    say(f"{backend}: {r['delivered']:,}/{messages:,} delivered in {r['seconds']:.1f} s "
        f"({r['rate']:.1f} messages/s), {r['attempts']:,} attempts, {r['too_many']:,} answered 429, "
        f"{r['other_errors']} other errors; peak {r['peak']} attempts in one second; smallest gap to "
        f"one chat {gap}, {r['chats_under_gap']} chats with a gap under {PER_CHAT_GAP:g} s; "
        f"{r['duplicates']} duplicates")
    label = f"pacing, {schedulers} schedulers"
    note(f"{label}: 429s", backend, f"{r['too_many']:,}", "0", r["too_many"] == 0)
    note(f"{label}: peak attempts in 1 s", backend, str(r["peak"]), f"<= {TELEGRAM_RATE}",
         r["peak"] <= TELEGRAM_RATE)
    note(f"{label}: smallest gap to a chat", backend, gap, f">= {PER_CHAT_GAP:g} s",
         r["smallest_gap"] is None or r["smallest_gap"] >= PER_CHAT_GAP)
    note(f"{label}: chats with a gap < 1 s", backend, str(r["chats_under_gap"]), "0",
         r["chats_under_gap"] == 0)
    note(f"{label}: duplicates", backend, str(r["duplicates"]), "0", r["duplicates"] == 0)
    note(f"{label}: delivered", backend, f"{r['delivered']:,}/{messages:,}", "all", r["missing"] == 0)
    note(f"{label}: total time", backend, f"{r['seconds']:.1f} s ({r['rate']:.1f} msg/s)", "", None)


def add_arguments(parser):
    parser.add_argument("--messages", type=int, default=MESSAGES,
                        help=f"pacing: messages to deliver (default {MESSAGES:,}; ~25/s at best)")
    parser.add_argument("--chats", type=int, default=CHATS, help=f"pacing: chats (default {CHATS})")
    parser.add_argument("--schedulers", type=int, default=SCHEDULERS,
                        help=f"pacing: scheduler processes (default {SCHEDULERS})")
    parser.add_argument("--postgres", metavar="URL",
                        help="pacing: use a throwaway database on this Postgres server instead of SQLite, "
                             "e.g. postgresql://postgres@127.0.0.1:5432/test")


def check_arguments(parser, args):
    if args.messages < 1 or args.chats < 1 or args.schedulers < 1:
        parser.error("--messages, --chats and --schedulers must be at least 1")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Shared pacing of several schedulers (bench/README.md).")
    add_arguments(parser)
    args = parser.parse_args(argv)
    check_arguments(parser, args)
    bench_pacing(args.messages, args.chats, args.schedulers, args.postgres)
    print_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
