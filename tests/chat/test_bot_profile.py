"""The bot's description and short description: what a person sees before pressing Start."""
import pytest

from services.chat import bot_profile
from services.core.config import DESCRIPTION_LIMIT, SHORT_DESCRIPTION_LIMIT, load_settings


@pytest.mark.parametrize("env, says", [
    ({}, ["Write to ACME here", "Team members"]),
    ({"SHOP": "on"}, ["Write to ACME here", "order packages", "Team members"]),
    ({"CLIENT_INBOX": "off"}, ["for ACME", "Ask an admin for an invite link"]),
    ({"OPEN_TEAM": "true"}, ["for ACME", "Press Start to join the team"]),
])
def test_the_texts_describe_the_bot_to_whoever_may_write_to_it(env, says):
    texts = bot_profile.texts(load_settings({"COMPANY_NAME": "ACME", **env}))
    assert all(part in texts["description"] for part in says), texts
    assert "ACME" in texts["short_description"]


@pytest.mark.parametrize("env", [{}, {"SHOP": "on"}, {"CLIENT_INBOX": "off"}, {"OPEN_TEAM": "true"}])
def test_the_texts_fit_telegrams_limits_with_the_longest_company_name(env):
    texts = bot_profile.texts(load_settings({"COMPANY_NAME": "Ω" * 300, **env}))
    assert len(texts["description"]) <= DESCRIPTION_LIMIT
    assert len(texts["short_description"]) <= SHORT_DESCRIPTION_LIMIT
    assert "Ω…" in texts["short_description"]  # shortened, visibly


def test_settings_replace_the_texts():
    texts = bot_profile.texts(load_settings({"BOT_DESCRIPTION": " We fix bikes. ",
                                             "BOT_SHORT_DESCRIPTION": "Bikes"}))
    assert texts == {"description": "We fix bikes.", "short_description": "Bikes"}
