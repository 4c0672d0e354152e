"""/premium in a customer's chat (services/chat/premium.py, SHOP on): the offer with the
status, benefits, price and balance; Subscribe or Renew buying from the balance once per
pressed message; the shortfall's Top up; a stale price shown again; forged buttons;
what a subscriber then gets in /order and /tokens. On SQLite and Postgres."""
import dataclasses
import datetime
import itertools

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from models import LedgerEntry, Order, Package
from services.chat import buttons, router as chat
from services.core import policy
from services.core.actors import Actor
from services.shop import premium, wallet
from tests.chat.helpers import CTX, NOW, labels
from tests.chat.shop_helpers import add_profile, button, fund, lead_of, presses, says

INVALID = buttons.NO_LONGER_VALID
MONTH = datetime.timedelta(days=30)
SUBSCRIBE = "premium:300"
_pressed = itertools.count(1000)


@pytest.fixture
def zoe(any_db, make_user):
    return make_user(role=None, telegram_id=500, first_name="Zoë", last_name="<Client>")


def set_policy(monkeypatch, **values):
    monkeypatch.setattr(policy, "_current", dataclasses.replace(policy.current(), **values))


def until(user):
    return premium.until(lead_of(user).id, NOW)


def test_the_offer_without_premium_shows_benefits_price_and_balance(zoe):
    fund(zoe, 500)
    offer = says(zoe, "/premium")
    assert offer.text.split("\n") == [
        "⭐ <b>Premium</b>",
        "You do not have Premium now.",
        "",
        "For 30 days:",
        "• subscriber prices: 100 sites for 60 tokens instead of 100, and less on every package",
        "• the email confirmation for 30 tokens instead of 50",
        "• your orders go first in the queue",
        "",
        "Price: <b>300 tokens</b> for 30 days, paid from your balance.",
        "Your balance: 500 tokens, 200 tokens after this."]
    assert offer.buttons == [[("✅ Subscribe for 300 tokens", SUBSCRIBE)],
                             [("✖️ Cancel", "premium:cancel")]]
    assert presses(zoe, "menu:premium").text == offer.text   # the menu item shows the same


def test_subscribing_buys_thirty_days_once_however_often_it_is_pressed(zoe):
    fund(zoe, 500)
    offer = says(zoe, "/premium")
    done = presses(zoe, button(offer, "✅ Subscribe"), pressed_message_id=77)
    assert done.replace and done.text == (
        "⭐ <b>Premium is yours until 2026-12-31 09:00 (UTC).</b>\n300 tokens came from your "
        "balance, which is now 200 tokens. You pay the subscriber prices and your orders go "
        "first in the queue.")
    assert labels(done) == ["🛒 New order", "🪙 My tokens"]
    again = presses(zoe, SUBSCRIBE, pressed_message_id=77)   # the same message, pressed again
    assert again.text == done.text and wallet.balance(lead_of(zoe).id) == 200
    assert LedgerEntry.select().where(LedgerEntry.kind == "subscription").count() == 1
    assert until(zoe) == NOW + MONTH


def test_renewing_shows_the_end_and_adds_thirty_days_to_it(zoe):
    fund(zoe, 700)
    presses(zoe, SUBSCRIBE, pressed_message_id=1)
    offer = says(zoe, "/premium")
    assert "You have Premium until <b>2026-12-31 09:00 (UTC)</b>." in offer.text
    assert "Renewing now adds 30 days to the end: Premium until 2027-01-30 09:00 (UTC)." in offer.text
    assert labels(offer) == ["✅ Renew for 300 tokens", "✖️ Cancel"]
    renewed = presses(zoe, button(offer, "✅ Renew"), pressed_message_id=2)
    assert "Premium is yours until 2027-01-30 09:00 (UTC)." in renewed.text
    assert wallet.balance(lead_of(zoe).id) == 100 and until(zoe) == NOW + 2 * MONTH


def test_too_few_tokens_offer_a_top_up_and_charge_nothing(zoe):
    fund(zoe, 100)
    offer = says(zoe, "/premium")
    assert "Your balance: 100 tokens: 200 tokens short. Top up first, then subscribe." in offer.text
    assert button(offer, "🪙 Top up") == "menu:topup"
    refused = presses(zoe, SUBSCRIBE, pressed_message_id=5)
    assert refused.text == ("Not enough tokens: Premium costs 300 tokens and your balance is 100 "
                            "tokens, so you need <b>200</b> more. Nothing was charged.")
    assert refused.buttons == [[("🪙 Top up", "menu:topup")],
                               [("🔁 Try again", SUBSCRIBE), ("✖️ Cancel", "premium:cancel")]]
    assert until(zoe) is None and wallet.balance(lead_of(zoe).id) == 100
    fund(zoe, 200)   # topped up: the same Try again now buys
    assert "Premium is yours" in presses(zoe, button(refused, "🔁 Try again"), pressed_message_id=5).text
    assert wallet.balance(lead_of(zoe).id) == 0


