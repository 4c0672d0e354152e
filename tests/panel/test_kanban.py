"""The pipeline board (/board/): columns and cards, paging per column, filters, moving a
card through the pipeline service (with or without JavaScript), and every bad request
answered with a message. On SQLite and Postgres, like every panel test."""
import datetime
import decimal
import html
import logging
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from models import Activity, AuditEntry, Lead, LeadScore, StageChange, utcnow
from services.crm import board
from tests.panel.conftest import csrf_token, log_in, text_of
from tests.panel.inbox_helpers import XSS, flashes

JSON = {"Accept": "application/json"}
HOSTILE = '"><img src=x onerror=alert(2)>'


@pytest.fixture
def team(app, make_user):
    return {"sam": make_user("sales", first_name="Sam"), "sid": make_user("sales", first_name="Sid")}


def columns(page):
    """{stage: (count shown in its header, [lead ids of its cards])} of a board page."""
    found = {}
    for stage, body in re.findall(r'<section class="kanban-column[^"]*"[^>]*data-stage="(\w+)"(.*?)</section>',
                                  page, re.S):
        count = re.search(r'data-field="count"[^>]*>([\d,]+)<', body).group(1)
        found[stage] = (int(count.replace(",", "")), [int(i) for i in re.findall(r'data-lead-id="(\d+)"', body)])
    return found


def card(page, lead_id):
    return re.search(rf'<li class="kanban-card" id="card-{lead_id}".*?</li>', page, re.S).group(0)


def more_link(page, stage):
    found = re.search(rf'class="kanban-more[^"]*" data-stage="{stage}"\s*href="([^"]+)">([\d,]+) more<', page)
    return found and (found.group(1).replace("&amp;", "&"), int(found.group(2).replace(",", "")))


def said(page):
    """The flashed messages of a page, as people read them."""
    return html.unescape(flashes(page))


def move(client, lead_id, stage, query="", **headers):
    return client.post(f"/board/move{query}", data={"lead_id": str(lead_id), "stage": stage},
                       headers=headers)


def nothing_changed(lead, stage, audited):
    assert Lead.get_by_id(lead.id).stage == stage
    assert StageChange.select().count() == 0
    assert AuditEntry.select().where(AuditEntry.event == "lead.stage_changed").count() == audited


# --- Columns and cards ------------------------------------------------------------------

def test_a_column_per_stage_and_a_card_per_open_lead(browser, team, make_lead):
    now = utcnow()
    ann = make_lead(first_name="Ann", last_name="Lee", owner=team["sam"], value=decimal.Decimal("1500.5"))
    bob = make_lead(first_name="Bob", stage="contacted")
    lost = make_lead(stage="lost", value=decimal.Decimal("7"))
    sold = make_lead(stage="transferred", sales_stage="kyc", value=decimal.Decimal("100"))
    Activity.create(lead=ann, type="call", subject="Later call", due_at=now + datetime.timedelta(days=2))
    Activity.create(lead=ann, type="meeting", subject="Demo", due_at=now - datetime.timedelta(hours=1))
    Activity.create(lead=ann, type="call", subject="Done already", due_at=now - datetime.timedelta(days=9),
                    completed_at=now)
    page = text_of(browser.get("/board/"))
    assert columns(page) == {"new": (1, [ann.id]), "contacted": (1, [bob.id]), "qualified": (0, []),
                             "transferred": (1, []), "lost": (1, [])}
    shown = card(page, ann.id)
    assert f'<a class="kanban-card-name" href="/lead/{ann.id}/pipeline">Ann Lee</a>' in shown
    assert 'data-field="owner">Sam<' in shown and 'data-field="value">1,500.50<' in shown
    next_activity = re.search(r'data-field="next"[^>]*>(.*?)</dd>', shown, re.S)
    assert "meeting: Demo" in next_activity.group(1) and "kanban-overdue" in next_activity.group(0)
    assert 'data-allowed="contacted lost"' in shown
    assert "nothing planned" in card(page, bob.id) and "nobody yet" in card(page, bob.id)
    assert lost.id not in sum((ids for _, ids in columns(page).values()), [])

    sales = text_of(browser.get("/board/?pipeline=sales"))
    assert columns(sales) == {"new": (0, []), "kyc": (1, [sold.id]), "agreement": (0, []), "paid": (0, [])}
    assert 'data-field="value" title="Total value">100.00<' in sales


