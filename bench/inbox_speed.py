"""Client conversations at size: 10,000 conversations and 1,000,000 messages, per backend.

Times the list of conversations with unread counts (services.inbox.conversations.page: the
function, and its SQL replayed alone), reads.unread_conversations, and the panel's
`/conversations/` page through the WSGI app when the panel has it.

  .venv/bin/python bench/inbox_speed.py [--conversations N] [--messages N] [--no-postgres]

or through `bench/run.py --only inbox`. See bench/README.md.
"""
import argparse
import bisect
import datetime
import random
import re
import statistics
import sys
import time
from array import array

from peewee import SQL, fn

from admin_speed import captured, get, make_client, queries_of, run_sql, timed
from common import note, print_table, say, timing
from outbox_speed import each_backend

import models  # noqa: E402
from models import Conversation, ConversationRead, Message, User, db  # noqa: E402
from services.core.actors import Actor  # noqa: E402
from services.core.search import name_key  # noqa: E402
from services.inbox import conversations, reads  # noqa: E402

TARGET_LIST_MS = 100.0        # the list of conversations with unread counts
CONVERSATIONS, MESSAGES = 10_000, 1_000_000
TEAM_SIZE = 50                # the first 4 see everything: admin, dispatcher, admin, dispatcher
FIRST_MEMBER_ID = 800001
FIRST_CLIENT_ID = 6_100_000_001
PANEL_LOGIN = "bench"         # admin_speed.make_client logs in as this
DAYS = 180                    # the messages span the last 180 days, one every ~15 s
OWNED = 0.7                   # share of clients a salesperson owns
UNMARKED = 150                # newest conversations the reader never opened (all unread)
BEHIND = 250                  # conversations where the client wrote since the reader looked
CLOSED_AFTER_DAYS = 14        # quiet this long: most are closed
PAGE_SIZE = conversations.PAGE_SIZE
CHUNK = 20_000                # messages per bulk insert
CLIENT_TEXTS = (
    "Hi, is the {n} still available?", "How much is delivery to {city}?",
    "Can I pay by card?", "ok", "thanks!", "When will my order {n} arrive?",
    "I sent the documents yesterday, did you get them?", "Please call me after 6 pm",
    "Do you have it in size {size}?", "Hello? Anyone there?",
    "My tracking number is not working: {n}", "Great, I'll take two then.",
    "Could you send me the invoice again? The first one had the wrong address on it.",
    "What's the difference between the basic and the pro plan?", "yes", "Sorry, one more question",
)
TEAM_TEXTS = (
    "Hi! Yes, it is. Would you like me to reserve one for you?",
    "Delivery to {city} is free above 50 EUR, otherwise 4.90.", "Sure, card or bank transfer.",
    "Your order {n} left our warehouse today; tracking follows by email.",
    "Got them, thank you! Everything is in order.", "Of course, I'll call you at 6.",
    "Yes, size {size} is in stock.", "I've sent the invoice again, please check your inbox.",
    "The pro plan adds priority support and the API. Happy to walk you through it.",
)
CITIES = ("Berlin", "Lisbon", "Warsaw", "Kyiv", "Madrid", "Austin", "Toronto", "Lagos", "Pune")
PHOTO = '[{"kind": "photo", "file_id": "AgACAgIAAxk-bench", "file_unique_id": "AQAD-bench", ' \
        '"width": 1280, "height": 960}]'


# The dataset ----------------------------------------------------------------------

