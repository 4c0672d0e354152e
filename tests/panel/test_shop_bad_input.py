"""The shop's panel pages (SHOP on, issue 12) take bad input as the rest of the panel does
(tests/panel/test_bad_input.py, whose machinery this reuses): every route of the orders,
customers and packages views and the dashboard, GET and POST, with the fuzz values in
every path part, query argument and form field, ids that name no record or another
customer's, fields left out, and posts without a CSRF token. Never a server error, never
a ledger that stops adding up, never user data rendered as HTML. On SQLite and Postgres."""
import datetime
import itertools

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from models import AuditEntry, CustomerProfile, Lead, LedgerEntry, Order, Package, Wallet, utcnow
from services.core.actors import Actor
from services.inbox import clients
from services.shop import catalogue, orders, profiles, wallet
from tests.fuzz_values import SWEEP, values
from tests.panel.conftest import csrf_token, log_in, text_of
from tests.panel.shop_helpers import KEY, PANEL, PROFILE, customer, order, package, shop_panel
from tests.panel.test_bad_input import (
    EXAMPLES,
    FAMILIES,
    GENERIC_FORM,
    NO_SCHEDULER,
    NOT_FUZZED,
    POST_FORMS,
    QUERY_KEYS,
    _path,
    _routes,
)

SHOP_FAMILIES = ["orders", "customers", "packages", "payments"]  # the views SHOP adds
# The dashboard gains the shop's figures and charts with SHOP on.
SHOP_FUZZED = [(family, method) for family in SHOP_FAMILIES for method in ("GET", "POST")] + [
    ("admin", "GET")]
PROFILE_FORM = {field: str(value) for field, value in PROFILE.items()}
PACKAGE_FORM = {"name": "Fuzz sites", "code": "fuzz_sites", "kind": "package", "sites": "10",
                "price": "10", "subscriber_price": "9", "position": "0", "active": "y"}
# A valid post per endpoint (the records _seed makes: order 5 is pending, 3 completed, 2
# assigned; package 9 is on offer, never ordered), whose fields the fuzz then replaces
# or leaves out; any other endpoint (Flask-Admin's create, edit, delete and ajax views
# the shop turns off) gets test_bad_input's GENERIC_FORM.
SHOP_POST_FORMS = {
    "orders.status_view": {"id": "5", "to": "cancelled", "note": "Fuzz", "url": "/orders/"},
    "orders.assign_view": {"ids": "1", "operator_id": "2", "url": "/orders/"},
    "orders.move_view": {"id": "5", "direction": "up", "url": "/orders/"},
    "orders.rerun_view": {"id": "3", "free": "1"},
    "orders.note_view": {"id": "1", "text": "Fuzz"},
    "orders.reveal_view": {"id": "2"},
    "orders.action_view": {"action": "assign", "rowid": "1", "url": "/orders/"},
    "customers.adjust_view": {"id": "1", "amount": "5", "reason": "Fuzz", "kind": "bonus"},
    "customers.premium_view": {"id": "1", "until": "2030-01-01", "clear": ""},
    "customers.premium_grant_view": {"id": "1"},
    "customers.premium_end_view": {"id": "2"},
    "customers.profile_view": PROFILE_FORM,
    "customers.profile_delete_view": {"id": "2"},
    "customers.profile_reveal_view": {"id": "1"},
    "packages.create_view": PACKAGE_FORM,
    "packages.edit_view": PACKAGE_FORM,
    "packages.action_view": {"action": "delete", "rowid": "9", "url": "/packages/"},
    "packages.delete_view": {"id": "9", "url": "/packages/"},
}
LISTS = ("rowid", "ids")  # the fields a form sends several of
# The query string of a valid request: a record's page names it (a GET by default, the
# forms that post to their own page's address); the other posts name it in the form.
QUERIES = {"orders.status_view": {"id": "1", "to": "processing"}, "orders.assign_view": {"ids": "1"},
           "customers.profile_view": {"id": "1"}, "packages.edit_view": {"id": "1"}}
SHOP_QUERY_KEYS = QUERY_KEYS + ["to", "ids", "orders_page", "ledger_page", "operator_id",
                                "direction", "amount", "reason", "kind", "until", "text"]
