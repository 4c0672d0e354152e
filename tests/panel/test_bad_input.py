"""Odd query strings and form posts get an answer, never a server error, on both backends."""
import itertools
import re
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import models
from panel import auth, create_app
from services.delivery import outbox
from tests.fuzz_values import HUGE, PAST_INT64, SWEEP, filled, values
from tests.panel.conftest import log_in, panel_settings, text_of

ODD_PAGES = [
    "/leads/?page=-1", "/leads/?page=abc", "/leads/?sort=99", "/leads/?sort=abc&desc=x",
    "/leads/?flt0_99=x", "/leads/?flt0_0=%00", "/leads/?search=%00", "/leads/?search=" + "a" * 5000,
    "/leads/?search=%25_%5C", f"/leads/?flt0_1={HUGE}", "/leads/?flt0_2=2026-13-01+to+2026-01-01",
    "/leads/?flt0_2=0001-01-01+to+9999-12-31", "/leads/?page_size=100000", "/leads/export/xlsx/",
    "/leads/edit/?id=999999", "/leads/edit/?id=abc", "/leads/details/?id=%00",
    "/members/edit/?id=abc", f"/members/details/?id={HUGE}",
    "/outbox/details/?id=abc", "/outbox/?flt0_1=abc", f"/outbox/?flt0_1={HUGE}", "/outbox/?page=99999999999",
    "/leads/ajax/lookup/?name=created_by&query=x", "/outbox/ajax/lookup/?name=x",
    "/broadcast/?page=abc", "/broadcast/?page=-5", f"/broadcast/progress.json?id=abc&id={HUGE}",
]
ODD_POSTS = [
    ("/leads/new/", {"email": "a\x00@b.co", "phone": "+442079460958", "first_name": "A\x00",
                     "last_name": "B", "country": "GB"}),
    ("/leads/new/", {"email": "x" * 10000 + "@b.co", "phone": "1" * 500, "first_name": "A" * 5000,
                     "last_name": "B", "country": "G" * 300}),
    ("/leads/new/", {}),
    ("/leads/new/", {"first_name": "A", "middle_name": "\x00", "gender": "\x00",
                     "date_of_birth": "1990-01-01\x00", "address": "a\x00", "comments": "\x00",
                     "passport_number": "AB\x00", "tax_pin": "\x00"}),
    ("/leads/new/", {"first_name": "A", "middle_name": "M" * 5000, "gender": "x" * 5000,
                     "date_of_birth": "9" * 5000, "address": "a" * 100_000,
                     "comments": "c" * 100_000, "passport_number": "P" * 5000,
                     "tax_pin": "T" * 5000}),
    ("/leads/new/", {"first_name": "A", "date_of_birth": "0001-01-01", "gender": "²"}),
    ("/leads/new/", {"first_name": "A", "date_of_birth": "9999-12-31", "tax_pin": "٣"}),
    # A passport number with no DATA_ENCRYPTION_KEY set: a form error, not a 500.
    ("/leads/new/", {"first_name": "A", "passport_number": "925076473"}),
    ("/broadcast/new", {"text": "\x00hi", "audience": "team"}),
    ("/broadcast/send", {"text": "\x00", "audience": "team"}),
    ("/broadcast/new", {"text": "<b>" * 2000, "audience": "team"}),
    ("/broadcast/send", {"audience": "team", "test_mode": "maybe"}),
    ("/members/edit/?id=1", {"role": "owner"}),
    ("/outbox/action/", {"action": "retry", "rowid": ["abc", HUGE]}),
    ("/leads/action/", {"action": "delete", "rowid": ["abc", HUGE]}),
    ("/members/action/", {"action": "deactivate", "rowid": ["abc", HUGE]}),
    ("/leads/delete/", {"id": HUGE}),
    ("/leads/ajax/update/", {"list_form_pk": "1", "email": "x"}),
    ("/login", {"username": "\x00", "password": "x" * 100_000}),
]


@pytest.fixture
def odd_browser(panel_database_url, make_user):
    app = create_app(panel_settings(panel_database_url))
    app.config.update(WTF_CSRF_ENABLED=False)
    auth.limiter.reset()
    make_user("admin")
    client = app.test_client()
    log_in(client)
    yield client
    models.db.close()


def test_odd_query_strings_never_break_a_page(odd_browser):
    errors = [(url, odd_browser.get(url).status_code) for url in ODD_PAGES]
    assert [e for e in errors if e[1] >= 500] == []


def test_odd_posts_never_break_a_form(odd_browser):
    errors = [(url, odd_browser.post(url, data=data).status_code) for url, data in ODD_POSTS]
    assert [e for e in errors if e[1] >= 500] == []
    assert models.Lead.select().count() == 0 and models.Broadcast.select().count() == 0


