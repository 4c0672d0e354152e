"""End-to-end harness: the real `python bot.py` and `python scheduler.py`
processes, talking to the Bot API emulator over HTTP like a deployment would."""
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

import models
from devtools.emulator_methods import SPEC
from devtools.telegram_emulator import TelegramEmulator
from models import OutboxMessage
from tests.conftest import ROOT, fresh_postgres
from tests.mailservers import imap_server, make_smtp_server  # noqa: F401 - fixtures (test_channels)

TOKEN = "123456:E2E-TEST-TOKEN"
BOT_USERNAME = "leadgram_e2e_bot"
ADMIN_ID = 900001
PANEL_USER, PANEL_PASSWORD = "admin", "e2e-panel-password"

pytestmark = pytest.mark.e2e


@pytest.fixture
def emulator():
    emu = TelegramEmulator(token=TOKEN, bot_username=BOT_USERNAME)
    emu.start()
    yield emu
    emu.stop()
    assert emu.violations == [], "calls the Bot API spec refuses:\n" + "\n".join(map(str, emu.violations))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def without_dotenv(env):
    """`env` with every setting .env.example documents present (empty: the default), so
    that a process started with it takes nothing from the developer's .env: the
    environment wins over .env (services/core/config.py)."""
    names = [line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines()
             if "=" in line and not line.startswith("#")]
    return {**dict.fromkeys(names, ""), **env}


class Processes:
    """Starts Leadgram's processes as a deployer would and stops them afterwards."""

    def __init__(self, emulator, database_url, logs):
        self.logs = logs
        self.env = dict(without_dotenv(os.environ), TELEGRAM_BOT_TOKEN=TOKEN,
                        TELEGRAM_API_URL=emulator.base_url,
                        DATABASE_URL=database_url, ADMIN_TELEGRAM_IDS=str(ADMIN_ID),
                        OPEN_TEAM="false", SEND_BATCH_SIZE="30", SEND_INTERVAL_SECONDS="0.2",
                        PYTHONUNBUFFERED="1", ADMIN_USERNAME=PANEL_USER,
                        ADMIN_PASSWORD=PANEL_PASSWORD, SECRET_KEY="e2e-" + "s3cr3t-key-" * 4,
                        HOST="127.0.0.1", PORT=str(free_port()))
        self.panel_url = f"http://127.0.0.1:{self.env['PORT']}"
        self.running = []

    def start(self, script, **env):
        log = open(self.logs / f"{script}.{len(self.running)}.log", "w")
        process = subprocess.Popen([sys.executable, script], cwd=ROOT, stdout=log,
                                   stderr=subprocess.STDOUT, env={**self.env, **env})
        process.log_path = log.name
        self.running.append(process)
        return process

    def kill(self, process, sig=signal.SIGKILL):
        process.send_signal(sig)
        return process.wait(timeout=15)

    def stop_all(self):
        for process in self.running:
            if process.poll() is None:
                process.terminate()
        for process in self.running:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()

    def output(self):
        return "\n".join(f"--- {p.args[1]} ---\n{open(p.log_path).read()[-3000:]}" for p in self.running)


@pytest.fixture
def database_url(sqlite_url):
    """The processes' database; the test reads it through the same models."""
    models.bind(sqlite_url)
    yield sqlite_url
    models.db.close()


@pytest.fixture
def processes(emulator, database_url, tmp_path):
    procs = Processes(emulator, database_url, tmp_path)
    yield procs
    procs.stop_all()
    output = procs.output()
    print(output)  # pytest shows it when the test failed
    assert TOKEN.split(":")[1] not in output, "the bot token leaked into a log"


class Chat:
    """One person's private chat with the bot."""

    def __init__(self, emulator, user_id, first_name):
        self.emulator, self.user_id, self.first_name = emulator, user_id, first_name

    def bot_messages(self):
        return self.emulator.sent_messages(self.user_id)

    def send(self, text, replies=1, timeout=10):
        """Send `text` and return the last of the bot's next `replies` messages."""
        seen = len(self.bot_messages())
        self.emulator.user_sends(self.user_id, text, first_name=self.first_name)
        return self.emulator.wait_for(
            lambda: len(self.bot_messages()) >= seen + replies and self.bot_messages()[-1], timeout)

    def ask(self, text, contains, timeout=10):
        """Send `text` and return the bot's first new message whose text has `contains`
        (the scheduler's notifications can arrive in between)."""
        seen = len(self.bot_messages())
        self.emulator.user_sends(self.user_id, text, first_name=self.first_name)
        return self.emulator.wait_for(
            lambda: next((m for m in self.bot_messages()[seen:] if contains in m["text"]), None),
            timeout)

    def press(self, message, label, timeout=10, contains=""):
        """Press a button; return the bot's answer: the pressed message edited, or a new one,
        whose text has `contains` (the scheduler's notifications can arrive in between)."""
        data = next(b["callback_data"] for row in message["reply_markup"]["inline_keyboard"]
                    for b in row if b["text"] == label)
        seen = len(self.bot_messages())

        def answer():
            messages = self.bot_messages()
            pressed = next(m for m in messages if m["message_id"] == message["message_id"])
            edited = [pressed] if pressed["text"] != message["text"] else []
            return next((m for m in edited + messages[seen:][::-1] if contains in m["text"]), None)
        self.emulator.user_presses(self.user_id, message["message_id"], data)
        return self.emulator.wait_for(answer, timeout)


