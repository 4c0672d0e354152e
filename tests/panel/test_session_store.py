"""The panel's server-side sessions (services/ops/panel_login.py) on SQLite and Postgres."""
import datetime

from models import PanelSession, utcnow
from services.core.config import load_settings
from services.ops.panel_login import close_session, login_fingerprint, open_session, session_user

HOURS_12 = datetime.timedelta(hours=12)
KEY = "test-secret-key-0123456789-abcdefghijklmnop"


def test_an_open_session_names_its_user_until_it_is_closed(any_db):
    token = open_session("boss", "print", HOURS_12)
    assert len(token) >= 40
    assert session_user(token, "print", HOURS_12) == "boss"
    close_session(token)
    assert session_user(token, "print", HOURS_12) is None
    assert PanelSession.select().count() == 0


def test_a_session_for_other_credentials_or_an_unknown_token_names_nobody(any_db):
    token = open_session("boss", "print", HOURS_12)
    assert session_user(token, "another print", HOURS_12) is None
    for unknown in ("", "x" * 5000, token[:-1]):
        assert session_user(unknown, "print", HOURS_12) is None


def test_a_session_lasts_12_hours_after_it_was_last_used(any_db):
    start = utcnow()
    token = open_session("boss", "print", HOURS_12, now=start)

    def user_at(hours):
        return session_user(token, "print", HOURS_12, now=start + datetime.timedelta(hours=hours))
    assert user_at(11) == "boss"  # and now good until hour 23
    assert user_at(22) == "boss"  # until hour 34
    assert user_at(34.1) is None


def test_use_is_recorded_at_most_once_a_minute(any_db):
    start = utcnow()
    token = open_session("boss", "print", HOURS_12, now=start)
    session_user(token, "print", HOURS_12, now=start + datetime.timedelta(seconds=30))
    assert PanelSession.get_by_id(token).last_seen_at == start
    session_user(token, "print", HOURS_12, now=start + datetime.timedelta(seconds=90))
    row = PanelSession.get_by_id(token)
    assert row.last_seen_at == start + datetime.timedelta(seconds=90)
    assert row.expires_at == row.last_seen_at + HOURS_12


def test_a_new_login_clears_out_dead_sessions(any_db):
    start = utcnow()
    expired = open_session("boss", "print", HOURS_12, now=start - datetime.timedelta(days=1))
    old_password = open_session("boss", "old print", HOURS_12, now=start)
    other_device = open_session("boss", "print", HOURS_12, now=start)
    open_session("boss", "print", HOURS_12, now=start)
    left = {row.id for row in PanelSession.select()}
    assert expired not in left and old_password not in left and other_device in left
    assert len(left) == 2


def panel(**env):
    base = {"ADMIN_USERNAME": "boss", "ADMIN_PASSWORD": "pw", "SECRET_KEY": KEY}
    return load_settings({**base, **env})


def test_the_fingerprint_follows_the_login_and_the_key_but_not_a_restart():
    same = login_fingerprint(panel(), KEY)
    assert login_fingerprint(panel(), KEY) == same
    for changed in (login_fingerprint(panel(ADMIN_PASSWORD="pw2"), KEY),
                    login_fingerprint(panel(ADMIN_USERNAME="boss2"), KEY),
                    login_fingerprint(panel(ADMIN_PASSWORD_HASH="$2b$04$x"), KEY),
                    login_fingerprint(panel(), KEY + "x")):
        assert changed != same
