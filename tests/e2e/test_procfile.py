"""The Procfile as `make run` starts it (`make start`): the checks pass, honcho runs all three
processes, each with the settings the checks saw (the environment over .env), and SIGTERM
stops them. A copy of the project, with a .env of its own, stands in for the checkout: the
developer's .env is neither read nor touched."""
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT
from tests.e2e.conftest import ADMIN_ID, free_port, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def project(tmp_path):
    """The project's code without the developer's .env, data, tests or caches."""
    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".env", "data", "tests", "bench", "test-artifacts", "__pycache__",
        ".pytest_cache", ".hypothesis"))
    return copy


def make_start(project, env, **popen):
    """`make start` in `project`, with this test run's venv."""
    venv = Path(sys.executable).parent.parent
    return subprocess.Popen(["make", "--no-print-directory", "-C", str(project), "start",
                             f"VENV={venv}"], env=env, stderr=subprocess.STDOUT, **popen)


def test_make_start_runs_the_procfile_with_the_environment_over_dotenv(
        processes, emulator, chat_with, project, tmp_path):
    """A .env that disagrees with the environment everywhere: every process and every
    check goes by the environment. (honcho's own `-e .env` put .env on top.)"""
    dotenv_port, dotenv_db = free_port(), tmp_path / "from-dotenv.db"
    (project / ".env").write_text(
        f"TELEGRAM_API_URL=http://127.0.0.1:{free_port()}\n"  # nothing listens there
        f"DATABASE_URL=sqlite:///{dotenv_db}\n"
        f"PORT={dotenv_port}\n"
        "SEND_INTERVAL_SECONDS=never\n")                        # refused if it were read
    log_path = tmp_path / "make-start.log"
    make = make_start(project, processes.env, stdout=open(log_path, "w"))
    try:
        reply = chat_with(ADMIN_ID, "Ada").send("/start", replies=2, timeout=30)
        assert "as admin" in reply["text"]
        wait_until(lambda: "delivering every 0.2s" in log_path.read_text(),
                   message="the scheduler runs with the environment's interval")
        # On the environment's PORT, not .env's nor the PORT+100·n honcho gives later processes.
        wait_until(lambda: panel_health(processes.panel_url) == 200, message="the panel answers")
        assert panel_health(f"http://127.0.0.1:{dotenv_port}") is None
    finally:
        make.send_signal(signal.SIGTERM)
        make.wait(timeout=20)
    output = log_path.read_text()
    # Both finished their own shutdown (honcho's rc is the wrapping shell's).
    assert "bot INFO stopped" in output and "scheduler INFO stopped" in output, output
    assert not dotenv_db.exists(), "a process used .env's DATABASE_URL"


def test_make_start_checks_the_settings_the_processes_will_use(processes, project, tmp_path):
    """.env is fine, the environment is not: the environment is what counts, so the check
    refuses it and nothing starts."""
    (project / ".env").write_text("SEND_BATCH_SIZE=30\n")
    make = make_start(project, dict(processes.env, SEND_BATCH_SIZE="lots"),
                      stdout=subprocess.PIPE, text=True)
    output, _ = make.communicate(timeout=60)
    assert make.returncode != 0
    assert "SEND_BATCH_SIZE must be a whole number" in output and "honcho" not in output, output


def panel_health(url):
    try:
        return requests.get(f"{url}/health", timeout=2).status_code
    except requests.ConnectionError:
        return None
