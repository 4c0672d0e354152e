"""The operators' /queue in chat (SHOP on, issue 12): Take (and its race), the order card,
Show password (audited), Complete and Add note with their note dialogue, and Release.
Runs on SQLite and Postgres (any_db)."""
import datetime
import json

import pytest

from models import AuditEntry, Order, Package
from services.chat import buttons
from services.core.actors import Actor
from services.shop import orders, wallet
from tests.chat.helpers import CTX, NOW, labels
from tests.chat.shop_helpers import add_profile, button, fund, lead_of, presses, says

INVALID = buttons.NO_LONGER_VALID
PASSWORD = "s3cret<&>Pass"
CARD_BUTTONS = ["🔑 Show password", "✅ Complete", "📝 Add note", "↩️ Release", "◀ Queue"]


@pytest.fixture
def shop(any_db, make_user, data_key):
    """Two operators, an admin, a salesperson, and a client's order waiting."""
    people = {"olga": make_user(role="operator", first_name="Olga"),
              "oleg": make_user(role="operator", first_name="Oleg <O&O>"),
              "admin": make_user(role="admin", first_name="Ada"),
              "sales": make_user(role="sales", first_name="Sam"),
              "zoe": make_user(role=None, first_name="Zoë", last_name="<Client>")}
    fund(people["zoe"], 1000)
    people["order"] = place(people["zoe"], add_profile(people["zoe"], password=PASSWORD))
    return people


def place(user, profile, code="sites_100"):
    package = Package.get(Package.code == code)
    return orders.place(Actor.client(user), lead_of(user).id, profile.id, package.id, now=NOW)


def take(shop, who="olga"):
    return presses(shop[who], f"op:take:{shop['order'].id}")


def test_the_queue_lists_waiting_orders_priority_first_with_take(shop, make_user):
    max_ = make_user(role=None, first_name="Max")
    fund(max_, 1000)
    wallet.set_premium(Actor.panel(), lead_of(max_).id, NOW + datetime.timedelta(days=30))
    premium = place(max_, add_profile(max_, first_name="Max"), "sites_250")
    first = shop["order"]
    queue = says(shop["olga"], "/queue")
    assert queue.text.split("\n")[1:3] == [
        f"1. ⭐ #{premium.id} 250 sites · Max · since 2026-12-01 09:00",
        f"2. #{first.id} 100 sites · Zoë &lt;Client&gt; · since 2026-12-01 09:00"]
    assert labels(queue) == [f"✋ Take #{premium.id}", f"📂 #{premium.id}",
                             f"✋ Take #{first.id}", f"📂 #{first.id}", "🔄 Refresh"]
    assert "Your orders" not in queue.text
    assert says(shop["admin"], "/queue").text == queue.text
    refreshed = presses(shop["olga"], "op:queue")
    assert refreshed.replace and refreshed.text == queue.text


def test_the_queue_is_for_operators_and_admins_with_the_shop_on(shop):
    assert says(shop["sales"], "/queue").text == "Only operators and admins work the queue."
    assert presses(shop["sales"], "op:queue").text == "Only operators and admins work the queue."
    assert presses(shop["sales"], f"op:take:{shop['order'].id}").text == (
        "Only operators and admins work the queue.")
    assert "There is no /queue command" in says(shop["olga"], "/queue", ctx=CTX).text
    assert presses(shop["olga"], "op:queue", ctx=CTX).text == INVALID
    assert presses(shop["zoe"], "op:queue").text == INVALID


def test_take_shows_the_card_with_the_password_masked(shop):
    card = take(shop)
    order = Order.get_by_id(shop["order"].id)
    assert (order.status, order.operator_id) == ("assigned", shop["olga"].id)
    assert card.text.startswith(f"✋ Order #{order.id} is yours now.")
    for line in (f"📂 <b>Order #{order.id}</b> · assigned", "100 sites · 100 tokens",
                 f"Customer: Zoë &lt;Client&gt; (client #{order.lead_id})", "First name: Ann",
                 "Phone: +1 415-555-2671", "Password: •••"):
        assert line in card.text.split("\n"), line
    assert "s3cret" not in card.text and labels(card) == CARD_BUTTONS
    mine = says(shop["olga"], "/queue")
    assert "Nothing is waiting." in mine.text and "<b>Your orders</b>" in mine.text
    assert f"📂 Your #{order.id}" in labels(mine)
    assert presses(shop["olga"], button(mine, "📂 Your")).text == card.text.split("\n\n", 1)[1]


def test_the_take_race_tells_the_loser_who_won(shop):
    take(shop, "oleg")
    assert take(shop, "olga").text == f"Too late: Oleg &lt;O&amp;O&gt; already took order #{shop['order'].id}."
    assert "is already yours" in take(shop, "oleg").text
    assert Order.get_by_id(shop["order"].id).operator_id == shop["oleg"].id


