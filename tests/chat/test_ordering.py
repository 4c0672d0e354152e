"""A customer's /order, /orders (with Rerun) and /tokens in chat, with SHOP on (issue 12).
Runs on SQLite and Postgres (any_db)."""
import datetime

import pytest

from models import LedgerEntry, Order, Package
from services.chat import buttons, topup
from services.core.actors import Actor
from services.shop import catalogue, orders, wallet
from tests.chat.helpers import NOW, labels
from tests.chat.shop_helpers import add_profile, button, fund, lead_of, presses, says

INVALID = buttons.NO_LONGER_VALID


@pytest.fixture
def zoe(any_db, make_user):
    return make_user(role=None, telegram_id=500, first_name="Zoë", last_name="<Client>")


@pytest.fixture
def operator(any_db, make_user):
    return make_user(role="operator", first_name="Olga")


def package(code):
    return Package.get(Package.code == code)


def summary_of(user, sites, addon):
    """The /order summary for the first profile, `sites` and the add-on yes/no."""
    step = presses(user, button(says(user, "/order"), "Ann"))
    step = presses(user, button(step, f"{sites} sites"))
    return presses(user, button(step, "✅ Yes" if addon else "No"))


def place(user, code="sites_100", addon=False, profile=None):
    lead = lead_of(user)
    profile = profile or add_profile(user)
    return orders.place(Actor.client(user), lead.id, profile.id, package(code).id,
                        email_confirmation=addon, now=NOW)


def complete(order, operator):
    orders.take(Actor.member(operator), order.id, now=NOW)
    return orders.complete(Actor.member(operator), order.id, now=NOW)


def test_ordering_without_a_profile_asks_to_register_first(zoe):
    answer = says(zoe, "/order")
    assert "Register a profile first" in answer.text
    assert button(answer, "📝 Register") == "menu:register"


def test_the_whole_order_with_enough_tokens(zoe):
    profile = add_profile(zoe)
    fund(zoe, 500)
    start = says(zoe, "/order")
    assert labels(start) == ["Ann Lee", "✖️ Cancel"]
    packages = presses(zoe, button(start, "Ann Lee"))
    assert packages.replace and "Premium subscribers pay the price in brackets." in packages.text
    assert "• 100 sites: <b>100 tokens</b> (60)" in packages.text
    assert "• 1500 sites: <b>1550 tokens</b> (1250)" in packages.text
    assert "250 sites · 250" in labels(packages)
    addon = presses(zoe, button(packages, "250 sites"))
    assert ("email confirmation for <b>50 tokens</b> (Premium subscribers pay 30)?"
            in addon.text)
    summary = presses(zoe, button(addon, "✅ Yes, +50"))
    for line in ("For: Ann Lee", "Package: 250 sites", "Email confirmation: yes",
                 "Price: <b>300 tokens</b> (Premium subscribers pay 180)",
                 "Your balance: 500 tokens, 200 tokens after this order."):
        assert line in summary.text.split("\n"), line
    confirm = button(summary, "✅ Confirm")
    assert confirm == f"order:{profile.id}:{package('sites_250').id}:yes:300"
    placed = presses(zoe, confirm)
    order = Order.get()
    assert placed.text.startswith(f"✅ Order #{order.id} is confirmed: 250 sites + email "
                                  f"confirmation for Ann Lee, 300 tokens.")
    assert "Its position in the queue: <b>1</b>." in placed.text
    assert (order.lead_id, order.profile_id, order.price, order.email_confirmation,
            order.status, order.priority) == (lead_of(zoe).id, profile.id, 300, True, "pending", False)
    assert wallet.balance(lead_of(zoe).id) == 200
    assert wallet.problems() == []


