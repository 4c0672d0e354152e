"""The panel on a 390-px phone and a 1,400-px screen: headless Chromium against
`python admin.py` (waitress), with enough realistic leads (long names and emails, fourteen
countries) to fill the lists. Each page is photographed under test-artifacts/ and must fit
the screen's width: no sideways scrolling, no element past the right edge. Also: the
broadcast counter counts what the preview counts."""
import datetime

import pytest

from models import User, utcnow
from services.core.actors import Actor
from services.crm import activities, leads, pipeline
from services.delivery import broadcasts
from services.inbox import clients, conversations
from tests.e2e import test_admin_browser as admin_browser, test_shop_browser as shop_browser
from tests.e2e.conftest import PANEL_USER

pytestmark = pytest.mark.e2e

browser = admin_browser.browser  # headless Chromium at /usr/bin/chromium, or a skip saying why
shop_data = shop_browser.shop_data  # two customers, four orders
ARTIFACTS = admin_browser.ARTIFACTS
WIDTHS = {"phone": 390, "wide": 1400}
COUNTRIES = ["DE", "FR", "GB", "US", "PL", "ES", "IT", "NL", "SE", "BR", "IN", "JP", "ZA", "MX"]
SETUP = Actor.panel("setup")
# Everything past the right edge of the screen that a person could see: not what a
# clipping box (overflow: hidden) cuts off.
PAST_THE_EDGE = """() => {
  const width = window.innerWidth;
  const clipped = el => {
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      const overflow = getComputedStyle(up).overflowX;
      if ((overflow === "hidden" || overflow === "clip") && up.getBoundingClientRect().right <= width + 1) {
        return true;
      }
    }
    return false;
  };
  const wide = [];
  for (const el of document.body.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || box.right <= width + 1) continue;
    if (getComputedStyle(el).visibility === "hidden" || clipped(el)) continue;
    wide.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
              [...el.classList].map(c => "." + c).join("") + " to " + Math.round(box.right) +
              "px: " + el.textContent.trim().replace(/\\s+/g, " ").slice(0, 50));
  }
  return {scrollWidth: document.documentElement.scrollWidth, width: width, wide: wide.slice(0, 12)};
}"""


def realistic_team_and_leads():
    """Two members, fourteen countries' leads (some with very long names and emails), open
    activities, and one lead with a long timeline; returns that lead."""
    now = utcnow()
    ann = User.create(telegram_id=800_001, role="admin", first_name="Annabelle",
                      last_name="Featherstonehaugh-Montgomery")
    sam = User.create(telegram_id=800_002, role="sales", first_name="Sam", last_name="Okafor")
    people = [("Maximiliana", "Konstantinopoulou-Vandersteenhoven"), ("José", "Díaz"),
              ("Wolfgang", "Schwarzenegger-Oberhausen"), ("Li", "Na"), ("Oluwaseun", "Adeyemi"),
              ("Marie-Claire", "de la Fontaine-Beauregard"), ("Kim", "Lee")]
    made = []
    for n in range(30):
        first, last = people[n % len(people)]
        country = COUNTRIES[n % len(COUNTRIES)] if n < 28 else "DE"
        made.append(leads.add_lead(
            {"email": f"{first}.{last}.{n}@an-extraordinarily-long-company-name.example.com"
                      .lower().replace(" ", "").replace("é", "e").replace("í", "i"),
             "phone": f"+1212555{n:04d}", "first_name": first, "last_name": last,
             "country": country},
            details={"source": ("website", "referral", "partner")[n % 3],
                     "business_domain": "Veterinary clinics and animal hospitals",
                     "priority": ("normal", "high", "urgent")[n % 3], "value": str(1500 * n)},
            owner=(ann, sam, None)[n % 3]))
    for n, lead in enumerate(made[:12]):
        activities.log(SETUP, lead.id, "call", "Call back about the quote for the new clinic wing",
                       due_at=now + datetime.timedelta(hours=n - 4), assigned_to=sam.id)
    lead = made[0]
    pipeline.change_stage(SETUP, lead.id, "contacted")
    activities.log(SETUP, lead.id, "note", "Spoke to the practice manager. " * 6,
                   description="They want a call after the board meeting on Thursday.")
    activities.log(SETUP, lead.id, "meeting", "Demo of the booking system at their main site",
                   due_at=now + datetime.timedelta(days=2), assigned_to=ann.id)
    broadcasts.send("<b>Spring offer</b>: every clinic that books a demo this month gets the "
                    "first three months free. " * 3, "team", False, created_by=PANEL_USER)
    for n, (first, last) in enumerate(people[:3]):
        user = User.create(telegram_id=700_001 + n, first_name=first, last_name=last,
                           username=f"{first.lower()}_{n}_with_a_long_username"[:32])
        client, _ = clients.from_telegram(Actor.client(user), user)
        conversations.record_inbound(Actor.client(user), client, "Hello! We run "
                                     "https://www.an-extraordinarily-long-company-name.example.com/"
                                     "clinics/booking and would like a quote for twenty seats.")
    return lead


