"""After the login, `next` sends the deployer back to the page asked for, and never to
another site, however the target is disguised (issue 9)."""
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.panel.conftest import PASSWORD, USERNAME

LOGIN = {"username": USERNAME, "password": PASSWORD}
# Written as they appear in the login URL's query string.
ELSEWHERE = [
    "//evil.example/", "https://evil.example/", "/\\evil.example", "/%5Cevil.example",
    "/%09/evil.example", "/%0a/evil.example", "/%0d/evil.example", "/%0d%0a/evil.example",
    "%0d", "%0a", "%09//evil.example", "%20//evil.example",
    "%00//evil.example", "/%00/evil.example", "/%0b/evil.example", "/%7f/evil.example",
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "%20javascript:alert(1)",
    "data:text/html,hi", "////evil.example", "///evil.example", "/%5C/evil.example",
    "%5C%5Cevil.example", "\\\\evil.example", "http:/evil.example", "https:evil.example",
    "http:evil.example", "//evil.example@panel", "/%09%09/evil.example", "%2F%2Fevil.example",
    "evil.example", ".//evil.example", "", "%20",
    "//[", "http://[::1",  # urlsplit refuses a bad IPv6 host: not a 500
]


def after_login(client, target):
    response = client.post("/login", query_string={"next": target}, data=LOGIN)
    assert response.status_code == 302, (target, response.status_code)
    return response.headers["Location"]


def test_the_page_asked_for_is_where_the_login_leads(app):
    for target in ["/leads/?search=x", "/leads/?search=a%20b&page=2", "/lead/3/pipeline",
                   "/broadcast/", "/outbox/?flt0_0=failed#top", "/", "/.well-known"]:
        assert after_login(app.test_client(), target) == target


@pytest.mark.parametrize("target", ELSEWHERE)
def test_no_target_leads_to_another_site(client, target):
    response = client.post(f"/login?next={target}", data=LOGIN)
    assert response.status_code == 302, response.status_code
    assert response.headers["Location"] == "/"


def test_a_line_break_in_the_target_never_reaches_the_headers(client):
    # Browsers drop tabs and line breaks inside a URL; so does the login, and what is
    # left here is a path on this site.
    response = client.post("/login?next=/%0d%0aSet-Cookie:%20x=1", data=LOGIN)
    assert response.headers["Location"] == "/Set-Cookie:%20x=1"
    assert "x=1" not in response.headers.get("Set-Cookie", "")


def leaves_the_site(location):
    parts = urlsplit(location)
    return (not location.startswith("/") or location.startswith(("//", "/\\"))
            or parts.scheme != "" or parts.netloc != ""
            or any(ord(c) < 0x21 or ord(c) == 0x7f for c in location))


# Characters browsers treat specially in URLs, so that they come up often.
URL_SOUP = st.text(alphabet=st.sampled_from("/\\:.@?#%\t\n\r \x00\x0b\x0c\x7fhtpsjavcrix09dDaA"),
                   max_size=20)


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.one_of(URL_SOUP, st.text(max_size=40), st.from_regex(r"\A/[\s\S]{0,20}\Z")))
def test_any_next_stays_on_this_site_and_never_breaks_the_login(app, target):
    location = after_login(app.test_client(), target)
    assert not leaves_the_site(location), (target, location)
