"""Each Telegram update is handled once."""
import pytest
from models import Heartbeat
from services.ops import heartbeat
from services.chat import updates
from services.core.config import ConfigError, load_settings


def test_an_update_is_handled_once(any_db):
    assert updates.first_time(41) is True
    assert updates.first_time(41) is False
    assert updates.first_time(42) is True
