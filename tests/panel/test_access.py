"""Who gets in: every page needs the login but /health, the login page, static files, and
the pages that prove themselves otherwise: Twilio's and OxaPay's webhooks (a signature) and the email
unsubscribe pages (a signed link).

The throttle on wrong passwords and tokens is in test_login_throttle.py, logging out in
test_sessions.py, and where the login leads (`next`) in test_login_redirect.py."""
import pytest

from panel import auth, create_app
from services.core.config import ConfigError
from tests.panel.conftest import PASSWORD, USERNAME, csrf_token, log_in, panel_settings, text_of

PUBLIC = {"auth.login", "ops.health_check", "static", "admin.static"}


def every_route(app, public=False):
    """(method, url) of every route that needs the login (`public`: of those that do not)."""
    for rule in app.url_map.iter_rules():
        outside = rule.endpoint.split(".")[0] in auth.PUBLIC_BLUEPRINTS
        if rule.endpoint in PUBLIC or outside != public:
            continue
        url = rule.rule.replace("<export_type>", "csv")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, url


def test_the_panel_has_the_expected_pages(app):
    urls = {url for _, url in every_route(app)}
    assert {"/", "/leads/", "/members/", "/outbox/", "/broadcast/", "/broadcast/new",
            "/broadcast/send", "/metrics", "/logout", "/leads/export/csv/"} <= urls


def test_every_page_but_the_public_ones_needs_a_login(client, app):
    routes = list(every_route(app))
    assert len(routes) > 30
    for method, url in routes:
        response = client.open(url, method=method)
        if url == "/metrics":
            assert response.status_code == 401, url
        else:
            assert response.status_code == 302, (method, url, response.status_code)
            assert response.headers["Location"].startswith("/login"), (method, url)


def test_webhooks_and_unsubscribe_links_answer_for_themselves_without_a_login(client, app):
    answers = {(method, url): client.open(url.replace("<token>", "not-a-token"), method=method)
               for method, url in every_route(app, public=True)}
    assert {url for _, url in answers} == {"/hooks/twilio/sms", "/hooks/twilio/whatsapp",
                                          "/hooks/twilio/status", "/hooks/oxapay",
                                          "/unsubscribe/<token>"}
    for (method, url), response in answers.items():
        # Refused by their own check (no signature, a link that is not ours; OxaPay's
        # webhook answers anything but POST with 405), never a login page.
        expected = 404 if not url.startswith("/hooks") else (
            405 if url == "/hooks/oxapay" and method != "POST" else 403)
        assert response.status_code == expected, (method, url)
        assert "Location" not in response.headers


def test_json_clients_get_401_not_a_redirect(client):
    response = client.get("/broadcast/progress.json", headers={"Accept": "application/json"})
    assert response.status_code == 401


def test_public_pages_need_no_login(client):
    assert client.get("/login").status_code == 200
    assert client.get("/health").status_code in (200, 503)
    assert client.get("/static/panel.css").status_code == 200
    assert client.get("/static/admin/bootstrap/bootstrap4/css/bootstrap.min.css").status_code == 200


def test_login_then_the_page_asked_for(client):
    response = client.get("/leads/?search=x")
    assert response.headers["Location"] == "/login?next=/leads/?search%3Dx"
    response = client.post("/login?next=/leads/?search%3Dx",
                           data={"username": USERNAME, "password": PASSWORD})
    assert response.headers["Location"] == "/leads/?search=x"
    assert client.get("/leads/?search=x").status_code == 200


def test_wrong_user_and_wrong_password_look_the_same(client):
    wrong_user = log_in(client, username="nobody")
    wrong_password = log_in(client, password="nope")
    assert wrong_user.status_code == wrong_password.status_code == 401
    assert "Wrong user name or password." in text_of(wrong_user)
    assert text_of(wrong_user) == text_of(wrong_password).replace('value="boss"', 'value="nobody"')
    assert client.get("/").status_code == 302


def test_session_cookie_is_httponly_and_samesite(client):
    response = log_in(client)
    cookie = response.headers["Set-Cookie"]
    assert "leadgram_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_logout_ends_the_session(browser):
    assert browser.post("/logout").status_code == 302
    assert browser.get("/").status_code == 302


def test_security_headers(browser):
    headers = browser.get("/").headers
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


# --- CSRF: Flask-WTF's, on every form and action -----------------------------------

@pytest.fixture
def csrf_browser(make_app):
    client = make_app(csrf=True).test_client()
    token = csrf_token(client, "/login")
    assert log_in(client, csrf_token=token).status_code == 302
    return client


def test_login_without_a_csrf_token_is_refused(make_app):
    client = make_app(csrf=True).test_client()
    response = log_in(client)
    assert response.status_code == 400
    assert "This form expired or did not come from this panel" in text_of(response)


@pytest.mark.parametrize("url,data", [
    ("/leads/new/", {"email": "a@b.co", "phone": "+442079460958", "first_name": "A",
                     "last_name": "B", "country": "GB"}),
    ("/leads/action/", {"action": "delete", "rowid": "1"}),
    ("/outbox/action/", {"action": "retry", "rowid": "1"}),
    ("/members/action/", {"action": "deactivate", "rowid": "1"}),
    ("/broadcast/new", {"text": "hi", "audience": "team"}),
    ("/broadcast/send", {"text": "hi", "audience": "team", "test_mode": "1"}),
    ("/logout", {}),
])
def test_forms_and_actions_without_a_csrf_token_are_refused(csrf_browser, url, data):
    response = csrf_browser.post(url, data=data)
    assert response.status_code == 400, url
    assert csrf_browser.get("/").status_code == 200  # still logged in


def test_forms_with_the_token_work(csrf_browser):
    token = csrf_token(csrf_browser, "/leads/new/")
    response = csrf_browser.post("/leads/new/", data={
        "csrf_token": token, "email": "a@b.co", "phone": "+442079460958", "first_name": "A",
        "last_name": "B", "country": "GB"})
    assert response.status_code == 302


# --- Refusing to start without a safe configuration --------------------------------

def test_no_credentials_refuses_to_start(sqlite_url):
    with pytest.raises(ConfigError, match="ADMIN_USERNAME and either ADMIN_PASSWORD"):
        create_app(panel_settings(sqlite_url, ADMIN_PASSWORD_HASH=None))


@pytest.mark.parametrize("key", [None, "short", "change-me", "a" * 40])
def test_missing_or_weak_secret_key_refuses_to_start(sqlite_url, key):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app(panel_settings(sqlite_url, SECRET_KEY=key))


def test_development_may_run_without_a_secret_key(sqlite_url):
    app = create_app(panel_settings(sqlite_url, SECRET_KEY=None, LEADGRAM_ENV="development"))
    assert len(app.secret_key) >= 32


def test_a_bad_password_hash_is_refused(sqlite_url):
    with pytest.raises(ConfigError, match="ADMIN_PASSWORD_HASH is not a bcrypt hash"):
        create_app(panel_settings(sqlite_url, ADMIN_PASSWORD_HASH="plain-text"))


def test_a_plain_password_works_too(make_app):
    client = make_app(ADMIN_PASSWORD_HASH=None, ADMIN_PASSWORD="s3cret!").test_client()
    assert log_in(client, password="s3cret!").status_code == 302
