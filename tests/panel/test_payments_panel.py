"""The shop's payments in the panel (issue 15): the list (filters, search, sorting, paging,
CSV of the filtered list) and each payment's page; every payments page (the reconciliation
too: test_reconciliation_panel.py) read-only, behind the login, user data and OxaPay's words
escaped, odd query arguments answered; on SQLite and Postgres."""
import datetime
import itertools

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from models import LedgerEntry, Payment, utcnow
from services.core.actors import Actor
from services.payments import oxapay, settlement
from services.shop import wallet
from tests.fuzz_values import SWEEP, values
from tests.panel.conftest import csrf_token, log_in, text_of
from tests.panel.payment_helpers import (
    ESCAPED,
    LIST_COLUMNS,
    NOW,
    PAGES,
    XSS,
    credited,
    csv_rows,
    customer,
    everything,
    filter_arg,
    listed,
    page,
    payment,
)
from tests.panel.shop_helpers import PANEL


@pytest.fixture
def shop(make_app):
    client = make_app(SHOP="1").test_client()
    log_in(client)
    return client


# The list ------------------------------------------------------------------------------

def test_the_list_shows_every_payment_newest_first_with_its_fields(shop):
    ann, bob = customer("Ann", "Lee"), customer("Bob", "Marsh")
    waiting = payment(ann, "waiting", tokens=100, cents=1000)
    paid = credited(bob, tokens=250, cents=2500)
    failed = payment(ann, "failed", track_id=None, last_error="OxaPay refused: invalid merchant")
    response = shop.get("/payments/")
    assert response.status_code == 200
    assert listed(response) == [failed.id, paid.id, waiting.id]
    text = page(response)
    assert f'href="/customers/details/?id={bob.id}"' in text_of(response) and "Bob Marsh" in text
    assert paid.reference in text and paid.track_id in text and "$25.00" in text and "$10.00" in text
    assert '<span class="badge badge-success">paid</span>' in text_of(response)
    assert '<span class="badge badge-danger">failed</span>' in text_of(response)
    assert "OxaPay refused: invalid merchant" in text
    assert "2026-03-10 12:10" in text  # paid, in TZ (UTC by default)
    assert 'href="/payments/reconciliation/"' in text_of(response)
    assert "/payments/new/" not in text and "/payments/edit/" not in text and "/payments/delete/" not in text
    assert "Shop" in page(shop.get("/")) and 'href="/payments/"' in text_of(shop.get("/"))


def test_a_long_error_is_cut_in_the_list_and_whole_in_its_title(shop):
    error = "OxaPay is not answering: " + "x" * 200
    payment(customer(), last_error=error)
    text = page(shop.get("/payments/"))
    assert f'title="{error}"' in text and error[:80] + "…" in text


def test_the_payments_pages_are_there_only_when_the_shop_is_open(make_app):
    client = make_app().test_client()
    log_in(client)
    for url in PAGES:
        assert client.get(url).status_code == 404, url
    assert 'href="/payments/"' not in text_of(client.get("/"))


def test_filters_search_sorting_and_paging(shop):
    ann, bob = customer("Ann", "Lee"), customer("Bob", "Marsh")
    small = payment(ann, "waiting", tokens=100, cents=1000, created_at=NOW - datetime.timedelta(days=40))
    big = credited(ann, tokens=1000, cents=10000, created_at=NOW - datetime.timedelta(days=3))
    paying = payment(bob, "paying", tokens=500, cents=5000, reference="LG-CAFEbabe0001")
    expired = payment(bob, "expired", tokens=300, cents=3000, track_id="OXA-Zeta-77")

    status = filter_arg(shop, "Status")
    assert listed(shop.get(f"/payments/?flt0_{status}=pending")) == [paying.id, small.id]
    assert listed(shop.get(f"/payments/?flt0_{status}=paid")) == [big.id]
    assert listed(shop.get(f"/payments/?flt0_{status}=underpaid")) == []
    created = filter_arg(shop, "Created")
    day = (NOW - datetime.timedelta(days=3)).date()
    assert listed(shop.get(f"/payments/?flt0_{created}={day}+to+{day}")) == [big.id]
    assert listed(shop.get(f"/payments/?flt0_{created}=2001-01-01+to+2001-12-31")) == []
    owner = filter_arg(shop, "Customer #")
    assert listed(shop.get(f"/payments/?flt0_{owner}={bob.id}")) == [expired.id, paying.id]
    assert listed(shop.get(f"/payments/?flt0_{status}=pending&flt1_{owner}={bob.id}")) == [paying.id]

    assert listed(shop.get("/payments/?search=cafebabe")) == [paying.id]   # reference, any case
    assert listed(shop.get("/payments/?search=zeta-77")) == [expired.id]   # track id
    assert listed(shop.get("/payments/?search=marsh")) == [expired.id, paying.id]   # customer
    assert listed(shop.get("/payments/?search=ann+lee")) == [big.id, small.id]
    assert listed(shop.get("/payments/?search=ann+zeta")) == []   # every word must match
    assert listed(shop.get("/payments/?search=%25")) == []   # LIKE's wildcards are letters here
    assert listed(shop.get("/payments/?search=_")) == []

    tokens = LIST_COLUMNS.index("tokens")
    assert listed(shop.get(f"/payments/?sort={tokens}")) == [small.id, expired.id, paying.id, big.id]
    assert listed(shop.get(f"/payments/?sort={tokens}&desc=1")) == [big.id, paying.id, expired.id, small.id]
    amount = LIST_COLUMNS.index("amount_cents")
    assert listed(shop.get(f"/payments/?sort={amount}"))[0] == small.id
    paid_at = LIST_COLUMNS.index("paid_at")   # the unpaid first, as on both databases
    assert listed(shop.get(f"/payments/?sort={paid_at}")) == [small.id, paying.id, expired.id, big.id]
    by_customer = LIST_COLUMNS.index("customer")   # sorted through the join
    assert listed(shop.get(f"/payments/?sort={by_customer}")) == [small.id, big.id, paying.id, expired.id]


