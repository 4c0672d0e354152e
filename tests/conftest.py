"""Fixtures: a database per test, on SQLite and (when reachable) Postgres.

Data-layer and queue tests take `any_db` and run once per backend, like huey's
storage tests; the rest take `sqlite_db`.
"""
import importlib.util
import os
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import models  # noqa: E402
from models import Lead, User  # noqa: E402
from services import subscriptions  # noqa: E402

subscriptions.register()  # as every process does at start

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
TABLES = ["rule_action", "activity", "follow_up_rule", "stage_change", "lead_score", "job_run",
          "outbox", "broadcast", "invite", "lead", "conversation", "processed_update", "heartbeat", "user",
          "send_pace", "panel_session"]


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


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'leadgram.db'}"


@pytest.fixture
def sqlite_db(sqlite_url):
    yield from _bind(sqlite_url)


@pytest.fixture(params=["sqlite", "postgres"])
def any_db(request, tmp_path):
    if request.param == "sqlite":
        yield from _bind(f"sqlite:///{tmp_path / 'leadgram.db'}")
        return
    url = request.getfixturevalue("postgres_url")
    database = models.bind(url)
    database.execute_sql("TRUNCATE {} RESTART IDENTITY CASCADE".format(
        ", ".join(f'"{t}"' for t in TABLES)))
    _pipeline_migration().seed_default_rules(database)  # as a fresh SQLite file has them
    yield database
    database.close()


def _pipeline_migration():
    spec = importlib.util.spec_from_file_location(
        "migration_0004", ROOT / "migrations" / "0004_pipeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
        return Lead.create(email=f"lead{n}@example.com", phone=f"+1415555{n:04d}", **fields)
    return make
