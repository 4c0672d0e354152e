"""The rules editor: readable lines in, JSON stored, every mistake refused under
its field; test mode that shows each condition and runs nothing."""
import json
import re

import pytest

from models import Activity, FollowUpRule, Lead, OutboxMessage, RuleAction, StageChange
from services.crm import leads
from tests.panel.conftest import csrf_token, log_in, text_of

GOOD = {"name": "Partner lead: call in 30 minutes", "description": "Partners are warm.",
        "event": "lead.created", "priority": "25", "active": "y",
        "conditions": "source equals partner\n# a comment\nvalue greater_than 1000",
        "actions": 'create_activity call "Call the partner lead" assign round_robin after 30m\n'
                   "send_notification urgent_lead to team"}


def errors_under(page, field):
    """The messages shown under one field of the form."""
    block = re.search(rf'id="{field}".*?(?=<div class="form-group|<hr>)', page, re.S).group(0)
    return " ".join(re.findall(r"<li>(.*?)</li>", block, re.S))


def rule(name):
    return FollowUpRule.get(FollowUpRule.name == name)


def test_the_list_shows_the_default_rules_as_readable_lines(browser):
    page = text_of(browser.get("/rules/"))
    assert "New website lead: call within the hour" in page
    assert "source equals website" in page
    assert "create_activity call &#34;Call new website lead&#34; assign lead_owner after 1h" in page \
        or "create_activity call &quot;Call new website lead&quot; assign lead_owner after 1h" in page
    assert "/rules/test/?id=" in page  # test mode from each row


def test_a_valid_rule_is_stored_as_json(browser):
    response = browser.post("/rules/new/", data=GOOD)
    assert response.status_code == 302, text_of(response)
    saved = rule(GOOD["name"])
    assert (saved.event, saved.priority, saved.active, saved.description) == (
        "lead.created", 25, True, "Partners are warm.")
    assert json.loads(saved.conditions) == [
        {"field": "source", "operator": "equals", "value": "partner"},
        {"field": "value", "operator": "greater_than", "value": 1000}]
    assert json.loads(saved.actions) == [
        {"type": "create_activity", "delay_minutes": 30, "activity_type": "call",
         "subject": "Call the partner lead", "assign_to": "round_robin"},
        {"type": "send_notification", "delay_minutes": 0, "template": "urgent_lead", "to": "team"}]
    assert saved.updated_at is not None


def test_a_saved_rule_runs_on_its_event(browser, make_user):
    make_user("sales", first_name="Sam")
    browser.post("/rules/new/", data=GOOD)
    lead = leads.add_lead({"email": "p@x.co", "phone": "+12125550001", "first_name": "P",
                           "last_name": "Q", "country": "DE"},
                          details={"source": "partner", "value": "5000"})
    mine = RuleAction.select().where(RuleAction.rule == rule(GOOD["name"]).id, RuleAction.lead == lead.id)
    assert sorted(a.status for a in mine) == ["done", "pending"]


@pytest.mark.parametrize("field,value,message", [
    ("conditions", "colour equals red", "Condition line 1: unknown field 'colour'"),
    ("conditions", "source roughly website", "unknown operator 'roughly'"),
    ("conditions", "source greater_than website", "greater_than does not work on source"),
    ("conditions", "source equals fax", "'fax' is not a source"),
    ("conditions", "outcome equals successful", "outcome is only known for activity.completed"),
    ("actions", "launch_rocket now", "Action line 1: unknown action 'launch_rocket'"),
    ("actions", 'create_activity call "x" after 1w', "write the delay like 30m, 1h or 2d"),
    ("actions", 'create_activity call "x" after 9999d', "between 0 and 366 days"),
    ("actions", 'create_activity call "unclosed', "quote the subject"),
    ("actions", "send_notification love_letter to team", "unknown template 'love_letter'"),
    ("actions", "", "The rule needs at least one action."),
    ("priority", "5000", "Priority must be between -1000 and 1000."),
    ("name", "   ", "The rule needs a name."),
])
def test_mistakes_are_refused_under_their_field(browser, field, value, message):
    before = FollowUpRule.select().count()
    response = browser.post("/rules/new/", data={**GOOD, field: value})
    assert response.status_code == 200
    page = text_of(response)
    assert message.replace("'", "&#39;") in errors_under(page, field) or message in errors_under(page, field)
    assert FollowUpRule.select().count() == before


