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
  contacts   ms per contacts.find_lead (email, phone, telegram; existing and missing values)
             among 100,000 clients with three contacts each
  pacing     3 real `python scheduler.py` draining 10,000 messages to 500 chats into the
             emulator (30/s limit): 429s, peak sends in a second, smallest gap to one chat,
             duplicates, messages/s (SQLite; --postgres URL for Postgres; ~7 minutes)
  inbox      ms per list of client conversations with unread counts (conversations.page and
             its SQL, reads.unread_conversations, the panel's /conversations/) with 10,000
             conversations and 1,000,000 messages
  shop       ms for the dashboard's shop figures (services.shop.analytics.summary, each
             statement), the panel's dashboard with SHOP on and its orders list /order/,
             with 100,000 orders and 1,000,000 ledger rows
  payments   ms for the dashboard's shop analytics with payments (analytics.summary and
             growth, revenue.revenue, reconciliation.problems, and the panel's `/`) for 30,
             90 and 366 days, with 100,000 payments, 100,000 orders and 1,000,000 ledger rows
  relay      end-to-end latency with the real `python bot.py` and the emulator: 200 clients
             writing to their 10 owners for 60 s, (a) client message -> the member's alert,
             (b) the member's Telegram reply -> the client (~2.5 minutes with Postgres)
  notify     the real `python scheduler.py` (SEND_INTERVAL_SECONDS=30) and the emulator: new
             leads for 60 s, lead added -> each member's alert (target p95 <= 2 s); then 3
             batches queued at once still take 2 intervals (SQLite and Postgres; ~3 minutes)
  kanban     ms per pipeline board page (/board/: both pipelines, filtered, a column's next
             cards) and per card move, through the WSGI app with 10,000 open leads
  channels   ms of the scheduler's own time per email and per SMS (the real transports,
             the provider answering at once; target <= 5 ms), 1,000 of each
  webhooks   inbound Twilio webhooks stored per second: 1,000 signed POSTs to
             /hooks/twilio/sms through the panel's app (target >= 200/s on SQLite)

scheduler, claim, admin, followups, contacts, inbox, shop, payments, relay, kanban, channels and
webhooks
run on SQLite and, when it answers, on Postgres
(BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test; a throwaway
database is created there and dropped afterwards).

  .venv/bin/python bench/run.py [--only wizard|scheduler|claim|admin|followups|contacts|pacing|inbox|shop|
                                        payments|relay|kanban|channels|webhooks]
                                [--users N] [--rows N] [--leads N] [--outbox-rows N] [--activities N]
                                [--clients N] [--skip-save]
                                [--profile-bot FILE] [--profile-admin FILE]
                                [--messages N] [--chats N] [--schedulers N] [--postgres URL]
                                [--inbox-conversations N] [--inbox-messages N]
                                [--shop-orders N] [--shop-ledger N] [--payments N]
                                [--relay-clients N] [--relay-members N] [--relay-seconds S]
                                [--relay-answer-share F]
                                [--notify-members N] [--notify-seconds S]