def button_labels(message):
    """The labels of a bot message's inline keyboard, row after row."""
    return [button["text"] for row in (message.get("reply_markup") or {}).get("inline_keyboard", [])
            for button in row]


@pytest.fixture
def chat_with(emulator):
    return lambda user_id, first_name="Member": Chat(emulator, user_id, first_name)


def replies_settled():
    """No reply waiting or on the wire: what a test that kills the bot waits for, since a
    kill in the instant between Telegram taking a reply and the bot marking it sent sends
    that reply again after the restart (the documented at-least-once window)."""
    return not OutboxMessage.select().where(OutboxMessage.expires_at.is_null(False),
                                            OutboxMessage.status.in_(["pending", "sending"])).exists()


def wait_until(predicate, timeout=15, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"{message} not met within {timeout}s")


def join_team(admin_chat, chat, role="sales"):
    """`chat` joins the team as `role` with an invite link `admin_chat` (an admin) asks
    for: /invite <role>, then /start <token>; the admin is told (the scheduler must run)."""
    link = admin_chat.ask(f"/invite {role}", "Invite link")["text"]
    token = link.split("?start=")[1].split()[0]
    seen = len(chat.bot_messages())
    chat.send(f"/start {token}", replies=2)
    joined = [m["text"] for m in chat.bot_messages()[seen:]]
    assert any(f"You joined as {role}" in text for text in joined), joined
    # The admin hears of it (the scheduler sends that): waiting for it keeps the notice
    # from being taken for the answer to what the test asks next.
    notice = admin_chat.emulator.wait_for_message(admin_chat.user_id,
                                                  f"{chat.first_name} joined the team")
    assert notice["text"].endswith(f"with your invite, as {role}.")


_group_message_ids = itertools.count(1)


def user_sends_in_group(emulator, user_id, group_id, text, title="Leadgram testers"):
    """Queue a message from `user_id` in a group chat (`group_id` < 0) the bot is a member of.

    The emulator's public API makes private chats only, so this builds the Update itself
    (with Telegram's bot_command entity for a leading command, checked against the spec as
    user_sends' are) and queues it through the emulator's internals. Returns the Update."""
    message = {"message_id": next(_group_message_ids), "date": int(time.time()),
               "chat": {"id": group_id, "type": "group", "title": title}, "text": text}
    if text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0,
                                "length": len(text.split()[0])}]
    with emulator._cond:
        message["from"] = emulator.add_user(user_id)
        SPEC.check(message, ["Message"], "message")
        return emulator._enqueue({"message": message})


@pytest.fixture(params=["sqlite", "postgres"])
def processes_any_db(request, emulator, tmp_path):
    """`processes`, once on SQLite and once on Postgres (skipped when no server answers at
    TEST_POSTGRES_URL); the test reads the processes' database through the same models."""
    if request.param == "sqlite":
        yield request.getfixturevalue("processes")
        return
    url = request.getfixturevalue("postgres_url")
    database = fresh_postgres(url)
    procs = Processes(emulator, url, tmp_path)
    try:
        yield procs
    finally:
        procs.stop_all()
        output = procs.output()
        print(output)  # pytest shows it when the test failed
        database.close()
    assert TOKEN.split(":")[1] not in output, "the bot token leaked into a log"


def panel_session(base_url):
    """A logged-in requests session on the panel, and a function giving a page's CSRF token."""
    session = requests.Session()

    def csrf(path):
        page = session.get(f"{base_url}{path}", timeout=10)
        assert page.status_code == 200, (path, page.status_code)
        return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.text).group(1)
    answer = session.post(f"{base_url}/login", data={
        "username": PANEL_USER, "password": PANEL_PASSWORD, "csrf_token": csrf("/login")},
        timeout=10)
    assert answer.status_code == 200 and "Log out" in answer.text, answer.text[:500]
    return session, csrf
