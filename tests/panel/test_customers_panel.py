"""The shop's customers in the panel: the list (balance, Premium, profiles and orders),
each customer's page with their profiles, orders and ledger, balance adjustments with a
reason, Premium, profile edits and deletions, the audited password reveal; user data
escaped, the login and CSRF required; on SQLite and Postgres."""
import datetime
import html
import re

import pytest

from models import AuditEntry, CustomerProfile, Lead, LedgerEntry, Wallet, utcnow
from services.shop import wallet
from tests.panel.conftest import log_in, text_of
from tests.panel.shop_helpers import KEY, PANEL, PASSWORD, XSS, customer, order, shop_panel


@pytest.fixture
def shop(make_app):
    yield from shop_panel(make_app)


def page(response):
    return html.unescape(text_of(response))


def listed(response):
    return [int(i) for i in re.findall(r'href="/customers/details/\?id=(\d+)"', text_of(response))]


def test_the_list_shows_customers_with_balance_premium_profiles_and_orders(shop):
    ann, ann_profile = customer("Ann", "Lee", tokens=700)
    order(ann, ann_profile)
    order(ann, ann_profile)
    bob = Lead.create(first_name="Bob")
    wallet.adjust(PANEL, bob.id, 50, "Trial")
    Lead.create(first_name="Nobody", last_name="Shopper")  # no wallet, no profile: not a customer
    carl, _ = customer("Carl", "Ng", tokens=0)  # a profile, no wallet yet
    wallet.set_premium(PANEL, bob.id, utcnow() + datetime.timedelta(days=3))
    response = shop.get("/customers/")
    text = page(response)
    assert listed(response) == [carl.id, bob.id, ann.id] and "Shopper" not in text
    row = re.search(r"Carl Ng.*?</tr>", text, re.S).group(0)
    assert [cell.strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)][:4] == ["0", "—", "1", "0"]
    row = re.search(r"Ann Lee.*?</tr>", text, re.S).group(0)
    assert [cell.strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)][:4] == ["500", "—", "1", "2"]
    assert listed(shop.get("/customers/?sort=2")) == [carl.id, bob.id, ann.id]  # by balance
    assert listed(shop.get("/customers/?sort=3")) == [ann.id, carl.id, bob.id]  # by Premium
    assert listed(shop.get("/customers/?sort=2&desc=1")) == [ann.id, bob.id, carl.id]
    assert listed(shop.get("/customers/?search=lee")) == [ann.id]
    view = next(v for v in shop.application.extensions["admin"][0]._views if v.endpoint == "customers")
    premium = view.get_filter_arg(0, view._filters[0])
    assert listed(shop.get(f"/customers/?flt0_{premium}=yes")) == [bob.id]
    assert listed(shop.get(f"/customers/?flt0_{premium}=no")) == [carl.id, ann.id]


def test_any_lead_opens_as_a_customer_and_gets_its_first_tokens_there(shop):
    lead = Lead.create(first_name="New", last_name="Comer")
    text = page(shop.get(f"/customers/details/?id={lead.id}"))
    assert 'id="balance">0<' in text and "No profiles." in text and "Premium: no" in text
    shop.post("/customers/adjust/", data={"id": lead.id, "amount": "40", "kind": "bonus", "reason": "Welcome"})
    assert wallet.balance(lead.id) == 40 and listed(shop.get("/customers/")) == [lead.id]


def test_a_customer_page_shows_profiles_orders_and_the_ledger_newest_first(shop):
    lead, profile = customer(tokens=1000)
    placed = order(lead, profile)
    text = page(shop.get(f"/customers/details/?id={lead.id}"))
    assert 'id="balance">900<' in text and "jane.roe@example.com" in text and "•••" in text
    assert PASSWORD not in text
    assert f'href="/orders/details/?id={placed.id}"' in text
    ledger = text[text.index('id="ledger"'):]
    assert ledger.index("order #1") < ledger.index("Welcome top-up")


def test_the_ledger_and_orders_are_paged(shop):
    lead, _ = customer(tokens=1)
    for n in range(24):
        wallet.adjust(PANEL, lead.id, 1, f"Gift {n}")
    first = page(shop.get(f"/customers/details/?id={lead.id}"))
    assert "Gift 23" in first and "Gift 3 " not in first and "Page 1 of 2" in first
    second = page(shop.get(f"/customers/details/?id={lead.id}&ledger_page=1"))
    assert "Gift 3" in second and "Welcome top-up" in second and "Gift 23" not in second
    odd = page(shop.get(f"/customers/details/?id={lead.id}&ledger_page=%C2%B2"))
    assert "² is not a page number; showing the newest entries." in odd