def test_pages_are_counted_and_cut_the_same_way_for_every_sort(shop):
    lead = customer()
    made = [payment(lead, tokens=100 + n % 3).id for n in range(23)]
    newest_first = sorted(made, reverse=True)
    assert listed(shop.get("/payments/")) == newest_first[:20]
    assert listed(shop.get("/payments/?page=1")) == newest_first[20:]
    tokens = LIST_COLUMNS.index("tokens")
    by_tokens = sorted(made, key=lambda i: (Payment.get_by_id(i).tokens, i))
    assert listed(shop.get(f"/payments/?sort={tokens}")) + listed(
        shop.get(f"/payments/?sort={tokens}&page=1")) == by_tokens
    assert listed(shop.get("/payments/?sort=2&page=1")) == made[20:]   # by customer: all the same
    assert listed(shop.get("/payments/?page=9")) == []


def test_the_created_filter_takes_whole_days_in_the_team_s_time_zone(make_app):
    client = make_app(SHOP="1", TZ="Europe/Kyiv").test_client()   # UTC+2 in March
    log_in(client)
    lead = customer()
    late = payment(lead, created_at=datetime.datetime(2026, 3, 1, 22, 30))   # 00:30 on the 2nd there
    early = payment(lead, created_at=datetime.datetime(2026, 3, 1, 21, 30))  # 23:30 on the 1st
    created = filter_arg(client, "Created")
    assert listed(client.get(f"/payments/?flt0_{created}=2026-03-02+to+2026-03-02")) == [late.id]
    assert listed(client.get(f"/payments/?flt0_{created}=2026-03-01+to+2026-03-01")) == [early.id]
    assert "2026-03-02 00:30" in page(client.get(f"/payments/details/?id={late.id}"))
    assert "times in Europe/Kyiv" in page(client.get("/payments/"))


def test_the_csv_export_has_the_filtered_list_with_safe_cells(shop):
    lead = customer("=HYPERLINK(1)", "Lee")
    kept = payment(lead, "underpaid", tokens=250, cents=2505, reference="@SUM(1)",
                   track_id="+cmd|calc", provider_status="-2+3", paid_amount="=1+1",
                   last_error="=IMPORTXML(1)")
    paid = credited(lead)
    rows = csv_rows(shop.get("/payments/export/csv/"))
    assert [row["#"] for row in rows] == [str(paid.id), str(kept.id)]
    status = filter_arg(shop, "Status")
    rows = csv_rows(shop.get(f"/payments/export/csv/?flt0_{status}=underpaid"))
    assert len(rows) == 1
    row = rows[0]
    assert row["Customer #"] == str(lead.id) and row["Customer"] == "'=HYPERLINK(1) Lee"
    assert row["Reference"] == "'@SUM(1)" and row["OxaPay track id"] == "'+cmd|calc"
    assert row["OxaPay status"] == "'-2+3" and row["Paid (OxaPay)"] == "'=1+1"
    assert row["Last error"] == "'=IMPORTXML(1)"
    assert row["Amount"] == "25.05" and row["Currency"] == "USD" and row["Tokens"] == "250"
    assert row["Status"] == "underpaid"
    assert listed(shop.get("/payments/?search=nothing-like-it")) == []
    assert csv_rows(shop.get("/payments/export/csv/?search=nothing-like-it")) == []


