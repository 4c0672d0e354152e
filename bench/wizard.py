"""Wizard throughput: one real `python bot.py` against the Bot API emulator."""
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, TARGET_UPDATES_PER_S, note, say

import models  # noqa: E402
from models import Lead, OutboxMessage, User, db  # noqa: E402

TOKEN = "123456:BENCH-TOKEN"
BOT_USERNAME = "leadgram_bench_bot"
ADMIN_ID = 910001
FIRST_MEMBER_ID = 700001


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


def wait_handled(url, at_least, timeout):
    """The monotonic time when `at_least` updates were committed (processed_update rows),
    or None: the bot's own speed, before its replies wait for Telegram's pace."""
    connection = sqlite3.connect(url[len("sqlite:///"):], timeout=10)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if connection.execute("SELECT COUNT(*) FROM processed_update").fetchone()[0] >= at_least:
                return time.monotonic()
            time.sleep(0.005)
        return None
    finally:
        connection.close()


def _handled_count(url):
    with sqlite3.connect(url[len("sqlite:///"):], timeout=10) as connection:
        return connection.execute("SELECT COUNT(*) FROM processed_update").fetchone()[0]


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
    handled = _handled_count(url)

    # Phase 1: every member's six wizard messages, queued at once (step by step across users).
    # Timed to the last update committed; the replies then go out at Telegram's pace,
    # shared with every other sender (services/delivery/pacing.py), and are timed apart.
    expected = base + 6 * users
    cpu0 = (cpu_seconds(bot.pid), cpu_seconds())
    t0 = time.monotonic()
    for step in range(6):
        for index, tid in enumerate(member_ids):
            emu.user_sends(tid, wizard_answers(index)[step], first_name=f"Member{tid}")
    queued = time.monotonic() - t0
    last = wait_handled(url, handled + 6 * users, timeout=300)
    if last is None:
        raise RuntimeError(f"only {_handled_count(url) - handled} of {6 * users} updates handled")
    elapsed = last - t0
    cpu = busy(bot.pid, cpu0, elapsed)
    replied = counter.wait("sendMessage", expected, timeout=600)
    if replied is None:
        raise RuntimeError(f"only {counter.count('sendMessage') - base} of {6 * users} wizard replies")
    say(f"{6 * users} replies delivered in {replied - t0:.1f} s: {6 * users / (replied - t0):.1f}/s "
        f"(Telegram's pace: at most 25/s for the whole bot)")
    summaries = {}
    for tid in member_ids:
        final = emu.sent_messages(tid)[-1]
        if final.get("text", "").startswith("Check the lead") and final.get("reply_markup"):
            summaries[tid] = final["message_id"]
    rate = 6 * users / elapsed
    say(f"{6 * users} text updates in {elapsed:.2f} s (queueing took {queued:.2f} s): "
        f"{rate:.0f} updates/s; {len(summaries)}/{users} summaries shown")
    say(f"  CPU while handling them: {cpu}")
    note("wizard text updates/s", "sqlite", f"{rate:.0f}/s", f">= {TARGET_UPDATES_PER_S:.0f}/s",
         rate >= TARGET_UPDATES_PER_S)
    note("  mean handling time per update", "sqlite", f"{1000 * elapsed / (6 * users):.2f} ms",
         f"<= {1000 / TARGET_UPDATES_PER_S:.2f} ms")

    # Phase 2: every member presses Save (one callback update each); the bot
    # answers by editing the summary into the confirmation.
    base = counter.count("editMessageText")
    if skip_save:
        return
    handled = _handled_count(url)
    cpu0 = (cpu_seconds(bot.pid), cpu_seconds())
    t1 = time.monotonic()
    for tid, message_id in summaries.items():
        emu.user_presses(tid, message_id, "wiz:save")
    last = wait_handled(url, handled + len(summaries), timeout=300)
    if last is None:
        raise RuntimeError(f"only {_handled_count(url) - handled} of {len(summaries)} Save presses handled")
    save_elapsed = last - t1
    cpu = busy(bot.pid, cpu0, save_elapsed)
    if counter.wait("editMessageText", base + len(summaries), timeout=600) is None:
        raise RuntimeError(f"only {counter.count('editMessageText') - base} of "
                           f"{len(summaries)} Save replies")
    say(f"  CPU while saving: {cpu}")
    models.bind(url)
    leads = Lead.select().count()
    queued_rows = OutboxMessage.select().where(OutboxMessage.expires_at.is_null()).count()
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
