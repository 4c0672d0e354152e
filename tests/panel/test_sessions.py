"""Logging out, or the deployer changing the password, ends the session for good (issue 9):
a copy of the session cookie opens nothing afterwards. Sessions are rows in the database,
so this holds on SQLite and on Postgres."""
import bcrypt
import pytest

import models
from panel import auth, create_app
from tests.panel.conftest import log_in, panel_settings

COOKIE = "leadgram_session"


@pytest.fixture
def start_panel(panel_database_url):
    """Starts (and restarts) the panel on one database with the given settings."""
    def start(**env):
        app = create_app(panel_settings(panel_database_url, **env))
        auth.limiter.reset()
        app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
        return app
    yield start
    models.db.close()


def copy_of(client, app):
    """Another browser holding a copy of `client`'s session cookie."""
    thief = app.test_client()
    thief.set_cookie(COOKIE, client.get_cookie(COOKIE).value)
    return thief


def logged_in(client):
    response = client.get("/leads/")
    if response.status_code == 302:
        assert response.headers["Location"].startswith("/login")
        return False
    assert response.status_code == 200
    return True


def test_a_copied_cookie_opens_nothing_after_logout(start_panel):
    app = start_panel()
    client = app.test_client()
    assert log_in(client).status_code == 302
    copy = copy_of(client, app)
    assert logged_in(copy)
    assert client.post("/logout").status_code == 302
    assert not logged_in(copy)
    assert not logged_in(client)


def test_logging_out_ends_only_that_session(start_panel):
    app = start_panel()
    laptop, phone = app.test_client(), app.test_client()
    log_in(laptop)
    log_in(phone)
    laptop.post("/logout")
    assert logged_in(phone) and not logged_in(laptop)


def test_a_restart_keeps_sessions_but_a_new_password_ends_them(start_panel):
    app = start_panel(ADMIN_PASSWORD_HASH=None, ADMIN_PASSWORD="first password")
    client = app.test_client()
    assert log_in(client, password="first password").status_code == 302
    restarted = start_panel(ADMIN_PASSWORD_HASH=None, ADMIN_PASSWORD="first password")
    assert logged_in(copy_of(client, restarted))
    changed = start_panel(ADMIN_PASSWORD_HASH=None, ADMIN_PASSWORD="second password")
    assert not logged_in(copy_of(client, changed))
    fresh = changed.test_client()
    assert log_in(fresh, password="second password").status_code == 302 and logged_in(fresh)


def test_a_new_password_hash_or_user_name_ends_sessions(start_panel):
    client = start_panel().test_client()
    log_in(client)
    new_hash = bcrypt.hashpw(b"a new password", bcrypt.gensalt(4)).decode()
    assert not logged_in(copy_of(client, start_panel(ADMIN_PASSWORD_HASH=new_hash)))
    assert not logged_in(copy_of(client, start_panel(ADMIN_USERNAME="someone-else")))
    assert logged_in(copy_of(client, start_panel()))  # the old login again: still valid

