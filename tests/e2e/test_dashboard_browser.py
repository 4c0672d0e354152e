"""The dashboard's shop analytics in headless Chromium against `python admin.py` with
SHOP=on (issue 15): the revenue and user-growth trends, the order charts, the period
picker (presets, dates, a period the panel cannot show as asked), the red reconciliation
card, on a wide screen and a phone. Screenshots go to test-artifacts/dashboard-shop-*.png."""
import datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

import models
from models import CustomerProfile, Lead, LedgerEntry, Order, Package, Payment, Wallet
from tests.e2e import test_admin_browser as admin_browser
from tests.e2e.test_responsive_browser import PAST_THE_EDGE

pytestmark = pytest.mark.e2e

browser = admin_browser.browser  # headless Chromium at /usr/bin/chromium, or a skip saying why
ARTIFACTS = admin_browser.ARTIFACTS
XSS = "<img src=x onerror=alert(1)>"
CHARTS = ["chart-leads-per-day", "chart-leads-by-country", "chart-outbox-by-status", "chart-revenue-trend",
          "chart-user-growth", "chart-orders-by-status", "chart-package-popularity"]
DAY = datetime.timedelta(days=1)
# Two frames after the charts were made, so that a screenshot shows them at their size.
SETTLED = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"
SUMS = """() => Object.fromEntries(window.leadgramCharts.map(c => [c.canvas.id,
    c.data.datasets.map(d => d.data.reduce((a, b) => a + b, 0))]))"""


@pytest.fixture
def shop_history(database_url):
    """Twelve customers over the last 100 days, each with an order and a paid top-up
    (credited in the ledger) on the day they came, a package with markup in its name, a
    pending invoice, and one paid top-up whose tokens never reached the ledger."""
    now = models.utcnow()
    package = Package.get(Package.code == "sites_100")
    Package.update(name=XSS).where(Package.id == package.id).execute()
    for n in range(12):
        at = now - (8 * n + 1) * DAY
        lead = Lead.create(first_name=f"Customer{n}", last_name="Example", created_at=at)
        account = Wallet.create(lead=lead, balance=1000, created_at=at)
        profile = CustomerProfile.create(lead=lead, first_name=f"Customer{n}", last_name="Example")
        payment = Payment.create(lead=lead, reference=f"LG-{n:04x}", track_id=f"T{n}", tokens=1100,
                                 amount_cents=11_000, status="paid", expires_at=at + DAY, paid_at=at,
                                 created_at=at)
        LedgerEntry.create(wallet=account, kind="purchase", amount=1100, balance_after=1100, payment=payment,
                           actor_kind="system", actor_label="OxaPay", created_at=at)
        order = Order.create(lead=lead, profile=profile, package=package, package_name=XSS, sites=100,
                             price=100, status="completed" if n % 3 else "pending", queue_rank=at.timestamp(),
                             created_at=at)
        LedgerEntry.create(wallet=account, kind="order", amount=-100, balance_after=1000, order=order,
                           actor_kind="client", actor_label="client", created_at=at)
    Payment.create(lead=lead, reference="LG-waiting", tokens=500, amount_cents=5000, status="waiting",
                   expires_at=now + DAY)
    Payment.create(lead=lead, reference="LG-lost", track_id="T-lost", tokens=50, amount_cents=500,
                   status="paid", expires_at=now, paid_at=now - DAY)


