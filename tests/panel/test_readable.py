"""Readable in the panel (issue 13): phone numbers in international format wherever a
lead, a contact or a profile is shown (the CSV keeps E.164, for machines), and every
search box whatever the case and accents. On SQLite and Postgres."""
import csv
import html
import io
import re

import pytest

from services.core.actors import Actor
from services.crm import contacts, leads
from tests.panel.conftest import USERNAME, text_of
from tests.panel.inbox_helpers import CONTACT, inbound, make_client, page_of, rows_of
from tests.panel.shop_helpers import customer, order, shop_panel

PANEL = Actor.panel(USERNAME)
STORED, SHOWN = "+442079460958", "+44 20 7946 0958"


def page(response):
    """A page's text as people read it (entities decoded)."""
    return html.unescape(text_of(response))


def add(first_name, last_name, n=1, phone=STORED):
    return leads.add_lead({"first_name": first_name, "last_name": last_name,
                           "email": f"lead{n}@example.com", "phone": phone}, actor=PANEL)


def listed_emails(browser, url):
    return sorted(set(re.findall(r"lead\d+@example\.com", page(browser.get(url)))))


def test_the_leads_list_details_and_lead_page_show_phones_in_international_format(browser):
    lead = add("Ann", "Smith")
    for url in ("/leads/", f"/leads/details/?id={lead.id}", f"/lead/{lead.id}/pipeline"):
        shown = page(browser.get(url))
        assert SHOWN in shown and STORED not in shown, url
    without = leads.add_lead({"first_name": "Nophone"}, actor=PANEL)
    assert re.search(r"Phone</dt>\s*<dd[^>]*>—</dd>", page(browser.get(f"/lead/{without.id}/pipeline")))


def test_the_csv_export_keeps_phones_as_stored(browser):
    add("Ann", "Smith")
    rows = list(csv.DictReader(io.StringIO(text_of(browser.get("/leads/export/csv/")))))
    assert [row["Phone"] for row in rows] == [STORED]


def test_the_leads_search_box_ignores_case_and_accents(browser):
    add("José", "Díaz", n=1, phone="+442079460001")
    add("élodie", "Ørsted", n=2, phone="+442079460002")
    add("Дмитрий", "Ёлкин", n=3, phone="+442079460003")
    assert listed_emails(browser, "/leads/?search=diaz") == ["lead1@example.com"]
    assert listed_emails(browser, "/leads/?search=ÉLODIE+orsted") == ["lead2@example.com"]
    assert listed_emails(browser, "/leads/?search=ДМИТРИЙ+елкин") == ["lead3@example.com"]
    assert listed_emails(browser, "/leads/?search=dias") == []


def test_a_conversation_shows_its_contacts_readably_and_the_list_searches_without_accents(
        browser):
    user, lead = make_client("Renée", "Ørsted", "renee")
    inbound(user, lead, attachments=[CONTACT])
    contacts.add(PANEL, lead.id, "whatsapp", STORED)
    shown = page_of(browser, lead)
    assert f'contact-value mr-auto">{SHOWN}<' in shown
    assert f"👤 contact · Bob · {SHOWN}" in html.unescape(shown)
    found = rows_of(text_of(browser.get("/conversations/", query_string={"search": "RENEE orsted"})))
    assert [name for name, _ in found] == ["Renée Ørsted"]


@pytest.fixture
def shop(make_app):
    yield from shop_panel(make_app)


def test_profiles_show_phones_readably_and_the_shop_lists_search_without_accents(shop):
    lead, profile = customer("Zoë", "Łukasiewicz", first_name="Émile", last_name="Durand",
                             phone=STORED)
    placed = order(lead, profile)
    for url in (f"/customers/details/?id={lead.id}", f"/orders/details/?id={placed.id}"):
        shown = page(shop.get(url))
        assert SHOWN in shown and STORED not in shown, url
    for text in ("zoe lukasiewicz", "EMILE", "durand"):
        assert f'value="{placed.id}"' in text_of(shop.get("/orders/", query_string={"search": text})), text
    assert f"/customers/details/?id={lead.id}" in text_of(
        shop.get("/customers/", query_string={"search": "ZOE"}))
