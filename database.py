"""The connection every Leadgram process shares: the database named by DATABASE_URL
(SQLite or Postgres), its migrations, transactions that may have been lost, and the key of
encrypted columns. The schema is models.py, which re-exports these names.
"""
import datetime
import logging
from pathlib import Path
from urllib.parse import urlparse

from cryptography.fernet import Fernet, InvalidToken
from peewee import DatabaseProxy, PostgresqlDatabase, SqliteDatabase, TextField, fn
from playhouse.db_url import connect as connect_url
from playhouse.migrations import Runner

PROJECT_ROOT = Path(__file__).resolve().parent
MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
# Any constant works; it only has to be the same in every process.
MIGRATION_LOCK_ID = 0x1EAD6
log = logging.getLogger("leadgram.database")

db = DatabaseProxy()

def utcnow():
    """Naive UTC: the same on SQLite and Postgres, whatever the host's zone."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def open_database(url):
    """A peewee database for `url`; relative SQLite paths start at the project root."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///"):]
        if path != ":memory:":
            path = Path(path) if Path(path).is_absolute() else PROJECT_ROOT / path
            path.parent.mkdir(parents=True, exist_ok=True)
        # WAL lets the bot read while the scheduler writes; the busy timeout
        # makes a writer wait for the lock instead of failing at once. BEGIN
        # IMMEDIATE takes that lock when a transaction starts: one that reads and
        # then writes would otherwise fail at once ("database is locked") if
        # another process wrote in between.
        return SqliteDatabase(str(path), timeout=10, returning_clause=True,
                              lock_type="IMMEDIATE", pragmas={
            "journal_mode": "wal", "foreign_keys": 1,
            "busy_timeout": 10000, "synchronous": "normal"})
    if parsed.scheme in ("postgres", "postgresql"):
        return connect_url(url)
    raise ValueError(f"DATABASE_URL must start with sqlite:/// or postgresql://, got {url!r}")


def is_postgres():
    return isinstance(db.obj, PostgresqlDatabase)


def for_change(query):
    """`query` locking the rows it reads until the transaction ends, so a simultaneous
    change of them waits for ours (Postgres; SQLite's writer already holds the lock)."""
    return query.for_update() if is_postgres() else query


def hour_bucket(field):
    """`field` truncated to the hour (SQLite gives text, Postgres a timestamp)."""
    if is_postgres():
        return fn.date_trunc("hour", field)
    return fn.strftime("%Y-%m-%d %H:00:00", field)


class DatabaseUnavailable(Exception):
    pass


def migrate():
    """Apply pending migrations; safe when several processes start at once.

    The whole run happens under one lock (SQLite: an IMMEDIATE transaction,
    Postgres: a transaction-scoped advisory lock), so the second process waits,
    then finds nothing left to do. DDL is transactional on both.
    """
    runner = Runner(db.obj, str(MIGRATIONS_DIR))
    if is_postgres():
        with db.atomic():
            db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
            applied = runner.up()
    else:
        with db.atomic("IMMEDIATE"):
            applied = runner.up()
    for name in applied:
        log.info("applied migration %s", name)
    return applied


def check_writable():
    """Fail at start, with the reason, on a database that can be read but not
    written (a read-only file or replica): every process writes."""
    with db.atomic():
        db.execute_sql("UPDATE heartbeat SET beat_at = beat_at WHERE 1 = 0")


def transaction_intact():
    """False when the database gave up the open transaction by itself (SQLite rolls it
    all back on a disk I/O error or a file turned read-only; Postgres refuses everything
    after an error outside a savepoint). Committing it would then save nothing, yet
    report success."""
    connection = db.connection()
    if is_postgres():
        from psycopg2.extensions import TRANSACTION_STATUS_INTRANS
        return connection.get_transaction_status() == TRANSACTION_STATUS_INTRANS
    return connection.in_transaction


def drop_connection():
    """After a database error: reconnect on next use rather than reuse a dead socket."""
    if not db.is_closed() and not db.in_transaction():
        db.close()


class MissingDataKey(ValueError):
    """Encrypted data exists (or is being written) but DATA_ENCRYPTION_KEY is not set."""


class _DataKey:
    """The Fernet key of SecretField columns, set once at start by use_data_key()."""
    fernet = None


def has_data_key():
    return _DataKey.fernet is not None


def use_data_key(key):
    """Install DATA_ENCRYPTION_KEY (a Fernet key as text, checked by the settings) or ""."""
    _DataKey.fernet = Fernet(key) if key else None


class SecretField(TextField):
    """Text encrypted at rest with Fernet: the database only holds the token, so a copy of
    the database file alone does not show it. Not searchable, by design."""

    def db_value(self, value):
        if value is None or value == "":
            return None
        if _DataKey.fernet is None:
            raise MissingDataKey("DATA_ENCRYPTION_KEY is not set, so this cannot be stored")
        return _DataKey.fernet.encrypt(str(value).encode()).decode()

    def python_value(self, value):
        if value is None:
            return None
        if _DataKey.fernet is None:
            raise MissingDataKey("DATA_ENCRYPTION_KEY is not set, so encrypted data cannot be read")
        try:
            return _DataKey.fernet.decrypt(value.encode()).decode()
        except InvalidToken:
            raise MissingDataKey("DATA_ENCRYPTION_KEY is not the key this data was encrypted "
                                 "with") from None
