"""Starting processes on an empty or older database brings it up to date, even all at once."""
import datetime
import os
import subprocess
import sys

import pytest

import models
from tests.conftest import ROOT


def migrate_concurrently(url, count=4):
    env = dict(os.environ, DATABASE_URL=url)
    procs = [subprocess.Popen([sys.executable, "admin.py", "migrate"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(count)]
    return [(p.wait(timeout=60), p.stdout.read()) for p in procs]


@pytest.fixture
def empty_postgres_url(postgres_url):
    models.bind(postgres_url)
    models.db.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    models.db.close()
    return postgres_url


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_simultaneous_starts_on_an_empty_database(backend, tmp_path, request):
    url = (f"sqlite:///{tmp_path / 'fresh.db'}" if backend == "sqlite"
           else request.getfixturevalue("empty_postgres_url"))
    results = migrate_concurrently(url)
    assert [code for code, _ in results] == [0] * 4, results
    applied = sum(out.count("applied migration 0001_initial") for _, out in results)
    assert applied == 1, results
    models.bind(url)
    assert models.migrate() == []
    assert models.User.table_exists() and models.OutboxMessage.table_exists()
    models.db.close()


def test_bad_database_url_is_refused_clearly(tmp_path):
    env = dict(os.environ, DATABASE_URL="mysql://nope")
    result = subprocess.run([sys.executable, "admin.py", "migrate"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "DATABASE_URL must start with sqlite:/// or postgresql://" in result.stderr


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_upgrading_from_the_first_release_keeps_every_row(backend, tmp_path, request):
    from playhouse.migrations import Runner
    url = (f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite"
           else request.getfixturevalue("empty_postgres_url"))
    models.db.initialize(models.open_database(url))
    Runner(models.db.obj, str(models.MIGRATIONS_DIR)).up(target="0001_initial")
    creator = models.User.insert(telegram_id=7, role="admin", notify=True, unreachable=False,
                                 created_at=models.utcnow()).execute()
    added = models.utcnow() - datetime.timedelta(days=30)
    models.db.execute_sql(
        "INSERT INTO lead (email, phone, first_name, last_name, country, created_by_id, created_at) "
        "VALUES ('a@b.co', '+442079460958', 'Ada', 'L', 'GB', {p}, {p})".format(
            p="%s" if models.is_postgres() else "?"), (creator, added))
    assert models.migrate() == ["0002_admin_panel", "0003_lead_search_index", "0004_pipeline",
                                "0005_panel_sessions", "0006_shared_pacing_and_durable_replies",
                                "0007_audit_log"]
    if models.is_postgres():
        assert "lead_search_trgm" in {i.name for i in models.db.get_indexes("lead")}
    lead = models.Lead.get()
    assert (lead.email, lead.created_by.telegram_id) == ("a@b.co", 7)
    # Issue 4: an old lead starts the pipeline at "new", quiet since it was added.
    assert (lead.stage, lead.source, lead.priority, lead.owner) == ("new", "other", "normal", None)
    assert lead.last_activity_at == added and lead.value == 0
    assert models.FollowUpRule.select().count() == 8
    models.Lead.create(email="c@d.co", phone="+12125550000", first_name="Pan", last_name="El",
                       country="US", created_by=None)
    assert models.Lead.select().count() == 2
    models.db.close()
