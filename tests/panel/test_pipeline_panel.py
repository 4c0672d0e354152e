"""Leads' pipeline in the panel: details and owner on the lead form, the per-lead
pipeline page (stages, score, transfer, assign, activities, timeline) and the
pipeline overview."""
import datetime
import decimal
import re

import pytest

from models import Activity, JobRun, Lead, LeadScore, OutboxMessage, RuleAction, StageChange, User
from services.crm import leads
from tests.panel.conftest import csrf_token, log_in, text_of

CONTACT = {"email": "ada@example.com", "phone": "+44 20 7946 0958", "first_name": "Ada",
           "last_name": "Lovelace", "country": "GB"}


@pytest.fixture
def team(app, make_user):
    return {"ann": make_user("admin", first_name="Ann"),
            "sam": make_user("sales", first_name="Sam"),
            "sid": make_user("sales", first_name="Sid")}


def add(n=0, owner=None, **details):
    raw = {"email": f"lead{n}@example.com", "phone": f"+1212555{n:04d}", "first_name": f"First{n}",
           "last_name": f"Last{n}", "country": "DE"}
    return leads.add_lead(raw, details=details, owner=owner)


def at_stage(lead, stage, sales_stage=None):
    Lead.update(stage=stage, sales_stage=sales_stage).where(Lead.id == lead.id).execute()
    return Lead.get_by_id(lead.id)


def flashes(page):
    return " ".join(re.findall(r'class="alert[^"]*"[^>]*>(.*?)</div>', page, re.S))


def stage_buttons(page):
    return re.findall(r'name="stage" value="([^"]+)"', page)


# --- The lead list and form ---------------------------------------------------------

def test_the_list_shows_stage_source_owner_priority_and_value(browser, team):
    lead = add(1, owner=team["sam"], source="partner", priority="high", value="1500")
    at_stage(lead, "transferred", "kyc")
    page = text_of(browser.get("/leads/"))
    assert f'href="/lead/{lead.id}/pipeline"' in page
    assert "transferred / sales: kyc" in page
    for shown in ("partner", "Sam", "high", "1,500.00"):
        assert shown in page