def test_the_balance_is_adjusted_with_a_reason(shop):
    lead, _ = customer(tokens=100)
    text = page(shop.post("/customers/adjust/", data={"id": lead.id, "amount": "-30", "kind": "adjustment",
                                                      "reason": "Double charge"}, follow_redirects=True))
    assert "Adjustment of -30 tokens: the balance is now 70. The customer is told." in text
    assert 'id="balance">70<' in text and "Double charge" in text
    text = page(shop.post("/customers/adjust/", data={"id": lead.id, "amount": "25", "kind": "bonus",
                                                      "reason": "Loyalty"}, follow_redirects=True))
    assert "Bonus of +25 tokens: the balance is now 95." in text
    entry = LedgerEntry.select().order_by(LedgerEntry.id.desc()).get()
    assert (entry.kind, entry.amount, entry.reference, entry.actor_kind) == ("bonus", 25, "Loyalty", "panel")
    assert AuditEntry.select().where(AuditEntry.event == "wallet.adjusted").count() == 3
    assert wallet.problems(lead.id) == []


def test_an_adjustment_without_a_reason_or_a_number_is_refused(shop):
    lead, _ = customer(tokens=100)
    for data, message in (
            ({"amount": "10", "reason": " "}, "Say why the balance changes, in 1 to 200 characters."),
            ({"amount": "٣", "reason": "x"}, "The amount must be a whole number of tokens written with the digits 0-9"),
            ({"amount": "0", "reason": "x"}, "The amount must be a whole number of tokens, not zero"),
            ({"amount": "-500", "reason": "x"}, "That needs 500 tokens and the balance is 100"),
            ({"amount": "-5", "reason": "x", "kind": "bonus"}, "A bonus adds tokens"),
            ({"amount": "5", "reason": "x", "kind": "purchase"}, "An adjustment is an adjustment or bonus.")):
        text = page(shop.post("/customers/adjust/", data={"id": lead.id, **data}, follow_redirects=True))
        assert message in text, data
    assert wallet.balance(lead.id) == 100 and LedgerEntry.select().count() == 1


def test_premium_is_set_to_the_end_of_a_day_and_cleared(shop):
    lead, _ = customer()
    text = page(shop.post("/customers/premium/", data={"id": lead.id, "until": "2031-05-04"},
                          follow_redirects=True))
    assert "Premium until the end of 2031-05-04 (UTC)." in text and "Premium</span>" in text
    assert Wallet.get(Wallet.lead == lead.id).premium_until == datetime.datetime(2031, 5, 5)
    text = page(shop.post("/customers/premium/", data={"id": lead.id, "clear": "1"}, follow_redirects=True))
    assert "Premium cleared" in text and Wallet.get(Wallet.lead == lead.id).premium_until is None
    text = page(shop.post("/customers/premium/", data={"id": lead.id, "until": "05/04/2031"},
                          follow_redirects=True))
    assert "Write the last day of Premium as YYYY-MM-DD." in text
    assert AuditEntry.select().where(AuditEntry.event == "wallet.updated").count() == 2


def test_a_profile_is_edited_with_refusals_under_their_fields(shop):
    lead, profile = customer()
    form = page(shop.get(f"/customers/profile/?id={profile.id}"))
    assert 'value="jane.roe@example.com"' in form and PASSWORD not in form
    values = {field: re.search(rf'name="{field}" id="{field}" value="([^"]*)"', form).group(1)
              for field in ("first_name", "last_name", "phone", "email", "date_of_birth", "country",
                            "street", "city", "state", "postal_code")}
    refused = page(shop.post(f"/customers/profile/?id={profile.id}", data={**values, "phone": "12"}))
    assert "That is not a phone number I can read" in refused or "not valid" in refused
    assert 'class="text-danger small field-error"' in refused and 'value="12"' in refused
    assert CustomerProfile.get_by_id(profile.id).phone == "+12025550143"
    response = shop.post(f"/customers/profile/?id={profile.id}", data={**values, "city": "Oakland"})
    assert response.status_code == 302
    saved = CustomerProfile.get_by_id(profile.id)
    assert saved.city == "Oakland" and saved.password == PASSWORD  # an empty password is kept
    assert AuditEntry.get(AuditEntry.event == "customer_profile.updated").entity_id == profile.id


