"""Odd query strings and form posts get an answer, never a server error, on both backends."""
import pytest

import admin
import models
from panel import auth
from tests.panel.conftest import log_in, panel_settings

HUGE = "9" * 25  # overflows any integer column
ODD_PAGES = [
    "/leads/?page=-1", "/leads/?page=abc", "/leads/?sort=99", "/leads/?sort=abc&desc=x",
    "/leads/?flt0_99=x", "/leads/?flt0_0=%00", "/leads/?search=%00", "/leads/?search=" + "a" * 5000,
    "/leads/?search=%25_%5C", f"/leads/?flt0_1={HUGE}", "/leads/?flt0_2=2026-13-01+to+2026-01-01",
    "/leads/?flt0_2=0001-01-01+to+9999-12-31", "/leads/?page_size=100000", "/leads/export/xlsx/",
    "/leads/edit/?id=999999", "/leads/edit/?id=abc", "/leads/details/?id=%00",
    "/members/edit/?id=abc", f"/members/details/?id={HUGE}",
    "/outbox/details/?id=abc", "/outbox/?flt0_1=abc", f"/outbox/?flt0_1={HUGE}", "/outbox/?page=99999999999",
    "/leads/ajax/lookup/?name=created_by&query=x", "/outbox/ajax/lookup/?name=x",
    "/broadcast/?page=abc", "/broadcast/?page=-5", f"/broadcast/progress.json?id=abc&id={HUGE}",
]
ODD_POSTS = [
    ("/leads/new/", {"email": "a\x00@b.co", "phone": "+442079460958", "first_name": "A\x00",
                     "last_name": "B", "country": "GB"}),
    ("/leads/new/", {"email": "x" * 10000 + "@b.co", "phone": "1" * 500, "first_name": "A" * 5000,
                     "last_name": "B", "country": "G" * 300}),
    ("/leads/new/", {}),
    ("/broadcast/new", {"text": "\x00hi", "audience": "team"}),
    ("/broadcast/send", {"text": "\x00", "audience": "team"}),
    ("/broadcast/new", {"text": "<b>" * 2000, "audience": "team"}),
    ("/broadcast/send", {"audience": "team", "test_mode": "maybe"}),
    ("/members/edit/?id=1", {"role": "owner"}),
    ("/outbox/action/", {"action": "retry", "rowid": ["abc", HUGE]}),
    ("/leads/action/", {"action": "delete", "rowid": ["abc", HUGE]}),
    ("/members/action/", {"action": "deactivate", "rowid": ["abc", HUGE]}),
    ("/leads/delete/", {"id": HUGE}),
    ("/leads/ajax/update/", {"list_form_pk": "1", "email": "x"}),
    ("/login", {"username": "\x00", "password": "x" * 100_000}),
]


@pytest.fixture(params=["sqlite", "postgres"])
def odd_browser(request, sqlite_url, make_user):
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    app = admin.create_app(panel_settings(url))
    app.config.update(WTF_CSRF_ENABLED=False)
    auth.limiter.reset()
    if request.param == "postgres":
        models.db.execute_sql('TRUNCATE "outbox", "broadcast", "lead", "user" RESTART IDENTITY CASCADE')
    make_user("admin")
    client = app.test_client()
    log_in(client)
    yield client
    models.db.close()


def test_odd_query_strings_never_break_a_page(odd_browser):
    errors = [(url, odd_browser.get(url).status_code) for url in ODD_PAGES]
    assert [e for e in errors if e[1] >= 500] == []


def test_odd_posts_never_break_a_form(odd_browser):
    errors = [(url, odd_browser.post(url, data=data).status_code) for url, data in ODD_POSTS]
    assert [e for e in errors if e[1] >= 500] == []
    assert models.Lead.select().count() == 0 and models.Broadcast.select().count() == 0
