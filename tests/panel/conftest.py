"""An admin panel on a fresh database per test, like flaskr's conftest: each test that
takes `make_app` (or `app`, `client`, `browser`) runs on SQLite and on Postgres."""
import re

import bcrypt
import pytest

import models
from panel import auth, create_app
from services.core.config import load_settings
from tests.conftest import fresh_postgres

USERNAME, PASSWORD = "boss", "correct horse battery staple"
# Cheap bcrypt rounds: the tests log in often.
PASSWORD_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
SECRET_KEY = "test-secret-key-0123456789-abcdefghijklmnop"


def panel_settings(database_url, **env):
    base = {"DATABASE_URL": database_url, "ADMIN_USERNAME": USERNAME,
            "ADMIN_PASSWORD_HASH": PASSWORD_HASH, "SECRET_KEY": SECRET_KEY,
            "TELEGRAM_BOT_TOKEN": "1:test", "ADMIN_TELEGRAM_IDS": "1"}
    base.update(env)
    return load_settings({k: v for k, v in base.items() if v is not None})


@pytest.fixture(params=["sqlite", "postgres"])
def panel_database_url(request, sqlite_url):
    """A new SQLite file, or the session's Postgres database emptied as for any_db (and
    bound already, so rows made before the app starts land in it too)."""
    if request.param == "sqlite":
        return sqlite_url
    url = request.getfixturevalue("postgres_url")
    fresh_postgres(url).close()
    return url


@pytest.fixture
def make_app(panel_database_url):
    def make(csrf=False, **env):
        app = create_app(panel_settings(panel_database_url, **env))
        auth.limiter.reset()  # its memory outlives each app
        app.config.update(TESTING=True, WTF_CSRF_ENABLED=csrf)
        return app
    yield make
    if models.db.obj is not None:
        models.db.close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


def log_in(client, username=USERNAME, password=PASSWORD, **extra):
    return client.post("/login", data={"username": username, "password": password, **extra})


@pytest.fixture
def browser(client):
    """A client that has logged in."""
    response = log_in(client)
    assert response.status_code == 302, response.data
    return client


def csrf_token(client, url):
    """The token a page's form carries, as a browser would submit it."""
    html = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)


def text_of(response):
    return response.get_data(as_text=True)