def banner(page):
    """The alerts at the top of the page, as text."""
    return " ".join(" ".join(re.sub(r"<[^>]+>|&times;", "", alert).split())
                    for alert in re.findall(r'<div class="alert[^"]*"[^>]*>(.*?)</div>', page, re.S))


@pytest.mark.parametrize("url", ["/rules/new/", "edit"])
def test_every_wrong_line_is_shown_under_its_field_and_counted_in_a_banner(browser, url):
    if url == "edit":
        url = f"/rules/edit/?id={rule('Urgent lead: call now').id}"
    response = browser.post(url, data={
        **GOOD, "priority": "5000",
        "conditions": "colour equals red\nsource equals partner\nvalue greater_than lots",
        "actions": 'launch_rocket now\nassign round_robin\ncreate_activity call "x" after 1w'})
    page = text_of(response)
    conditions = errors_under(page, "conditions")
    assert "Condition line 1: unknown field" in conditions and "Condition line 3: value is a number" in conditions
    assert "Condition line 2" not in conditions
    actions = errors_under(page, "actions")
    assert "Action line 1: unknown action" in actions and "Action line 3: write the delay" in actions
    assert "Priority must be between" in errors_under(page, "priority")
    assert banner(page) == "5 problems: see the marked fields."
    assert "Failed to" not in page


def test_one_refusal_from_the_rulebook_is_counted_too(browser):
    page = text_of(browser.post("/rules/new/", data={**GOOD, "name": "Urgent lead: call now"}))
    assert banner(page) == "1 problem: see the marked fields."


def test_a_refused_form_keeps_what_was_typed(browser):
    existing = rule("Urgent lead: call now")
    typed = "priority equals urgent\ncolour equals red"
    response = browser.post(f"/rules/edit/?id={existing.id}", data={**GOOD, "conditions": typed})
    assert typed in text_of(response)
    assert "unknown field" in errors_under(text_of(response), "conditions")


def test_editing_shows_lines_and_saves_them(browser):
    existing = rule("Callback requested: call back next day")
    page = text_of(browser.get(f"/rules/edit/?id={existing.id}"))
    assert ("outcome equals callback_requested\nstage not_equals lost\n"
            "activities_done_since_event less_than 1") in page
    assert 'id="rule-reference"' in page and 'id="test-unsaved"' in page
    response = browser.post(f"/rules/edit/?id={existing.id}", data={
        "name": existing.name, "event": "activity.completed", "priority": "10", "active": "y",
        "conditions": "outcome in callback_requested, voicemail",
        "actions": 'create_activity call "Return customer callback" after 2d'})
    assert response.status_code == 302, text_of(response)
    saved = FollowUpRule.get_by_id(existing.id)
    assert json.loads(saved.conditions) == [{"field": "outcome", "operator": "in",
                                             "value": ["callback_requested", "voicemail"]}]
    assert json.loads(saved.actions)[0]["delay_minutes"] == 2880
    assert saved.updated_at > existing.updated_at


def test_two_rules_cannot_share_a_name(browser):
    response = browser.post("/rules/new/", data={**GOOD, "name": "Urgent lead: call now"})
    assert "already has this name" in errors_under(text_of(response), "name")