# Issue 9 item 7: Unicode digits ("²" passes str.isdigit(), then int() refuses it) and
# numbers too big for a 64-bit column or an OFFSET.
SQUARED = "²"
LISTS = ["/leads/", "/activities/", "/rules/", "/automation/", "/members/", "/outbox/", "/audit/"]
UNICODE_DIGIT_PAGES = (
    [f"{url}{view}/?id={value}" for url in LISTS for view in ("details", "edit")
     for value in (SQUARED, "٣", PAST_INT64)]
    + [f"{url}?page={HUGE}" for url in LISTS] + [f"{url}?page={SQUARED}" for url in LISTS]
    + [f"{url}?page_size={SQUARED}&sort={SQUARED}&desc={SQUARED}" for url in LISTS]
    + [f"/leads/?flt0_{n}={SQUARED}" for n in range(8)]
    + [f"/activities/?flt0_{n}={SQUARED}" for n in range(6)]
    + [f"/automation/?flt0_{n}={SQUARED}" for n in range(4)]
    + [f"/outbox/?flt0_{n}={SQUARED}" for n in range(4)]
    + [f"/audit/?flt0_{n}={SQUARED}" for n in range(8)] + ["/audit/export/csv/?flt0_5=2026-02-30"]
    + [f"/lead/{SQUARED}/pipeline", f"/lead/{PAST_INT64}/pipeline", f"/rules/test/?id={SQUARED}",
       f"/broadcast/?page={HUGE}", f"/broadcast/?page={SQUARED}",
       f"/broadcast/progress.json?id={SQUARED}&id={PAST_INT64}"]
)
UNICODE_DIGIT_POSTS = (
    [(f"{url}action/", {"action": action, "rowid": [SQUARED, PAST_INT64]})
     for url, action in (("/leads/", "delete"), ("/members/", "deactivate"), ("/members/", "reachable"),
                         ("/outbox/", "retry"), ("/outbox/", "cancel"), ("/rules/", "activate"),
                         ("/rules/", "deactivate"))]
    + [(f"/{view}/delete/", {"id": SQUARED}) for view in ("leads", "rules")]
    + [(f"/lead/{SQUARED}/{what}", {}) for what in ("stage", "transfer", "score", "assign", "activities")]
    + [("/lead/1/assign", {"member": SQUARED}),
       (f"/lead/1/activities/{SQUARED}/complete", {"outcome": "successful"}),
       ("/lead/1/activities", {"kind": "call", "subject": "x", "assigned_to": SQUARED}),
       ("/leads/new/", {"email": "a@b.co", "phone": "+442079460958", "first_name": "A",
                        "last_name": "B", "country": "GB", "owner_id": SQUARED}),
       ("/rules/new/", {"name": "r", "event": "lead.created", "priority": SQUARED,
                        "conditions": f"owner equals {SQUARED}", "actions": "assign round_robin"}),
       ("/rules/new/", {"name": "r", "event": "lead.created", "priority": "1",
                        "conditions": f"owner in member:1, {SQUARED}\nvalue greater_than ٣",
                        "actions": f"assign member:{SQUARED}"}),
       ("/rules/test/", {"event": "lead.created", "conditions": f"owner equals member:{SQUARED}",
                         "actions": f"create_activity call \"x\" assign member:{SQUARED}", "run": "1",
                         "lead_id": SQUARED, "sample_owner": SQUARED})]
)


def test_unicode_digits_and_huge_numbers_never_break_a_page(odd_browser):
    errors = [(url, odd_browser.get(url).status_code) for url in UNICODE_DIGIT_PAGES]
    assert [e for e in errors if e[1] >= 500] == []


def test_unicode_digits_and_huge_numbers_never_break_a_form(odd_browser):
    errors = [(url, odd_browser.post(url, data=data).status_code) for url, data in UNICODE_DIGIT_POSTS]
    assert [e for e in errors if e[1] >= 500] == []
    assert models.Lead.select().count() == 0


@pytest.mark.parametrize("url, message", [
    (f"/leads/?page={HUGE}", f"{HUGE} is not a page number"),
    ("/leads/?page=%C2%B2", "² is not a page number"),
    ("/outbox/?page=-3", "-3 is not a page number"),
    ("/rules/?sort=%D9%A3", "٣ is not a column number"),
    ("/members/?sort=1", "Column 1 cannot be sorted"),  # "name": found by the fuzz test
    ("/members/?sort=99", "Column 99 cannot be sorted"),
])
def test_a_bad_page_number_is_named_and_the_first_page_shown(browser, url, message):
    page = text_of(browser.get(url))
    assert message in page


