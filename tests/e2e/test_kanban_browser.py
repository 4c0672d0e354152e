"""The pipeline board in headless Chromium against `python admin.py`: a card dragged to an
allowed column stays there after a reload, one dragged to a disallowed column comes back
with the pipeline's reason, the "Move to…" list does the same from the keyboard, and on a
390-px phone the board scrolls sideways inside itself, never the page. Screenshots go to
test-artifacts/."""
import datetime
import decimal
from urllib.parse import urlsplit

import pytest

from models import Activity, Lead, utcnow
from tests.e2e import test_admin_browser as admin_browser

pytestmark = pytest.mark.e2e

browser = admin_browser.browser  # headless Chromium at /usr/bin/chromium, or a skip saying why
ARTIFACTS = admin_browser.ARTIFACTS
XSS = "<script>alert(1)</script>"
EXTRA_NEW = 55  # more than a column shows at first: its "N more" link


@pytest.fixture
def board_data(processes_any_db, make_user):
    sam = make_user("sales", first_name="Sam", last_name="<b>Hale</b>")
    ann = Lead.create(first_name="Ann", last_name="Lee", owner=sam, value=decimal.Decimal("1500"),
                      last_activity_at=utcnow())
    Activity.create(lead=ann, type="call", subject="Discuss the offer",
                    due_at=utcnow() + datetime.timedelta(days=1))
    bob = Lead.create(first_name="Bob", last_name="Marsh", stage="contacted")
    hostile = Lead.create(first_name=XSS, source="website")
    old = utcnow() - datetime.timedelta(days=3)
    Lead.insert_many([{"first_name": f"Lead{n}", "last_activity_at": old} for n in range(EXTRA_NEW)]).execute()
    return ann, bob, hostile


def column_of(page, lead):
    return page.evaluate("id => document.getElementById('card-' + id)?.closest('.kanban-column')"
                         "?.dataset.stage ?? null", lead.id)


def message(page):
    box = page.locator("#board-message")
    box.wait_for(state="visible")
    return box


def test_moving_cards_on_the_board(browser, processes_any_db, board_data):
    ann, bob, hostile = board_data
    base = processes_any_db.panel_url
    panel = processes_any_db.start("admin.py")
    admin_browser.wait_for_page(base, panel, "/login")
    page = admin_browser.logged_in(browser, base)
    seen = admin_browser.Recorder(page)
    page.on("dialog", lambda dialog: pytest.fail(f"a dialog opened: {dialog.message}"))

    # The menu's Board entry; a card per open lead, what people typed shown as text.
    page.click("nav a[href='/board/']")
    page.wait_for_url(f"{base}/board/")
    assert column_of(page, ann) == "new" and column_of(page, bob) == "contacted"
    assert page.inner_text(f"#card-{hostile.id} .kanban-card-name") == XSS
    assert page.inner_text(f"#card-{ann.id} [data-field=owner]") == "Sam <b>Hale</b>"
    assert "call: Discuss the offer" in page.inner_text(f"#card-{ann.id} [data-field=next]")
    cards = page.locator("#cards-new .kanban-card")
    assert cards.count() == 50
    more = page.locator("#column-new .kanban-more")
    assert more.inner_text() == f"{EXTRA_NEW + 2 - 50} more"
    # A column's cards scroll inside it: 57 cards do not make the page 8,000 px long.
    assert page.evaluate("document.documentElement.scrollHeight < 1.5 * window.innerHeight")
    page.screenshot(path=str(ARTIFACTS / "kanban-1400.png"), full_page=True)

    # Dragged to an allowed column: moved, counted, and still there after a reload.
    page.drag_and_drop(f"#card-{ann.id}", "#column-contacted")
    assert "new → contacted" in message(page).inner_text()
    assert "alert-success" in message(page).get_attribute("class")
    assert column_of(page, ann) == "contacted"
    assert page.inner_text("#column-contacted [data-field=count]") == "2"
    assert page.inner_text("#column-contacted [data-field=value]") == "1,500.00"
    page.reload()
    assert column_of(page, ann) == "contacted"
    assert Lead.get_by_id(ann.id).stage == "contacted"

    # Dragged to a disallowed column: the pipeline's reason, and the card stays put.
    page.drag_and_drop(f"#card-{ann.id}", "#column-new")
    page.wait_for_function("() => document.getElementById('board-message').textContent.includes('not new')")
    assert message(page).inner_text() == (
        f"Lead #{ann.id} is contacted; it can move to qualified or lost, not new.")
    assert "alert-danger" in message(page).get_attribute("class")
    assert column_of(page, ann) == "contacted"
    page.reload()
    assert column_of(page, ann) == "contacted" and Lead.get_by_id(ann.id).stage == "contacted"

    # Without dragging: the card's "Move to…" list and its button, from the keyboard.
    page.select_option(f"#move-{bob.id}", "lost")
    page.focus(f"#card-{bob.id} .kanban-move button")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.getElementById('board-message').textContent.includes('lost')")
    assert column_of(page, bob) is None  # lost: counted, no longer a card
    assert page.inner_text("#column-lost [data-field=count]") == "1"
    assert Lead.get_by_id(bob.id).stage == "lost"

    # "N more" adds the column's next cards in place.
    page.click("#column-new .kanban-more")
    page.wait_for_function("() => document.querySelectorAll('#cards-new .kanban-card').length === 56")
    assert page.locator("#column-new .kanban-more").count() == 0

    # A phone: the board scrolls inside its own box; the page never scrolls sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{base}/board/")
    widths = page.evaluate("""() => ({page: document.documentElement.scrollWidth, view: window.innerWidth,
        board: document.getElementById('board').scrollWidth,
        box: document.getElementById('board').clientWidth})""")
    assert widths["page"] <= widths["view"], widths
    assert widths["board"] > widths["box"], widths
    page.screenshot(path=str(ARTIFACTS / "kanban-390.png"), full_page=True)

    # The one refusal above, which Chromium logs as a failed resource; nothing else.
    assert [e for e in seen.errors if "status of 409 (CONFLICT)" not in e] == [], seen.errors
    assert len(seen.errors) == 1 and "/board/move" in seen.errors[0] and seen.failed == []
    assert seen.outside_requests() == []
    assert any(urlsplit(u).path == "/static/kanban.js" for u in seen.urls)
    page.close()