def test_the_form_has_the_reference_box(browser):
    page = text_of(browser.get("/rules/new/"))
    box = re.search(r'id="rule-reference">(.*)', page, re.S).group(1)
    for expected in ("lead.stale", "days_without_activity", "Days without any activity",
                     "is_not_present", "values separated by commas",
                     "update_stage lead|sales &lt;stage&gt;", "deal_won", "callback_requested",
                     "after 30m"):
        assert expected in box, expected


def test_turning_rules_off_and_on(browser):
    ids = [str(rule("Urgent lead: call now").id), str(rule("Referral lead: thank the referrer").id)]
    browser.post("/rules/action/", data={"action": "deactivate", "rowid": ids})
    assert [FollowUpRule.get_by_id(i).active for i in ids] == [False, False]
    response = browser.post("/rules/action/", data={"action": "activate", "rowid": ids[:1] + ["x", "9" * 30]},
                            follow_redirects=True)
    assert "Turned on 1 rule." in text_of(response)
    assert [FollowUpRule.get_by_id(i).active for i in ids] == [True, False]


def test_deleting_a_rule_asks_first(browser):
    target = rule("Urgent lead: call now")
    page = text_of(browser.get("/rules/"))
    assert "Are you sure you want to delete this record?" in page
    assert browser.post("/rules/delete/", data={"id": target.id}).status_code == 302
    assert FollowUpRule.get_or_none(FollowUpRule.id == target.id) is None


# --- Test mode ------------------------------------------------------------------------

def counts():
    return [m.select().count() for m in (RuleAction, Activity, OutboxMessage, Lead, StageChange,
                                         FollowUpRule)]


def conditions_shown(page):
    block = re.search(r'id="test-conditions">(.*?)</table>', page, re.S).group(1)
    return [(mark, re.sub(r"<[^>]+>", "", line), actual.strip()) for mark, line, actual in re.findall(
        r'<td class="check-\w+">(.)</td>\s*<td>(.*?)</td>\s*<td>(.*?)</td>', block, re.S)]


def test_test_mode_with_sample_values_shows_each_condition_and_runs_nothing(browser):
    target = rule("Callback requested: call back next day")
    before = counts()
    response = browser.post(f"/rules/test/?id={target.id}", data={
        "run": "1", "event": "activity.completed",
        "conditions": "outcome equals callback_requested\nstage not_equals lost\n"
                      "activities_done_since_event less_than 1",
        "actions": 'create_activity call "Return customer callback" assign lead_owner after 1d',
        "sample_outcome": "callback_requested", "sample_stage": "contacted",
        "sample_activities_done_since_event": "0"})
    page = text_of(response)
    assert conditions_shown(page) == [
        ("✓", "outcome equals callback_requested", "callback_requested"),
        ("✓", "stage not_equals lost", "contacted"),
        ("✓", "activities_done_since_event less_than 1", "0")]
    assert "✓ The rule matches" in page
    assert re.search(r'create_activity call .*Return customer callback.* — after 1d', page)
    assert counts() == before


def test_test_mode_shows_what_fails(browser):
    target = rule("Callback requested: call back next day")
    page = text_of(browser.post(f"/rules/test/?id={target.id}", data={
        "run": "1", "sample_outcome": "no_answer", "sample_stage": "lost"}))
    shown = conditions_shown(page)
    assert shown[0] == ("✗", "outcome equals callback_requested", "no_answer")
    assert shown[1] == ("✗", "stage not_equals lost", "lost")
    assert "✗ The rule does not match" in page and "No action would run." in page


def test_test_mode_on_a_real_lead_runs_nothing(browser, make_user):
    make_user("sales", first_name="Sam")
    lead = leads.add_lead({"email": "w@x.co", "phone": "+12125550009", "first_name": "W",
                           "last_name": "X", "country": "FR"}, details={"source": "website"})
    target = rule("New website lead: call within the hour")
    before = counts()
    page = text_of(browser.post(f"/rules/test/?id={target.id}",
                                data={"run": "1", "lead_id": str(lead.id), "sample_source": "partner"}))
    assert conditions_shown(page) == [("✓", "source equals website", "website"),
                                      ("✓", "stage equals new", "new")]
    assert "✓ The rule matches" in page and "— after 1h" in page
    assert counts() == before


