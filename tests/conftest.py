"""Fixtures: a database per test, on SQLite and (when reachable) Postgres.

Data-layer, queue and chat tests take `any_db` and run once per backend, like huey's
storage tests (the panel's `make_app` does the same: tests/panel/conftest.py); the rest
take `sqlite_db`. Postgres is one database per session, emptied before each test.
"""
import graphlib
import inspect
import os
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from playhouse.migrations import Runner

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import models  # noqa: E402
from models import Contact, Lead, User  # noqa: E402
from services import subscriptions  # noqa: E402
from services.core import policy, search  # noqa: E402
from services.crm import leads  # noqa: E402
from services.followups.defaults import seed_default_rules  # noqa: E402
from services.inbox.default_templates import seed_default_templates  # noqa: E402
from services.shop.default_catalogue import seed_default_packages  # noqa: E402

subscriptions.register()  # as every process does at start

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
# Where models.migrate's Runner records the migrations that ran (its default table): the
# one table a test never empties.
MIGRATIONS_TABLE = inspect.signature(Runner).parameters["table_name"].default


@pytest.fixture(autouse=True)
def default_policy(monkeypatch):
    """Every test starts with the default thresholds, time zone and company name: a panel
    app made by an earlier test (TZ=Europe/Kyiv) must not leak into the next."""
    monkeypatch.setattr(policy, "_current", policy.Policy())


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway Postgres database for this test run, or a skip saying why not."""
    try:
        import psycopg2
        admin = psycopg2.connect(POSTGRES_ADMIN_URL, connect_timeout=3)
    except Exception as exc:  # noqa: BLE001 - any failure means "no server here"
        pytest.skip(f"Postgres not reachable at {POSTGRES_ADMIN_URL}: {exc}".strip())
    admin.autocommit = True
    name = f"leadgram_test_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {name}")
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.close()


def _bind(url):
    database = models.bind(url)
    yield database
    database.close()


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory):
    """A SQLite file migrated once per run (tests/test_migrations.py migrates its own)."""
    path = tmp_path_factory.mktemp("migrated") / "leadgram.db"
    models.bind(f"sqlite:///{path}").close()
    return path


@pytest.fixture
def sqlite_url(tmp_path, migrated_sqlite):
    """This test's own SQLite file, as migrating a new one makes it: a copy of
    `migrated_sqlite`, since migrating every test's file took ~50 ms a test."""
    path = tmp_path / "leadgram.db"
    shutil.copyfile(migrated_sqlite, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_db(sqlite_url):
    yield from _bind(sqlite_url)


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request, tmp_path):
    if request.param == "sqlite":
        yield from _bind(request.getfixturevalue("sqlite_url"))
        return
    database = fresh_postgres(request.getfixturevalue("postgres_url"))
    yield database
    database.close()


def fresh_postgres(url):
    """The session's Postgres database, bound (and migrated) as `models.db`, holding what a
    new database holds after migrating: nothing but the default rules."""
    try:
        database = models.bind(url)
    except models.MissingDataKey:  # a test before left encrypted rows, emptied next
        database = models.db.obj
    empty_postgres(database)
    return database


def empty_postgres(database):
    """Empty every table the migrations made, restart their ids and seed the default rules.

    The tables are asked of the database (all but MIGRATIONS_TABLE), not listed here or
    taken from models.py: a table a new migration adds is emptied without anyone
    remembering to (a hand-kept list once missed audit_log), and a model whose migration
    is not written yet is no table to fail on. DELETE, children before parents, in one
    transaction, rather than TRUNCATE: on tables this small it takes ~10 ms, where
    TRUNCATE (new files for every table and index) takes 200-400 ms, per test."""
    tables = [t for t in database.get_tables() if t != MIGRATIONS_TABLE]
    if not tables:
        return
    parents = {t: set() for t in tables}  # table -> the tables whose rows point at it
    for child, parent in database.execute_sql(
            "SELECT child.relname, parent.relname FROM pg_constraint c "
            "JOIN pg_class child ON child.oid = c.conrelid "
            "JOIN pg_class parent ON parent.oid = c.confrelid "
            "JOIN pg_namespace n ON n.oid = child.relnamespace "
            "WHERE c.contype = 'f' AND n.nspname = current_schema()"):
        if child != parent and parent in parents:
            parents[parent].add(child)
    # A test writes to a few tables: one query finds them, rather than a DELETE on each.
    holding = {name for name, in database.execute_sql(" UNION ALL ".join(
        f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in tables))}
    with database.atomic():
        for table in graphlib.TopologicalSorter(parents).static_order():  # children first
            if table in holding:
                database.execute_sql(f'DELETE FROM "{table}"')
        database.execute_sql(  # the sequences behind these tables' ids start again at 1
            "SELECT setval(s.oid, 1, false) FROM pg_class s "
            "JOIN pg_depend d ON d.objid = s.oid AND d.deptype IN ('a', 'i') "
            "JOIN pg_class t ON t.oid = d.refobjid "
            "JOIN pg_namespace n ON n.oid = t.relnamespace "
            "WHERE s.relkind = 'S' AND n.nspname = current_schema() AND t.relname = ANY(%s)",
            (tables,))
        seed_default_rules(database)  # as a fresh SQLite file has them (migration 0004)
        seed_default_templates(database)  # and migration 0008
        seed_default_packages(database)  # and migration 0009


@pytest.fixture
def data_key():
    """DATA_ENCRYPTION_KEY installed (after the database fixture, whose bind() installs
    none), so passport numbers and tax PINs can be stored; removed afterwards."""
    from cryptography.fernet import Fernet
    key = Fernet.generate_key().decode()
    models.use_data_key(key)
    yield key
    models.use_data_key("")


@pytest.fixture
def make_user():
    counter = iter(range(1000, 10**6))

    def make(role="sales", **fields):
        telegram_id = fields.pop("telegram_id", next(counter))
        fields.setdefault("first_name", f"User{telegram_id}")
        return User.create(telegram_id=telegram_id, role=role, **fields)
    return make


@pytest.fixture
def admin(make_user):
    return make_user(role="admin", first_name="Ada")


@pytest.fixture
def make_lead():
    """A lead stored directly (no rules run), with unique contact details; pipeline
    fields such as stage, source, owner or created_at as keyword arguments."""
    counter = iter(range(1, 10**6))

    def make(**fields):
        n = next(counter)
        fields.setdefault("first_name", f"Lead{n}")
        fields.setdefault("last_name", "Example")
        fields.setdefault("country", "US")
        created = fields.setdefault("created_at", models.utcnow())
        fields.setdefault("last_activity_at", created)
        email = fields.pop("email", f"lead{n}@example.com")
        phone = fields.pop("phone", f"+1415555{n:04d}")
        lead = Lead.create(search_name=search.name_key(fields["first_name"], fields["last_name"]),
                           **fields)
        for kind, value in (("email", email), ("phone", phone)):
            if value:
                Contact.create(lead=lead, kind=kind, value=value, search_value=search.fold(value))
        return lead
    return make


@pytest.fixture
def add_lead():
    """add_lead(n, creator=None, country="DE", created_at=None): lead number n added through
    the service (validation, the team's notification, rules), made at `created_at`."""
    def add(n, creator=None, country="DE", created_at=None):
        lead = leads.add_lead({"email": f"l{n}@example.com", "phone": f"+1212555{n:04d}",
                               "first_name": "F", "last_name": f"L{n}", "country": country},
                              created_by=creator)
        if created_at:
            Lead.update(created_at=created_at).where(Lead.id == lead.id).execute()
        return lead
    return add
