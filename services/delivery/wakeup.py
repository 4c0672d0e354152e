"""Telling the scheduler that notifications are waiting, so a new-lead alert leaves a moment
after it is queued rather than at the next SEND_INTERVAL_SECONDS tick.

- Postgres: outbox.announce() NOTIFYs in the transaction that queues the rows, so word comes
  when (and only if) it commits; a Listener waits for it with select() on a connection of
  its own (LISTEN belongs to a session).
- SQLite has no NOTIFY: a Poller asks outbox.notifications_due() (the scheduler's adds
  inbound events waiting: services/inbox/inbound.py), indexed EXISTS, every POLL_SECONDS.

Both only say "work may be waiting"; how much is sent is the scheduler's budget
(services/delivery/prompt.py). A wakeup never raises: when the database goes away it logs
once and just sleeps (a Listener reconnects every RECONNECT_SECONDS), and the scheduler's
interval pass delivers as it always did.
"""
import logging
import select
import time

from models import db, drop_connection, is_postgres
from services.delivery import outbox

POLL_SECONDS = 0.5
RECONNECT_SECONDS = 5.0
log = logging.getLogger("leadgram.wakeup")


def for_database(due=outbox.notifications_due):
    """The wakeup that suits the bound database; on SQLite it polls `due()`."""
    return Listener() if is_postgres() else Poller(due=due)


class _Wakeup:
    """A wakeup's failures: the first is logged, then nothing until it works again."""
    failing = False

    def _failed(self, exc):
        if not self.failing:
            log.warning("%s cannot watch the outbox (%s); sending at the interval until it can",
                        type(self).__name__, str(exc).strip() or type(exc).__name__)
        self.failing = True

    def _working(self):
        if self.failing:
            log.info("%s watches the outbox again", type(self).__name__)
        self.failing = False


class Poller(_Wakeup):
    def __init__(self, every=POLL_SECONDS, due=outbox.notifications_due, clock=time.monotonic,
                 sleep=time.sleep):
        self.every, self._due, self._clock, self._sleep = every, due, clock, sleep
        self._next_check = clock()

    def wait(self, timeout):
        """Block up to `timeout` seconds; True as soon as a notification is due."""
        deadline = self._clock() + timeout
        while True:
            now = self._clock()
            if now >= self._next_check:
                self._next_check = now + self.every  # one cadence, however wait() is called
                if self._check():
                    return True
            if now >= deadline:
                return False
            self._sleep(min(self._next_check, deadline) - now)

    def _check(self):
        try:
            due = self._due()
        except Exception as exc:  # noqa: BLE001 - any failure: fall back on the interval
            self._failed(exc)
            drop_connection()
            return False
        self._working()
        return due


class Listener(_Wakeup):
    def __init__(self, connect=None, reconnect_every=RECONNECT_SECONDS, clock=time.monotonic,
                 sleep=time.sleep):
        self._connect = connect or _listening_connection
        self.reconnect_every, self._clock, self._sleep = reconnect_every, clock, sleep
        self._conn, self._reconnect_at = None, clock()

    def wait(self, timeout):
        """Block up to `timeout` seconds; True when rows were queued (or may have been,
        while nobody listened)."""
        deadline = self._clock() + timeout
        try:
            if self._conn is None:
                if self._clock() < self._reconnect_at:
                    self._sleep(timeout)
                    return False
                self._conn = self._connect()
                self._working()
                return True  # whatever was queued while nobody listened
            return self._notified(timeout)
        except Exception as exc:  # noqa: BLE001 - a lost connection, a server restarting
            self._failed(exc)
            self.close()
            self._reconnect_at = self._clock() + self.reconnect_every
            self._sleep(max(deadline - self._clock(), 0))
            return False

    def _notified(self, timeout):
        conn = self._conn
        conn.poll()
        if not conn.notifies and select.select([conn], [], [], timeout)[0]:
            conn.poll()
        woken = bool(conn.notifies)
        conn.notifies.clear()
        return woken

    def close(self):
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001, S110 - already gone
                pass
            self._conn = None


def _listening_connection():
    """A new connection like the process's own (peewee's settings, autocommit), listening."""
    conn = db.obj._connect()
    with conn.cursor() as cursor:
        cursor.execute(f"LISTEN {outbox.WAKEUP_CHANNEL}")
    return conn
