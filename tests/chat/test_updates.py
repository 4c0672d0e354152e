"""Each Telegram update is handled once."""
from services.chat import updates


def test_an_update_is_handled_once(any_db):
    assert updates.first_time(41) is True
    assert updates.first_time(41) is False
    assert updates.first_time(42) is True
