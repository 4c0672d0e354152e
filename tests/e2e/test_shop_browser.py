"""The shop's panel pages in headless Chromium against `python admin.py` with SHOP=on:
the dashboard's order charts, the orders list with a status change confirmed from its
row, and a customer's page with an adjustment. Screenshots go to test-artifacts/."""
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet

import models
from models import Lead, Order, Package
from services.core.actors import Actor
from services.shop import orders, profiles, wallet
from tests.e2e import test_admin_browser as admin_browser

pytestmark = pytest.mark.e2e

browser = admin_browser.browser  # headless Chromium at /usr/bin/chromium, or a skip saying why
ARTIFACTS = admin_browser.ARTIFACTS

KEY = Fernet.generate_key().decode()
PANEL = Actor.panel()
XSS = "<img src=x onerror=alert(1)>"
PROFILE = {"first_name": "Ann", "last_name": XSS, "phone": "+1 415 555 2671",
           "email": "ann@example.com", "date_of_birth": "1990-03-03", "country": "US",
           "street": "1 Main St", "city": "San Francisco", "state": "CA", "postal_code": "94105",
           "password": "s3cret-pass"}


@pytest.fixture
def shop_data(processes):
    """Two customers with orders in each status the dashboard counts."""
    models.use_data_key(KEY)
    try:
        ann = Lead.create(first_name="Ann", last_name=XSS)
        bob = Lead.create(first_name="Bob", last_name="Marsh")
        for lead in (ann, bob):
            wallet.adjust(PANEL, lead.id, 3000, "Opening balance")
        profile = profiles.save(PANEL, ann.id, PROFILE)
        bob_profile = profiles.save(PANEL, bob.id, {**PROFILE, "last_name": "Marsh"})
        package = {p.code: p.id for p in Package.select()}
        placed = [orders.place(PANEL, ann.id, profile.id, package["sites_100"]),
                  orders.place(PANEL, ann.id, profile.id, package["sites_250"], True),
                  orders.place(PANEL, bob.id, bob_profile.id, package["sites_550"]),
                  orders.place(PANEL, bob.id, bob_profile.id, package["sites_100"])]
        orders.cancel(PANEL, placed[2].id, "customer asked")
        yield ann, placed
    finally:
        models.use_data_key("")


def test_the_shop_in_the_panel(browser, processes, shop_data):
    ann, placed = shop_data
    base = processes.panel_url
    panel = processes.start("admin.py", SHOP="on", DATA_ENCRYPTION_KEY=KEY)
    admin_browser.wait_for_page(base, panel, "/login")
    page = admin_browser.logged_in(browser, base)
    seen = admin_browser.Recorder(page)
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))

    # Dashboard: the lead charts and the shop's two, drawn with the orders' numbers.
    page.wait_for_function("window.leadgramCharts && window.leadgramCharts.length === 7")
    totals = page.evaluate("""() => Object.fromEntries(window.leadgramCharts.map(c =>
        [c.canvas.id, c.data.datasets[0].data.reduce((a, b) => a + b, 0)]))""")
    assert totals["chart-orders-by-status"] == 4 and totals["chart-package-popularity"] == 4
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "shop-dashboard.png"), full_page=True)

    # Orders: the list, then cancelling one from its row after the confirmation page.
    page.goto(f"{base}/orders/")
    rows = page.locator("table.model-list tbody tr")
    assert rows.count() == 4
    assert XSS in rows.last.inner_text()          # the name is text, never markup
    page.screenshot(path=str(ARTIFACTS / "shop-orders.png"), full_page=True)
    first = placed[0]
    page.goto(f"{base}/orders/status/?id={first.id}&to=cancelled")
    assert "100 tokens" in page.inner_text("body")
    page.click("#confirm-status button[type=submit]")
    page.wait_for_load_state()
    assert "went back to the customer's balance" in page.inner_text("body")
    assert Order.get_by_id(first.id).status == "cancelled"

    # A customer's page: profiles (password masked), orders, ledger; an adjustment.
    page.goto(f"{base}/customers/details/?id={ann.id}")
    body = page.inner_text("body")
    assert "s3cret-pass" not in body and "Opening balance" in body
    page.fill("input[name=amount]", "-50")
    page.fill("input[name=reason]", "Goodwill <correction>")
    page.locator("form", has=page.locator("input[name=reason]")).locator(
        "button[type=submit]").click()
    page.wait_for_load_state()
    assert "Goodwill <correction>" in page.inner_text("body")
    page.screenshot(path=str(ARTIFACTS / "shop-customer.png"), full_page=True)
    assert wallet.balance(ann.id) == 3000 - 100 - 300 + 100 - 50
    assert wallet.problems() == []
    assert seen.errors == [] and seen.outside_requests() == []
    assert urlsplit(page.url).hostname in ("127.0.0.1", "localhost")
