"""The unsubscribe link of every email: a token signed with SECRET_KEY (services/inbox/
unsubscribe.py), and its page in the panel, served without a login (panel/unsubscribe_views.py):
GET asks, POST (a person's click or a mail program's RFC 8058 one-click) opts the address out."""
import dataclasses

import pytest

from models import Contact
from services.core.actors import Actor
from services.core.config import load_settings
from services.inbox import clients, consent, unsubscribe
from tests.panel.conftest import make_app, panel_database_url  # noqa: F401 - fixtures

JANE = "jane@example.org"
BASE = "https://crm.example.com"
SETTINGS = dataclasses.replace(load_settings({}), secret_key="s" * 40, public_base_url=BASE)


def client_with_email(address=JANE):
    lead, _ = clients.from_address(Actor.system("test"), "email", address, "Jane Doe")
    return lead


def opted_out(lead, address=JANE):
    return consent.opted_out(lead.id, "email", address)


# -- the token ----------------------------------------------------------------------------------


def test_a_token_names_the_client_and_the_address():
    token = unsubscribe.token_for(SETTINGS, 7, JANE)
    assert unsubscribe.read_token(SETTINGS, token) == (7, JANE)
    assert unsubscribe.url_for_contact(SETTINGS, 7, JANE) == f"{BASE}/unsubscribe/{token}"


@pytest.mark.parametrize("token", ["", "nonsense", "a.b", None, 42])
def test_anything_else_is_no_token(token):
    assert unsubscribe.read_token(SETTINGS, token) is None


def test_a_changed_token_or_another_key_is_refused():
    token = unsubscribe.token_for(SETTINGS, 7, JANE)
    assert unsubscribe.read_token(SETTINGS, token[:-2] + ("AA" if token[-2:] != "AA" else "BB")) is None
    other = dataclasses.replace(SETTINGS, secret_key="t" * 40)
    assert unsubscribe.read_token(other, token) is None
    forged = unsubscribe.token_for(other, 8, "bob@example.org")
    assert unsubscribe.read_token(SETTINGS, forged) is None


def test_no_link_without_a_public_url_or_a_secret_key():
    assert unsubscribe.url_for_contact(dataclasses.replace(SETTINGS, public_base_url=""), 7, JANE) is None
    assert unsubscribe.url_for_contact(dataclasses.replace(SETTINGS, secret_key=""), 7, JANE) is None
    assert unsubscribe.read_token(dataclasses.replace(SETTINGS, secret_key=""), "x") is None


def test_unsubscribing_opts_the_address_out_of_email_only(any_db):
    lead = client_with_email()
    clients.from_address(Actor.system("test"), "phone", "+12025550123")  # another client: untouched
    token = unsubscribe.token_for(SETTINGS, lead.id, JANE)
    assert unsubscribe.unsubscribe(SETTINGS, token) is True
    assert opted_out(lead)
    assert unsubscribe.unsubscribe(SETTINGS, token) is False   # already out
    assert unsubscribe.unsubscribe(SETTINGS, "nonsense") is None
    assert Contact.select().where(Contact.opted_out_at.is_null(False)).count() == 1


def test_a_link_to_a_client_who_is_gone_does_nothing(any_db):
    assert unsubscribe.unsubscribe(SETTINGS, unsubscribe.token_for(SETTINGS, 999, JANE)) is False


# -- the page -----------------------------------------------------------------------------------


@pytest.fixture
def site(make_app):  # noqa: F811 - the fixture imported above
    """The panel as admin.py serves it, CSRF on, nobody logged in."""
    return make_app(csrf=True, COMPANY_NAME="Acme", PUBLIC_BASE_URL=BASE)


def link(site, lead, address=JANE):
    settings = site.extensions["leadgram"].settings
    return unsubscribe.url_for_contact(settings, lead.id, address).removeprefix(BASE)


def test_opening_the_link_only_asks(site):
    lead = client_with_email()
    page = site.test_client().get(link(site, lead))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Stop emails from Acme to jane@example.org?" in html and ">Unsubscribe</button>" in html
    assert not opted_out(lead)   # a mail scanner fetching the link unsubscribes no one


def test_the_button_unsubscribes_without_a_login_or_csrf_token(site):
    lead = client_with_email()
    page = site.test_client().post(link(site, lead))
    assert page.status_code == 200
    assert "You will get no more emails from Acme" in page.get_data(as_text=True)
    assert opted_out(lead)
    again = site.test_client().post(link(site, lead))
    assert again.status_code == 200 and "no more emails" in again.get_data(as_text=True)


def test_one_click_unsubscribe_from_a_mail_program(site):
    lead = client_with_email()
    response = site.test_client().post(link(site, lead), data="List-Unsubscribe=One-Click",
                                       content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and opted_out(lead)


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_bad_link_says_so(site, method):
    lead = client_with_email()
    bad = link(site, lead)[:-3] + "xyz"
    response = getattr(site.test_client(), method)(bad)
    assert response.status_code == 404
    assert "This unsubscribe link is not valid" in response.get_data(as_text=True)
    assert not opted_out(lead)


def test_the_rest_of_the_panel_still_wants_a_login(site):
    assert site.test_client().get("/").status_code == 302
