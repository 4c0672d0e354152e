"""The Procfile as `make run` starts it: honcho runs both processes, SIGTERM stops both."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

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
    finally:
        honcho.send_signal(signal.SIGTERM)
        honcho.wait(timeout=20)
    output = (tmp_path / "honcho.log").read_text()
    # Both finished their own shutdown (honcho's rc is the wrapping shell's).
    assert "bot INFO stopped" in output and "scheduler INFO stopped" in output, output