# Words the shop's views know, so a fuzzed request also gets past their first check.
SHOP_WORDS = ["pending", "processing", "assigned", "completed", "cancelled", "queued", "up",
              "down", "assign", "cancel", "delete", "bonus", "adjustment", "package", "addon",
              "yes", "no", "y", "none", *map(str, range(13)), "csv", "xlsx", "2030-01-01",
              "1969-12-31", "9000-12-31", "2026-01-01 to 2030-12-31", "/orders/",
              "/customers/details/?id=1", "+12025550143", "US", "CA", "US-CA"]
# (Weighted with integers: st.one_of would flatten `values` into four equal choices.)
shop_fields = st.integers(0, 2).flatmap(lambda n: st.sampled_from(SHOP_WORDS) if n else values)
# Ids of records that are there (customers, profiles, orders, team members and packages
# 1 to 5: some another customer's) half the time, else of none, or odd ones.
ids = st.integers(0, 3).flatmap(lambda n: (values, st.sampled_from(["999", "0", "-1"]),
                                           st.integers(1, 10).map(str))[min(n, 2)])
LIST_KEYS = ["page", "page_size", "sort", "desc", "search", "flt0_0", "flt0_1", "flt0_2", "flt0_3",
             "flt1_0", "to", "ids", "orders_page", "ledger_page"]
# The forms of the shop's own views, which stop at the first bad field.
ONE_BY_ONE = set(SHOP_POST_FORMS) - {"packages.create_view", "packages.edit_view"}
XSS = "<script>{}</script>"
SENT = XSS.format("sent")
# Markup sent in a request: as it is, and as a return address (url=…) a page passes on.
MARKUP = [SENT, '/"><script>sent</script>']


@pytest.fixture
def shop(make_app):
    yield from shop_panel(make_app)


def _seed(make_user):
    """The team an order can go to (members 1 and 2) and who it cannot (3, a salesperson,
    and 4, a client); customers 1 and 2 (Premium) with profiles 1, 2 and 3, and 3 with
    no wallet; orders 1 to 5 in every status: small ids name real records, some of them
    another customer's."""
    admin, operator = make_user("admin"), make_user("operator")
    make_user("sales")
    make_user(None)
    ann, ann_profile = customer("Ann", "Lee")
    profiles.save(PANEL, ann.id, {**PROFILE, "first_name": "Bo"})
    bob, bob_profile = customer("Bob", "Ray", tokens=5000)
    wallet.set_premium(PANEL, bob.id, utcnow() + datetime.timedelta(days=30))
    Lead.create(first_name="Cy", last_name="No-wallet")
    order(ann, ann_profile)  # 1: pending
    orders.assign(PANEL, order(ann, ann_profile, "sites_250").id, operator.id)  # 2: assigned
    done = order(bob, bob_profile)  # 3: completed
    orders.assign(PANEL, done.id, admin.id)
    orders.complete(PANEL, done.id, note="Done")
    orders.cancel(PANEL, order(bob, bob_profile, email_confirmation=True).id)  # 4: cancelled
    order(bob, bob_profile, "sites_550")  # 5: pending, Premium
    orders.add_note(PANEL, 1, "Call first")


def _ledger_adds_up():
    """Every wallet agrees with its ledger, and every order is paid once (refunded once
    when cancelled): nothing the fuzz did lost or made tokens."""
    assert wallet.problems() == []
    for placed in Order.select():
        paid = sum(e.amount for e in LedgerEntry.select().where(LedgerEntry.order == placed.id))
        assert paid == (0 if placed.status == "cancelled" else -placed.price), placed.id


def _query(rule, method):
    return dict(QUERIES.get(rule.endpoint, {"id": "1"} if method == "GET" else {}))


def _form(rule):
    return dict(SHOP_POST_FORMS.get(rule.endpoint, GENERIC_FORM))


