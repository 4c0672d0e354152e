"""The Procfile as `make run` starts it: honcho runs all three processes, SIGTERM stops them."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT
from tests.e2e.conftest import ADMIN_ID, wait_until

pytestmark = pytest.mark.e2e


def test_honcho_starts_the_procfile_and_stops_it_cleanly(processes, emulator, chat_with, tmp_path):
    venv_bin = str(Path(sys.executable).parent)
    env = dict(processes.env, PATH=f"{venv_bin}{os.pathsep}{os.environ['PATH']}")
    log = open(tmp_path / "honcho.log", "w+")
    honcho = subprocess.Popen([str(Path(venv_bin) / "honcho"), "start"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        reply = chat_with(ADMIN_ID, "Ada").send("/start", replies=2, timeout=20)
        assert "as admin" in reply["text"]
        wait_until(lambda: "delivering every" in (tmp_path / "honcho.log").read_text())
        # On PORT itself, as .env says, not the PORT+100·n honcho gives later processes.
        wait_until(lambda: panel_health(processes.panel_url) is not None, message="the panel answers")
    finally:
        honcho.send_signal(signal.SIGTERM)
        honcho.wait(timeout=20)
    output = (tmp_path / "honcho.log").read_text()
    # Both finished their own shutdown (honcho's rc is the wrapping shell's).
    assert "bot INFO stopped" in output and "scheduler INFO stopped" in output, output


def panel_health(url):
    try:
        return requests.get(f"{url}/health", timeout=2).status_code
    except requests.ConnectionError:
        return None