def test_board_is_in_the_menu_next_to_the_leads(browser):
    page = text_of(browser.get("/"))
    menu = re.findall(r'<a[^>]*href="(/[^"]*)"[^>]*>\s*(?:<[^>]+>\s*)*([A-Z][\w &]+?)\s*<', page)
    names = [name for _, name in menu]
    assert names.index("Board") == names.index("Leads") + 1
    assert ("/board/", "Board") in menu


def test_cards_are_paged_per_column(browser, team, make_lead):
    base = utcnow() - datetime.timedelta(days=1)
    made = [make_lead(last_activity_at=base + datetime.timedelta(minutes=n)) for n in range(63)]
    make_lead(stage="contacted")
    page = text_of(browser.get("/board/"))
    newest_first = [lead.id for lead in reversed(made)]
    assert columns(page)["new"] == (63, newest_first[:board.CARDS_PER_COLUMN])
    assert more_link(page, "contacted") is None
    url, more = more_link(page, "new")
    assert more == 13 and "offset=50" in url and "stage=new" in url

    rest = text_of(browser.get(url))
    assert re.findall(r'data-lead-id="(\d+)"', rest) == [str(i) for i in newest_first[50:]]
    assert "new: leads 51–63 of 63" in " ".join(rest.split()) and more_link(rest, "new") is None


def test_the_column_page_keeps_the_filters_and_refuses_what_is_no_column(browser, team, make_lead):
    for _ in range(3):
        make_lead(owner=team["sam"])
    make_lead(owner=team["sid"])
    page = text_of(browser.get(f"/board/column?stage=new&offset=1&owner={team['sam'].id}"))
    assert len(re.findall(r'data-lead-id="', page)) == 2
    for stage in ("lost", "paid", "bogus", XSS, ""):
        response = browser.get("/board/column", query_string={"stage": stage}, follow_redirects=True)
        assert response.status_code == 200
        assert "has no column of cards called" in said(text_of(response))
        assert XSS not in text_of(response)
    response = browser.get("/board/column?stage=new&offset=%C2%B2", follow_redirects=True)
    assert "² is not a card number; showing the first cards." in said(text_of(response))


def test_filters_by_owner_and_source(browser, team, make_lead):
    sams = make_lead(owner=team["sam"], source="website", value=decimal.Decimal("10"))
    sids = make_lead(owner=team["sid"], source="referral", stage="contacted")
    nobodys = make_lead(source="website")

    def shown(query):
        page = text_of(browser.get(f"/board/?{query}"))
        return sorted(i for _, ids in columns(page).values() for i in ids), page
    assert shown("")[0] == sorted([sams.id, sids.id, nobodys.id])
    assert shown(f"owner={team['sam'].id}")[0] == [sams.id]
    assert shown("owner=none")[0] == [nobodys.id]
    assert shown("source=website")[0] == sorted([sams.id, nobodys.id])
    ids, page = shown(f"owner={team['sam'].id}&source=website")
    assert ids == [sams.id]
    assert columns(page)["contacted"] == (0, [])  # the counts are filtered too
    assert f'<option value="{team["sam"].id}" selected>Sam</option>' in page
    assert '<option value="website" selected>website</option>' in page
    assert f'href="/board/?pipeline=sales&amp;owner={team["sam"].id}&amp;source=website"' in page
    # The move form brings the person back to the same board.
    assert f'action="/board/move?pipeline=lead&amp;owner={team["sam"].id}&amp;source=website"' in page


@pytest.mark.parametrize("query,message", [
    ("owner=99999", "99999 is not a team member; showing everyone's leads."),
    ("owner=abc", "abc is not a team member"),
    ("source=fax", "fax is not a source; showing leads from every source."),
    ("pipeline=won", "won is not a pipeline; showing the lead pipeline."),
])
def test_a_filter_that_names_nothing_is_said_and_dropped(browser, team, make_lead, query, message):
    lead = make_lead(owner=team["sam"])
    page = text_of(browser.get(f"/board/?{query}"))
    assert message in said(page)
    assert columns(page)["new"] == (1, [lead.id])


# --- Moving a card ----------------------------------------------------------------------