def test_nothing_on_the_payments_pages_writes(shop):
    """No create, edit or delete: their pages and posts change nothing."""
    lead = customer()
    made = payment(lead)
    before = everything()
    for url in ("/payments/new/", f"/payments/edit/?id={made.id}"):
        shop.get(url)
        shop.post(url, data={"status": "paid", "tokens": "999999"})
    shop.post("/payments/delete/", data={"id": made.id})
    shop.post("/payments/action/", data={"action": "delete", "rowid": made.id})
    assert everything() == before


# A payment's page ----------------------------------------------------------------------

def test_a_payment_s_page_shows_its_credit_and_its_history(shop):
    lead = customer("Ann", "Lee")
    made = payment(lead, "waiting", tokens=250, cents=2500)
    news = oxapay.Information("paid", None, "USD", made.reference, "25")
    assert settlement.apply(made.track_id, news, "webhook", now=NOW).changed
    text = page(shop.get(f"/payments/details/?id={made.id}"))
    assert "Payment #1" in text and "Ann Lee" in text and "$25.00" in text
    entry = LedgerEntry.get(LedgerEntry.payment == made.id)
    assert f"Entry #{entry.id}: +250 tokens (purchase), balance after 250" in text
    assert "payment.status changed: status: waiting → paid" in text   # from the audit log
    assert 'href="https://pay.example/' in text_of(shop.get(f"/payments/details/?id={made.id}"))
    assert "payment-problem" not in text


def test_a_payment_s_page_names_what_is_wrong_with_it(shop):
    lead = customer()
    unpaid_credit = payment(lead, "waiting", next_check_at=None, pay_url="javascript:alert(1)")
    wallet.move(PANEL, lead.id, "purchase", 100, payment=unpaid_credit.id)
    text = page(shop.get(f"/payments/details/?id={unpaid_credit.id}"))
    assert "A ledger row credits it, but it is waiting, not paid." in text
    assert "Pending, no longer checked" in text
    assert "javascript:alert" not in text   # not a link, and not shown
    text = page(shop.get(f"/payments/details/?id={payment(lead, 'paid').id}"))
    assert "Paid without a ledger credit: OxaPay says it is paid" in text


@pytest.mark.parametrize("odd", ["999", "0", "-1", "abc", "²", "9" * 25, "1\x00"])
def test_a_payment_that_is_not_there_is_answered(shop, odd):
    payment(customer())   # payment 1
    response = shop.get("/payments/details/", query_string={"id": odd}, follow_redirects=True)
    assert response.status_code == 200 and "Record does not exist." in page(response)
    assert shop.get("/payments/details/?id=").headers["Location"] == "/payments/"


# Escaping, the login, CSRF and odd input ------------------------------------------------

MARKED = ["first", "last", "reference", "track", "provider", "paid_amount", "error", "ledger",
          "actor", "currency"]


def _markup_everywhere():
    """A record of every kind the payments pages show, each text field its own <script>."""
    lead = customer(XSS.format("first"), XSS.format("last"))
    shown = payment(lead, "paid", reference=XSS.format("reference"), track_id=XSS.format("track"),
                    provider_status=XSS.format("provider"), paid_amount=XSS.format("paid_amount"),
                    last_error=XSS.format("error"), pay_url='https://x/"><script>url</script>')
    long_error = payment(lead, "waiting", next_check_at=None, currency=XSS.format("currency"),
                         last_error=XSS.format("error") + "x" * 200)
    wallet.move(Actor.system(XSS.format("actor")), lead.id, "purchase", 10,
                reference=XSS.format("ledger"), payment=long_error.id)
    return [shown.id, long_error.id]


def test_user_data_and_oxapay_s_words_are_escaped_on_every_page(shop):
    ids = _markup_everywhere()
    texts = [text_of(shop.get(url, query_string={"id": record, "search": XSS.format("search")}))
             for url in ("/payments/", "/payments/details/", "/payments/reconciliation/")
             for record in ids]
    assert [tag for tag in MARKED + ["url", "search"] for text in texts if XSS.format(tag) in text] == []
    assert "<script>" not in "".join(texts)
    joined = "".join(texts)
    assert [tag for tag in MARKED if ESCAPED.format(tag) not in joined] == []


def test_every_payments_route_needs_the_login(make_app):
    app = make_app(SHOP="1")
    client = app.test_client()
    _markup_everywhere()
    before = everything()
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint.startswith("payments.")]
    assert {"payments.reconciliation_view", "payments.reconciliation_csv_view",
            "payments.index_view", "payments.details_view", "payments.export"} <= {r.endpoint for r in rules}
    answers = {(rule.rule, method): client.open(rule.rule.replace("<export_type>", "csv"), method=method,
                                                query_string={"id": "1"}, data={"id": "1", "rowid": "1"})
               for rule in rules for method in sorted(rule.methods & {"GET", "POST"})}
    assert {key for key, response in answers.items()
            if response.status_code != 302 or not response.headers["Location"].startswith("/login")} == set()
    assert everything() == before


