"""The dashboard's shop part: shown with SHOP on, absent (and never queried) with it off;
its period picker, money figures and trends (issue 15)."""
import datetime
import json
import logging
import re
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from markupsafe import escape

import models
from models import CustomerProfile, Order, Package, Payment, Wallet
from services.core.actors import Actor
from services.delivery import channels
from services.shop import wallet
from tests.panel.conftest import log_in, text_of

EXISTING_CHARTS = {"leadsPerDay", "leadsByCountry", "outboxByStatus"}
SHOP_CHARTS = {"trendBy", "revenueTrend", "userGrowth", "ordersByStatus", "packagePopularity"}
SHOP_TABLES = ("shop_order", "wallet", "package", "ledger_entry", "customer_profile", "payment")
SYSTEM = Actor.system("test")


@pytest.fixture
def shop_browser(make_app):
    client = make_app(SHOP="1").test_client()
    assert log_in(client).status_code == 302
    return client


def add_orders(make_lead, *orders):
    """One customer with 700 tokens, and (package sites, price, status) orders placed
    today (UTC, the panel's default TZ) at 00:00:01, whatever the time of the run."""
    lead = make_lead(first_name="Cora")
    Wallet.create(lead=lead, balance=700)
    profile = CustomerProfile.create(lead=lead, first_name="Cora", last_name="Example")
    placed = datetime.datetime.combine(models.utcnow().date(), datetime.time(0, 0, 1))
    for sites, price, status in orders:
        package = Package.get(Package.sites == sites)
        Order.create(lead=lead, profile=profile, package=package, package_name=package.name,
                     sites=sites, price=price, status=status, queue_rank=placed.timestamp(),
                     created_at=placed)


def figure(page, figure_id):
    card = page.split(f'id="{figure_id}"', 1)[1]
    return re.search(r'<div class="figure-value">([^<]*)</div>', card).group(1)


def charts(page):
    return json.loads(re.search(r'<script type="application/json" id="chart-data">(.*?)</script>',
                                page, re.S).group(1))


def test_the_shop_figures_and_charts(shop_browser, make_lead):
    add_orders(make_lead, (100, 100, "completed"), (100, 60, "pending"), (550, 550, "cancelled"),
               (250, 250, "processing"))
    page = text_of(shop_browser.get("/"))
    assert {figure_id: figure(page, figure_id) for figure_id in (
        "shop-orders-today", "shop-queued", "shop-active-customers", "shop-completion-rate",
        "shop-average-order", "shop-tokens-held")} == {
        "shop-orders-today": "4", "shop-queued": "2", "shop-active-customers": "1",
        "shop-completion-rate": "25.0%", "shop-average-order": "136.7", "shop-tokens-held": "700"}
    assert "completed / (completed + cancelled + still open" in page  # the rate says what it is
    data = charts(page)
    assert data["ordersByStatus"] == [["pending", 1], ["processing", 1], ["completed", 1],
                                      ["cancelled", 1]]
    assert data["packagePopularity"][:4] == [["100 sites", 2], ["250 sites", 1], ["550 sites", 1],
                                             ["650 sites", 0]]
    assert 'id="chart-orders-by-status"' in page and 'id="chart-package-popularity"' in page
    assert "leads-today" in page and set(data) == EXISTING_CHARTS | SHOP_CHARTS  # the rest stays
    assert figure(page, "shop-orders-placed") == "4"
    assert "≈ $13.67 at $0.10 a token" in page          # 136.7 tokens at TOKEN_PRICE_USD
    today = models.utcnow().date().isoformat()
    assert data["trendBy"] == "day" and len(data["userGrowth"]) == 30
    assert data["userGrowth"][-1] == [today, 1, 1]       # Cora, made today, ordered today
    assert data["revenueTrend"][-1] == [today, 0]


def test_an_empty_shop_renders_without_rates(shop_browser):
    response = shop_browser.get("/")
    assert response.status_code == 200
    page = text_of(response)
    assert figure(page, "shop-completion-rate") == "—"
    assert figure(page, "shop-average-order") == "—"
    assert figure(page, "shop-orders-today") == "0" and figure(page, "shop-tokens-held") == "0"
    assert (figure(page, "shop-revenue"), figure(page, "shop-paid-payments"), figure(page, "shop-subscribers"),
            figure(page, "shop-pending-payments")) == ("$0.00", "0", "0", "0")
    data = charts(page)
    assert data["ordersByStatus"] == []
    assert {row[1] for row in data["revenueTrend"]} == {0} and len(data["revenueTrend"]) == 30
    assert {row[1] + row[2] for row in data["userGrowth"]} == {0}
    assert "reconciliation-alert" not in page and "period-note" not in page