def test_the_shop_analytics_in_a_browser(browser, processes, shop_history):
    base = processes.panel_url
    panel = processes.start("admin.py", SHOP="on", TZ="Europe/Kyiv")
    admin_browser.wait_for_page(base, panel, "/login")
    page = admin_browser.logged_in(browser, base)
    seen = admin_browser.Recorder(page)
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))
    page.reload()

    # The last 30 days: customers 0-3 (days 1, 9, 17, 25 ago) and the top-up never credited.
    page.wait_for_function("window.leadgramCharts && window.leadgramCharts.length === 7")
    assert page.evaluate("window.leadgramCharts.map(c => c.canvas.id)") == CHARTS
    sums = page.evaluate(SUMS)
    assert sums["chart-revenue-trend"] == [4 * 110 + 5]
    assert sums["chart-user-growth"] == [4, 4]          # new customers, first orders
    assert sums["chart-orders-by-status"] == [4] and sums["chart-package-popularity"][0] == 4
    assert page.evaluate("window.leadgramCharts[4].data.datasets.map(d => d.label)") == [
        "New customers", "First orders"]
    assert page.evaluate("window.leadgramCharts[6].data.labels[0]") == XSS   # text on the chart
    assert page.inner_text("#shop-revenue .figure-value") == "$445.00"
    assert page.inner_text("#shop-pending-payments").split("\n")[:2] == ["1", "$50.00"]
    alert = page.locator("#reconciliation-alert")
    assert "Payments and the ledger disagree: 1 problem" in alert.inner_text()
    assert alert.get_attribute("href") == "/payments/reconciliation/"
    today = datetime.datetime.now(ZoneInfo("Europe/Kyiv")).date()
    assert (page.locator("#period-from").input_value(), page.locator("#period-to").input_value()) == (
        (today - 29 * DAY).isoformat(), today.isoformat())
    assert page.locator("#preset-30").get_attribute("class").endswith("active")
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate(SETTLED)
    page.screenshot(path=str(ARTIFACTS / "dashboard-shop-1400.png"), full_page=True)

    # A preset: the last 7 days, a point a day.
    page.click("#preset-7")
    page.wait_for_url(lambda url: url.endswith("/?days=7#shop"))
    page.wait_for_function("window.leadgramCharts && window.leadgramCharts.length === 7")
    assert page.evaluate("window.leadgramCharts[3].data.labels.length") == 7
    assert page.evaluate(SUMS)["chart-revenue-trend"] == [110 + 5]

    # Dates typed in the picker: 100 days go by week, every customer in them.
    first, last = (today - 99 * DAY).isoformat(), today.isoformat()
    page.fill("#period-from", first)
    page.fill("#period-to", last)
    page.click("#period-form button[type=submit]")
    page.wait_for_url(lambda url: "from=" in url)
    assert parse_qs(urlsplit(page.url).query) == {"from": [first], "to": [last]}
    page.wait_for_function("window.leadgramCharts && window.leadgramCharts.length === 7")
    labels = page.evaluate("window.leadgramCharts[3].data.labels")
    assert 15 <= len(labels) <= 16 and all(label.startswith("wk ") for label in labels), labels
    assert page.evaluate(SUMS)["chart-user-growth"] == [12, 12]
    assert "the trends go by week" in page.inner_text("#period-shown")
    page.evaluate(SETTLED)
    page.screenshot(path=str(ARTIFACTS / "dashboard-shop-weeks-1400.png"), full_page=True)

    # A period the panel cannot show as asked: said, and the default shown.
    page.goto(f"{base}/?from=2026-02-30&to=" + XSS)
    page.wait_for_function("window.leadgramCharts && window.leadgramCharts.length === 7")
    notes = page.locator(".period-note").all_inner_texts()
    assert notes[0] == "The start date '2026-02-30' is not a date written like 2026-03-01."
    assert notes[1] == f"The end date '{XSS}' is not a date written like 2026-03-01."
    assert page.evaluate("window.leadgramCharts[3].data.labels.length") == 30
    page.evaluate(SETTLED)
    page.screenshot(path=str(ARTIFACTS / "dashboard-shop-note-1400.png"), full_page=True)
    assert seen.errors == [] and seen.failed == [] and seen.outside_requests() == []
    page.close()

    # A phone: everything fits its width.
    phone = admin_browser.logged_in(browser, base, width=390, height=900)
    on_phone = admin_browser.Recorder(phone)
    phone.goto(f"{base}/?days=90")
    phone.wait_for_function("window.leadgramCharts && window.leadgramCharts.length === 7")
    phone.evaluate(SETTLED)
    phone.screenshot(path=str(ARTIFACTS / "dashboard-shop-390.png"), full_page=True)
    fit = phone.evaluate(PAST_THE_EDGE)
    assert fit["scrollWidth"] <= fit["width"] and not fit["wide"], fit
    assert on_phone.errors == []
    phone.close()