def test_the_edit_forms_unsaved_lines_can_be_tested(browser):
    target = rule("Urgent lead: call now")
    response = browser.post(f"/rules/test/?id={target.id}", data={
        "name": target.name, "event": "lead.created", "priority": "1", "active": "y",
        "conditions": "priority equals high", "actions": "assign round_robin"})
    page = text_of(response)
    assert "priority equals high</textarea>" in page and "not yet saved" in page
    assert json.loads(FollowUpRule.get_by_id(target.id).conditions)[0]["value"] == "urgent"
    page = text_of(browser.post(f"/rules/test/?id={target.id}", data={
        "run": "1", "event": "lead.created", "conditions": "priority equals high",
        "actions": "assign round_robin", "sample_priority": "high"}))
    assert conditions_shown(page) == [("✓", "priority equals high", "high")]
    assert "assign round_robin</code> — at once" in page


@pytest.mark.parametrize("data,field,message", [
    ({"conditions": "colour equals red"}, "conditions", "unknown field"),
    ({"actions": "explode"}, "actions", "unknown action"),
    ({"lead_id": "9" * 25}, "lead_id", "There is no lead"),
    ({"lead_id": "abc\x00"}, "lead_id", "There is no lead"),
    ({"sample_value": "lots"}, "sample", "value is a number"),
    ({"sample_source": "fax"}, "sample", "is not a source"),
])
def test_test_mode_explains_bad_input(browser, data, field, message):
    before = counts()
    response = browser.post("/rules/test/", data={
        "run": "1", "event": "lead.created", "conditions": "value greater_than 5\nsource equals website",
        "actions": "assign round_robin", **data})
    assert response.status_code == 200
    shown = re.findall(rf'data-error="{field}">(.*?)</div>', text_of(response), re.S)
    assert shown and message in shown[0]
    assert counts() == before


@pytest.mark.parametrize("url", ["/rules/test/?id=abc", f"/rules/test/?id={'9' * 30}",
                                 "/rules/test/?id=%00", "/rules/test/?id=999999",
                                 "/rules/?page=-3", "/rules/edit/?id=abc", f"/rules/details/?id={'9' * 30}",
                                 "/rules/?flt0_0=%00", "/rules/?search=%00"])
def test_odd_rule_urls_never_break(browser, url):
    assert browser.get(url).status_code < 500


def test_odd_rule_posts_never_break(browser):
    for url, data in [("/rules/test/", {"run": "1", "event": "\x00", "conditions": "\x00" * 10}),
                      ("/rules/test/", {"run": "1", "actions": "x" * 30_000}),
                      ("/rules/new/", {**GOOD, "name": "\x00", "conditions": "\x00"}),
                      ("/rules/new/", {**GOOD, "priority": "9" * 40}),
                      ("/rules/new/", {**GOOD, "event": "lead.exploded"}),
                      ("/rules/delete/", {"id": "9" * 30}),
                      ("/rules/action/", {"action": "deactivate", "rowid": ["\x00", "9" * 30]})]:
        assert browser.post(url, data=data).status_code < 500, (url, data)


def test_rule_forms_need_a_csrf_token(make_app):
    client = make_app(csrf=True).test_client()
    assert log_in(client, csrf_token=csrf_token(client, "/login")).status_code == 302
    for url in ("/rules/new/", "/rules/test/", "/rules/action/"):
        data = {**GOOD, "run": "1", "action": "deactivate", "rowid": "1"}
        assert client.post(url, data=data).status_code == 400
    page = text_of(client.get("/rules/test/?id=1"))
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    ok = client.post("/rules/test/?id=1", data={"run": "1", "csrf_token": token})
    assert ok.status_code == 200 and 'id="test-result"' in text_of(ok)