def test_filters_by_stage_source_and_owner(browser, team, app):
    a = add(1, owner=team["sam"], source="website")
    b = add(2, source="referral")  # the referral rule hands it to the next salesperson
    c = at_stage(add(3, source="partner"), "transferred", "kyc")
    Lead.update(owner=None).where(Lead.id == b.id).execute()
    view = next(v for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", "") == "leads")
    arg = {f.name: view.get_filter_arg(i, f) for i, f in enumerate(view._filters)}

    def shown(query):
        page = text_of(browser.get(f"/leads/?{query}"))
        return [lead.id for lead in (a, b, c) if f"lead{lead.id}@example.com" in page]
    assert shown(f"flt0_{arg['Stage']}=lead:new") == [a.id, b.id]
    assert shown(f"flt0_{arg['Stage']}=sales:kyc") == [c.id]
    assert shown(f"flt0_{arg['Source']}=referral") == [b.id]
    assert shown(f"flt0_{arg['Owner']}={team['sam'].id}") == [a.id]
    assert shown(f"flt0_{arg['Owner']}=none") == [b.id, c.id]
    assert browser.get(f"/leads/?flt0_{arg['Stage']}=sales:bogus").status_code == 200


def test_creating_a_lead_with_details_and_an_owner(browser, team):
    response = browser.post("/leads/new/", data={
        **CONTACT, "source": "partner", "business_domain": " Solar  panels ", "priority": "high",
        "value": "2,500.5", "owner_id": str(team["sid"].id)})
    assert response.status_code == 302, text_of(response)
    lead = Lead.get()
    assert (lead.source, lead.business_domain, lead.priority, lead.value, lead.owner_id) == (
        "partner", "Solar panels", "high", decimal.Decimal("2500.50"), team["sid"].id)


@pytest.mark.parametrize("field,value,message", [
    ("value", "lots", "Value must be an amount"),
    ("value", "-5", "Value must be between 0"),
    ("business_domain", "x" * 101, "too long"),
    ("source", "fax", "Not a valid choice"),
    ("owner_id", "99999", "Not a valid choice"),
])
def test_bad_details_are_refused_under_the_field(browser, team, field, value, message):
    response = browser.post("/leads/new/", data={**CONTACT, field: value})
    assert response.status_code == 200
    assert message in text_of(response)
    assert Lead.select().count() == 0


def test_editing_changes_details_and_hands_the_lead_over(browser, team):
    lead = add(1, owner=team["sam"])
    OutboxMessage.delete().execute()
    response = browser.post(f"/leads/edit/?id={lead.id}", data={
        **CONTACT, "source": "referral", "business_domain": "Bakery", "priority": "urgent",
        "value": "99.9", "owner_id": str(team["sid"].id)})
    assert response.status_code == 302, text_of(response)
    lead = Lead.get_by_id(lead.id)
    assert (lead.email, lead.source, lead.business_domain, lead.priority, lead.value,
            lead.owner_id) == ("ada@example.com", "referral", "Bakery", "urgent",
                               decimal.Decimal("99.90"), team["sid"].id)
    assert [m.recipient_id for m in OutboxMessage.select()] == [team["sid"].id]
    # The timeline says what happened and who did it: an assignment, not a note.
    page = text_of(browser.get(f"/lead/{lead.id}/pipeline"))
    [row] = [row for row in re.findall(r"<tr>(.*?)</tr>", page, re.S) if "Assigned to" in row]
    cells = [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
    assert cells[1:] == ["assignment", "Assigned to Sid (was Sam)", "admin panel (boss)"]
    assert not Activity.select().where(Activity.lead == lead.id).exists()


def test_the_edit_form_shows_the_current_owner_and_keeps_one(browser, team):
    lead = add(1, owner=team["sam"], value="10")
    page = text_of(browser.get(f"/leads/edit/?id={lead.id}"))
    assert re.search(rf'<option selected value="{team["sam"].id}">Sam</option>', page)
    response = browser.post(f"/leads/edit/?id={lead.id}", data={**CONTACT, "owner_id": "none"})
    assert "A lead keeps an owner once it has one" in text_of(response)
    assert Lead.get_by_id(lead.id).owner_id == team["sam"].id
    assert Lead.get_by_id(lead.id).email == "lead1@example.com"  # nothing saved


# --- The pipeline page ----------------------------------------------------------------

@pytest.mark.parametrize("stage,sales_stage,buttons,transfer", [
    ("new", None, ["contacted", "lost"], False),
    ("contacted", None, ["qualified", "lost"], False),
    ("qualified", None, ["lost"], True),
    ("lost", None, [], False),
    ("transferred", "new", ["kyc"], False),
    ("transferred", "agreement", ["paid"], False),
    ("transferred", "paid", [], False),
])
def test_stage_buttons_are_the_allowed_next_stages_only(browser, team, stage, sales_stage,
                                                        buttons, transfer):
    lead = at_stage(add(1), stage, sales_stage)
    page = text_of(browser.get(f"/lead/{lead.id}/pipeline"))
    assert stage_buttons(page) == buttons
    assert ('id="transfer-button"' in page) == transfer
    assert ("This stage is final." in page) == (not buttons and not transfer)


def test_a_stage_button_moves_the_lead_and_the_audit_log_names_the_deployer(browser, team):
    lead = add(1)
    response = browser.post(f"/lead/{lead.id}/stage", data={"stage": "contacted"},
                            follow_redirects=True)
    assert f"Lead #{lead.id}: new → contacted." in flashes(text_of(response))
    change = StageChange.get()
    assert (change.from_stage, change.to_stage, change.actor) == ("new", "contacted", "admin panel (boss)")
    assert "stage: new → contacted" in text_of(response)  # the timeline


@pytest.mark.parametrize("target", ["qualified", "paid", "transferred", "\x00<b>x</b>", ""])
def test_an_illegal_stage_is_refused_with_a_message(browser, team, target):
    lead = add(1)
    response = browser.post(f"/lead/{lead.id}/stage", data={"stage": target}, follow_redirects=True)
    assert response.status_code == 200
    message = flashes(text_of(response))
    assert "can move to contacted or lost" in message
    assert "<b>x</b>" not in text_of(response)
    assert Lead.get_by_id(lead.id).stage == "new" and StageChange.select().count() == 0


def test_a_final_stage_says_so(browser, team):
    lead = at_stage(add(1), "lost")
    response = browser.post(f"/lead/{lead.id}/stage", data={"stage": "new"}, follow_redirects=True)
    assert "is lost, which is final" in flashes(text_of(response))


def test_transfer_refusal_names_every_failing_condition(browser, team):
    lead = at_stage(add(1), "qualified")
    response = browser.post(f"/lead/{lead.id}/transfer", follow_redirects=True)
    message = flashes(text_of(response))
    assert f"Lead #{lead.id} cannot be transferred" in message
    assert "no score yet" in message and "business domain is not set" in message
    assert Lead.get_by_id(lead.id).stage == "qualified"


def test_before_qualification_the_page_says_what_a_transfer_needs(browser, team):
    lead = add(1)
    page = text_of(browser.get(f"/lead/{lead.id}/pipeline"))
    hint = re.search(r'id="transfer-hint">(.*?)</small>', page, re.S).group(1)
    assert "it is new; only qualified leads are transferred" in hint and "no score yet" in hint
    refused = browser.post(f"/lead/{lead.id}/transfer", follow_redirects=True)
    assert "can move to contacted or lost, not transferred" in flashes(text_of(refused))
    assert Lead.get_by_id(lead.id).stage == "new"


def test_scoring_shows_the_reason_then_transfer_succeeds(browser, team):
    lead = at_stage(add(1, source="partner", business_domain="Solar"), "qualified")
    response = browser.post(f"/lead/{lead.id}/score", follow_redirects=True)
    page = text_of(response)
    score = LeadScore.get()
    assert score.score >= 0.6 and score.model == "local"
    assert f"Score {score.score:.2f}: transfer to sales. Why: base +0.10" in flashes(page)
    assert "partner source +0.20" in re.search(r'id="score-reason">(.*?)</div>', page, re.S).group(1)
    response = browser.post(f"/lead/{lead.id}/transfer", follow_redirects=True)
    assert "is transferred to sales; its sale starts at stage new. Sam has it now and has been " \
        "told." in flashes(text_of(response))
    lead = Lead.get_by_id(lead.id)
    assert (lead.stage, lead.sales_stage, lead.owner_id) == ("transferred", "new", team["sam"].id)
    assert stage_buttons(text_of(response)) == ["kyc"]


def test_a_low_score_blocks_the_transfer_and_says_the_threshold(make_app, make_user):
    client = make_app(TRANSFER_MIN_SCORE="0.9").test_client()
    log_in(client)
    lead = at_stage(add(1, source="partner", business_domain="Solar"), "qualified")
    client.post(f"/lead/{lead.id}/score")
    response = client.post(f"/lead/{lead.id}/transfer", follow_redirects=True)
    assert re.search(r"its latest score 0\.\d\d is below 0\.90", flashes(text_of(response)))
    assert Lead.get_by_id(lead.id).stage == "qualified"


def test_assign_round_robin_takes_turns_among_salespeople(browser, team):
    first, second = add(1), add(2)
    owners = []
    for lead in (first, second):
        response = browser.post(f"/lead/{lead.id}/assign", data={"member": "round_robin"},
                                follow_redirects=True)
        owners.append(Lead.get_by_id(lead.id).owner_id)
        name = User.get_by_id(owners[-1]).display_name
        assert f"now belongs to {name}" in flashes(text_of(response))
        assert f'id="owner">{name}<' in text_of(response)
    assert sorted(owners) == sorted([team["sam"].id, team["sid"].id])


@pytest.mark.parametrize("member,message", [("", "Choose a team member"), ("999999", "not on the team"),
                                            ("9" * 30, "Choose a team member")])
def test_assigning_to_someone_off_the_team_is_refused(browser, team, member, message):
    lead = add(1)
    response = browser.post(f"/lead/{lead.id}/assign", data={"member": member}, follow_redirects=True)
    assert message in flashes(text_of(response))
    assert Lead.get_by_id(lead.id).owner_id is None


def test_logging_then_completing_a_call_schedules_the_callback_rule(browser, team):
    lead = add(1, owner=team["sam"])
    response = browser.post(f"/lead/{lead.id}/activities", data={
        "kind": "call", "subject": "First call", "description": "Ask about the roof",
        "due_at": "2030-06-01T10:00", "assigned_to": str(team["sam"].id)}, follow_redirects=True)
    call = Activity.get(Activity.subject == "First call")
    assert call.due_at == datetime.datetime(2030, 6, 1, 10, 0) and call.completed_at is None
    assert call.assigned_to_id == team["sam"].id
    assert f"Logged call #{call.id} “First call”, due 2030-06-01 10:00 (UTC)." in flashes(text_of(response))
    assert 'id="open-activities"' in text_of(response)

    response = browser.post(f"/lead/{lead.id}/activities/{call.id}/complete",
                            data={"outcome": "callback_requested", "note": "Call me tomorrow"},
                            follow_redirects=True)
    page = text_of(response)
    call = Activity.get_by_id(call.id)
    assert call.outcome == "callback_requested" and call.completed_at is not None
    follow_up = RuleAction.get()
    assert follow_up.status == "pending" and follow_up.rule.name == "Callback requested: call back next day"
    assert follow_up.due_at - call.completed_at == datetime.timedelta(hours=24)
    assert "Marked call" in flashes(page) and "“Callback requested: call back next day” due" in flashes(page)
    assert 'id="no-open-activities"' in page
    timeline = re.search(r'id="timeline">(.*?)</table>', page, re.S).group(1)
    assert "First call — done, callback requested" in timeline


def test_an_activity_logged_as_done_with_an_outcome_fires_the_rules_too(browser, team):
    lead = add(1, owner=team["sam"])
    browser.post(f"/lead/{lead.id}/activities", data={
        "kind": "call", "subject": "Rang them", "done": "y", "outcome": "callback_requested",
        "assigned_to": "none"})
    assert Activity.get().completed_at is not None
    assert RuleAction.get().status == "pending"


def test_due_times_are_typed_in_the_teams_zone(make_app, make_user):
    client = make_app(TZ="Europe/Kyiv").test_client()
    log_in(client)
    lead = add(1)
    response = client.post(f"/lead/{lead.id}/activities", data={
        "kind": "meeting", "subject": "Visit", "due_at": "2030-06-01T10:00", "assigned_to": "none"},
        follow_redirects=True)
    assert Activity.get().due_at == datetime.datetime(2030, 6, 1, 7, 0)  # UTC+3 in summer
    assert "due 2030-06-01 10:00 (Europe/Kyiv)" in flashes(text_of(response))


@pytest.mark.parametrize("data,message", [
    ({"kind": "status_change", "subject": "x"}, "Not a valid choice"),
    ({"kind": "call", "subject": "   "}, "Say in a few words"),
    ({"kind": "call", "subject": "x" * 201}, "at most 200"),
    ({"kind": "call", "subject": "x", "due_at": "tomorrow"}, "Write the due time like"),
    ({"kind": "call", "subject": "x", "due_at": "0001-01-01T00:00"}, "between the years"),
    ({"kind": "call", "subject": "x", "assigned_to": "12"}, "Not a valid choice"),
    ({"kind": "call", "subject": "x", "done": "y", "outcome": "great"}, "Not a valid choice"),
])
def test_a_bad_activity_is_refused_with_a_message(browser, team, data, message):
    lead = add(1)
    response = browser.post(f"/lead/{lead.id}/activities", data={"assigned_to": "none", **data},
                            follow_redirects=True)
    assert message in flashes(text_of(response))
    assert Activity.select().count() == 0


def test_completing_twice_or_on_another_lead_is_refused(browser, team):
    lead, other = add(1), add(2)
    browser.post(f"/lead/{lead.id}/activities", data={"kind": "call", "subject": "Call",
                                                      "assigned_to": "none"})
    call = Activity.get()
    wrong_lead = browser.post(f"/lead/{other.id}/activities/{call.id}/complete",
                              data={"outcome": "successful"}, follow_redirects=True)
    assert "There is no such activity on this lead." in flashes(text_of(wrong_lead))
    browser.post(f"/lead/{lead.id}/activities/{call.id}/complete", data={"outcome": "successful"})
    again = browser.post(f"/lead/{lead.id}/activities/{call.id}/complete",
                         data={"outcome": "no_answer"}, follow_redirects=True)
    assert "was already marked done" in flashes(text_of(again))
    assert Activity.get_by_id(call.id).outcome == "successful"


def test_the_timeline_is_newest_first_and_escapes_what_people_typed(browser, team):
    lead = add(1)
    browser.post(f"/lead/{lead.id}/activities", data={"kind": "note", "subject": "<i>first</i>",
                                                      "assigned_to": "none"})
    long_ago = datetime.datetime(2020, 1, 1)
    Activity.update(created_at=long_ago, completed_at=long_ago).execute()
    browser.post(f"/lead/{lead.id}/stage", data={"stage": "contacted"})
    page = text_of(browser.get(f"/lead/{lead.id}/pipeline"))
    timeline = re.search(r'id="timeline">(.*?)</table>', page, re.S).group(1)
    assert timeline.index("new → contacted") < timeline.index("&lt;i&gt;first&lt;/i&gt;")
    assert "<i>first</i>" not in page


@pytest.mark.parametrize("url", ["/lead/abc/pipeline", f"/lead/{'9' * 30}/pipeline", "/lead/%00/pipeline",
                                 "/lead/999999/pipeline", "/lead/-1/pipeline"])
def test_a_missing_lead_sends_back_to_the_list_with_a_message(browser, team, url):
    response = browser.get(url, follow_redirects=True)
    assert response.status_code == 200
    assert "There is no lead" in flashes(text_of(response))


@pytest.mark.parametrize("path", ["stage", "transfer", "score", "assign", "activities",
                                  "activities/1/complete", "activities/abc/complete",
                                  f"activities/{'9' * 30}/complete"])
@pytest.mark.parametrize("lead_id", ["1", "abc", "9" * 30, "%00", "999999"])
def test_odd_posts_never_break_the_pipeline_page(browser, team, path, lead_id):
    add(1)
    response = browser.post(f"/lead/{lead_id}/{path}", data={
        "stage": "\x00", "member": "\x00", "kind": "\x00", "subject": "\x00", "due_at": "\x00",
        "outcome": "\x00", "assigned_to": "\x00"})
    assert response.status_code == 302


def test_every_pipeline_form_carries_a_csrf_token(make_app, make_user):
    client = make_app(csrf=True).test_client()
    assert log_in(client, csrf_token=csrf_token(client, "/login")).status_code == 302
    make_user("sales", first_name="Sam")
    lead = add(1)
    page = text_of(client.get(f"/lead/{lead.id}/pipeline"))
    forms = re.findall(r"<form .*?</form>", page, re.S)
    posting = [f for f in forms if 'method="post"' in f]
    assert len(posting) >= 6
    assert all('name="csrf_token"' in f for f in posting)
    for path in ("stage", "transfer", "score", "assign", "activities", "activities/1/complete"):
        assert client.post(f"/lead/{lead.id}/{path}", data={"stage": "contacted"}).status_code == 400
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    ok = client.post(f"/lead/{lead.id}/stage", data={"stage": "contacted", "csrf_token": token})
    assert ok.status_code == 302 and Lead.get_by_id(lead.id).stage == "contacted"


# --- The pipeline overview ------------------------------------------------------------

def test_the_overview_counts_and_sums_each_stage_and_shows_the_statistics(browser, team):
    now = datetime.datetime.utcnow()
    a = add(1, source="website", value="100")
    add(2, source="website", value="50.5")
    at_stage(add(3, source="partner", value="1000"), "transferred", "paid")
    at_stage(add(4, source="partner", value="7"), "lost")
    Activity.create(lead=a, type="call", subject="late", assigned_to=team["sam"],
                    due_at=now - datetime.timedelta(hours=2))
    Activity.create(lead=a, type="call", subject="later", assigned_to=team["sam"],
                    due_at=now - datetime.timedelta(hours=1))
    Activity.create(lead=a, type="call", subject="done", completed_at=now, outcome="no_answer")
    Activity.create(lead=a, type="email", subject="sent", completed_at=now)
    page = text_of(browser.get("/pipeline/"))

    def row(table, key, attr="data-stage"):
        block = re.search(rf'id="{table}">(.*?)</table>', page, re.S).group(1)
        cells = re.search(rf'{attr}="{key}">(.*?)</tr>', block, re.S).group(1)
        return [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)]
    assert row("totals-lead", "new")[:3] == ["new", "2", "150.50"]
    assert row("totals-lead", "lost")[:3] == ["lost", "1", "7.00"]
    assert row("totals-lead", "qualified")[:3] == ["qualified", "0", "0.00"]
    assert row("totals-sales", "paid")[:3] == ["paid", "1", "1,000.00"]
    assert row("totals-sales", "kyc")[:3] == ["kyc", "0", "0.00"]
    calls = row("activities-by-type", "call", "data-type")
    assert calls[0] == "call" and calls[-1] == "3"
    header = re.search(r'id="activities-by-type">\s*<thead>(.*?)</thead>', page, re.S).group(1)
    columns = [c.strip() for c in re.findall(r"<th[^>]*>(.*?)</th>", header)]
    assert dict(zip(columns, calls)) == {"Type": "call", "open": "2", "no answer": "1", "done": "0",
                                         "Total": "3"}
    overdue = re.search(r'id="overdue-by-member">(.*?)</table>', page, re.S).group(1)
    assert re.search(r"<td>Sam</td><td[^>]*>2</td>", overdue)
    assert row("conversion", "partner", "data-source") == ["partner", "2", "1", "1", "50.0%"]
    assert row("conversion", "website", "data-source") == ["website", "2", "0", "0", "0.0%"]


def test_the_overview_of_an_empty_database(browser):
    page = text_of(browser.get("/pipeline/"))
    assert "No activities yet." in page and "Nothing is overdue." in page
    assert 'data-stage="new"' in page
    assert "The scheduler has not run its follow-up jobs yet." in page


def test_the_overview_shows_each_scheduler_job_and_its_last_error(browser):
    slot = datetime.datetime(2026, 11, 22, 6, 0)
    JobRun.create(name="daily_summary", last_slot=slot, finished_at=slot,
                  last_error="RuntimeError: <b>boom</b>")
    JobRun.create(name="cleanup", last_slot=slot, finished_at=slot)
    page = text_of(browser.get("/pipeline/"))
    assert 'data-job="cleanup" class=""' in page
    assert 'data-job="daily_summary" class="table-danger"' in page
    assert "RuntimeError: &lt;b&gt;boom&lt;/b&gt;" in page and "2026-11-22 06:00" in page


def test_the_new_pages_need_a_login(client):
    urls = {rule.rule for rule in client.application.url_map.iter_rules()}
    assert {"/pipeline/", "/lead/<lead_id>/pipeline", "/lead/<lead_id>/stage", "/lead/<lead_id>/transfer",
            "/lead/<lead_id>/score", "/lead/<lead_id>/assign", "/lead/<lead_id>/activities",
            "/lead/<lead_id>/activities/<activity_id>/complete", "/activities/", "/rules/",
            "/rules/new/", "/rules/test/", "/automation/"} <= urls
    for url in ("/pipeline/", "/lead/1/pipeline", "/activities/", "/rules/", "/rules/test/?id=1",
                "/automation/"):
        assert client.get(url).headers["Location"].startswith("/login"), url
    for url in ("/lead/1/stage", "/lead/1/activities/1/complete", "/rules/test/"):
        assert client.post(url, data={"stage": "contacted"}).headers["Location"].startswith("/login"), url
