"""Leads in the panel: same validation, duplicates and notifications as the bot."""
import csv
import datetime
import io
import re

import pytest

import models
from models import Lead, OutboxMessage, User
from services.core.actors import Actor
from services.crm import activities, leads
from tests.panel.conftest import log_in, text_of

GOOD = {"email": "Ada@Example.com", "phone": "+44 20 7946 0958", "first_name": "Ada",
        "last_name": "Lovelace", "country": "United Kingdom"}


@pytest.fixture
def team(app, make_user):
    return [make_user("admin", first_name="Ann"), make_user("sales", first_name="Sam")]


def add(n=0, creator=None, **fields):
    raw = {"email": f"lead{n}@example.com", "phone": f"+1212555{n:04d}", "first_name": f"First{n}",
           "last_name": f"Last{n}", "country": "DE", **fields}
    return leads.add_lead(raw, created_by=creator)


def test_creating_a_lead_validates_normalises_and_notifies_the_team(browser, team):
    response = browser.post("/leads/new/", data=GOOD)
    assert response.status_code == 302
    lead = Lead.get()
    assert (lead.email, lead.phone, lead.country, lead.created_by) == (
        "ada@example.com", "+442079460958", "GB", None)
    notified = {m.recipient.first_name for m in OutboxMessage.select()}
    assert notified == {"Ann", "Sam"}
    assert "Added by the admin panel" in OutboxMessage.get().text


@pytest.mark.parametrize("field,value,message", [
    ("email", "not-an-email", "Email"),
    ("phone", "12", "Phone"),
    ("country", "Atlantis", "Atlantis"),
    ("first_name", "   ", "First name"),
])
def test_bad_fields_are_shown_in_the_form_and_nothing_is_saved(browser, team, field, value, message):
    response = browser.post("/leads/new/", data={**GOOD, field: value})
    assert response.status_code == 200
    page = text_of(response)
    assert "invalid-feedback" in page or "help-block" in page
    assert message in page
    assert Lead.select().count() == 0 and OutboxMessage.select().count() == 0


def test_a_duplicate_names_the_existing_lead(browser, team):
    existing = add(1, email="ada@example.com")
    response = browser.post("/leads/new/", data=GOOD)
    assert response.status_code == 200
    assert f"A lead with this email already exists: #{existing.id}" in text_of(response)
    assert Lead.select().count() == 1


def test_editing_goes_through_the_same_rules(browser, team):
    lead, other = add(1), add(2)
    response = browser.post(f"/leads/edit/?id={lead.id}", data={
        "email": "new@example.com", "phone": "+12125550001", "first_name": "Grace",
        "last_name": "Hopper", "country": "germany"})
    assert response.status_code == 302
    assert Lead.get_by_id(lead.id).country == "DE" and Lead.get_by_id(lead.id).first_name == "Grace"
    clash = browser.post(f"/leads/edit/?id={lead.id}", data={
        "email": other.email, "phone": "+12125550001", "first_name": "Grace",
        "last_name": "Hopper", "country": "DE"})
    assert "A lead with this email already exists" in text_of(clash)
    assert Lead.get_by_id(lead.id).email == "new@example.com"


def test_bulk_delete_asks_first_and_deletes_the_selected(browser, team):
    kept, gone1, gone2 = add(1), add(2), add(3)
    page = text_of(browser.get("/leads/"))
    assert "Delete the selected leads? This cannot be undone." in page
    response = browser.post("/leads/action/", data={"action": "delete",
                                                    "rowid": [str(gone1.id), str(gone2.id)]})
    assert response.status_code == 302
    assert [lead.id for lead in Lead.select()] == [kept.id]


def test_search_by_email_phone_and_name(browser, team):
    add(1, first_name="Marie", last_name="Curie", email="marie@radium.fr")
    add(2, first_name="Pierre", last_name="Curie")
    add(3)
    assert_rows(browser, "/leads/?search=radium", ["marie@radium.fr"])
    assert_rows(browser, "/leads/?search=2125550002", ["lead2@example.com"])
    assert_rows(browser, "/leads/?search=curie", ["marie@radium.fr", "lead2@example.com"])
    assert_rows(browser, "/leads/?search=pierre+curie", ["lead2@example.com"])


def assert_rows(browser, url, emails):
    page = text_of(browser.get(url))
    shown = [e for e in ("marie@radium.fr", "lead2@example.com", "lead3@example.com") if e in page]
    assert sorted(shown) == sorted(emails), url


def test_filters_by_country_creator_and_created_date(browser, team, app):
    ann, sam = team
    add(1, creator=ann, country="FR")
    add(2, creator=sam)
    old = add(3)
    Lead.update(created_at=datetime.datetime(2026, 1, 15, 12)).where(Lead.id == old.id).execute()
    view = app.extensions["admin"][0]._views[1]
    arg = {f.name: view.get_filter_arg(i, f) for i, f in enumerate(view._filters)}
    assert_rows_emails(browser, f"/leads/?flt0_{arg['Country']}=FR", ["lead1"])
    assert_rows_emails(browser, f"/leads/?flt0_{arg['Added by']}={sam.id}", ["lead2"])
    assert_rows_emails(browser, f"/leads/?flt0_{arg['Added by']}=panel", ["lead3"])
    assert_rows_emails(browser, f"/leads/?flt0_{arg['Created']}=2026-01-15+to+2026-01-15", ["lead3"])
    assert_rows_emails(browser, f"/leads/?flt0_{arg['Created']}=2026-01-16+to+2026-01-20", [])
    # A malformed filter value is ignored with a message, never a crash.
    assert browser.get(f"/leads/?flt0_{arg['Added by']}=x';--").status_code == 200


