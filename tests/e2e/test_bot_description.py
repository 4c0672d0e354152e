"""The bot describes itself at start ("What can this bot do?" before Start, and its profile's
short description), calling setMyDescription / setMyShortDescription only for a text that
Telegram does not have yet: those calls are rate-limited."""
import signal

import pytest

from services.chat import bot_profile
from services.core.config import load_settings
from tests.e2e.conftest import wait_until

pytestmark = pytest.mark.e2e


def start_bot(processes, **env):
    bot = processes.start("bot.py", **env)
    wait_until(lambda: "is running against" in open(bot.log_path).read(), message="the bot runs")
    return bot


def profile_calls(emulator):
    methods = ("getMyDescription", "setMyDescription", "getMyShortDescription",
               "setMyShortDescription")
    return {method: len(emulator.calls_to(method)) for method in methods}


def test_descriptions_are_set_at_start_and_only_when_they_changed(processes, emulator):
    env = {"COMPANY_NAME": "ACME Bikes", "CLIENT_INBOX": "on", "SHOP": "on"}
    wanted = bot_profile.texts(load_settings({**processes.env, **env}))
    processes.kill(start_bot(processes, **env), signal.SIGTERM)
    assert emulator.descriptions == {"": wanted["description"]}
    assert "ACME Bikes" in wanted["description"] and "order packages" in wanted["description"]
    assert emulator.short_descriptions == {"": wanted["short_description"]}
    assert profile_calls(emulator) == dict.fromkeys(profile_calls(emulator), 1)

    # Unchanged: asked for, not set again.
    processes.kill(start_bot(processes, **env), signal.SIGTERM)
    assert profile_calls(emulator) == {"getMyDescription": 2, "setMyDescription": 1,
                                       "getMyShortDescription": 2, "setMyShortDescription": 1}

    # One text changed (here by its setting): only that one is set.
    processes.kill(start_bot(processes, **env, BOT_SHORT_DESCRIPTION="Bikes fixed by Friday"),
                   signal.SIGTERM)
    assert emulator.short_descriptions == {"": "Bikes fixed by Friday"}
    assert profile_calls(emulator) == {"getMyDescription": 3, "setMyDescription": 1,
                                       "getMyShortDescription": 3, "setMyShortDescription": 2}


def test_a_failed_description_call_does_not_stop_the_bot(processes, emulator, chat_with):
    emulator.fail("setMyDescription", status=500)
    bot = start_bot(processes)
    assert emulator.descriptions == {}
    assert "could not set the bot's description" in open(bot.log_path).read()
    assert chat_with(1234, "Ann").send("/start")["text"]  # it answers
