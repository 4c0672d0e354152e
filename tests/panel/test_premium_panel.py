"""The Premium card of a customer's page in the panel (panel/customer_views.py): Grant 30
days (added to the end) and End Premium now, next to the date setter; audited, the
customer told, the login and a CSRF token required, bad ids and methods answered without
a server error, user data escaped. On SQLite and Postgres."""
import datetime
import html
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from models import AuditEntry, Message, Wallet, utcnow
from services.shop import premium, wallet
from tests.fuzz_values import values
from tests.panel.conftest import log_in, text_of
from tests.panel.shop_helpers import KEY, PANEL, XSS, customer, shop_panel

GRANT, END = "/customers/premium/grant/", "/customers/premium/end/"
MONTH = datetime.timedelta(days=30)


@pytest.fixture
def shop(make_app):
    yield from shop_panel(make_app)


def page(response):
    return html.unescape(text_of(response))


def until_of(lead):
    return Wallet.get(Wallet.lead == lead.id).premium_until


def test_grant_gives_thirty_days_then_thirty_more_from_the_end_audited(shop):
    lead, _ = customer(tokens=0)
    card = page(shop.get(f"/customers/details/?id={lead.id}"))
    assert "Grant 30 days" in card and "End Premium now" not in card and 'name="until"' in card
    before = utcnow()
    text = page(shop.post(GRANT, data={"id": lead.id}, follow_redirects=True))
    first = until_of(lead)
    assert before + MONTH <= first <= utcnow() + MONTH
    assert f"Premium granted: 30 days more, until {first:%Y-%m-%d %H:%M} (UTC). The customer is told." in text
    assert "Premium</span>" in text and "End Premium now" in text
    shop.post(GRANT, data={"id": lead.id})
    assert until_of(lead) == first + MONTH and wallet.balance(lead.id) == 0
    entries = list(AuditEntry.select().where(AuditEntry.event == "premium.granted").order_by(AuditEntry.id))
    assert [(e.actor_kind, e.actor_ref, e.entity) for e in entries] == [("panel", "boss", "wallet")] * 2
    assert Message.select().where(Message.sender_kind == "system").count() == 0   # no Telegram: not sent


def test_end_now_ends_it_audited_and_again_says_there_is_none(shop):
    lead, _ = customer(tokens=0)
    premium.grant(PANEL, lead.id)
    text = page(shop.post(END, data={"id": lead.id}, follow_redirects=True))
    assert "Premium ended: the customer pays regular prices from now on, and is told." in text
    assert until_of(lead) <= utcnow() and not wallet.is_subscriber(lead.id)
    assert "(ended)" in text and "End Premium now" not in text
    entry = AuditEntry.get(AuditEntry.event == "premium.ended")
    assert (entry.actor_kind, entry.actor_ref) == ("panel", "boss")
    text = page(shop.post(END, data={"id": lead.id}, follow_redirects=True))
    assert f"Customer #{lead.id} has no Premium to end." in text
    assert AuditEntry.select().where(AuditEntry.event == "premium.ended").count() == 1


def test_the_grant_speaks_the_deployers_time_zone(make_app):
    client = make_app(SHOP="1", DATA_ENCRYPTION_KEY=KEY, TZ="Asia/Tokyo").test_client()
    log_in(client)
    lead, _ = customer(tokens=0)
    text = page(client.post(GRANT, data={"id": lead.id}, follow_redirects=True))
    local = (until_of(lead) + datetime.timedelta(hours=9)).strftime("%Y-%m-%d %H:%M")
    assert f"until {local} (Asia/Tokyo)." in text


def test_the_date_setter_still_works_beside_the_buttons(shop):
    lead, _ = customer(tokens=0)
    shop.post("/customers/premium/", data={"id": lead.id, "until": "2031-05-04"})
    assert until_of(lead) == datetime.datetime(2031, 5, 5)
    shop.post(GRANT, data={"id": lead.id})
    assert until_of(lead) == datetime.datetime(2031, 6, 4)


def test_names_stay_escaped_on_the_card_and_in_the_flash(shop):
    lead, _ = customer(XSS, XSS, first_name=XSS)
    for url in (GRANT, END):
        response = shop.post(url, data={"id": lead.id}, follow_redirects=True)
        assert response.status_code == 200 and XSS not in text_of(response), url
        assert "&lt;script&gt;" in text_of(response)


def test_bad_ids_and_methods_get_an_answer_not_a_server_error(shop):
    lead, _ = customer(tokens=0)
    for url in (GRANT, END):
        for data in ({"id": "²"}, {"id": "abc"}, {"id": "999"}, {}, {"id": str(2**70)}, {"id": "\x00"}):
            assert shop.post(url, data=data).status_code == 404, (url, data)
        assert shop.get(f"{url}?id={lead.id}").status_code == 405, url
    assert Wallet.select().where(Wallet.premium_until.is_null(False)).count() == 0
    assert AuditEntry.select().where(AuditEntry.event.startswith("premium.")).count() == 0


def test_the_buttons_need_a_login(make_app):
    client = make_app(SHOP="1", DATA_ENCRYPTION_KEY=KEY).test_client()
    lead, _ = customer(tokens=0)
    for url in (GRANT, END):
        assert client.post(url, data={"id": lead.id}).headers["Location"].startswith("/login"), url
    assert premium.until(lead.id) is None


def test_the_buttons_need_a_csrf_token(make_app):
    client = make_app(csrf=True, SHOP="1", DATA_ENCRYPTION_KEY=KEY).test_client()
    login_page = text_of(client.get("/login"))
    log_in(client, csrf_token=re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1))
    lead, _ = customer(tokens=0)
    premium.grant(PANEL, lead.id)
    ends = until_of(lead)
    for url in (GRANT, END):
        assert client.post(url, data={"id": lead.id}).status_code == 400, url
        assert client.post(url, data={"id": lead.id, "csrf_token": "forged"}).status_code == 400, url
    assert until_of(lead) == ends
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      text_of(client.get(f"/customers/details/?id={lead.id}"))).group(1)
    client.post(END, data={"id": lead.id, "csrf_token": token})
    assert not wallet.is_subscriber(lead.id)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(which=st.sampled_from([GRANT, END]), key=st.sampled_from(["id", "days", "until", "clear"]),
       value=values)
def test_fuzzed_forms_never_fail(shop, which, key, value):
    lead, _ = customer(tokens=0)
    response = shop.post(which, data={"id": str(lead.id), key: value})
    assert response.status_code in (302, 404), (which, key, value)
    assert wallet.problems() == []