def test_every_shop_route_is_in_a_fuzzed_family(make_app):
    """What SHOP adds is exactly SHOP_FAMILIES, each fuzzed here; the rest is
    test_bad_input's (a new shop view is covered once its family is listed)."""
    plain = {rule.endpoint for rule in make_app().url_map.iter_rules()}
    rules = [rule for rule in make_app(SHOP="1", DATA_ENCRYPTION_KEY=KEY).url_map.iter_rules()
             if rule.endpoint not in NOT_FUZZED]
    added = {rule.endpoint.split(".")[0] for rule in rules if rule.endpoint not in plain}
    assert added == set(SHOP_FAMILIES)
    assert {r.endpoint for r in rules if r.endpoint.split(".")[0] not in FAMILIES + SHOP_FAMILIES} == set()
    assert {name for name in SHOP_POST_FORMS} <= {r.endpoint for r in rules if "POST" in r.methods}


def _answer(client, path, method, query, form):
    """The response, its body read: a CSV export streams, and fails (if it does) only then."""
    response = client.open(path, method=method, query_string=query, data=form)
    response.get_data()
    response.close()
    return response


def _broken(client, rule, method, path, query, form):
    """None, or what broke (as test_bad_input's _server_error, the body read)."""
    response = _answer(client, path, method, query, form)
    if response.status_code < 500 or response.status_code == NO_SCHEDULER.get(rule.endpoint):
        return None
    return rule.endpoint, response.status_code, path, query, form


def _sweeps(rule, method):
    """(part, names): what of a request one odd value fills at a time, the rest valid.
    The id and the return address are checked first, so they go alone; a list's
    arguments are each checked on their own, so they go together, as do the fields of
    a form that reports every bad field (Flask-Admin's); the shop's own forms stop at
    their first bad field, so each field goes alone."""
    sweeps = [("query", ["id"]), ("query", ["url"])]
    if rule.arguments:
        sweeps.append(("path", sorted(rule.arguments)))
    if method == "GET":
        sweeps.append(("query", LIST_KEYS))
    elif rule.endpoint in ONE_BY_ONE:
        sweeps += [("form", [name]) for name in _form(rule)]
    else:
        sweeps.append(("form", sorted(_form(rule))))
    return sweeps


def test_an_odd_value_in_each_field_never_breaks_a_shop_route(shop, make_user):
    """Each SWEEP value (and markup) in each part of every shop route's requests, the
    rest valid, so each check is reached; markup sent is never sent back as markup."""
    _seed(make_user)
    errors, echoed = [], []
    for rule in [rule for family in [*SHOP_FAMILIES, "admin"] for rule in _routes(shop.application, family)]:
        for method in sorted(rule.methods & {"GET", "POST"}):
            for (part, names), value in itertools.product(_sweeps(rule, method), [*SWEEP, *MARKUP]):
                request = {"query": _query(rule, method), "form": _form(rule) if method == "POST" else None,
                           "path": dict.fromkeys(rule.arguments, "csv")}
                request[part].update(dict.fromkeys(names, value))
                response = _answer(shop, _path(rule, request["path"]), method, request["query"],
                                   request["form"])
                if response.status_code >= 500:
                    errors.append((rule.endpoint, method, part, names, value, response.status_code))
                if value in MARKUP and response.mimetype == "text/html" and SENT in text_of(response):
                    echoed.append((rule.endpoint, method, part, names))
    assert errors == [] and echoed == []
    _ledger_adds_up()


@st.composite
def shop_requests(draw, routes, method):
    """A route of `routes`, an id that may name a record (or another customer's, or none)
    and about half the query arguments; for a post, its valid form with a few fields
    replaced and a few left out."""
    rule = draw(st.sampled_from(routes))
    path = _path(rule, {name: draw(st.one_of(st.just("csv"), shop_fields)) for name in rule.arguments})
    query = {**_query(rule, method),
             **{key: draw(shop_fields) for key in SHOP_QUERY_KEYS if draw(st.booleans())}}
    if draw(st.booleans()):
        query["id"] = draw(ids)
    if method == "GET":
        return rule, path, query, None
    base = _form(rule)
    form = {**base, **draw(st.dictionaries(st.sampled_from(sorted(base)),
                                           st.booleans().flatmap(lambda id_: ids if id_ else shop_fields),
                                           max_size=4))}
    for name in draw(st.lists(st.sampled_from(sorted(base)), max_size=2)):
        form.pop(name, None)
    for name in LISTS:
        if name in form:
            form[name] = draw(st.lists(ids, max_size=3))
    return rule, path, query, form