def test_a_profile_is_deleted_softly(shop):
    lead, profile = customer()
    placed = order(lead, profile)
    text = page(shop.post("/customers/profile/delete/", data={"id": profile.id}, follow_redirects=True))
    assert f"Profile #{profile.id} deleted; its orders keep it." in text
    assert CustomerProfile.get_by_id(profile.id).deleted_at is not None
    assert "(deleted)" in page(shop.get("/orders/")) and "deleted" in page(shop.get(f"/orders/details/?id={placed.id}"))
    assert shop.post("/customers/profile/delete/", data={"id": profile.id}).status_code == 404


def test_a_password_is_revealed_for_admins_and_audited(shop):
    lead, profile = customer()
    assert PASSWORD not in text_of(shop.get(f"/customers/details/?id={lead.id}"))
    response = shop.post("/customers/profile/reveal/", data={"id": profile.id})
    assert response.status_code == 200 and PASSWORD in text_of(response)
    assert response.headers["Cache-Control"] == "no-store"
    entry = AuditEntry.get(AuditEntry.event == "customer_profile.password_revealed")
    assert (entry.entity_id, entry.actor_kind) == (profile.id, "panel")


def test_names_and_reasons_are_escaped(shop):
    lead, profile = customer(XSS, XSS, first_name=XSS, city=XSS)
    wallet.adjust(PANEL, lead.id, 5, XSS)
    for url in ("/customers/", f"/customers/details/?id={lead.id}", f"/customers/profile/?id={profile.id}",
                "/customers/?search=" + XSS):
        assert XSS not in text_of(shop.get(url)), url
    assert "&lt;script&gt;" in text_of(shop.get(f"/customers/details/?id={lead.id}"))


def test_odd_ids_and_values_get_an_answer_not_a_server_error(shop):
    lead, _ = customer()
    assert "Record does not exist." in text_of(shop.get("/customers/details/?id=abc", follow_redirects=True))
    for url in ("/customers/adjust/", "/customers/premium/", "/customers/profile/delete/",
                "/customers/profile/reveal/", "/customers/profile/"):
        assert shop.post(url, data={"id": "²", "amount": "1", "reason": "x"}).status_code == 404, url
    odd = ["/customers/?flt0_0=maybe", "/customers/?sort=99", f"/customers/?page={2**70}",
           f"/customers/details/?id={lead.id}&orders_page=-1", "/customers/profile/?id=%00"]
    assert [url for url in odd if shop.get(url).status_code >= 500] == []
    posts = [{"amount": str(2**70), "reason": "x"}, {"amount": "1", "reason": "x" * 5000},
             {"until": "9999-12-31"}, {"until": "\x00"}]
    assert [d for d in posts for url in ("/customers/adjust/", "/customers/premium/")
            if shop.post(url, data={"id": lead.id, **d}).status_code >= 500] == []
    assert wallet.balance(lead.id) == 1000


def test_the_customer_pages_need_a_login(make_app):
    client = make_app(SHOP="1").test_client()
    for url in ("/customers/", "/customers/details/?id=1", "/customers/profile/?id=1"):
        assert client.get(url).headers["Location"].startswith("/login"), url
    for url in ("/customers/adjust/", "/customers/premium/", "/customers/profile/",
                "/customers/profile/delete/", "/customers/profile/reveal/"):
        assert client.post(url, data={"id": "1"}).headers["Location"].startswith("/login"), url


def test_customer_forms_need_a_csrf_token(make_app):
    client = make_app(csrf=True, SHOP="1", DATA_ENCRYPTION_KEY=KEY).test_client()
    login_page = text_of(client.get("/login"))
    log_in(client, csrf_token=re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1))
    lead, profile = customer(tokens=100)
    for url, data in (("/customers/adjust/", {"id": lead.id, "amount": "5", "reason": "x"}),
                      ("/customers/premium/", {"id": lead.id, "clear": "1"}),
                      ("/customers/profile/delete/", {"id": profile.id}),
                      (f"/customers/profile/?id={profile.id}", {"city": "Oakland"})):
        assert client.post(url, data=data).status_code == 400, url
    assert wallet.balance(lead.id) == 100 and CustomerProfile.get_by_id(profile.id).deleted_at is None
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      text_of(client.get(f"/customers/details/?id={lead.id}"))).group(1)
    client.post("/customers/adjust/", data={"id": lead.id, "amount": "5", "reason": "x", "csrf_token": token})
    assert wallet.balance(lead.id) == 105
