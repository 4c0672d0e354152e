"""What a deployer sees when the setup is wrong: a clear message, not a traceback."""
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


def run(script, env, timeout=30):
    return subprocess.run([sys.executable, script], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.mark.parametrize("script", ["bot.py", "scheduler.py"])
def test_missing_token_says_how_to_get_one(processes, script):
    result = run(script, {**processes.env, "TELEGRAM_BOT_TOKEN": ""})
    assert result.returncode == 2
    assert "@BotFather" in result.stderr and ".env" in result.stderr
    assert "Traceback" not in result.stderr


def test_rejected_token_stops_the_bot_with_a_reason(processes):
    result = run("bot.py", {**processes.env, "TELEGRAM_BOT_TOKEN": "999:WRONG"})
    assert result.returncode == 2
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in result.stderr
    assert "WRONG" not in result.stderr + result.stdout


@pytest.mark.parametrize("name, value, message", [
    ("SEND_BATCH_SIZE", "lots", "SEND_BATCH_SIZE must be a whole number"),
    ("DATABASE_URL", "mysql://x", "DATABASE_URL must start with"),
    ("ADMIN_TELEGRAM_IDS", "@me", "numeric Telegram user ids"),
])
def test_bad_settings_are_named(processes, name, value, message):
    result = run("scheduler.py", {**processes.env, name: value})
    assert result.returncode == 2 and message in result.stderr
    assert "Traceback" not in result.stderr