def test_a_bad_record_id_says_so(browser):
    response = browser.get(f"/leads/details/?id={SQUARED}", follow_redirects=True)
    assert response.status_code == 200 and "Record does not exist." in text_of(response)
    response = browser.post("/leads/action/", data={"action": "delete", "rowid": ["1", SQUARED]},
                            follow_redirects=True)
    assert "Skipped what is not a record number: ²." in text_of(response)


@pytest.mark.parametrize("url", ["%0A", "//[", "http://[", "https://example.com/"])
def test_a_return_address_that_is_no_page_here_is_refused(browser, url):
    """Flask-Admin redirects to `url` after a form; "\n" there was a server error."""
    response = browser.get(f"/leads/details/?id=1&url={url}")
    assert response.status_code == 400 and "not a page of this panel" in text_of(response)


@pytest.mark.parametrize("field, value, message", [
    ("priority", "٣", "Priority must be a whole number"),
    ("conditions", "owner equals ²", "owner takes a member id like member:12, got &#39;²&#39;"),
    ("actions", "assign member:٣", "assign must be round_robin, round_robin_if_unowned or member:&lt;id&gt;"),
])
def test_a_rule_with_a_unicode_digit_is_refused_under_its_field(browser, field, value, message):
    rule = {"name": "r", "event": "lead.created", "priority": "1", "conditions": "",
            "actions": "assign round_robin", field: value}
    response = browser.post("/rules/new/", data=rule)
    assert response.status_code == 200 and message in text_of(response)
    assert models.FollowUpRule.get_or_none(models.FollowUpRule.name == "r") is None


# Fuzz: every route of the URL map, logged in, with odd values in the query string, the
# path and every form field; a new view is covered as soon as it is registered.

RULE_LINES = ["owner equals {}", "owner in member:1, {}", "value greater_than {}", "stage in {}",
              "assign member:{}", 'create_activity call "{}" assign member:{} after {}d',
              "send_notification deal_won to member:{}", "update_stage lead {}"]
fields = st.one_of(st.sampled_from(["none", "panel", "round_robin", "sales", "csv", "y", "1", "2"]),
                   values, filled(RULE_LINES, values))
QUERY_KEYS = (["id", "page", "page_size", "sort", "desc", "search", "next", "url", "name",
               "query", "offset", "limit", "edit", "modal", "pipeline", "owner", "source", "stage"]
              + [f"flt{n}_{i}" for n in (0, 1) for i in range(10)])
FAMILIES = ["leads", "activities", "rules", "automation", "members", "outbox", "lead_pipeline",
            "pipeline", "broadcast", "audit", "templates", "conversations", "admin", "auth",
            "ops", "board", "channels", "twilio_hooks", "oxapay_hooks", "unsubscribe"]  # the endpoints' first part
GET_ONLY = {"pipeline", "admin", "ops", "channels"}  # families that take no form
POST_ONLY = {"twilio_hooks", "oxapay_hooks"}  # families that take POSTs only (Twilio, OxaPay)
FUZZED = [(family, method) for family in FAMILIES for method in ("GET", "POST")
          if not (method == "POST" and family in GET_ONLY)
          and not (method == "GET" and family in POST_ONLY)]
NOT_FUZZED = {"static", "admin.static", "auth.logout"}  # files; logging out ends the session
NO_SCHEDULER = {"ops.health_check": 503}  # no scheduler runs here, and /health says so
LEAD_FORM = {"email": "fuzz@example.com", "phone": "+442079460958", "first_name": "F",
             "last_name": "Z", "country": "GB", "source": "website", "business_domain": "",
             "priority": "normal", "value": "0", "owner_id": "none", "middle_name": "M",
             "gender": "female", "date_of_birth": "1990-01-01", "address": "London",
             "passport_number": "", "tax_pin": "", "comments": "Fuzz"}
RULE_FORM = {"name": "Fuzz", "description": "", "event": "lead.created", "priority": "1",
             "active": "y", "conditions": "source equals website", "actions": "assign round_robin"}