def test_show_password_is_for_the_operator_doing_it_and_is_audited(shop):
    order_id = shop["order"].id
    assert presses(shop["olga"], f"op:reveal:{order_id}").text == (
        "Only the operator doing the order, or an admin, can see the password.")
    take(shop)
    shown = presses(shop["olga"], f"op:reveal:{order_id}")
    assert shown.text.startswith("🔑 Password: <code>s3cret&lt;&amp;&gt;Pass</code>")
    assert labels(shown) == CARD_BUTTONS
    (entry,) = AuditEntry.select().where(AuditEntry.event == "customer_profile.password_revealed")
    assert (entry.actor_kind, entry.actor_ref) == ("member", str(shop["olga"].id))
    assert entry.entity_id == Order.get_by_id(order_id).profile_id
    assert PASSWORD not in entry.changes and json.loads(entry.changes) == {}
    # Another operator does not even see the order now; an admin may look.
    assert presses(shop["oleg"], f"op:reveal:{order_id}").text == f"There is no order #{order_id}."
    assert PASSWORD.replace("<&>", "&lt;&amp;&gt;") in presses(shop["admin"], f"op:reveal:{order_id}").text
    assert AuditEntry.select().where(AuditEntry.event == "customer_profile.password_revealed").count() == 2


def test_complete_asks_for_a_note_and_tells_the_customer(shop):
    order_id = shop["order"].id
    take(shop)
    asked = presses(shop["olga"], f"op:complete:{order_id}")
    assert f"Completing order #{order_id}" in asked.text and "/skip" in asked.text
    done = says(shop["olga"], "Checked <all> & sent")
    assert done.text == f"✅ Order #{order_id} is complete; the customer is told."
    order = Order.get_by_id(order_id)
    assert order.status == "completed" and order.notes.endswith("Checked <all> & sent\n")
    assert order.completed_at == NOW
    assert "didn't understand" in says(shop["olga"], "more text").text   # the dialogue ended


def test_complete_with_skip_keeps_no_note(shop):
    take(shop)
    presses(shop["olga"], f"op:complete:{shop['order'].id}")
    assert "is complete" in says(shop["olga"], "/skip").text
    order = Order.get_by_id(shop["order"].id)
    assert (order.status, order.notes) == ("completed", "")
    assert says(shop["olga"], "/skip").text == "There is nothing to skip."


def test_add_note_keeps_the_order_assigned_and_shows_the_note(shop):
    order_id = shop["order"].id
    take(shop)
    assert "Send the note for order" in presses(shop["olga"], f"op:note:{order_id}").text
    too_long = says(shop["olga"], "x" * 2001)
    assert "A note must be 1 to 2000 characters." in too_long.text
    card = says(shop["olga"], "Called the <client>")
    assert card.text.startswith("📝 Note added.")
    assert "<b>Notes</b>" in card.text and "Olga (operator): Called the &lt;client&gt;" in card.text
    order = Order.get_by_id(order_id)
    assert order.status == "assigned" and "Called the <client>" in order.notes
    presses(shop["olga"], f"op:note:{order_id}")
    assert says(shop["olga"], "/skip").text == "No note was added."
    presses(shop["olga"], f"op:note:{order_id}")
    assert says(shop["olga"], "/cancel").text == "Cancelled. The order is as it was."
    assert Order.get_by_id(order_id).notes == order.notes


def test_release_puts_the_order_back_in_the_queue(shop):
    order_id = shop["order"].id
    take(shop)
    released = presses(shop["olga"], f"op:release:{order_id}")
    assert released.text == f"↩️ Order #{order_id} is back in the queue." and released.replace
    order = Order.get_by_id(order_id)
    assert (order.status, order.operator_id) == ("processing", None)
    assert labels(presses(shop["oleg"], f"op:open:{order_id}")) == ["✋ Take", "◀ Queue"]


def test_a_note_for_an_order_released_meanwhile_is_not_saved(shop):
    order_id = shop["order"].id
    take(shop)
    presses(shop["olga"], f"op:complete:{order_id}")
    presses(shop["admin"], f"op:release:{order_id}")
    answer = says(shop["olga"], "Done")
    assert answer.text.endswith("Nothing was saved.")
    assert Order.get_by_id(order_id).status == "processing"
    assert "didn't understand" in says(shop["olga"], "Done").text


def test_only_the_operator_or_an_admin_finishes_an_order(shop):
    order_id = shop["order"].id
    take(shop)
    for action in ("complete", "note", "release", "open"):
        assert presses(shop["oleg"], f"op:{action}:{order_id}").text == f"There is no order #{order_id}."
    presses(shop["admin"], f"op:complete:{order_id}")
    assert "is complete" in says(shop["admin"], "/skip").text
    card = presses(shop["olga"], f"op:open:{order_id}")
    assert "· completed" in card.text and labels(card) == ["◀ Queue"]
    assert "is completed: nothing to complete now" in presses(shop["olga"], f"op:complete:{order_id}").text


def test_a_note_is_not_asked_over_another_dialogue(shop):
    take(shop)
    says(shop["olga"], "/createLead")
    busy = presses(shop["olga"], f"op:complete:{shop['order'].id}")
    assert busy.text.startswith("You are in the middle of adding a lead.")
    assert Order.get_by_id(shop["order"].id).status == "assigned"


@pytest.mark.parametrize("action", ["take", "open", "reveal", "complete", "note", "release"])
def test_an_order_that_is_not_there(shop, action):
    assert presses(shop["olga"], f"op:{action}:999").text == "There is no order #999."


def test_an_operators_notify_is_about_new_orders(shop):
    assert says(shop["olga"], "/notify").text == (
        "New-order notifications are <b>on</b>. Send /notify on or /notify off.")
    assert says(shop["olga"], "/notify off").text == "New-order notifications are now <b>off</b>."
    assert says(shop["sales"], "/notify").text.startswith("Lead notifications are <b>on</b>.")