class Plan:
    """The shape of the data, decided before anything is inserted: who owns whom, every
    burst of messages (conversation, direction, length) in time order, and from it each
    conversation's first and last message, its last inbound burst, and the reader's mark."""

    def __init__(self, conversations_count, messages_count, seed=11):
        rng = random.Random(seed)
        self.conversations, self.messages = conversations_count, messages_count
        sales = range(4, TEAM_SIZE)
        self.owner = [rng.choice(sales) if rng.random() < OWNED else None
                      for _ in range(conversations_count)]  # team index, or None
        # How busy each conversation is: a few very busy, most quiet (Pareto).
        cumulative, total = [], 0.0
        for _ in range(conversations_count):
            total += rng.paretovariate(2.0)
            cumulative.append(total)
        self.burst_conv, self.burst_in, self.burst_len = array("i"), bytearray(), bytearray()
        self.first_id = [0] * conversations_count
        self.last_id = [0] * conversations_count
        self.last_in_start = [0] * conversations_count   # first id of the last inbound burst
        self.last_in_id = [0] * conversations_count      # last inbound message id
        self.last_in_burst = [False] * conversations_count  # the last burst is the client's
        inbound_next = [True] * conversations_count      # a client writes first, then turns alternate
        started, emitted = 0, 0
        while emitted < messages_count:
            # Conversations start evenly over the period, each with the client's message.
            due = min(conversations_count, 1 + conversations_count * emitted // messages_count)
            if started < due:
                conv, started = started, started + 1
            else:  # most talk is in the 300 newest conversations, the rest anywhere
                low = started - 300 if started > 300 and rng.random() < 0.6 else 0
                below = cumulative[low - 1] if low else 0.0
                point = below + rng.random() * (cumulative[started - 1] - below)
                conv = min(max(bisect.bisect_left(cumulative, point), low), started - 1)
            inbound = inbound_next[conv]
            inbound_next[conv] = not inbound
            length = rng.choice((1, 1, 1, 2, 2, 3, 4, 6) if inbound else (1, 1, 1, 2))
            length = min(length, messages_count - emitted)
            first, last = emitted + 1, emitted + length     # message ids are 1..N in time order
            self.burst_conv.append(conv)
            self.burst_in.append(inbound)
            self.burst_len.append(length)
            self.first_id[conv] = self.first_id[conv] or first
            self.last_id[conv] = last
            self.last_in_burst[conv] = inbound
            if inbound:
                self.last_in_start[conv], self.last_in_id[conv] = first, last
            emitted = last
        self.start = models.utcnow().replace(microsecond=0) - datetime.timedelta(days=DAYS)
        self.step = DAYS * 86400 / messages_count
        # The reader (the admin, the panel login and each owner alike) has read everything
        # the client wrote, except in the newest conversations whose last word is the
        # client's: UNMARKED never opened, BEHIND opened before the client's last burst.
        waiting = [c for c in range(conversations_count - 1, -1, -1) if self.last_in_burst[c]]
        self.mark = [self.last_in_id[c] for c in range(conversations_count)]
        for c in waiting[:UNMARKED]:
            self.mark[c] = None
        behind = sorted(waiting[UNMARKED:], key=lambda c: -self.last_id[c])[:BEHIND]
        for c in behind:  # the most recently active
            self.mark[c] = self.last_in_start[c] - 1 if self.last_in_start[c] > self.first_id[c] else None
        self.unread = set(waiting[:UNMARKED]) | set(behind)
        recent = self.at(messages_count) - datetime.timedelta(days=CLOSED_AFTER_DAYS)
        self.closed = {c for c in range(conversations_count)
                       if c not in self.unread and self.at(self.last_id[c]) < recent
                       and rng.random() < 0.8}

    def at(self, message_id):
        return self.start + datetime.timedelta(seconds=message_id * self.step)


def bulk_insert(table, columns, rows):
    """Many rows at once: executemany on SQLite, execute_values on Postgres."""
    cursor = db.cursor()
    quoted = f'"{table}"'
    if models.is_postgres():
        from psycopg2.extras import execute_values
        execute_values(cursor, f"INSERT INTO {quoted} ({', '.join(columns)}) VALUES %s", rows,
                       page_size=2000)
    else:
        cursor.executemany(f"INSERT INTO {quoted} ({', '.join(columns)}) VALUES "
                           f"({', '.join('?' * len(columns))})", rows)


def build_dataset(plan):
    rng = random.Random(12)
    now = models.utcnow()
    count = plan.conversations
    for model in (User, models.Lead, models.Contact, Conversation, Message, ConversationRead):
        if model.select().count():
            raise RuntimeError(f"{model._meta.table_name} is not empty: the bench needs a new database")
    team = [(i + 1, FIRST_MEMBER_ID + i, f"member{i}", f"Member{i}", "Bench",
             ("admin", "dispatcher")[i % 2] if i < 4 else "sales", True, False, now, now)
            for i in range(TEAM_SIZE)]
    clients = [(TEAM_SIZE + c + 1, FIRST_CLIENT_ID + c, f"client{c}", f"Client{c}", "Example",
                None, True, False, plan.at(plan.first_id[c]), None) for c in range(count)]
    user_columns = ("id", "telegram_id", "username", "first_name", "last_name", "role", "notify",
                    "unreachable", "created_at", "joined_at")
    labels = {i + 1: f"Member{i} Bench ({row[5]})" for i, row in enumerate(team)}
    with db.atomic():
        bulk_insert("user", user_columns, team + clients)
        leads = []
        for c in range(count):
            created = plan.at(plan.first_id[c])
            owner = plan.owner[c]
            leads.append((c + 1, f"Client{c}", "Example", name_key(f"Client{c}", "Example"), "", "telegram",
                          "contacted" if owner is not None else "new", "normal", 0,
                          None if owner is None else owner + 1,
                          None if owner is None else created + datetime.timedelta(minutes=30),
                          created, plan.at(plan.last_id[c])))
        bulk_insert("lead", ("id", "first_name", "last_name", "search_name", "country", "source", "stage",
                             "priority", "value", "owner_id", "assigned_at", "created_at",
                             "last_activity_at"), leads)
        bulk_insert("contact", ("id", "lead_id", "kind", "value", "search_value", "label", "created_at"),
                    [(c + 1, c + 1, "telegram", str(FIRST_CLIENT_ID + c), str(FIRST_CLIENT_ID + c),
                      f"@client{c}", leads[c][11]) for c in range(count)])
        bulk_insert("conversation", ("id", "lead_id", "status", "last_message_id", "last_message_at",
                                     "last_inbound_id", "created_at", "closed_at"),
                    [(c + 1, c + 1, "closed" if c in plan.closed else "open", plan.last_id[c],
                      plan.at(plan.last_id[c]), plan.last_in_id[c] or None, plan.at(plan.first_id[c]),
                      plan.at(plan.last_id[c]) + datetime.timedelta(days=2) if c in plan.closed else None)
                     for c in range(count)])
    columns = ("id", "conversation_id", "direction", "sender_kind", "sender_id", "sender_label",
               "transport", "text", "attachments", "external_id", "created_at", "read_at")
    admins = (1, 2, 3, 4)
    external = [0] * count
    rows, message_id = [], 0
    read_delay = datetime.timedelta(minutes=4)
    for conv, inbound, length in zip(plan.burst_conv, plan.burst_in, plan.burst_len):
        mark = plan.mark[conv] or 0
        owner = plan.owner[conv]
        for _ in range(length):
            message_id += 1
            at = plan.at(message_id)
            if inbound:
                external[conv] += 1
                photo = rng.random() < 0.03
                text = None if photo else rng.choice(CLIENT_TEXTS).format(
                    n=message_id, city=rng.choice(CITIES), size=rng.choice("SMLX"))
                rows.append((message_id, conv + 1, "in", "client", None, f"Client{conv} Example",
                             "telegram", text, PHOTO if photo else "[]", external[conv], at,
                             at + read_delay if message_id <= mark else None))
            else:
                sender = owner + 1 if owner is not None else rng.choice(admins)
                text = rng.choice(TEAM_TEXTS).format(n=message_id, city=rng.choice(CITIES),
                                                     size=rng.choice("SMLX"))
                rows.append((message_id, conv + 1, "out", "member", sender, labels[sender],
                             "telegram", text, "[]", None, at, None))
        if len(rows) >= CHUNK:
            with db.atomic():
                bulk_insert("message", columns, rows)
            rows = []
    with db.atomic():
        if rows:
            bulk_insert("message", columns, rows)
        marks = []
        readers = [f"member:{admins[0]}", f"panel:{PANEL_LOGIN}"]
        for c in range(count):
            if plan.mark[c] is None:
                continue
            notified = plan.at(plan.last_in_id[c])
            for reader in readers + ([f"member:{plan.owner[c] + 1}"] if plan.owner[c] is not None else []):
                marks.append((len(marks) + 1, c + 1, reader, plan.mark[c],
                              notified if reader.startswith("member") else None))
        bulk_insert("conversation_read", ("id", "conversation_id", "reader", "last_read_id", "notified_at"),
                    marks)
    if models.is_postgres():
        for table in ("user", "lead", "contact", "conversation", "message", "conversation_read"):
            db.execute_sql(f"SELECT setval(pg_get_serial_sequence('\"{table}\"', 'id'), "
                           f"(SELECT MAX(id) FROM \"{table}\"))")
        db.execute_sql("VACUUM ANALYZE")  # what autovacuum does soon after a load like this
    return len(marks)


# Measuring ------------------------------------------------------------------------

def explain(sql, params):
    """The plan, as lines: EXPLAIN QUERY PLAN on SQLite, EXPLAIN ANALYZE on Postgres."""
    cursor = db.cursor()
    if models.is_postgres():
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql, params or ())
        return [row[0] for row in cursor.fetchall()]
    cursor.execute("EXPLAIN QUERY PLAN " + sql, params or ())
    return [f"{'  ' * (row[1] > 0)}{row[3]}" for row in cursor.fetchall()]