@pytest.mark.parametrize("family, method", SHOP_FUZZED)
def test_fuzzed_requests_never_break_the_shop(shop, make_user, request, family, method):
    routes = _routes(shop.application, family, method)
    assert routes, f"{family} has no {method} route"
    _seed(make_user)

    @settings(max_examples=EXAMPLES[request.node.callspec.params["panel_database_url"]],
              deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(shop_requests(routes, method))
    def never_a_server_error(case):
        assert _broken(shop, case[0], method, *case[1:]) is None

    never_a_server_error()
    _ledger_adds_up()


def test_the_rest_of_the_panel_on_the_customers_records(shop, make_user):
    """With the shop on, every other route (a lead's page, deleting leads, a client's
    conversation…) opened for the records the shop made: customers' leads with wallets,
    profiles and orders, deleted included. The ledger still adds up."""
    _seed(make_user)
    errors = []
    for rule in [rule for family in FAMILIES for rule in _routes(shop.application, family)]:
        for method, record in itertools.product(sorted(rule.methods & {"GET", "POST"}), ("1", "2", "3")):
            path = _path(rule, {name: "csv" if name == "export_type" else record for name in rule.arguments})
            form = ({**POST_FORMS.get(rule.endpoint, GENERIC_FORM), "id": record, "rowid": record}
                    if method == "POST" else None)
            errors.append(_broken(shop, rule, method, path, {"id": record}, form))
    assert [e for e in errors if e] == []
    _ledger_adds_up()


# Posts without a CSRF token, and without a login ------------------------------------------

def _everything():
    """What the shop keeps, to compare before and after."""
    return [list(model.select().order_by(model.id).tuples())
            for model in (Order, LedgerEntry, Wallet, CustomerProfile, Package, AuditEntry)]


def _posts(app):
    return [rule for family in SHOP_FAMILIES for rule in _routes(app, family, "POST")]


def test_a_shop_post_without_a_csrf_token_is_refused_and_changes_nothing(make_app, make_user):
    app = make_app(csrf=True, SHOP="1", DATA_ENCRYPTION_KEY=KEY)
    client = app.test_client()
    assert log_in(client, csrf_token=csrf_token(client, "/login")).status_code == 302
    try:
        _seed(make_user)
        before = _everything()
        refused = {}
        for rule in _posts(app):
            for token in ({}, {"csrf_token": "forged"}):
                response = client.post(_path(rule, {"export_type": "csv"}), query_string=_query(rule, "POST"),
                                       data={**_form(rule), **token})
                refused[rule.endpoint, bool(token)] = response.status_code
        assert {key: status for key, status in refused.items() if status != 400} == {}
        assert _everything() == before
    finally:
        CustomerProfile.update(password=None).execute()


def test_every_shop_route_needs_a_login(make_app, make_user):
    app = make_app(SHOP="1", DATA_ENCRYPTION_KEY=KEY)
    client = app.test_client()
    try:
        _seed(make_user)
        before = _everything()
        answers = {(rule.endpoint, method): client.open(
                       _path(rule, {"export_type": "csv"}), method=method, query_string=_query(rule, method),
                       data=_form(rule) if method == "POST" else None)
                   for family in SHOP_FAMILIES for rule in _routes(app, family)
                   for method in sorted(rule.methods & {"GET", "POST"})}
        assert {key for key, response in answers.items()
                if not response.headers.get("Location", "").startswith("/login")} == set()
        assert _everything() == before
    finally:
        CustomerProfile.update(password=None).execute()


# User data on the shop's pages ----------------------------------------------------------

PROFILE_TEXT = ["first_name", "middle_name", "last_name", "phone", "email", "gender", "street",
                "apartment", "city", "state", "postal_code", "telegram_username",
                "instagram_username"]


def _markup_everywhere(make_user):
    """A record of every kind whose every field people type holds its own <script>: a
    client (so the customer's name and the ledger's "who"), their profile (the fields
    the checks would refuse written straight to the table, as an older version or an
    import may have left them), its password, a package, two operators (by name and by
    username) with an order each and a note, an admin's adjustment with its reason."""
    client = make_user(None, first_name=XSS.format("client_first"), last_name=XSS.format("client_last"))
    lead = clients.from_telegram(Actor.client(client), client)[0]
    wallet.adjust(PANEL, lead.id, 5000, "Top-up")
    profile = profiles.save(PANEL, lead.id, {**PROFILE, "password": XSS.format("password")})
    CustomerProfile.update({field: XSS.format(field) for field in PROFILE_TEXT}).where(
        CustomerProfile.id == profile.id).execute()
    catalogue.save_package(PANEL, package("sites_100").id, name=XSS.format("package"))
    by_name = make_user("operator", first_name=XSS.format("operator_first"),
                        last_name=XSS.format("operator_last"))
    by_username = make_user("operator", first_name="", username=XSS.format("operator_username"))
    admin = make_user("admin", first_name=XSS.format("admin_name"))
    placed = [orders.place(Actor.client(client), lead.id, profile.id, package("sites_100").id)
              for _ in range(3)]
    orders.assign(PANEL, placed[0].id, by_name.id)
    orders.assign(PANEL, placed[1].id, by_username.id)
    orders.add_note(Actor.member(by_name), placed[0].id, XSS.format("note"))
    wallet.adjust(Actor.member(admin), lead.id, 5, XSS.format("reason"))
    return {"id": [lead.id, profile.id, *(o.id for o in placed), package("sites_100").id],
            "ids": [o.id for o in placed]}


def test_user_data_is_escaped_on_every_shop_page(shop, make_user):
    """Every page of the shop (and the dashboard), opened for each record, shows each
    field's <script> as text, and shows each of them somewhere."""
    shown = _markup_everywhere(make_user)
    tags = [*PROFILE_TEXT, "client_first", "client_last", "password", "package", "operator_first",
            "operator_last", "operator_username", "note", "reason", "admin_name"]
    pages = {}
    for rule in [rule for family in [*SHOP_FAMILIES, "admin"] for rule in _routes(shop.application, family, "GET")]:
        for record in shown["id"]:
            for to in ("processing", "completed", "cancelled"):
                query = {"id": record, "to": to, "ids": shown["ids"]}
                pages[rule.endpoint, record, to] = _answer(shop, _path(rule, {"export_type": "csv"}), "GET",
                                                           query, None)
    for url in ("/orders/reveal/", "/customers/profile/reveal/"):  # the passwords
        for record in shown["id"]:
            pages[url, record] = _answer(shop, url, "POST", {}, {"id": record})
    html = {key: text_of(response) for key, response in pages.items() if response.mimetype == "text/html"}
    assert [(key, tag) for key, text in html.items() for tag in tags if XSS.format(tag) in text] == []
    escaped = "&lt;script&gt;{}&lt;/script&gt;"
    assert [tag for tag in tags if not any(escaped.format(tag) in text for text in html.values())] == []


# Found while fuzzing ----------------------------------------------------------------------

def test_a_balance_past_what_a_wallet_holds_is_refused_not_a_server_error(shop):
    """Postgres keeps a balance (an INTEGER) to 2**31 - 1: an adjustment or a refund past
    it was an "integer out of range" server error there, and a balance SQLite kept."""
    lead, profile = customer(tokens=100)
    placed = order(lead, profile)  # its 100 tokens: the balance is 0
    wallet.move(PANEL, lead.id, "adjustment", wallet.MAX_BALANCE - 50, "Near the top")
    refused = "That would take the balance of 2147483597 tokens past 2147483647, the most a wallet holds."
    response = shop.post("/customers/adjust/", follow_redirects=True, data={
        "id": lead.id, "amount": "51", "reason": "More", "kind": "bonus"})
    assert response.status_code == 200 and refused in text_of(response)
    response = shop.post("/orders/status/", data={"id": placed.id, "to": "cancelled"}, follow_redirects=True)
    assert response.status_code == 200 and refused in text_of(response)
    assert Order.get_by_id(placed.id).status == "pending"
    assert wallet.balance(lead.id) == wallet.MAX_BALANCE - 50
    shop.post("/customers/adjust/", data={"id": lead.id, "amount": "50", "reason": "To the top", "kind": "bonus"})
    assert wallet.balance(lead.id) == wallet.MAX_BALANCE
    _ledger_adds_up()