def test_package_names_are_data_never_markup(shop_browser, make_lead):
    Package.update(name="<script>alert(1)</script>").where(Package.sites == 100).execute()
    add_orders(make_lead, (100, 100, "completed"))
    page = text_of(shop_browser.get("/"))
    assert "<script>alert(1)" not in page
    assert r"\u003cscript\u003ealert(1)\u003c/script\u003e" in page
    assert charts(page)["packagePopularity"][0] == ["<script>alert(1)</script>", 1]


class Statements(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.sql = []

    def emit(self, record):
        self.sql.append(record.msg[0])


@pytest.mark.parametrize("query", ["", "?days=7&from=2026-01-01&to=x"])
def test_with_the_shop_off_the_dashboard_is_unchanged(browser, make_lead, query):
    add_orders(make_lead, (100, 100, "completed"))
    handler, logger = Statements(), logging.getLogger("peewee")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        page = text_of(browser.get("/" + query))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert set(charts(page)) == EXISTING_CHARTS
    assert 'id="shop' not in page and "chart-orders-by-status" not in page
    assert "period-form" not in page and "period-note" not in page
    assert not [sql for sql in handler.sql if any(f'"{table}"' in sql for table in SHOP_TABLES)]
    assert handler.sql  # the logger did see the dashboard's own queries


# Issue 15: money, the period, the trends -------------------------------------------------

def pay(lead, status, cents, paid_at=None, credited=False):
    """A payment of `lead`'s; `credited`: its tokens in the ledger, as settlement does."""
    n = Payment.select().count() + 1
    at = paid_at or models.utcnow()
    payment = Payment.create(lead=lead, reference=f"LG-{n:04x}", track_id=f"T{n}", tokens=cents // 10,
                             amount_cents=cents, status=status, expires_at=at + datetime.timedelta(hours=1),
                             paid_at=paid_at, created_at=at - datetime.timedelta(minutes=5))
    if credited:
        wallet.move(SYSTEM, lead.id, "purchase", payment.tokens, reference="top-up", payment=payment.id)
    return payment


def test_the_money_figures_and_the_red_card(shop_browser, make_lead):
    lead = make_lead(first_name="Payer")
    today = datetime.datetime.combine(models.utcnow().date(), datetime.time(0, 0, 2))
    pay(lead, "paid", 2500, today, credited=True)
    pay(lead, "paid", 1050, today - datetime.timedelta(days=3), credited=True)
    pay(lead, "paid", 9900, today - datetime.timedelta(days=40), credited=True)   # before the period
    pay(lead, "waiting", 1000), pay(lead, "paying", 2500), pay(lead, "expired", 7000)
    Wallet.update(premium_until=models.utcnow() + datetime.timedelta(days=3)).execute()
    page = text_of(shop_browser.get("/"))
    assert (figure(page, "shop-revenue"), figure(page, "shop-paid-payments"),
            figure(page, "shop-pending-payments"), figure(page, "shop-subscribers")) == ("$35.50", "2", "2", "1")
    assert '<div class="figure-detail small">$35.00</div>' in page     # the pending ones' amount
    data = charts(page)
    assert data["revenueTrend"][-1] == [today.date().isoformat(), 25.0]
    assert sum(row[1] for row in data["revenueTrend"]) == 35.5
    assert "reconciliation-alert" not in page                             # all agree

    pay(lead, "paid", 500, today)                                          # paid, never credited
    page = text_of(shop_browser.get("/"))
    card = page.split('id="reconciliation-alert"', 1)[1].split("</a>", 1)[0]
    assert "disagree:</b> 1 problem (a paid payment without its tokens" in " ".join(card.split())
    assert re.search(r'<a class="card border-danger text-danger mb-3" id="reconciliation-alert" '
                     r'href="/payments/reconciliation/">', page)


def test_the_period_follows_the_deployers_zone(make_app, make_lead):
    client = make_app(SHOP="1", TZ="Asia/Kolkata").test_client()
    log_in(client)
    lead = make_lead(first_name="Payer")
    pay(lead, "paid", 2550, datetime.datetime(2026, 3, 9, 18, 29), credited=True)   # 23:59 there
    pay(lead, "paid", 500, datetime.datetime(2026, 3, 9, 18, 31), credited=True)    # 00:01 the next day
    pay(lead, "paid", 100, datetime.datetime(2026, 3, 8, 18, 29), credited=True)    # the day before
    page = text_of(client.get("/?from=2026-03-09&to=2026-03-10"))
    assert charts(page)["revenueTrend"] == [["2026-03-09", 25.5], ["2026-03-10", 5.0]]
    assert "2026-03-09 to 2026-03-10 (2 days, Asia/Kolkata)" in page
    assert re.search(r'name="from"\s+value="2026-03-09"', page) and re.search(r'name="to"\s+value="2026-03-10"', page)


@pytest.mark.parametrize("query, points, by, preset", [
    ("?days=7", 7, "day", 7), ("?days=30", 30, "day", 30), ("?days=90", 14, "week", 90),
    ("?days=62", 62, "day", None), ("?from=2026-01-01&to=2026-01-31", 31, "day", None),
    ("?from=2025-01-01&to=2025-12-31", 53, "week", None),
])
def test_presets_and_dates_choose_the_period(shop_browser, query, points, by, preset):
    page = text_of(shop_browser.get("/" + query))
    data = charts(page)
    assert (len(data["revenueTrend"]), len(data["userGrowth"]), data["trendBy"]) == (points, points, by)
    active = re.findall(r'btn-outline-secondary active" id="preset-(\d+)"', page)
    assert active == ([str(preset)] if preset else [])
    if "from=" in query:
        assert data["revenueTrend"][0][0] == "2025-01-01" if "2025" in query else "2026-01-01"
    assert "period-note" not in page


@pytest.mark.parametrize("query, note", [
    ("?from=2026-02-30", "The start date &#39;2026-02-30&#39; is not a date written like 2026-03-01."),
    ("?days=abc", "The number of days must be 1 to 366: showing the last 30 days."),
    ("?days=100000000000000000000000", "The number of days must be 1 to 366"),
    ("?from=2026-03-05&to=2026-03-01", "The end came before the start: the two dates were swapped."),
    ("?from=2001-01-01&to=2026-01-01", "At most 366 days at once: showing 2025-01-01 to 2026-01-01."),
    ("?from=1066-10-14", "The start date must be between the years 2000 and 2998."),
    ("?to=2026-3-1", "The end date &#39;2026-3-1&#39; is not a date written like 2026-03-01."),
    ("?from=%3Cb%3E", "The start date &#39;&lt;b&gt;&#39; is not a date written like 2026-03-01."),
])
def test_a_period_that_cannot_be_shown_as_asked_says_why(shop_browser, query, note):
    response = shop_browser.get("/" + query)
    assert response.status_code == 200
    page = text_of(response)
    assert note in page and 'class="alert alert-warning py-2 period-note"' in page
    assert 1 <= len(charts(page)["revenueTrend"]) <= 366


def test_query_strings_are_text_never_markup(shop_browser):
    evil = '"><script>alert(1)</script>'
    page = text_of(shop_browser.get("/?" + urlencode({"from": evil, "to": evil, "days": evil})))
    assert "<script>alert(1)" not in page
    assert str(escape(repr(evil))) in page    # the note names what was written, as text


def test_nothing_but_a_nul_is_no_period_asked(shop_browser):
    page = text_of(shop_browser.get("/?to=%00&from=%00"))
    assert "period-note" not in page and len(charts(page)["revenueTrend"]) == 30


def test_a_stranger_is_sent_to_log_in(make_app):
    client = make_app(SHOP="1").test_client()
    response = client.get("/?days=7")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


TEXT = st.one_of(st.text(max_size=50), st.dates().map(str), st.integers(-10**30, 10**30).map(str),
                 st.sampled_from(["", "7", "30", "90", "366", "367", "2026-02-29", "2024-02-29", "9999-12-31",
                                  "2000-01-01", "2998-12-31", "٣٠", "²", "\x00", "1e3"]))


def test_fuzzed_period_queries_never_break_the_dashboard(shop_browser, request):
    examples = 60 if request.node.callspec.params["panel_database_url"] == "sqlite" else 30

    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.dictionaries(st.sampled_from(["from", "to", "days", "page", "sort"]), TEXT, max_size=4))
    def answers(query):
        response = shop_browser.get("/?" + urlencode(query))
        assert response.status_code == 200, query
        data = charts(text_of(response))
        assert 1 <= len(data["revenueTrend"]) <= 366 and len(data["userGrowth"]) == len(data["revenueTrend"])

    answers()


@pytest.mark.parametrize("key, warned", [(None, False), ("merchant-key", True)])
def test_refused_oxapay_webhooks_warn_only_with_payments_on(make_app, key, warned):
    """Anyone may POST to /hooks/oxapay: its refusals are news only when OxaPay is set up."""
    client = make_app(SHOP="1", OXAPAY_MERCHANT_API_KEY=key).test_client()
    log_in(client)
    channels.record_error(channels.OXAPAY_WEBHOOKS, "Refused a webhook: bad signature")
    page = text_of(client.get("/"))
    assert ("A channel is failing:</b> OxaPay webhooks." in page) is warned
    assert ('id="channel-alert"' in page) is warned