def test_an_allowed_move_changes_the_stage_and_is_audited(browser, team, make_lead):
    lead = make_lead(owner=team["sam"], value=decimal.Decimal("20"))
    response = move(browser, lead.id, "contacted", f"?pipeline=lead&owner={team['sam'].id}", **JSON)
    assert response.status_code == 200
    answer = response.get_json()
    assert answer["ok"] and answer["message"] == f"Lead #{lead.id}: new → contacted."
    assert answer["lead"] == {"pipeline": "lead", "stage": "contacted", "allowed": ["qualified", "lost"]}
    assert answer["columns"]["contacted"] == {"count": 1, "value": "20.00"}
    assert answer["columns"]["new"] == {"count": 0, "value": "0.00"}
    assert Lead.get_by_id(lead.id).stage == "contacted"
    change = StageChange.get()
    assert (change.from_stage, change.to_stage, change.actor) == ("new", "contacted", "admin panel (boss)")
    audit = AuditEntry.get(AuditEntry.event == "lead.stage_changed")
    assert (audit.actor_kind, audit.actor_ref, audit.entity_id) == ("panel", "boss", lead.id)


def test_without_javascript_the_form_moves_the_card_and_says_so_on_the_board(browser, team, make_lead):
    lead = make_lead(stage="contacted")
    response = move(browser, lead.id, "qualified", "?pipeline=lead&source=other")
    assert response.status_code == 302
    assert response.headers["Location"] == "/board/?pipeline=lead&source=other"
    page = text_of(browser.get(response.headers["Location"]))
    assert f"Lead #{lead.id}: contacted → qualified." in said(page)
    assert columns(page)["qualified"] == (1, [lead.id])


def test_a_sale_moves_on_the_sales_board(browser, team, make_lead):
    lead = make_lead(stage="transferred", sales_stage="kyc")
    answer = move(browser, lead.id, "agreement", "?pipeline=sales", **JSON).get_json()
    assert answer["ok"] and answer["lead"] == {"pipeline": "sales", "stage": "agreement", "allowed": ["paid"]}
    assert Lead.get_by_id(lead.id).sales_stage == "agreement"
    assert answer["columns"]["agreement"]["count"] == 1 and "lost" not in answer["columns"]


@pytest.mark.parametrize("stage,sales_stage,to,reason", [
    ("new", None, "qualified", " is new; it can move to contacted or lost, not qualified."),
    ("lost", None, "new", " is lost, which is final; it cannot move on."),
    ("qualified", None, "transferred", " cannot be transferred: it has no score yet (score it first); "
                                       "its business domain is not set."),
    ("transferred", "kyc", "new", "'s sale is kyc; it can move to agreement, not new."),
])
def test_a_disallowed_move_is_refused_with_the_reason_and_changes_nothing(
        browser, team, make_lead, stage, sales_stage, to, reason):
    lead = make_lead(stage=stage, sales_stage=sales_stage)
    response = move(browser, lead.id, to, **JSON)
    assert response.status_code == 409
    assert response.get_json() == {"ok": False, "message": f"Lead #{lead.id}{reason}"}
    nothing_changed(lead, stage, audited=0)
    # Without JavaScript: the same reason on the board.
    move(browser, lead.id, to)
    page = text_of(browser.get("/board/"))
    assert f"Lead #{lead.id}{reason}" in said(page)


def test_dropping_a_ready_lead_on_transferred_hands_it_to_sales(browser, team, make_lead):
    lead = make_lead(stage="qualified", source="partner", business_domain="Solar")
    LeadScore.create(lead=lead, score=0.9, recommendation="transfer", reason="test", model="local",
                     signature="x")
    answer = move(browser, lead.id, "transferred", **JSON).get_json()
    assert answer["ok"], answer
    assert answer["lead"]["pipeline"] == "sales" and answer["lead"]["stage"] == "new"
    assert answer["columns"]["transferred"]["count"] == 1
    lead = Lead.get_by_id(lead.id)
    assert (lead.stage, lead.sales_stage) == ("transferred", "new")


def test_a_move_without_the_csrf_token_is_refused(make_app, make_user, make_lead):
    client = make_app(csrf=True).test_client()
    assert log_in(client, csrf_token=csrf_token(client, "/login")).status_code == 302
    lead = make_lead()
    page = text_of(client.get("/board/"))
    forms = [f for f in re.findall(r"<form .*?</form>", page, re.S) if 'method="post"' in f]
    assert forms and all('name="csrf_token"' in f for f in forms)
    assert move(client, lead.id, "contacted").status_code == 400
    assert move(client, lead.id, "contacted", **JSON).status_code == 400
    nothing_changed(lead, "new", audited=0)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post("/board/move", data={"lead_id": lead.id, "stage": "contacted", "csrf_token": token})
    assert response.status_code == 302 and Lead.get_by_id(lead.id).stage == "contacted"