# A valid post per endpoint, whose fields the fuzz then replaces; any other endpoint
# (delete, bulk actions, ajax) gets GENERIC_FORM.
POST_FORMS = {
    "leads.create_view": LEAD_FORM, "leads.edit_view": LEAD_FORM,
    "rules.create_view": RULE_FORM, "rules.edit_view": RULE_FORM,
    "rules.test_view": {**RULE_FORM, "lead_id": "1", "run": "1", "sample_owner": "member:1",
                        "sample_value": "5", "sample_source": "website"},
    "members.edit_view": {"role": "sales", "notify": "y"},
    "lead_pipeline.stage": {"stage": "contacted"},
    "lead_pipeline.assign": {"member": "round_robin"},
    "lead_pipeline.log_activity": {"kind": "call", "subject": "Fuzz", "description": "",
                                   "due_at": "2030-01-01T10:00", "assigned_to": "none",
                                   "outcome": ""},
    "lead_pipeline.complete": {"outcome": "successful", "note": ""},
    "board.move": {"lead_id": "1", "stage": "contacted"},
    "broadcast.compose": {"text": "Hi", "audience": "team", "test_mode": ""},
    "broadcast.send": {"text": "Hi", "audience": "team", "test_mode": "1"},
    "auth.login": {"username": "x", "password": "y"},
}
GENERIC_FORM = {"id": "1", "rowid": "1", "action": "delete", "url": "/", "list_form_pk": "1"}
ACTIONS = ["delete", "deactivate", "reachable", "retry", "cancel", "activate"]
EXAMPLES = {"sqlite": 30, "postgres": 8}  # per family and method; Postgres shares the CPU


def _routes(app, family=None, method=None):
    return sorted((rule for rule in app.url_map.iter_rules()
                   if family in (None, rule.endpoint.split(".")[0])
                   and method in (None, *rule.methods) and rule.endpoint not in NOT_FUZZED),
                  key=lambda rule: (rule.rule, sorted(rule.methods)))


def _path(rule, arguments):
    """The rule's URL with each <argument> filled in, quoted as a browser would."""
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: quote(arguments[m.group(1)], safe="") or "%20",
                  rule.rule)


def _seed(make_lead):
    """A lead, an activity and a message, so fuzzed ids like 1 reach real records."""
    lead = make_lead(owner=1)
    models.Activity.create(lead=lead, type="call", subject="Fuzz", due_at=models.utcnow(),
                           created_at=models.utcnow())
    outbox.enqueue("fuzz", models.User.get_by_id(1), "Hello")


def _server_error(client, rule, method, path, query, form):
    """None, or what broke: the panel answers odd requests, it never fails on them."""
    response = client.open(path, method=method, query_string=query, data=form)
    if response.status_code < 500 or response.status_code == NO_SCHEDULER.get(rule.endpoint):
        return None
    return rule.endpoint, response.status_code, path, query, form


def test_every_route_is_in_a_fuzzed_family(make_app):
    rules = [rule for rule in make_app().url_map.iter_rules() if rule.endpoint not in NOT_FUZZED]
    assert {r.endpoint for r in rules if r.endpoint.split(".")[0] not in FAMILIES} == set()
    posting = {r.endpoint.split(".")[0] for r in rules if "POST" in r.methods}
    assert posting & GET_ONLY == set()


def test_an_odd_value_everywhere_never_breaks_a_route(odd_browser, make_lead):
    """Each SWEEP value in every query argument, path part and form field of every route
    at once."""
    _seed(make_lead)
    errors = []
    for rule in _routes(odd_browser.application):
        for value, method in itertools.product(SWEEP, sorted(rule.methods & {"GET", "POST"})):
            form = None if method == "GET" else {
                name: value for name in [*POST_FORMS.get(rule.endpoint, GENERIC_FORM), "rowid"]}
            errors.append(_server_error(odd_browser, rule, method,
                                        _path(rule, dict.fromkeys(rule.arguments, value)),
                                        dict.fromkeys(QUERY_KEYS, value), form))
    assert [e for e in errors if e] == []


@st.composite
def requests(draw, routes, method):
    """A route of `routes`; about half the query arguments; for a post, its valid form
    with a few fields replaced."""
    rule = draw(st.sampled_from(routes))
    path = _path(rule, {name: draw(fields) for name in rule.arguments})
    query = {key: draw(fields) for key in QUERY_KEYS if draw(st.booleans())}
    if method == "GET":
        return rule, path, query, None
    base = POST_FORMS.get(rule.endpoint, GENERIC_FORM)
    form = {**base, **draw(st.dictionaries(st.sampled_from(sorted(base)), fields, max_size=4))}
    if "rowid" in form:
        form["rowid"] = draw(st.lists(fields, max_size=3))
        form["action"] = draw(st.one_of(st.sampled_from(ACTIONS), fields))
    return rule, path, {"id": "1", **query}, form


@pytest.mark.parametrize("family, method", FUZZED)
def test_fuzzed_requests_never_break_the_panel(odd_browser, make_lead, request, family, method):
    routes = _routes(odd_browser.application, family, method)
    assert routes, f"{family} has no {method} route: update GET_ONLY"
    _seed(make_lead)

    @settings(max_examples=EXAMPLES[request.node.callspec.params["panel_database_url"]], deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(requests(routes, method))
    def never_a_server_error(case):
        assert _server_error(odd_browser, case[0], method, *case[1:]) is None

    never_a_server_error()
