"""One throttle for every way of presenting a secret (issue 9): wrong passwords on the login
form and wrong metrics tokens share one budget per client address, and the login form has a
second budget per user name that holds across addresses. HTTP Basic opens nothing, so it
checks no password and cannot be used to guess one."""
import pytest

from tests.panel.conftest import PASSWORD, USERNAME, text_of

METRICS_TOKEN = "metrics-token-0123456789-abcdefghijklmnop"


@pytest.fixture
def app(make_app):
    return make_app(METRICS_TOKEN=METRICS_TOKEN)


def log_in_from(client, address, username=USERNAME, password=PASSWORD):
    return client.post("/login", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def scrape(client, token, address="127.0.0.1"):
    return client.get("/metrics", headers={"Authorization": f"Bearer {token}"},
                      environ_base={"REMOTE_ADDR": address})


def test_the_metrics_token_opens_metrics(client):
    response = scrape(client, METRICS_TOKEN)
    assert response.status_code == 200 and "leadgram_leads" in text_of(response)
    assert scrape(client, METRICS_TOKEN[:-1]).status_code == 401
    elsewhere = client.get("/leads/", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert elsewhere.status_code == 302  # the token opens /metrics and nothing else


def test_without_a_metrics_token_set_no_bearer_token_opens_metrics(make_app):
    client = make_app().test_client()
    assert scrape(client, "").status_code == 401
    assert scrape(client, "anything").status_code == 401


def test_wrong_metrics_tokens_are_throttled_per_address(client):
    codes = [scrape(client, f"guess-{n}").status_code for n in range(83)]
    assert codes[:5] == [401] * 5 and set(codes[5:]) == {429}
    throttled = scrape(client, METRICS_TOKEN)  # even the right token waits now
    assert throttled.status_code == 429
    assert "Too many wrong passwords or tokens" in text_of(throttled)
    assert 0 < int(throttled.headers["Retry-After"]) <= 60
    assert scrape(client, METRICS_TOKEN, address="10.0.0.9").status_code == 200


def test_http_basic_is_no_way_in_so_it_cannot_test_passwords(client):
    for password in (PASSWORD, "wrong", PASSWORD):
        metrics = client.get("/metrics", auth=(USERNAME, password))
        assert metrics.status_code == 401
        assert metrics.headers["WWW-Authenticate"].startswith("Bearer")
        assert "METRICS_TOKEN" in text_of(metrics)
        assert client.get("/leads/", auth=(USERNAME, password)).status_code == 302


def test_form_logins_and_metrics_tokens_share_one_budget_per_address(client):
    for n in range(3):
        assert scrape(client, f"guess-{n}").status_code == 401
    for n in range(2):
        assert log_in_from(client, "127.0.0.1", username=f"someone{n}",
                           password="guess").status_code == 401
    throttled = log_in_from(client, "127.0.0.1")
    assert throttled.status_code == 429
    assert "Too many wrong passwords" in text_of(throttled)
    assert scrape(client, METRICS_TOKEN).status_code == 429


def test_wrong_passwords_are_throttled_per_address(client):
    # A different user name each time, so only the address's budget runs out.
    for n in range(5):
        wrong = log_in_from(client, "10.0.0.1", username=f"guess{n}", password="x")
        assert wrong.status_code == 401
    throttled = log_in_from(client, "10.0.0.1")  # even the right password waits now
    assert throttled.status_code == 429
    assert "Too many wrong passwords" in text_of(throttled)
    assert log_in_from(client, "10.0.0.2").status_code == 302


def test_wrong_passwords_for_one_user_name_are_throttled_across_addresses(client):
    for n in range(5):
        assert log_in_from(client, f"10.0.1.{n}", password="guess").status_code == 401
    throttled = log_in_from(client, "10.0.2.1")
    assert throttled.status_code == 429
    assert "Too many wrong passwords" in text_of(throttled)
    # Another user name from a fresh address is still answered.
    assert log_in_from(client, "10.0.2.2", username="other", password="guess").status_code == 401


def test_successful_logins_and_scrapes_do_not_count(client):
    for _ in range(8):
        assert log_in_from(client, "10.0.3.1").status_code == 302
        client.post("/logout", environ_base={"REMOTE_ADDR": "10.0.3.1"})
        assert scrape(client, METRICS_TOKEN, address="10.0.3.1").status_code == 200