def slowest_queries(queries, top=3):
    """[(median ms, sql, params)], slowest first; each statement shape once (its slowest
    instance: the unread count runs once per row)."""
    slowest = {}
    for sql, params in queries:
        samples = []
        for _ in range(5):
            started = time.perf_counter()
            run_sql([(sql, params)])
            samples.append(1000 * (time.perf_counter() - started))
        ms = statistics.median(samples)
        if sql not in slowest or ms > slowest[sql][0]:
            slowest[sql] = (ms, sql, params)
    return sorted(slowest.values(), key=lambda t: -t[0])[:top]


def show_plans(backend, what, queries, top=3):
    say(f"{backend}: plans of the slowest statements of {what}:")
    for ms, sql, params in slowest_queries(queries, top):
        say(f"  {ms:.2f} ms: {sql[:300]}{'…' if len(sql) > 300 else ''}  params {list(params or ())[:6]}")
        for line in explain(sql, params):
            say(f"      {line}")


def figure(backend, name, median, p95, target=TARGET_LIST_MS, detail=""):
    return timing("inbox", backend, name, median, p95, target, detail, width=46)


def bench_list(backend, actor, label, number, per_page=PAGE_SIZE, explain_always=False):
    rows = []

    def call():
        rows[:] = [conversations.page(actor, number, per_page)]
    median, p95 = timed(call)
    listed, shown, pages = rows[0]
    queries = captured(call)
    sql_median, sql_p95 = timed(lambda: run_sql(queries))
    unread = sum(1 for _, _, n in listed if n)
    detail = (f"page {shown + 1} of {pages}, {len(listed)} rows ({unread} with unread), "
              f"{len(queries)} queries")
    missed = not figure(backend, f"list {label}: page()", median, p95, detail=detail)
    missed |= not figure(backend, f"list {label}: its SQL alone", sql_median, sql_p95)
    if missed or explain_always:
        show_plans(backend, f"the list, {label}", queries)
    return pages