"""
import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

from admin_speed import MAX_LEADS, bench_admin
from channels_speed import bench_channels
from common import print_table, say
from contacts_speed import MAX_CLIENTS, bench_contacts
from followups_speed import bench_followups
from inbox_speed import add_arguments as add_inbox_arguments, bench_inbox
from kanban_speed import OPEN_LEADS, bench_kanban
from notify_latency import (
    add_arguments as add_notify_arguments,
    bench_notify,
    check_arguments as check_notify_arguments,
)
from outbox_speed import BATCH_SIZE, CLAIMS, SCHEDULER_BATCHES, bench_outbox
from pacing import (
    add_arguments as add_pacing_arguments,
    bench_pacing,
    check_arguments as check_pacing_arguments,
)
from payments_speed import (
    add_arguments as add_payments_arguments,
    bench_payments,
    check_arguments as check_payments_arguments,
)
from relay_latency import (
    add_arguments as add_relay_arguments,
    bench_relay,
    check_arguments as check_relay_arguments,
)
from shop_speed import (
    add_arguments as add_shop_arguments,
    bench_shop,
    check_arguments as check_shop_arguments,
)
from webhooks import bench_webhooks
from wizard import bench_wizard


def main(argv=None):
    parser = argparse.ArgumentParser(description="Leadgram speed measurements (see bench/README.md).")
    parser.add_argument("--only", choices=("wizard", "scheduler", "claim", "admin", "followups",
                                           "contacts", "pacing", "inbox", "shop", "payments", "relay", "kanban",
                                           "notify", "channels", "webhooks"))
    parser.add_argument("--users", type=int, default=300, help="wizard users (default 300)")
    parser.add_argument("--recipients", type=int, default=30,
                        help="members who get lead notifications (default 30)")
    parser.add_argument("--rows", type=int, default=100_000, help="pending outbox rows (default 100,000)")
    parser.add_argument("--leads", type=int, default=100_000, help="admin: leads (default 100,000)")
    parser.add_argument("--outbox-rows", type=int, default=1_000_000,
                        help="admin: outbox rows, all statuses (default 1,000,000)")
    parser.add_argument("--activities", type=int, default=100_000,
                        help="followups: activities for the overdue query (default 100,000)")
    parser.add_argument("--clients", type=int, default=100_000,
                        help="contacts: clients, 3 contacts each (default 100,000)")
    parser.add_argument("--kanban-leads", type=int, default=OPEN_LEADS,
                        help=f"kanban: open leads (default {OPEN_LEADS:,})")
    parser.add_argument("--profile-admin", metavar="FILE",
                        help="admin: cProfile one request of the slowest page into FILE.<db>")
    parser.add_argument("--profile-bot", metavar="FILE",
                        help="run bot.py under cProfile and write its stats to FILE")
    parser.add_argument("--skip-save", action="store_true",
                        help="wizard: time the six text updates only, no Save presses")
    add_pacing_arguments(parser)
    add_inbox_arguments(parser, prefix="inbox-")
    add_shop_arguments(parser, prefix="shop-")
    add_payments_arguments(parser)
    add_relay_arguments(parser, prefix="relay-")
    add_notify_arguments(parser, prefix="notify-")
    args = parser.parse_args(argv)
    check_pacing_arguments(parser, args)
    check_shop_arguments(parser, args.shop_orders, args.shop_ledger, prefix="shop-")
    check_payments_arguments(parser, args.payments)
    check_relay_arguments(parser, args.relay_clients, args.relay_members, args.relay_seconds,
                          args.relay_answer_share)
    check_notify_arguments(parser, args.notify_members, args.notify_seconds)
    if args.inbox_conversations < 1000 or args.inbox_messages < 10 * args.inbox_conversations:
        parser.error("--inbox-conversations must be at least 1000, --inbox-messages at least 10 "
                     "per conversation")
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
    if not 1000 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be 1000..{MAX_CLIENTS} (phones are +1, an area code, 555 "
                     "and four digits)")
    if args.kanban_leads < 1000:
        parser.error("--kanban-leads must be at least 1000")

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
    if args.only in (None, "contacts"):
        bench_contacts(args.clients)
    if args.only in (None, "pacing"):
        bench_pacing(args.messages, args.chats, args.schedulers, args.postgres)
    if args.only in (None, "inbox"):
        bench_inbox(args.inbox_conversations, args.inbox_messages)
    if args.only in (None, "shop"):
        bench_shop(args.shop_orders, args.shop_ledger)
    if args.only in (None, "payments"):
        bench_payments(args.payments, args.shop_orders, args.shop_ledger)
    if args.only in (None, "relay"):
        bench_relay(args.relay_clients, args.relay_members, args.relay_seconds,
                    answer_share=args.relay_answer_share)
    if args.only in (None, "notify"):
        bench_notify(args.notify_members, args.notify_seconds)
    if args.only in (None, "kanban"):
        bench_kanban(args.kanban_leads)
    if args.only in (None, "channels"):
        bench_channels()
    if args.only in (None, "webhooks"):
        bench_webhooks()
    print_table()
    say(f"\ntotal {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
