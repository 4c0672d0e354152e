"""Leadgram speed measurements; `make bench` runs this file.

Prints figures, never asserts: see bench/README.md for what each one means.

  wizard     updates/s one real `python bot.py` handles against the Bot API emulator
             (SQLite), every user running the /createLead wizard, then pressing Save
  scheduler  ms of scheduler work per message (claim, split, mark sent, user update)
             with 100,000 pending outbox rows and a transport that does nothing
  claim      ms per outbox.claim_batch(30) with 100,000 pending rows
  admin      ms per admin panel page (lead list, searches, dashboard, outbox, /health)
             through the WSGI app with 100,000 leads and 1,000,000 outbox rows, beside
             the raw SQL time of the same queries
  followups  ms to match 100 active follow-up rules against one event (in memory), ms per
             automation.run_rules with those rules in the database, and ms per overdue query
             over 100,000 activities
  pacing     3 real `python scheduler.py` draining 10,000 messages to 500 chats into the
             emulator (30/s limit): 429s, peak sends in a second, smallest gap to one chat,
             duplicates, messages/s (SQLite; --postgres URL for Postgres; ~7 minutes)

scheduler, claim, admin and followups run on SQLite and, when it answers, on Postgres
(BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test; a throwaway
database is created there and dropped afterwards).

  .venv/bin/python bench/run.py [--only wizard|scheduler|claim|admin|followups|pacing] [--users N]
                                [--rows N] [--leads N] [--outbox-rows N] [--activities N] [--skip-save]
                                [--profile-bot FILE] [--profile-admin FILE]
                                [--messages N] [--chats N] [--schedulers N] [--postgres URL]
"""
import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

from admin_speed import MAX_LEADS, bench_admin
from common import print_table, say
from followups_speed import bench_followups
from outbox_speed import BATCH_SIZE, CLAIMS, SCHEDULER_BATCHES, bench_outbox
from pacing import (
    add_arguments as add_pacing_arguments,
    bench_pacing,
    check_arguments as check_pacing_arguments,
)
from wizard import bench_wizard


def main(argv=None):
    parser = argparse.ArgumentParser(description="Leadgram speed measurements (see bench/README.md).")
    parser.add_argument("--only", choices=("wizard", "scheduler", "claim", "admin", "followups", "pacing"))
    parser.add_argument("--users", type=int, default=300, help="wizard users (default 300)")
    parser.add_argument("--recipients", type=int, default=30,
                        help="members who get lead notifications (default 30)")
    parser.add_argument("--rows", type=int, default=100_000, help="pending outbox rows (default 100,000)")
    parser.add_argument("--leads", type=int, default=100_000, help="admin: leads (default 100,000)")
    parser.add_argument("--outbox-rows", type=int, default=1_000_000,
                        help="admin: outbox rows, all statuses (default 1,000,000)")
    parser.add_argument("--activities", type=int, default=100_000,
                        help="followups: activities for the overdue query (default 100,000)")
    parser.add_argument("--profile-admin", metavar="FILE",
                        help="admin: cProfile one request of the slowest page into FILE.<db>")
    parser.add_argument("--profile-bot", metavar="FILE",
                        help="run bot.py under cProfile and write its stats to FILE")
    parser.add_argument("--skip-save", action="store_true",
                        help="wizard: time the six text updates only, no Save presses")
    add_pacing_arguments(parser)
    args = parser.parse_args(argv)
    check_pacing_arguments(parser, args)
    if not 1 <= args.users <= 10_000:
        parser.error("--users must be 1..10000 (phone numbers are +1415555 and four digits)")
    if args.rows < BATCH_SIZE * (SCHEDULER_BATCHES + CLAIMS + 10):
        parser.error(f"--rows must be at least {BATCH_SIZE * (SCHEDULER_BATCHES + CLAIMS + 10)}")
    if not 1000 <= args.leads <= MAX_LEADS:
        parser.error(f"--leads must be 1000..{MAX_LEADS} "
                     "(phone numbers are +1, one of 16 area codes, 555 and four digits)")
    if args.outbox_rows < 1000:
        parser.error("--outbox-rows must be at least 1000")
    if args.activities < 1000:
        parser.error("--activities must be at least 1000")

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
    if args.only in (None, "admin"):
        bench_admin(args.leads, args.outbox_rows, args.profile_admin)
    if args.only in (None, "followups"):
        bench_followups(args.activities)
    if args.only in (None, "pacing"):
        bench_pacing(args.messages, args.chats, args.schedulers, args.postgres)
    print_table()
    say(f"\ntotal {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
