"""`make bench` is not run by CI: at least its scripts must import and parse their options
(bench/ modules import each other by bare name before the project's own modules)."""
import subprocess
import sys

from tests.conftest import ROOT


def test_the_bench_runner_starts():
    result = subprocess.run([sys.executable, "bench/run.py", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--only" in result.stdout