def bench_unread(backend, actor, label, explain_always=False):
    reader = reads.reader_of(actor)
    counted = []
    median, p95 = timed(lambda: counted.append(reads.unread_conversations(reader,
                                                                          conversations.visible(actor))))
    queries = captured(lambda: reads.unread_conversations(reader, conversations.visible(actor)))
    ok = figure(backend, f"unread_conversations, {label}", median, p95,
                detail=f"{counted[-1]:,} conversations with unread messages")
    if not ok or explain_always:
        show_plans(backend, f"unread_conversations, {label}", queries, top=1)


def has_route(client, prefix):
    return any(rule.rule.startswith(prefix) for rule in client.application.url_map.iter_rules())


def bench_panel(backend, url, deep_page, count):
    """The panel's list (first page, a deep page, a search, all statuses) through the WSGI
    app, then one conversation's page (no target; it marks the conversation read, so last)."""
    client = make_client(url)
    if not has_route(client, "/conversations/"):
        say(f"{backend}: panel /conversations/: skipped: no /conversations/ route yet")
        note("inbox panel /conversations/", backend, "skipped: no /conversations/ route yet", "", None)
        return
    term = f"client{count // 2 - 8}"   # Client4992 and Client4992x: 11 clients at full size
    pages = [("panel /conversations/, first page", "/conversations/", TARGET_LIST_MS),
             ("panel /conversations/, deep page", f"/conversations/?page={deep_page}", TARGET_LIST_MS),
             ("panel /conversations/, search", f"/conversations/?search={term}&status=all", TARGET_LIST_MS),
             ("panel /conversations/, all statuses", "/conversations/?status=all", TARGET_LIST_MS)]
    busiest = (Message.select(Message.conversation, fn.COUNT(Message.id).alias("n"))
               .group_by(Message.conversation).order_by(SQL("n DESC")).limit(1).tuples().first())
    pages.append((f"panel conversation page ({busiest[1]:,} messages)", f"/conversations/{busiest[0]}",
                  None))
    for name, path, target in pages:
        try:
            median, p95 = timed(lambda path=path: get(client, path))
        except RuntimeError as exc:
            say(f"{backend}: {name}: {exc}")
            note(f"inbox {name}", backend, str(exc), "", None)
            continue
        body = get(client, path).get_data(as_text=True)
        shown_page = re.search(r"Page (\d+) of (\d+)", body)
        queries = queries_of(client, path)
        per_row = sum(1 for sql, _ in queries if sql.startswith('SELECT COUNT(1) FROM (SELECT 1 FROM "message"'))
        sql_median, _ = timed(lambda queries=queries: run_sql(queries))
        detail = (f"{path}: {shown_page.group(0) if shown_page else 'one page'}; SQL median "
                  f"{sql_median:.1f} ms, {len(queries)} queries"
                  + (f" ({per_row} of them one unread count per row)" if per_row else ""))
        ok = figure(backend, name + " (WSGI)", median, p95, target=target, detail=detail)
        if ok is False:
            show_plans(backend, path, queries)