def photographed_pages_fit(browser, base, pages, charts=3):
    """Each of `pages` ({name: path}) at each width photographed as
    test-artifacts/responsive-<name>-<width>.png, and checked to fit that width."""
    ARTIFACTS.mkdir(exist_ok=True)
    problems = {}
    for device, width in WIDTHS.items():
        page = admin_browser.logged_in(browser, base, width=width, height=900)
        seen = admin_browser.Recorder(page)
        for name, path in pages.items():
            page.goto(f"{base}{path}")
            if path == "/":
                page.wait_for_function(f"window.leadgramCharts && window.leadgramCharts.length === {charts}")
            page.screenshot(path=str(ARTIFACTS / f"responsive-{name}-{width}.png"), full_page=True)
            fit = page.evaluate(PAST_THE_EDGE)
            if fit["scrollWidth"] > fit["width"] or fit["wide"]:
                problems[f"{name} at {width}px"] = fit
        # The brand stays in sight with the menu folded away (a phone) or open.
        assert page.is_visible(".navbar-brand"), device
        assert seen.errors == [], seen.errors
        if device == "phone":
            assert page.is_hidden("#admin-navbar-collapse .navbar-nav")
        page.close()
    assert not problems, "\n".join(f"{where}: page {fit['scrollWidth']}px wide; {fit['wide'][:4]}"
                                   for where, fit in problems.items())


def test_every_main_page_fits_a_phone_and_a_wide_screen(browser, processes):
    lead = realistic_team_and_leads()
    base = processes.panel_url
    panel = processes.start("admin.py")
    admin_browser.wait_for_page(base, panel, "/login")  # no scheduler: /health would wait
    photographed_pages_fit(browser, base, {
        "dashboard": "/", "leads": "/leads/", "lead": f"/lead/{lead.id}/pipeline",
        "broadcast": "/broadcast/new", "broadcasts": "/broadcast/", "activities": "/activities/",
        "outbox": "/outbox/", "audit": "/audit/", "conversations": "/conversations/",
        "rules": "/rules/", "team": "/members/"})


def test_the_shop_pages_fit_too(browser, processes, shop_data):
    base = processes.panel_url
    panel = processes.start("admin.py", SHOP="on", DATA_ENCRYPTION_KEY=shop_browser.KEY)
    admin_browser.wait_for_page(base, panel, "/login")
    photographed_pages_fit(browser, base, {"shop-dashboard": "/", "orders": "/orders/",
                                           "customers": "/customers/"}, charts=7)


@pytest.mark.parametrize("width", WIDTHS.values())
def test_the_leads_list_shows_the_most_useful_columns_first(browser, processes, width):
    realistic_team_and_leads()
    base = processes.panel_url
    panel = processes.start("admin.py")
    admin_browser.wait_for_page(base, panel, "/login")
    page = admin_browser.logged_in(browser, base, width=width, height=900)
    page.goto(f"{base}/leads/")
    shown = [text.strip() for text in
             page.locator("table.model-list thead th:visible").all_inner_texts() if text.strip()]
    assert shown[:4] == ["Name", "Stage", "Owner", "Next activity"] if width < 576 else \
        shown[:5] == ["#", "Name", "Stage", "Owner", "Next activity"], shown
    if width >= 1200:
        assert {"Email", "Phone", "Country"} <= set(shown), shown
    page.close()


def test_every_country_on_the_chart_has_its_label(browser, processes):
    realistic_team_and_leads()
    base = processes.panel_url
    panel = processes.start("admin.py")
    admin_browser.wait_for_page(base, panel, "/login")
    for width in WIDTHS.values():
        page = admin_browser.logged_in(browser, base, width=width, height=900)
        page.wait_for_function("window.leadgramCharts && window.leadgramCharts.length === 3")
        bars, labels, height = page.evaluate("""() => {
            const chart = window.leadgramCharts[1];
            return [chart.data.labels.length, chart.scales.y.ticks.map(t => t.label),
                    chart.canvas.getBoundingClientRect().height];
        }""")
        assert bars == 11 and len(labels) == 11 and labels[-1] == "Other", labels  # 10 and the rest
        assert height >= 11 * 20, height  # a readable row per bar
        page.close()


BROADCASTS = [
    "Hello\r\nworld",
    "<b>Launch</b> day &amp; more 👋\r\n\r\nSee <a href=\"https://example.com/x?a=1&b=2\">the offer</a>",
    "  padded \r\n  ",
    "price < 100 &amp;&lt;&gt; &nbsp;x &copy; &#128075; &#x1F44B; &unknown; &notit; &semi;",
    "<pre><code class=\"language-python\">print(1)\r\nprint(2)</code></pre>",
    "<tg-spoiler>secret</tg-spoiler> <span class=\"tg-spoiler\">s</span>\r",
    "<blockquote expandable>quote\r\n<i>line</i></blockquote>\n<u>x</u> <s>y</s> <code>z</code>",
]


def test_the_broadcast_counter_counts_what_the_preview_counts(browser, processes):
    realistic_team_and_leads()
    base = processes.panel_url
    panel = processes.start("admin.py")
    admin_browser.wait_for_page(base, panel, "/login")
    page = admin_browser.logged_in(browser, base, width=WIDTHS["wide"], height=900)
    page.goto(f"{base}/broadcast/new")
    counted = page.evaluate("texts => texts.map(window.telegramLength)", BROADCASTS)
    assert counted == [broadcasts.prepare(text, "team").length for text in BROADCASTS]
    # As a person types it: the browser sends the line breaks as \r\n.
    page.fill("#text", BROADCASTS[1].replace("\r\n", "\n") + "\n\nThree\nmore\nlines")
    counter = page.inner_text("#counter")
    page.click("#preview-button")
    page.locator("#preview").wait_for()
    assert page.inner_text("dl >> text=characters").strip() == f"{counter} characters"
    page.close()
