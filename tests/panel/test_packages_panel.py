"""The shop's catalogue in the panel: packages listed, created, edited and deleted through
services.shop.catalogue, each refusal under its field (never a server error), a package
with orders taken off offer instead of deleted; user data escaped, the login and CSRF
required; on SQLite and Postgres."""
import html
import re

import pytest

from models import AuditEntry, Package
from tests.panel.conftest import log_in, text_of
from tests.panel.shop_helpers import KEY, XSS, customer, order, package, shop_panel


@pytest.fixture
def shop(make_app):
    yield from shop_panel(make_app)

GOOD = {"name": "2000 sites", "code": "sites_2000", "kind": "package", "sites": "2000",
        "price": "1800", "subscriber_price": "1500", "position": "20", "active": "y"}


def errors_under(page, field):
    """The messages shown under one field of the form."""
    block = re.search(rf'id="{field}".*?(?=<div class="form-group|</form>)', page, re.S).group(0)
    return html.unescape(" ".join(re.findall(r"<li>(.*?)</li>", block, re.S)))


def stored(code):
    return Package.get_or_none(Package.code == code)


def test_the_catalogue_is_listed_in_its_order(shop):
    text = text_of(shop.get("/packages/"))
    assert text.index("100 sites") < text.index("1500 sites") < text.index("Email confirmation")
    assert "100 <small" in text and "/ 60" in text  # the price and the subscriber's


def test_a_package_is_created_and_audited(shop):
    response = shop.post("/packages/new/", data=GOOD)
    assert response.status_code == 302, text_of(response)
    row = stored("sites_2000")
    assert (row.name, row.sites, row.price, row.subscriber_price, row.position, row.active) == (
        "2000 sites", 2000, 1800, 1500, 20, True)
    entry = AuditEntry.get(AuditEntry.entity == "package", AuditEntry.entity_id == row.id)
    assert (entry.event, entry.actor_kind) == ("package.created", "panel")


def test_mistakes_are_refused_under_their_fields(shop):
    for field, value, message in (
            ("name", "", "A package's name must be 1 to 100 characters."),
            ("code", "Bad Code!", "A package's code must be 1 to 64 lowercase letters"),
            ("code", "sites_100", "Another package already has the code sites_100."),
            ("sites", "0", "A package's number of sites must be a whole number from 1 to 1000000."),
            ("sites", "٣", "Write a whole number with the digits 0-9."),
            ("price", "12.5", "Write a whole number with the digits 0-9."),
            ("price", "-1", "A price must be a whole number of tokens from 0 to 1000000."),
            ("subscriber_price", "1900", "The subscriber price cannot be above the regular price."),
            ("position", "9" * 50, "Write a whole number with the digits 0-9.")):
        response = shop.post("/packages/new/", data={**GOOD, field: value})
        assert response.status_code == 200, (field, value)
        assert message in errors_under(text_of(response), field), (field, value)
    assert stored("sites_2000") is None and Package.select().count() == 10


def test_a_package_is_edited(shop):
    row = package("sites_250")
    form = text_of(shop.get(f"/packages/edit/?id={row.id}"))
    assert 'name="price" type="number" value="250"' in form
    response = shop.post(f"/packages/edit/?id={row.id}", data={
        "name": "250 sites", "code": "sites_250", "kind": "package", "sites": "250", "price": "240",
        "subscriber_price": "150", "position": "1"})  # "active" unticked: taken off offer
    assert response.status_code == 302, text_of(response)
    changed = Package.get_by_id(row.id)
    assert (changed.price, changed.active) == (240, False)
    entry = AuditEntry.get(AuditEntry.event == "package.updated")
    assert entry.entity_id == row.id
    response = shop.post(f"/packages/edit/?id={row.id}", data={
        "name": "250 sites", "code": "sites_100", "kind": "package", "sites": "250", "price": "240",
        "subscriber_price": "150", "position": "1"})
    assert "Another package already has the code sites_100." in errors_under(text_of(response), "code")


def test_an_unused_package_is_deleted_and_an_ordered_one_taken_off_offer(shop):
    lead, profile = customer()
    order(lead, profile, "sites_100")
    unused, ordered = package("sites_250"), package("sites_100")
    text = html.unescape(text_of(shop.post("/packages/delete/", data={"id": unused.id}, follow_redirects=True)))
    assert "Record was successfully deleted." in text and stored("sites_250") is None
    text = html.unescape(text_of(shop.post("/packages/delete/", data={"id": ordered.id}, follow_redirects=True)))
    assert "100 sites has orders, so it was taken off offer instead of deleted." in text
    assert stored("sites_100").active is False
    assert AuditEntry.get(AuditEntry.event == "package.deleted").entity_id == unused.id


def test_packages_are_deleted_several_at_a_time(shop):
    lead, profile = customer()
    order(lead, profile, "sites_100")
    ids = [package(code).id for code in ("sites_100", "sites_550", "sites_650")]
    text = text_of(shop.post("/packages/action/", data={"action": "delete", "rowid": [*map(str, ids), "²"]},
                             follow_redirects=True))
    assert "Deleted 2 packages; took 1 with orders off offer." in text
    assert stored("sites_550") is None and stored("sites_100").active is False


def test_names_are_escaped(shop):
    shop.post("/packages/new/", data={**GOOD, "name": XSS, "code": "xss"})
    row = stored("xss")
    for url in ("/packages/", f"/packages/edit/?id={row.id}", f"/packages/details/?id={row.id}",
                "/packages/?search=" + XSS):
        assert XSS not in text_of(shop.get(url)), url
    assert "&lt;script&gt;" in text_of(shop.get("/packages/"))


def test_odd_ids_get_an_answer_not_a_server_error(shop):
    for url in ("/packages/edit/?id=%C2%B2", f"/packages/details/?id={2**70}", "/packages/?flt0_0=x",
                "/packages/?sort=99"):
        assert shop.get(url).status_code < 500, url
    assert shop.post("/packages/delete/", data={"id": "²"}).status_code < 500
    assert "Record does not exist." in text_of(shop.post("/packages/delete/", data={"id": "999"},
                                                         follow_redirects=True))


def test_the_package_pages_need_a_login(make_app):
    client = make_app(SHOP="1").test_client()
    assert client.get("/packages/").headers["Location"].startswith("/login")
    assert client.post("/packages/new/", data=GOOD).headers["Location"].startswith("/login")
    assert stored("sites_2000") is None


def test_package_forms_need_a_csrf_token(make_app):
    client = make_app(csrf=True, SHOP="1", DATA_ENCRYPTION_KEY=KEY).test_client()
    login_page = text_of(client.get("/login"))
    log_in(client, csrf_token=re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', login_page).group(1))
    row = package("sites_250")
    for url, data in (("/packages/new/", GOOD), (f"/packages/edit/?id={row.id}", GOOD),
                      ("/packages/delete/", {"id": row.id}),
                      ("/packages/action/", {"action": "delete", "rowid": [row.id]})):
        assert client.post(url, data=data).status_code == 400, url
    assert stored("sites_2000") is None and stored("sites_250") is not None
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      text_of(client.get("/packages/new/"))).group(1)
    assert client.post("/packages/new/", data={**GOOD, "csrf_token": token}).status_code == 302
    assert stored("sites_2000") is not None