def test_confirm_pressed_twice_places_one_order(zoe, operator):
    """Two taps on Confirm reach the bot as two updates from the same message: the
    second shows the order the first placed, and charges nothing."""
    add_profile(zoe)
    fund(zoe, 500)
    confirm = button(summary_of(zoe, 100, addon=False), "✅ Confirm")
    first = presses(zoe, confirm, pressed_message_id=41)
    again = presses(zoe, confirm, pressed_message_id=41)
    order = Order.get()
    assert again.text == first.text and f"Order #{order.id} is confirmed" in again.text
    assert wallet.balance(lead_of(zoe).id) == 400
    # The same button on another message (a new summary) is a new order.
    presses(zoe, confirm, pressed_message_id=42)
    assert Order.select().count() == 2 and wallet.balance(lead_of(zoe).id) == 300
    # A rerun's Confirm as well.
    complete(order, operator)
    question = presses(zoe, f"rerun:{order.id}", pressed_message_id=43)
    rerun = button(question, "✅ Confirm")
    assert presses(zoe, rerun, pressed_message_id=43).text == presses(
        zoe, rerun, pressed_message_id=43).text
    assert Order.select().count() == 3 and wallet.balance(lead_of(zoe).id) == 200
    assert wallet.problems() == []


def test_cancel_and_no_add_on(zoe):
    add_profile(zoe)
    fund(zoe, 100)
    summary = summary_of(zoe, 100, addon=False)
    assert "Email confirmation: no" in summary.text and button(summary, "✅ Confirm").endswith(":no:100")
    assert "Your balance: 100 tokens, 0 tokens after this order." in summary.text
    cancelled = presses(zoe, button(summary, "✖️ Cancel"))
    assert cancelled.text == "Cancelled. Nothing was ordered." and cancelled.replace
    assert Order.select().count() == 0


def test_too_few_tokens_are_refused_with_the_shortfall_and_a_top_up(zoe):
    add_profile(zoe)
    fund(zoe, 100)
    summary = summary_of(zoe, 250, addon=False)
    assert "Your balance: 100 tokens: 150 tokens short. Top up first, then confirm." in summary.text
    refused = presses(zoe, button(summary, "✅ Confirm"))
    assert refused.text == ("Not enough tokens: this order costs 250 tokens and your balance is "
                            "100 tokens, so you need <b>150</b> more. Nothing was charged.")
    assert Order.select().count() == 0 and LedgerEntry.select().count() == 1
    assert wallet.balance(lead_of(zoe).id) == 100
    # Top-ups are off here: no invoice to offer, Top up says whom to ask.
    assert labels(refused) == ["🪙 Top up", "🔁 Try again", "✖️ Cancel"]
    top_up = presses(zoe, button(refused, "🪙 Top up"))
    assert top_up.text == "🪙 Your balance: <b>100 tokens</b>.\n" + topup.OFF
    assert "our team" in top_up.text and labels(top_up) == ["🪙 My tokens", "🛒 New order"]
    # Once the team has topped the balance up, the same Confirm goes through.
    fund(zoe, 150)
    placed = presses(zoe, button(refused, "🔁 Try again"))
    assert "is confirmed" in placed.text and wallet.balance(lead_of(zoe).id) == 0


def test_a_price_changed_since_the_summary_shows_the_new_summary(zoe):
    add_profile(zoe)
    fund(zoe, 500)
    summary = summary_of(zoe, 100, addon=False)
    catalogue.save_package(Actor.panel(), package("sites_100").id, price=120)
    again = presses(zoe, button(summary, "✅ Confirm"))
    assert again.text.startswith("⚠️ The price is now 120 tokens (it was 100); please confirm again.")
    assert "Price: <b>120 tokens</b>" in again.text and Order.select().count() == 0
    presses(zoe, button(again, "✅ Confirm"))
    assert Order.get().price == 120 and wallet.balance(lead_of(zoe).id) == 380