def test_a_price_changed_since_the_offer_shows_the_offer_again(zoe, monkeypatch):
    fund(zoe, 1000)
    offer = says(zoe, "/premium")
    set_policy(monkeypatch, subscription_price_tokens=400)
    again = presses(zoe, button(offer, "✅ Subscribe"), pressed_message_id=9)
    assert again.replace and again.text.startswith(
        "⚠️ Premium now costs 400 tokens (it was 300); please confirm again.\n\n⭐ <b>Premium</b>")
    assert button(again, "✅ Subscribe") == "premium:400" and until(zoe) is None
    assert wallet.balance(lead_of(zoe).id) == 1000
    presses(zoe, "premium:400", pressed_message_id=10)
    assert wallet.balance(lead_of(zoe).id) == 600


def test_cancel_and_the_alerts_renew_button(zoe):
    fund(zoe, 500)
    cancelled = presses(zoe, "premium:cancel")
    assert (cancelled.text, cancelled.replace) == ("No change: nothing was charged.", True)
    assert labels(cancelled) == ["🪙 My tokens"]
    shown = presses(zoe, "premium:")   # the expiry alerts' "Renew Premium"
    assert shown.replace and "Subscribe for 300 tokens" in labels(shown)[0]
    assert wallet.balance(lead_of(zoe).id) == 500


@pytest.mark.parametrize("data", ["premium:abc", "premium:0300", "premium:-1", "premium:0",
                                  "premium:1e3", "premium:+300", "premium:300:1",
                                  "premium:99999999", "premium: 300", "premium:٣٠٠"])
def test_forged_subscribe_buttons_buy_nothing(zoe, data):
    fund(zoe, 5000)
    assert presses(zoe, data).text == INVALID
    assert until(zoe) is None and wallet.balance(lead_of(zoe).id) == 5000


def test_a_price_the_offer_never_showed_is_refused_as_stale(zoe):
    fund(zoe, 5000)
    answer = presses(zoe, "premium:1", pressed_message_id=3)
    assert answer.text.startswith("⚠️ Premium now costs 300 tokens (it was 1)")
    assert until(zoe) is None and wallet.balance(lead_of(zoe).id) == 5000


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(tail=st.text(max_size=12))
def test_fuzzed_premium_buttons_answer_and_charge_only_the_price_shown(zoe, tail):
    fund(zoe, 300)
    answer = presses(zoe, "premium:" + tail, pressed_message_id=next(_pressed))  # accepted() checks it
    bought = until(zoe) is not None
    assert bought == (tail == "300"), (tail, answer.text)
    if bought:   # undone, so the next example starts without Premium or tokens
        premium.end(Actor.panel(), lead_of(zoe).id, now=NOW - datetime.timedelta(days=1))
    else:
        assert wallet.balance(lead_of(zoe).id) == 300
        wallet.move(Actor.panel(), lead_of(zoe).id, "adjustment", -300)


def test_team_members_and_a_shop_that_is_off_refuse_the_buttons(zoe, make_user):
    member = make_user(role="sales", first_name="Sam")
    fund(zoe, 500)
    assert presses(member, SUBSCRIBE).text == INVALID
    assert presses(zoe, SUBSCRIBE, ctx=CTX).text == chat.STRANGER   # SHOP off: no client buttons
    assert until(zoe) is None


def test_a_subscriber_then_orders_at_subscriber_prices_and_tokens_shows_it(zoe):
    add_profile(zoe)
    fund(zoe, 500)
    presses(zoe, SUBSCRIBE, pressed_message_id=1)
    assert "⭐ Premium until 2026-12-31: you pay the subscriber prices." in says(zoe, "/tokens").text
    packages = presses(zoe, button(says(zoe, "/order"), "Ann"))
    assert "⭐ You have Premium: you pay the subscriber prices." in packages.text
    summary = presses(zoe, button(presses(zoe, button(packages, "100 sites")), "✅ Yes"))
    assert "Price: <b>90 tokens</b> (⭐ Premium: you save 60)" in summary.text
    presses(zoe, button(summary, "✅ Confirm"), pressed_message_id=2)
    order = Order.get()
    assert (order.price, order.priority, order.subscriber_price) == (90, True, True)


def test_user_data_in_the_offer_is_escaped_and_times_are_local(zoe, monkeypatch):
    Package.update(name="100 <b>sites</b> & more").where(Package.code == "sites_100").execute()
    Package.update(name="Email <i>check</i>").where(Package.code == "email_confirmation").execute()
    set_policy(monkeypatch, timezone="Europe/Kyiv")
    fund(zoe, 500)
    presses(zoe, SUBSCRIBE, pressed_message_id=1)
    offer = says(zoe, "/premium")   # accepted() parses it as Telegram would
    assert "100 &lt;b&gt;sites&lt;/b&gt; &amp; more for 60 tokens" in offer.text
    assert "the email &lt;i&gt;check&lt;/i&gt; for 30 tokens" in offer.text
    assert "until <b>2026-12-31 11:00 (Europe/Kyiv)</b>" in offer.text


def test_a_catalogue_without_savings_or_add_on_still_offers_the_queue(zoe):
    Package.update(subscriber_price=Package.price).execute()
    offer = says(zoe, "/premium")
    assert "• the subscriber prices of the packages" in offer.text
    assert "email confirmation" not in offer.text and "first in the queue" in offer.text


