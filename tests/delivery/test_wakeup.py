"""Waking the scheduler when notifications are queued: Postgres LISTEN/NOTIFY, a poll of one
indexed query on SQLite."""
import datetime
import logging
import threading
import time

import psycopg2
import pytest
from peewee import OperationalError

from models import db, is_postgres, utcnow
from services.delivery import outbox, wakeup
from tests.conftest import fresh_postgres


def test_notifications_due_sees_due_rows_only(any_db, make_user):
    member = make_user()
    now = utcnow()
    outbox.enqueue("later", member, "retry in a minute",
                   next_attempt_at=now + datetime.timedelta(minutes=1))
    outbox.enqueue("reply", member, "the bot's own", expires_at=now + datetime.timedelta(minutes=2))
    assert not outbox.notifications_due()
    outbox.enqueue("now", member, "New lead #1")
    assert outbox.notifications_due()
    outbox.claim_batch(10)
    assert not outbox.notifications_due()  # being sent: nothing is waiting
    assert outbox.notifications_due(now + datetime.timedelta(minutes=2))


def test_the_wakeup_for_the_database_sees_a_notification_queued(any_db, make_user):
    member = make_user()
    watcher = wakeup.for_database()
    assert isinstance(watcher, wakeup.Listener if is_postgres() else wakeup.Poller)
    watcher.wait(0.1)  # a Listener's first answer is "look": nobody listened before
    assert not watcher.wait(0.6)
    queued, commit = threading.Event(), threading.Event()

    def another_process_queues():  # a thread has a connection of its own
        try:
            with db.atomic():
                outbox.enqueue("lead:1", member, "New lead #1")
                queued.set()
                commit.wait(5)
        finally:
            db.close()
    thread = threading.Thread(target=another_process_queues)
    thread.start()
    assert queued.wait(5)
    assert not watcher.wait(0.6)  # not before it commits
    commit.set()
    thread.join()
    started = time.monotonic()
    assert watcher.wait(5)
    assert time.monotonic() - started <= wakeup.POLL_SECONDS + 0.2


def test_a_rolled_back_notification_wakes_nobody(any_db, make_user):
    member = make_user()
    watcher = wakeup.for_database()
    watcher.wait(0.1)
    with pytest.raises(RuntimeError), db.atomic():
        outbox.enqueue("lead:1", member, "New lead #1")
        raise RuntimeError("the lead could not be saved")
    assert not watcher.wait(0.6)


@pytest.fixture
def postgres_db(postgres_url):
    database = fresh_postgres(postgres_url)
    yield database
    database.close()


def test_a_notify_from_another_connection_wakes_a_listener(postgres_db, postgres_url):
    listener = wakeup.Listener()
    assert listener.wait(1)  # connected
    other = psycopg2.connect(postgres_url)
    other.autocommit = True
    threading.Timer(0.3, lambda: other.cursor().execute(f"NOTIFY {outbox.WAKEUP_CHANNEL}")).start()
    started = time.monotonic()
    try:
        assert listener.wait(5)
        assert 0.25 <= time.monotonic() - started < 1.0  # woken by it, not by the timeout
        assert not listener.wait(0.2)  # one notification, one wakeup
    finally:
        listener.close()
        other.close()


def test_a_listener_whose_connection_is_cut_says_so_once_and_listens_again(postgres_db, caplog):
    listener = wakeup.Listener(reconnect_every=0.5)
    listener.wait(1)
    pid = listener._conn.get_backend_pid()
    db.execute_sql("SELECT pg_terminate_backend(%s)", (pid,))
    with caplog.at_level(logging.WARNING, logger="leadgram.wakeup"):
        assert not listener.wait(0.2)
        assert not listener.wait(0.2)  # too soon to reconnect
    assert len(caplog.records) == 1 and "Listener cannot watch the outbox" in caplog.text
    time.sleep(0.5)
    try:
        assert listener.wait(1)  # listening again: whatever came meanwhile is worth a look
        assert listener._conn.get_backend_pid() != pid
        db.execute_sql(f"NOTIFY {outbox.WAKEUP_CHANNEL}")
        assert listener.wait(2)
    finally:
        listener.close()


def test_a_poller_whose_database_fails_says_so_once_and_carries_on(caplog):
    answers = [OperationalError("disk I/O error"), OperationalError("disk I/O error"), True]
    now = [0.0]

    def due():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def sleep(seconds):
        now[0] += seconds
    poller = wakeup.Poller(due=due, clock=lambda: now[0], sleep=sleep)
    with caplog.at_level(logging.WARNING, logger="leadgram.wakeup"):
        assert not poller.wait(0.9)  # two failed checks, 0.5 s apart
        assert poller.wait(1.0)
    assert now[0] == pytest.approx(1.0)
    assert len(caplog.records) == 1 and "disk I/O error" in caplog.text