def test_a_package_withdrawn_meanwhile_is_said_so(zoe):
    add_profile(zoe)
    fund(zoe, 500)
    summary = summary_of(zoe, 100, addon=False)
    catalogue.save_package(Actor.panel(), package("sites_100").id, active=False)
    answer = presses(zoe, button(summary, "✅ Confirm"))
    assert "There is no package" in answer.text and labels(answer) == ["🛒 New order"]


def test_subscribers_see_and_pay_the_subscriber_prices(zoe):
    add_profile(zoe)
    fund(zoe, 500)
    wallet.set_premium(Actor.panel(), lead_of(zoe).id, NOW + datetime.timedelta(days=30))
    packages = presses(zoe, button(says(zoe, "/order"), "Ann"))
    assert "⭐ You have Premium: you pay the subscriber prices." in packages.text
    assert "• 100 sites: <b>60 tokens</b> (you save 40)" in packages.text
    addon = presses(zoe, button(packages, "100 sites"))
    assert "<b>30 tokens</b>?" in addon.text and "✅ Yes, +30" in labels(addon)
    summary = presses(zoe, button(addon, "✅ Yes"))
    assert "Price: <b>90 tokens</b> (⭐ Premium: you save 60)" in summary.text
    presses(zoe, button(summary, "✅ Confirm"))
    order = Order.get()
    assert (order.price, order.priority, order.subscriber_price) == (90, True, True)


def test_another_customers_profile_cannot_be_ordered_for(zoe, make_user):
    other = make_user(role=None, first_name="Max")
    theirs = add_profile(other, first_name="Max")
    fund(zoe, 500)
    data = f"order:{theirs.id}:{package('sites_100').id}:no:100"
    assert "not there any more" in presses(zoe, data).text
    assert "not there any more" in presses(zoe, f"order:{theirs.id}").text
    assert Order.select().count() == 0


def test_names_are_escaped(zoe):
    add_profile(zoe, first_name="<b>Ann</b>", last_name="O'Neil & Co")
    catalogue.save_package(Actor.panel(), package("sites_100").id, name="100 <sites> & more")
    fund(zoe, 500)
    start = says(zoe, "/order")
    assert labels(start)[0] == "<b>Ann</b> O'Neil & Co"   # labels are plain text
    packages = presses(zoe, start.buttons[0][0][1])
    assert "&lt;b&gt;Ann&lt;/b&gt; O'Neil &amp; Co" in packages.text
    assert "100 &lt;sites&gt; &amp; more" in packages.text
    summary = presses(zoe, button(presses(zoe, packages.buttons[0][0][1]), "No"))
    assert "Package: 100 &lt;sites&gt; &amp; more" in summary.text


def test_orders_lists_newest_first_with_positions(zoe, make_user, operator):
    max_ = make_user(role=None, first_name="Max")
    fund(zoe, 1000)
    fund(max_, 1000)
    first = place(zoe)
    place(max_)
    third = place(zoe, "sites_250", addon=True)
    listing = says(zoe, "/orders")
    assert listing.text.index(f"#{third.id}") < listing.text.index(f"#{first.id}")
    assert "250 sites + email confirmation" in listing.text
    assert "🕒 waiting in the queue, position 3" in listing.text
    assert "🕒 waiting in the queue, position 1" in listing.text
    assert "for Ann Lee · 300 tokens" in listing.text
    complete(first, operator)
    listing = says(zoe, "/orders")
    assert "✅ completed" in listing.text and "position 2" in listing.text
    assert labels(listing) == [f"🔁 Rerun #{first.id}", "🛒 New order"]


def test_orders_are_paged(zoe):
    fund(zoe, 1000)
    profile = add_profile(zoe)
    made = [place(zoe, profile=profile) for _ in range(6)]
    first = says(zoe, "/orders")
    assert "(page 1 of 2, newest first)" in first.text and f"#{made[0].id}" not in first.text
    second = presses(zoe, button(first, "Older ▶"))
    assert second.replace and "(page 2 of 2" in second.text and f"#{made[0].id}" in second.text
    assert "page 1 of 2" in presses(zoe, button(second, "◀ Newer")).text
    assert "(page 2 of 2" in presses(zoe, "orders:99").text   # past the end: the last page


