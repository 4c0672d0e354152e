"""How processes share one SQLite file."""
import pytest
from peewee import OperationalError

import models


def test_a_transaction_takes_the_write_lock_when_it_begins(sqlite_db, sqlite_url):
    """A transaction that reads and then writes must never be refused at its write
    because another process wrote in between (SQLite's BUSY_SNAPSHOT): it holds the
    lock from BEGIN, and other writers wait (busy timeout) until it commits."""
    mine, other = models.open_database(sqlite_url), models.open_database(sqlite_url)
    insert = "INSERT INTO heartbeat (name, beat_at) VALUES (?, '2026-01-01')"
    with mine.atomic():
        mine.execute_sql("SELECT COUNT(*) FROM heartbeat").fetchall()
        other.execute_sql("PRAGMA busy_timeout = 0")  # don't wait: just show the lock is held
        with pytest.raises(OperationalError, match="locked"):
            other.execute_sql(insert, ("other",))
        mine.execute_sql(insert, ("mine",))
    other.execute_sql(insert, ("other",))
    assert sorted(r[0] for r in other.execute_sql("SELECT name FROM heartbeat")) == ["mine", "other"]
    mine.close()
    other.close()
