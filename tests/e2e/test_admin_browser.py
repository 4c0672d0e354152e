"""The admin panel in a real browser: headless Chromium against `python admin.py`
(waitress), with the real bot and scheduler delivering through the Bot API emulator."""
import csv
import os
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

import pytest

from services.crm import leads
from tests.conftest import ROOT
from tests.e2e.conftest import ADMIN_ID, PANEL_PASSWORD, PANEL_USER

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("LEADGRAM_CHROMIUM", "/usr/bin/chromium")
# Debian's Chromium; Playwright's own browser download is never used.
CHROMIUM_HELP = "install it with `apt-get install -y chromium` (or point LEADGRAM_CHROMIUM at one)"
ARTIFACTS = ROOT / "test-artifacts"
CHARTS = ["chart-leads-per-day", "chart-leads-by-country", "chart-outbox-by-status"]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
TIMEOUT_MS = 10_000


@pytest.fixture
def browser():
    """Headless Chromium, or a skip naming what is missing and how to install it."""
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Python playwright is not installed: "
                                          "`.venv/bin/pip install -r requirements-dev.txt`")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"no Chromium at {CHROMIUM}: {CHROMIUM_HELP}")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


class Recorder:
    """What the page did that the test must see: console errors, uncaught
    exceptions, and every URL it asked for."""

    def __init__(self, page):
        self.errors, self.urls, self.failed = [], [], []
        page.on("console", lambda m: m.type == "error" and self.errors.append(
            f"console: {m.text} at {m.location.get('url')}"))
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        page.on("requestfailed", lambda r: self.failed.append((r.url, r.failure)))
        page.on("request", lambda r: self.urls.append(r.url))

    def outside_requests(self):
        return [u for u in self.urls
                if urlsplit(u).scheme != "data" and urlsplit(u).hostname not in LOOPBACK]


