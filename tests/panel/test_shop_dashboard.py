"""The dashboard's shop part: shown with SHOP on, absent (and never queried) with it off."""
import datetime
import json
import logging
import re

import pytest

import models
from models import CustomerProfile, Order, Package, Wallet
from tests.panel.conftest import log_in, text_of

EXISTING_CHARTS = {"leadsPerDay", "leadsByCountry", "outboxByStatus"}
SHOP_TABLES = ("shop_order", "wallet", "package", "ledger_entry", "customer_profile")


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
    assert "leads-today" in page and EXISTING_CHARTS < set(data)  # the rest stays


def test_an_empty_shop_renders_without_rates(shop_browser):
    response = shop_browser.get("/")
    assert response.status_code == 200
    page = text_of(response)
    assert figure(page, "shop-completion-rate") == "—"
    assert figure(page, "shop-average-order") == "—"
    assert figure(page, "shop-orders-today") == "0" and figure(page, "shop-tokens-held") == "0"
    assert charts(page)["ordersByStatus"] == []


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


def test_with_the_shop_off_the_dashboard_is_unchanged(browser, make_lead):
    add_orders(make_lead, (100, 100, "completed"))
    handler, logger = Statements(), logging.getLogger("peewee")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        page = text_of(browser.get("/"))
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert set(charts(page)) == EXISTING_CHARTS
    assert 'id="shop' not in page and "chart-orders-by-status" not in page
    assert not [sql for sql in handler.sql if any(f'"{table}"' in sql for table in SHOP_TABLES)]
    assert handler.sql  # the logger did see the dashboard's own queries