def assert_rows_emails(browser, url, names):
    page = text_of(browser.get(url))
    shown = [n for n in ("lead1", "lead2", "lead3") if f"{n}@example.com" in page]
    assert shown == names, url


def test_the_list_starts_with_name_stage_owner_and_next_activity(browser, team):
    ann, sam = team
    late, later, idle = add(1), add(2), add(3)
    boss = Actor.panel("boss")
    now = models.utcnow()
    activities.log(boss, late.id, "call", "Ring <b>back</b>", due_at=now - datetime.timedelta(hours=2),
                   assigned_to=sam.id)
    activities.log(boss, late.id, "email", "Send the quote", due_at=now + datetime.timedelta(days=1),
                   assigned_to=sam.id)
    activities.log(boss, later.id, "meeting", "Demo " + "x" * 100, due_at=now + datetime.timedelta(days=2),
                   assigned_to=ann.id)
    page = text_of(browser.get("/leads/"))
    assert re.findall(r'<th class="column-header col-(\w+)"', page)[:5] == [
        "id", "name", "stage", "owner", "next_activity"]
    rows = {int(lead_id): cell for lead_id, cell in re.findall(
        r'href="/lead/(\d+)/pipeline">First\d Last\d</a>.*?<td class="col-next_activity">(.*?)</td>',
        page, re.S)}
    assert "call: Ring &lt;b&gt;back&lt;/b&gt;" in rows[late.id] and "text-danger" in rows[late.id]
    assert "meeting: Demo " + "x" * 54 + "…" in rows[later.id] and "text-muted" in rows[later.id]
    assert rows[idle.id].strip() == "—"
    # A phone shows those four; each other column from the screen width that has room for it.
    assert re.search(r"@media \(max-width: 1199.98px\) \{\s*[^}]*\.model-list \.col-phone", page)
    assert re.search(r"@media \(max-width: 575.98px\) \{\s*\.model-list \.col-id \{", page)


def test_user_typed_data_is_never_html(browser, team):
    add(1, first_name="<script>alert(1)</script>", last_name="<b>Bold</b>")
    page = text_of(browser.get("/leads/"))
    assert "<script>alert(1)</script>" not in page and "<b>Bold</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_csv_export_has_every_matching_lead_and_defuses_formulas(browser, team):
    ann = team[0]
    add(1, creator=ann, first_name="=HYPERLINK(\"x\")")
    add(2)
    response = browser.get("/leads/export/csv/")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(text_of(response))))
    assert rows[0][:3] == ["#", "First Name", "Last Name"]
    by_email = {row[3]: row for row in rows[1:]}
    assert set(by_email) == {"lead1@example.com", "lead2@example.com"}
    assert by_email["lead1@example.com"][1] == "'=HYPERLINK(\"x\")"
    assert by_email["lead1@example.com"][4] == "+12125550001"  # phones stay E.164
    assert by_email["lead2@example.com"][6] == "Admin panel"


def test_the_list_loads_creators_in_the_same_query(browser, team, monkeypatch):
    for n in range(30):
        add(n, creator=team[n % 2])
    statements = []
    execute = models.db.obj.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        statements.append(sql)
        return execute(sql, params, *args, **kwargs)
    monkeypatch.setattr(models.db.obj, "execute_sql", counting)
    assert browser.get("/leads/?page_size=50").status_code == 200
    lead_queries = [s for s in statements if 'FROM "lead"' in s]
    user_queries = [s for s in statements if s.startswith('SELECT') and 'FROM "user"' in s]
    # count + page (+ the two filter option lists), whatever the page size.
    assert len(lead_queries) <= 3, lead_queries
    assert len(user_queries) <= 1, user_queries


def test_deleting_a_lead_keeps_its_creator(browser, team):
    lead = add(1, creator=team[0])
    browser.post("/leads/delete/", data={"id": lead.id})
    assert Lead.select().count() == 0 and User.select().count() == 2


def test_filter_choices_follow_the_data(browser, team):
    assert "Poland (PL)" not in text_of(browser.get("/leads/"))
    add(1, country="PL")
    assert "Poland (PL)" in text_of(browser.get("/leads/"))


def test_times_are_shown_in_the_teams_zone_and_the_search_says_what_it_searches(make_app, make_user):
    app = make_app(TZ="Europe/Kyiv")
    client = app.test_client()
    log_in(client)
    lead = add(1)
    Lead.update(created_at=datetime.datetime(2026, 11, 19, 22, 30, 15, 123456)).where(
        Lead.id == lead.id).execute()
    page = text_of(client.get("/leads/"))
    assert "2026-11-20 00:30" in page and "123456" not in page
    assert 'placeholder="Search name, email, phone or any contact"' in page