def wait_for_page(base_url, process, path="/health", timeout=15):
    """Until `path` says 200: /health once the panel is up and the scheduler has beaten,
    /login once the panel is up."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        assert process.poll() is None, f"admin.py exited with {process.returncode}"
        try:
            with urllib.request.urlopen(f"{base_url}{path}", timeout=2) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            last = exc.code  # /health: 503 until the scheduler's first beat
        except OSError as exc:
            last = exc  # not listening yet
        time.sleep(0.1)
    raise AssertionError(f"{path} not 200 within {timeout}s (last: {last})")


def logged_in(browser, base, path="/", width=1400, height=1000):
    """A page of `width` px that logged in through the form a stranger opening `path` is
    sent to, and is back on `path`."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{base}{path}")
    assert urlsplit(page.url).path == "/login"
    page.fill("#username", PANEL_USER)
    page.fill("#password", PANEL_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{path}")
    return page


def create_lead_in_chat(admin, email, phone, first, last, country):
    """The wizard, typed by `admin`; returns the saved summary's text."""
    assert "Step 1/5" in admin.send("/createLead")["text"]
    for answer in (email, phone, first, last):
        admin.send(answer)
    summary = admin.send(country)
    return admin.press(summary, "✅ Save", contains="Saved as lead")["text"]


def test_deployer_logs_in_sees_charts_finds_exports_and_broadcasts(browser, processes, emulator,
                                                                   chat_with):
    base = processes.panel_url
    timing = {"SEND_INTERVAL_SECONDS": "0.5"}  # /health wants a beat within 3 intervals
    processes.start("bot.py")
    processes.start("scheduler.py", **timing)
    panel = processes.start("admin.py", **timing)

    admin = chat_with(ADMIN_ID, "Ada")
    assert "as admin" in admin.send("/start", replies=2)["text"]
    # One lead typed in chat (HTML specials and a spreadsheet formula), one added by the panel.
    assert "Saved as lead #1" in create_lead_in_chat(
        admin, "oneil@example.com", "+44 20 7946 0958", "O'Neil <b>&", "=SUM(A1)", "gb")
    leads.add_lead({"email": "ann@example.com", "phone": "+1 415 555 2671",
                    "first_name": "Ann", "last_name": "Smith", "country": "US"})
    emulator.wait_for_message(ADMIN_ID, "New lead #2")
    wait_for_page(base, panel)

    # Log in: any page sends a stranger to the login form, which brings them back.
    page = logged_in(browser, base)
    seen = Recorder(page)
    page.reload()  # the dashboard again, its scripts and requests recorded

    # Dashboard: figures and the three charts, drawn by Chart.js served from /static.
    page.wait_for_function("window.leadgramCharts && window.leadgramCharts.length === 3")
    for card, value in (("leads-today", "2"), ("leads-total", "2"), ("team-size", "1")):
        assert page.inner_text(f"#{card} .figure-value").strip() == value, card
    assert "never ran" not in page.inner_text("#heartbeat")
    assert page.evaluate("window.leadgramCharts.map(c => c.canvas.id)") == CHARTS
    assert page.evaluate("""() => window.leadgramCharts.slice(0, 2).map(
        c => c.data.datasets[0].data.reduce((a, b) => a + b, 0))""") == [2, 2]
    painted = page.evaluate("""ids => ids.map(id => {
        const canvas = document.getElementById(id);
        const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i]) painted++;
        return painted;
    })""", CHARTS)
    assert all(n > 500 for n in painted), dict(zip(CHARTS, painted))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # Leads: the search box finds the lead; its name is text, never markup.
    page.goto(f"{base}/leads/")
    page.fill("input[name=search]", "O'Neil")
    page.press("input[name=search]", "Enter")
    page.wait_for_url("**search=*")
    rows = page.locator("table.model-list tbody tr")
    assert rows.count() == 1
    assert "O'Neil <b>&" in rows.first.inner_text()
    assert "ann@example.com" not in rows.first.inner_text()
    assert page.locator("table.model-list tbody b").count() == 0

    # CSV export of what the search shows: header, the lead, and a formula made inert.
    with page.expect_download() as download_info:
        page.click("a[title=Export]")
    download = download_info.value
    assert urlsplit(download.url).path == "/leads/export/csv/"
    with open(download.path(), newline="", encoding="utf-8-sig") as exported:
        table = list(csv.reader(exported))
    header, body = table[0], table[1:]
    assert "Email" in header and "First Name" in header, header
    assert len(body) == 1, table
    record = dict(zip(header, body[0]))
    assert record["Email"] == "oneil@example.com"
    assert record["First Name"] == "O'Neil <b>&"
    assert record["Last Name"] == "'=SUM(A1)"

    # Broadcast: compose with formatting, preview as Telegram shows it, send to the admins.
    page.goto(f"{base}/broadcast/new")
    page.fill("#text", "<b>Launch</b> day & more")
    page.select_option("#audience", "team")
    page.check("#test_mode")
    page.click("#preview-button")
    preview = page.locator("#preview")
    preview.wait_for()
    assert preview.inner_text().strip() == "Launch day & more"
    assert page.locator("#preview b").all_inner_texts() == ["Launch"]
    assert page.inner_text("#recipients").strip().startswith("1")
    page.click("#confirm-send")
    page.wait_for_url(f"{base}/broadcast/")
    assert "queued for 1 person" in page.inner_text("body")
    row = page.locator("#broadcasts tbody tr[data-id]")
    assert row.count() == 1
    assert "Launch day & more" in row.inner_text()

    delivered = emulator.wait_for_message(ADMIN_ID, "Launch day")
    assert delivered["text"] == "Launch day & more"
    assert delivered["entities"] == [{"type": "bold", "offset": 0, "length": 6}]
    # The list polls /broadcast/progress.json every 3 s (the scheduler sends at once, so the
    # page may show it sent already; the poll must come anyway).
    with page.expect_request(lambda request: "/broadcast/progress.json" in request.url):
        pass
    sent = row.locator('[data-field="sent"]')
    page.wait_for_function("el => el.textContent.trim() === '1'", arg=sent.element_handle())
    assert row.locator('[data-field="waiting"]').inner_text() == "0"

    # Audit log: the chat's lead names the member, the broadcast the panel login; what
    # people typed is text.
    page.goto(f"{base}/audit/")
    entries = page.locator("table.model-list tbody tr")
    texts = entries.all_inner_texts()
    assert any("lead.created" in t and "Ada (admin)" in t and "O'Neil <b>&" in t for t in texts), texts
    assert any("broadcast.created" in t and f"admin panel ({PANEL_USER})" in t for t in texts), texts
    assert page.locator("table.model-list tbody b").count() == 0
    page.screenshot(path=str(ARTIFACTS / "audit.png"), full_page=True)

    assert seen.errors == []
    # A download ends its navigation as "aborted"; nothing else may fail.
    assert [(u, why) for u, why in seen.failed if u != download.url] == []
    assert seen.outside_requests() == []
    assert any(urlsplit(u).path.endswith("chart.umd.min.js") for u in seen.urls)
    page.close()
