"""End-to-end relay latency: the real `python bot.py` against the Bot API emulator, with
200 clients writing to their owners and the owners answering with Telegram's reply.

Measures (a) a client's message -> the alert in the owner's chat, and (b) the owner's
reply -> the message in the client's chat, as the emulator (Telegram's side) saw them.

  .venv/bin/python bench/relay_latency.py [--clients N] [--members N] [--seconds S] [--no-postgres]

or through `bench/run.py --only relay`. See bench/README.md.
"""
import argparse
import heapq
import itertools
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, note, percentile, print_table, say
from outbox_speed import each_backend

import models  # noqa: E402
from models import Contact, Conversation, Lead, Message, OutboxMessage, User, db  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"
BOT_USERNAME = "leadgram_bench_bot"
ADMIN_ID = 819999
FIRST_MEMBER_ID = 810001
FIRST_CLIENT_ID = 7_000_000_001
CLIENTS, MEMBERS, SECONDS = 200, 10, 60
WRITE_EVERY = (30.0, 60.0)     # seconds between two messages of one client
REPLY_AFTER = (3.0, 10.0)      # a member reads the alert, then answers it
TARGET_P95_S = 1.0
TELEGRAM_RATE, PER_CHAT_RATE = 30, 1   # the emulator's limits: Telegram's
DRAIN_SECONDS = 30             # after the traffic: nothing delivered for this long is a stall
QUIET = 5                      # ... and this long with every reply relayed is the end
QUESTION = "q{n:06d} Hello, is my order ready? Can you send the tracking number"
ANSWER = "r{n:06d} Yes, it left the warehouse this morning; tracking follows by email."
QUESTION_ID = re.compile(r"\bq(\d{6})\b")
ANSWER_ID = re.compile(r"\br(\d{6})\b")


def client_profile(i):
    return {"first_name": f"Client{i}", "last_name": "Bench", "username": f"client{i}"}