def sales_member_with_typical_book():
    """The salesperson owning the median number of conversations."""
    owned = (User.select(User, fn.COUNT(models.Lead.id).alias("clients"))
             .join(models.Lead, on=(models.Lead.owner == User.id))
             .where(User.role == "sales").group_by(User.id).order_by(SQL("clients")))
    members = list(owned)
    return members[len(members) // 2]


def run_backend(backend, url, plan, explain_always=False):
    started = time.monotonic()
    models.bind(url)
    marks = build_dataset(plan)
    open_count = Conversation.select().where(Conversation.status == "open").count()
    say(f"{backend}: dataset built in {time.monotonic() - started:.1f} s: {plan.conversations:,} "
        f"conversations ({open_count:,} open), {plan.messages:,} messages, {marks:,} read marks; "
        f"{len(plan.unread)} conversations unread for the reader")
    admin = User.get(User.telegram_id == FIRST_MEMBER_ID)
    actor = Actor.member(admin)
    pages = bench_list(backend, actor, "admin, page 1", 0, explain_always=explain_always)
    deep = pages // 2
    bench_list(backend, actor, f"admin, page {deep + 1}", deep, explain_always=explain_always)
    member = sales_member_with_typical_book()
    bench_list(backend, Actor.member(member), f"salesperson ({member.clients} clients), page 1", 0)
    bench_unread(backend, actor, "admin", explain_always)
    bench_unread(backend, Actor.member(member), "salesperson")
    bench_panel(backend, url, deep * PAGE_SIZE // 20, plan.conversations)
    db.close()


def bench_inbox(conversations_count=CONVERSATIONS, messages_count=MESSAGES, postgres=True,
                explain_always=False):
    started = time.monotonic()
    plan = Plan(conversations_count, messages_count)
    say(f"\n== inbox: {conversations_count:,} conversations, {messages_count:,} messages "
        f"(planned in {time.monotonic() - started:.1f} s: {len(plan.burst_conv):,} bursts) ==")
    for backend, url in each_backend("inbox", postgres):
        say("")
        run_backend(backend, url, plan, explain_always)


def add_arguments(parser, prefix=""):
    parser.add_argument(f"--{prefix}conversations", type=int, default=CONVERSATIONS,
                        help=f"inbox: conversations (default {CONVERSATIONS:,})")
    parser.add_argument(f"--{prefix}messages", type=int, default=MESSAGES,
                        help=f"inbox: messages (default {MESSAGES:,})")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Client conversations at size (bench/README.md).")
    add_arguments(parser)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--explain", action="store_true", help="print the plans even when on target")
    args = parser.parse_args(argv)
    if args.conversations < 1000 or args.messages < 10 * args.conversations:
        parser.error("--conversations must be at least 1000, --messages at least 10 per conversation")
    bench_inbox(args.conversations, args.messages, not args.no_postgres, args.explain)
    print_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