def test_without_a_login_the_board_sends_to_the_login_page(client, make_lead):
    lead = make_lead()
    for response in (client.get("/board/?owner=none"), client.get("/board/column?stage=new"),
                     move(client, lead.id, "contacted")):
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    assert client.get("/board/").headers["Location"] == "/login?next=/board/"
    assert move(client, lead.id, "contacted", **JSON).status_code == 401
    assert Lead.get_by_id(lead.id).stage == "new"


@pytest.mark.parametrize("data,status,message", [
    ({"lead_id": "1", "stage": "bogus"}, 409, "Lead #1 is new; it can move to contacted or lost, not bogus."),
    ({"lead_id": "1", "stage": ""}, 400, "Choose the stage to move the lead to."),
    ({"lead_id": "1"}, 400, "Choose the stage to move the lead to."),
    ({"stage": "contacted"}, 400, "Say which lead to move: the form named none."),
    ({"lead_id": "abc", "stage": "contacted"}, 400, "There is no lead 'abc'."),
    ({"lead_id": "²", "stage": "contacted"}, 400, "There is no lead '²'."),
    ({"lead_id": "9" * 30, "stage": "contacted"}, 400, "There is no lead '999999999999999999999999999999'."),
    ({"lead_id": "999999", "stage": "contacted"}, 404, "There is no lead #999999."),
    ({"lead_id": "1", "stage": "x" * 5000}, 409,
     "Lead #1 is new; it can move to contacted or lost, not " + "x" * 40 + "."),
])
def test_bad_input_gets_a_clear_message(browser, team, make_lead, data, status, message):
    lead = make_lead()
    assert lead.id == 1
    response = browser.post("/board/move", data=data, headers=JSON)
    assert response.status_code == status
    assert response.get_json() == {"ok": False, "message": message}
    page = text_of(browser.post("/board/move", data=data, follow_redirects=True))
    assert message in said(page)
    nothing_changed(lead, "new", audited=0)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lead_id=st.one_of(st.text(max_size=30), st.integers().map(str)),
       stage=st.one_of(st.sampled_from(["contacted", "lost", "kyc", "new"]), st.text(max_size=50)),
       query=st.dictionaries(st.sampled_from(["pipeline", "owner", "source"]), st.text(max_size=20)))
def test_any_form_values_get_an_answer_never_a_server_error(browser, team, make_lead, lead_id, stage, query):
    if not Lead.select().exists():  # the fixtures are made once for every example
        make_lead(stage="contacted")
    response = browser.post("/board/move", query_string=query, data={"lead_id": lead_id, "stage": stage},
                            headers=JSON)
    assert response.status_code in (200, 400, 404, 409), response.status_code
    answer = response.get_json()
    assert answer["message"] and answer["ok"] == (response.status_code == 200)


# --- Escaping and speed -----------------------------------------------------------------

def test_what_people_typed_is_text_never_markup(browser, make_user, make_lead):
    owner = make_user("sales", first_name=HOSTILE)
    lead = make_lead(first_name=XSS, last_name="", owner=owner, source=HOSTILE)
    Activity.create(lead=lead, type="call", subject=XSS, due_at=utcnow())
    for url in ("/board/", f"/board/?owner={owner.id}", "/board/column?stage=new"):
        page = text_of(browser.get(url))
        assert XSS not in page and HOSTILE not in page, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    response = browser.post("/board/move", data={"lead_id": lead.id, "stage": XSS}, follow_redirects=True)
    assert XSS not in text_of(response)
    assert XSS in move(browser, lead.id, XSS, **JSON).get_json()["message"]  # JSON; kanban.js shows it as text


def test_the_board_reads_the_same_few_queries_however_many_cards(browser, team, make_lead):
    def queries():
        seen = []
        handler = logging.Handler(logging.DEBUG)
        handler.emit = lambda record: seen.append(record.msg)
        logger = logging.getLogger("peewee")
        level = logger.level
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        try:
            assert browser.get("/board/").status_code == 200
        finally:
            logger.removeHandler(handler)
            logger.setLevel(level)
        return len(seen)
    for stage in ("new", "contacted", "qualified"):
        lead = make_lead(stage=stage, owner=team["sam"])
        Activity.create(lead=lead, type="call", subject="x", due_at=utcnow())
    few = queries()
    for n in range(60):
        lead = make_lead(stage=("new", "contacted", "qualified")[n % 3], owner=team[("sam", "sid")[n % 2]])
        Activity.create(lead=lead, type="call", subject="x", due_at=utcnow())
    assert queries() == few