def set_up(clients, members):
    """`members` salespeople (as if they had joined) and `clients` clients with a Telegram
    contact and an open conversation, handed out evenly: each member owns clients/members."""
    now = models.utcnow()
    with db.atomic():
        User.insert_many([{"telegram_id": FIRST_MEMBER_ID + m, "first_name": f"Member{m}",
                           "last_name": "Bench", "role": "sales", "joined_at": now, "created_at": now}
                          for m in range(members)]).execute()
        member_ids = [u.id for u in User.select(User.id).where(User.role == "sales").order_by(User.id)]
        User.insert_many([{"telegram_id": FIRST_CLIENT_ID + i, **client_profile(i), "created_at": now}
                          for i in range(clients)]).execute()
        for i in range(clients):
            lead = Lead.create(first_name=f"Client{i}", last_name="Bench", source="telegram",
                               owner=member_ids[i * members // clients], assigned_at=now,
                               created_at=now, last_activity_at=now)
            Contact.create(lead=lead, kind="telegram", value=str(FIRST_CLIENT_ID + i),
                           label=f"@client{i}", created_at=now)
            Conversation.create(lead=lead, status="open", created_at=now)
    db.close()


class Traffic:
    """Clients write on a schedule; each alert a member gets is answered a few seconds
    later with Telegram's reply. Times are the emulator's (time.monotonic())."""

    def __init__(self, emu, clients, members, seconds, answer_share=1.0, seed=7):
        self.emu, self.rng = emu, random.Random(seed)
        self.answer_share = answer_share
        self.clients = [FIRST_CLIENT_ID + i for i in range(clients)]
        self.members = {FIRST_MEMBER_ID + m for m in range(members)}
        self.client_set = set(self.clients)
        self.seconds = seconds
        self.cond = threading.Condition()
        self.due = []                 # heap of (at, seq, action, args)
        self.seq = itertools.count()
        self.questions = itertools.count(1)
        self.answers = itertools.count(1)
        self.asked = {}               # question n -> (monotonic, wall clock)
        self.alerted = {}             # question n -> monotonic time the alert reached the member
        self.answered = {}            # answer n -> monotonic time the member sent it
        self.relayed = {}             # answer n -> monotonic time it reached the client
        self.too_many = 0
        self.other_errors = []
        self.duplicates = 0
        self.last_delivery = self.last_action = time.monotonic()
        self.to_members = {}          # member chat -> [(monotonic, question match or None)] delivered

    # The emulator's thread ----------------------------------------------------------

    def on_call(self, call):
        if call.method not in ("sendMessage", "copyMessage"):
            return
        with self.cond:
            if call.status == 429:
                self.too_many += 1
                return
            if call.status != 200:
                self.other_errors.append(f"{call.status} {(call.response or {}).get('description')}")
                return
            try:
                chat = int(call.params.get("chat_id"))
            except (TypeError, ValueError):
                return
            text = call.params.get("text") or ""
            self.last_delivery = call.at
            if chat in self.members:
                found = QUESTION_ID.search(text)
                self.to_members.setdefault(chat, []).append((call.at, found))
                if found:
                    n = int(found.group(1))
                    if n in self.alerted:
                        self.duplicates += 1
                        return
                    self.alerted[n] = call.at
                    if self.rng.random() < self.answer_share:
                        message_id = call.response["result"]["message_id"]
                        self._schedule(call.at + self.rng.uniform(*REPLY_AFTER), self.answer, chat,
                                       message_id)
            elif chat in self.client_set:
                found = ANSWER_ID.search(text)
                if found:
                    n = int(found.group(1))
                    if n in self.relayed:
                        self.duplicates += 1
                    else:
                        self.relayed[n] = call.at

    # The driver ---------------------------------------------------------------------

    def _schedule(self, at, action, *args):
        heapq.heappush(self.due, (at, next(self.seq), action, args))
        self.cond.notify_all()

    def ask(self, client):
        n = next(self.questions)
        with self.cond:
            self.asked[n] = (time.monotonic(), models.utcnow())
        self.emu.user_sends(client, QUESTION.format(n=n), **client_profile(client - FIRST_CLIENT_ID))
        at = time.monotonic() + self.rng.uniform(*WRITE_EVERY)
        if at < self.end:
            with self.cond:
                self._schedule(at, self.ask, client)

    def answer(self, member, alert_message_id):
        n = next(self.answers)
        with self.cond:
            self.answered[n] = time.monotonic()
        self.emu.user_sends(member, ANSWER.format(n=n), reply_to_message_id=alert_message_id)

    def run(self, bot):
        started = time.monotonic()
        self.end = started + self.seconds
        with self.cond:
            for client in self.clients:  # each client's first message somewhere in their first interval
                self._schedule(started + self.rng.uniform(0, min(WRITE_EVERY[1], self.seconds)),
                               self.ask, client)
        next_report = started + 15
        while True:
            with self.cond:
                now = time.monotonic()
                if self.due and self.due[0][0] <= now:
                    _, _, action, args = heapq.heappop(self.due)
                elif now > self.end and not self.due:
                    # Done when every reply has reached its client and nothing was delivered for
                    # QUIET seconds (no alert on its way, so no reply to come), or on a stall.
                    quiet = now - max(self.last_delivery, self.last_action)
                    if (len(self.relayed) >= len(self.answered) and quiet > QUIET) or quiet > DRAIN_SECONDS:
                        break
                    self.cond.wait(0.2)
                    continue
                else:
                    self.cond.wait(min(0.2, self.due[0][0] - now) if self.due else 0.2)
                    continue
            action(*args)
            self.last_action = time.monotonic()
            if bot.poll() is not None:
                raise RuntimeError(f"bot.py exited with {bot.returncode}")
            if now >= next_report:
                with self.cond:
                    say(f"  {now - started:4.0f} s: {len(self.asked)} client messages, {len(self.alerted)} "
                        f"alerts, {len(self.answered)} replies, {len(self.relayed)} relayed")
                next_report += 15


def summary(values):
    """(p50, p95, max) in seconds, nearest rank."""
    if not values:
        return None
    return percentile(values, 0.50), percentile(values, 0.95), max(values)


def report_latency(backend, name, values, detail=""):
    s = summary(values)
    if s is None:
        say(f"{backend}: {name}: no samples")
        note(f"relay {name}", backend, "no samples", f"p95 <= {TARGET_P95_S * 1000:.0f} ms", None)
        return
    p50, p95, worst = s
    ok = p95 <= TARGET_P95_S
    say(f"{backend}: {name:<44} p50 {1000 * p50:6.0f} ms, p95 {1000 * p95:6.0f} ms, max {1000 * worst:6.0f} ms "
        f"({len(values)} samples)   target p95 <= {TARGET_P95_S:g} s: {'ok' if ok else 'MISSED'}"
        f"{'  ' + detail if detail else ''}")
    note(f"relay {name}, p50 / p95 / max", backend,
         f"{1000 * p50:.0f} / {1000 * p95:.0f} / {1000 * worst:.0f} ms ({len(values)})",
         f"p95 <= {TARGET_P95_S * 1000:.0f} ms", ok)


def member_chats(traffic, gap=1.05, slack=0.35):
    """Why alerts wait: how busy the members' chats were (alerts and the bot's "✓ Sent"
    answers share each chat's one message a second), and how many slow alerts went out
    right after the chat's previous message, i.e. were held by the per-chat gap."""
    chats = [d for d in traffic.to_members.values() if d]
    sends = sum(len(d) for d in chats)
    span = (max(d[-1][0] for d in chats) - min(d[0][0] for d in chats)) if chats else 0.0
    slow = held = 0
    for deliveries in chats:
        for index, (at, question) in enumerate(deliveries):
            asked = traffic.asked.get(int(question.group(1))) if question else None
            if asked is None or at - asked[0] <= 1.0:
                continue
            slow += 1
            held += index > 0 and at - deliveries[index - 1][0] <= gap + slack
    per_chat = sends / len(chats) / span if span else 0.0
    return (f"member chats: {sends} messages to {len(chats)} members over {span:.0f} s, "
            f"{per_chat:.2f}/s per chat (a chat takes one per {gap:g} s = {1 / gap:.2f}/s); {slow} "
            f"alerts took over 1 s, {held} of them sent within {gap + slack:.2f} s of the previous "
            f"message to that member (held by the per-chat gap)")


def stage_times(traffic):
    """From the database, after the run: how long the bot took to store each client
    message (its created_at, the bot's clock) and each reply's outbox row, and when the
    rows were marked sent; to split the latencies into handling and sending."""
    stored = {}
    for text, created in (Message.select(Message.text, Message.created_at)
                          .where(Message.direction == "in").tuples()):
        found = QUESTION_ID.search(text or "")
        if found:
            stored[int(found.group(1))] = created
    handling = []
    for n, created in stored.items():
        if n in traffic.asked:
            handling.append((created - traffic.asked[n][1]).total_seconds())
    alerts = OutboxMessage.select().where(OutboxMessage.key.startswith("inbox:"))
    relays = OutboxMessage.select().where(OutboxMessage.key.startswith("client:"))
    queue_to_sent = [(row.sent_at - row.created_at).total_seconds()
                     for row in list(alerts) + list(relays) if row.sent_at and row.status == "sent"]
    return {
        "stored": len(stored),
        "handling": handling,
        "alerts": alerts.count(),
        "alerts_sent": alerts.where(OutboxMessage.status == "sent").count(),
        "relays": relays.count(),
        "relays_sent": relays.where(OutboxMessage.status == "sent").count(),
        "queue_to_sent": queue_to_sent,
    }


def bench_backend(backend, url, clients, members, seconds, answer_share=1.0):
    from devtools.telegram_emulator import TelegramEmulator

    workdir = Path(tempfile.mkdtemp(prefix="leadgram_bench_relay_"))
    models.bind(url)
    set_up(clients, members)
    emu = None
    try:
        traffic = None
        emu = TelegramEmulator(token=TOKEN, bot_username=BOT_USERNAME, global_rate=TELEGRAM_RATE,
                               per_chat_rate=PER_CHAT_RATE, on_call=lambda call: traffic and traffic.on_call(call))
        emu.start()
        for m in range(members):
            emu.add_user(FIRST_MEMBER_ID + m, first_name=f"Member{m}", last_name="Bench")
        for i in range(clients):
            emu.add_user(FIRST_CLIENT_ID + i, **client_profile(i))
        traffic = Traffic(emu, clients, members, seconds, answer_share)
        env = dict(os.environ, TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_URL=emu.base_url, DATABASE_URL=url,
                   ADMIN_TELEGRAM_IDS=str(ADMIN_ID), OPEN_TEAM="false", CLIENT_INBOX="true",
                   PYTHONUNBUFFERED="1")
        log_path = workdir / "bot.log"
        with open(log_path, "w") as log:
            bot = subprocess.Popen([sys.executable, "bot.py"], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
            try:
                # Start-up: the default menu and one per member, before anything is timed.
                deadline = time.monotonic() + 60
                while len(emu.calls_to("setMyCommands")) < 1 + members:
                    if time.monotonic() > deadline or bot.poll() is not None:
                        raise RuntimeError(f"bot.py did not start (exit code {bot.poll()}); log: {log_path}")
                    time.sleep(0.05)
                say(f"{backend}: bot started; {clients} clients writing every {WRITE_EVERY[0]:g}-"
                    f"{WRITE_EVERY[1]:g} s for {seconds} s, {members} members "
                    + (f"answering {'each' if answer_share >= 1 else f'{100 * answer_share:.0f}% of the'} "
                       f"alerts {REPLY_AFTER[0]:g}-{REPLY_AFTER[1]:g} s after they arrive"
                       if answer_share > 0 else "not answering"))
                traffic.run(bot)
            finally:
                bot.send_signal(signal.SIGTERM)
                try:
                    bot.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    bot.kill()
                    bot.wait()
        errors = [line for line in open(log_path) if " ERROR " in line or "Traceback" in line]
        if errors:
            say(f"{backend}: bot log has {len(errors)} error lines, first: {errors[0].strip()}")
        if emu.violations:
            say(f"{backend}: emulator saw {len(emu.violations)} Bot API spec violations, first: "
                f"{emu.violations[0]}")
        report(backend, traffic, seconds)
    finally:
        if emu is not None:
            emu.stop()
        if models.db.obj is not None:
            models.db.close()
        shutil.rmtree(workdir, ignore_errors=True)


def report(backend, traffic, seconds):
    models.db.connect(reuse_if_open=True)
    stages = stage_times(traffic)
    db.close()
    alert_latency = [traffic.alerted[n] - traffic.asked[n][0] for n in traffic.alerted if n in traffic.asked]
    relay_latency = [traffic.relayed[n] - traffic.answered[n] for n in traffic.relayed if n in traffic.answered]
    asked, answered = len(traffic.asked), len(traffic.answered)
    say(f"{backend}: {asked} client messages ({asked / seconds:.1f}/s), {stages['stored']} stored; "
        f"{stages['alerts']} alerts queued (the rest within a minute of the last alert to that member), "
        f"{stages['alerts_sent']} sent, {len(traffic.alerted)} seen by the members; "
        f"{answered} replies, {stages['relays']} relays queued, {stages['relays_sent']} sent, "
        f"{len(traffic.relayed)} seen by the clients; {traffic.too_many} answered 429, "
        f"{len(traffic.other_errors)} other errors, {traffic.duplicates} duplicates")
    report_latency(backend, "(a) client message -> alert to the member", alert_latency)
    report_latency(backend, "(b) member's reply -> message to the client", relay_latency)
    handling = summary(stages["handling"])
    sending = summary(stages["queue_to_sent"])
    if handling and sending:
        say(f"{backend}:   of which: update sent -> stored by the bot p50 {1000 * handling[0]:.0f} ms, "
            f"p95 {1000 * handling[1]:.0f} ms; outbox row queued -> marked sent p50 "
            f"{1000 * sending[0]:.0f} ms, p95 {1000 * sending[1]:.0f} ms, max {1000 * sending[2]:.0f} ms")
    say(f"{backend}:   {member_chats(traffic)}")
    lost = (stages["alerts_sent"] - len(traffic.alerted)) + (answered - len(traffic.relayed))
    note("relay: 429s / other errors / duplicates / missing", backend,
         f"{traffic.too_many} / {len(traffic.other_errors)} / {traffic.duplicates} / {lost}",
         "0 / 0 / 0 / 0",
         traffic.too_many == 0 and not traffic.other_errors and traffic.duplicates == 0 and lost == 0)


def bench_relay(clients=CLIENTS, members=MEMBERS, seconds=SECONDS, postgres=True, answer_share=1.0):
    say(f"\n== relay latency: {clients} clients, {members} members, {seconds} s, one `python bot.py`, "
        f"emulator limits {TELEGRAM_RATE}/s and {PER_CHAT_RATE}/s per chat ==")
    for backend, url in each_backend("relay latency", postgres):
        bench_backend(backend, url, clients, members, seconds, answer_share)


def add_arguments(parser, prefix=""):
    parser.add_argument(f"--{prefix}clients", type=int, default=CLIENTS,
                        help=f"relay: clients writing (default {CLIENTS})")
    parser.add_argument(f"--{prefix}members", type=int, default=MEMBERS,
                        help=f"relay: members owning them (default {MEMBERS})")
    parser.add_argument(f"--{prefix}seconds", type=int, default=SECONDS,
                        help=f"relay: seconds of traffic (default {SECONDS})")
    parser.add_argument(f"--{prefix}answer-share", type=float, default=1.0,
                        help="relay: share of the alerts members answer (default 1: every one; "
                             "0: no answers, so no relays and no \"✓ Sent\" in the members' chats)")


def check_arguments(parser, clients, members, seconds, answer_share=1.0):
    if not 1 <= members <= clients <= 100_000 or seconds < 5 or not 0 <= answer_share <= 1:
        parser.error("relay: need 1 <= members <= clients <= 100000, at least 5 seconds and an "
                     "answer share of 0..1")


def main(argv=None):
    parser = argparse.ArgumentParser(description="End-to-end relay latency (bench/README.md).")
    add_arguments(parser)
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    check_arguments(parser, args.clients, args.members, args.seconds, args.answer_share)
    bench_relay(args.clients, args.members, args.seconds, not args.no_postgres, args.answer_share)
    print_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