def test_no_orders_yet(zoe):
    answer = says(zoe, "/orders")
    assert answer.text == "You have no orders yet." and labels(answer) == ["🛒 New order"]


def test_rerun_asks_with_todays_price_then_places_a_new_order(zoe, operator):
    fund(zoe, 1000)
    original = complete(place(zoe), operator)
    question = presses(zoe, button(says(zoe, "/orders"), "🔁 Rerun"))
    assert f"Run order #{original.id} again?" in question.text
    assert "Today's price: <b>100 tokens</b>. Your balance: 900 tokens." in question.text
    catalogue.save_package(Actor.panel(), package("sites_100").id, price=110)
    again = presses(zoe, button(question, "✅ Confirm"))
    assert "The price has changed since: it is now 110 tokens." in again.text
    assert Order.select().count() == 1
    placed = presses(zoe, button(again, "✅ Confirm"))
    rerun = Order.select().order_by(Order.id.desc()).get()
    assert f"Order #{rerun.id} (a rerun of #{original.id}) is confirmed" in placed.text
    assert (rerun.rerun_of_id, rerun.price, rerun.profile_id) == (original.id, 110, original.profile_id)
    assert wallet.balance(lead_of(zoe).id) == 790
    # Only a completed order runs again.
    assert "Only a completed order" in presses(zoe, f"rerun:{rerun.id}").text
    assert "Only a completed order" in presses(zoe, f"rerun:{rerun.id}:110").text


def test_rerun_with_too_few_tokens_or_of_someone_elses_order(zoe, make_user, operator):
    fund(zoe, 100)
    original = complete(place(zoe), operator)
    refused = presses(zoe, f"rerun:{original.id}:100")
    assert "you need <b>100</b> more" in refused.text and "🪙 Top up" in labels(refused)
    max_ = make_user(role=None, first_name="Max")
    assert presses(max_, f"rerun:{original.id}").text == f"There is no order #{original.id}."
    assert presses(max_, f"rerun:{original.id}:100").text == f"There is no order #{original.id}."
    assert Order.select().count() == 1


def test_tokens_shows_the_balance_premium_and_the_last_ten_lines(zoe):
    fund(zoe, 500, "Paid <by> card & cash")
    order = place(zoe)
    answer = says(zoe, "/tokens")
    lines = answer.text.split("\n")
    assert lines[0] == "🪙 <b>Your balance: 400 tokens</b>"
    assert lines[-2:] == [f"2026-12-01 <b>-100</b> order · order #{order.id} → 400",
                          "2026-12-01 <b>+500</b> adjustment · Paid &lt;by&gt; card &amp; cash → 500"]
    assert labels(answer) == ["🪙 Top up", "🛒 New order"]
    assert "Premium" not in answer.text
    wallet.set_premium(Actor.panel(), lead_of(zoe).id, datetime.datetime(2026, 12, 31, 12))
    for n in range(11):
        fund(zoe, n + 1)
    answer = says(zoe, "/tokens")
    assert "⭐ Premium until 2026-12-31" in answer.text
    assert "<b>Last 10 operations</b>" in answer.text and answer.text.count("adjustment") == 10


def test_tokens_of_a_new_client(zoe):
    answer = presses(zoe, "menu:tokens")
    assert "Your balance: 0 tokens" in answer.text and "No operations yet." in answer.text


@pytest.mark.parametrize("data", ["order:1:1:no:abc", "order:1:1:no:007", "order:1:1:no:-1",
                                  "order:1:1:no:1e3", "rerun:1:x", "rerun:1:01"])
def test_a_price_that_is_no_price_is_an_invalid_button(zoe, data):
    add_profile(zoe)
    assert presses(zoe, data).text == INVALID