def test_a_post_without_a_csrf_token_is_refused(make_app):
    app = make_app(csrf=True, SHOP="1")
    client = app.test_client()
    assert log_in(client, csrf_token=csrf_token(client, "/login")).status_code == 302
    payment(customer())
    before = everything()
    posts = [rule.rule for rule in app.url_map.iter_rules()
             if rule.endpoint.startswith("payments.") and "POST" in rule.methods]
    assert posts   # Flask-Admin's own: action, delete, create, edit, ajax
    statuses = {url: client.post(url.replace("<export_type>", "csv"), query_string={"id": "1"},
                                 data={"id": "1", "rowid": "1", "action": "delete", **token}).status_code
                for url in posts for token in ({}, {"csrf_token": "forged"})}
    assert {url: status for url, status in statuses.items() if status != 400} == {}
    assert everything() == before


ODD_KEYS = ["id", "page", "page_size", "sort", "desc", "search", "flt0_0", "flt0_1", "flt0_2",
            "flt1_0", "flt2_2", "flt0_99", "url"]
WORDS = ["pending", "paid", "waiting", "underpaid", "2026-03-01 to 2026-03-31",
         "2026-03-31 to 2026-03-01", "1969-12-31 to 9000-12-31", "0001-01-01 to 9999-12-31",
         "1", "2", "/payments/", "csv"]
SENT = XSS.format("sent")


def _seed():
    ann, bob = customer("Ann", "Lee"), customer("Bob", "Ray")
    credited(ann)
    payment(bob, "paid")
    payment(bob, "waiting", next_check_at=None)
    wallet.move(PANEL, ann.id, "purchase", 5)


def _answer(client, url, query):
    response = client.get(url, query_string=query)
    response.get_data()   # a CSV streams: it fails, if it does, only when read
    return response


def test_an_odd_value_in_each_query_argument_never_breaks_a_payments_page(shop):
    _seed()
    errors, echoed = [], []
    for url, key, value in itertools.product(PAGES, ODD_KEYS, [*SWEEP, SENT, '/"><script>sent</script>']):
        response = _answer(shop, url, {"id": "1", key: value})
        if response.status_code >= 500:
            errors.append((url, key, value, response.status_code))
        if response.mimetype == "text/html" and SENT in text_of(response):
            echoed.append((url, key, value))
    assert errors == [] and echoed == []


@pytest.mark.parametrize("url, message", [
    ("/payments/?page=%C2%B2", "² is not a page number"),
    ("/payments/?sort=99", "Column 99 cannot be sorted"),
    ("/payments/?sort=11", "Column 11 cannot be sorted"),   # the last error
    ("/payments/?flt0_0=settled", "Invalid Filter Value"),
    ("/payments/?flt0_1=2026-13-01+to+2026-01-01", "Invalid Filter Value"),
    ("/payments/?flt0_2=abc", "Invalid Filter Value"),
])
def test_a_bad_list_argument_is_named_and_the_list_shown(shop, url, message):
    payment(customer())
    response = shop.get(url)
    assert response.status_code == 200 and message in page(response)
    assert listed(response) == [Payment.select().first().id]


def test_fuzzed_query_strings_never_break_a_payments_page(shop, request):
    _seed()
    examples = {"sqlite": 60, "postgres": 15}[request.node.callspec.params["panel_database_url"]]
    fields = st.integers(0, 2).flatmap(lambda n: st.sampled_from(WORDS) if n else values)

    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(PAGES), st.dictionaries(st.sampled_from(ODD_KEYS), fields, max_size=6))
    def never_a_server_error(url, query):
        assert _answer(shop, url, query).status_code < 500

    never_a_server_error()


@pytest.mark.parametrize("status", ["new", "waiting", "paying", "paid", "underpaid", "expired", "failed"])
def test_every_status_has_its_badge_and_its_filter(shop, status):
    made = payment(customer(), status)
    response = shop.get(f"/payments/?flt0_0={status}")
    assert listed(response) == [made.id] and f'">{status}</span>' in text_of(response)
    assert f'id="status-{status}">' in text_of(shop.get("/payments/reconciliation/"))


def test_the_list_counts_stay_right_after_the_settlement_moves_a_payment(shop):
    """The list reads the stored status each time: after OxaPay's "paid" the same page
    shows it paid and credited, and the reconciliation still agrees."""
    made = payment(customer(), "waiting")
    assert listed(shop.get("/payments/?flt0_0=pending")) == [made.id]
    settlement.apply(made.track_id, oxapay.Information("paid", None, "USD", made.reference, "25"),
                     "poll", now=utcnow())
    assert listed(shop.get("/payments/?flt0_0=pending")) == []
    assert listed(shop.get("/payments/?flt0_0=paid")) == [made.id]
    assert "All agree" in page(shop.get("/payments/reconciliation/"))


