"""Premium (services/shop/premium.py): bought from the balance in one transaction,
extended from its end, once per confirmation, never overdrawn by buyers at once;
granted and ended by admins only, audited; subscriber prices and the front of the queue
while it lasts; its alerts (3 days before, at the end) and the low-balance alert of
services/shop/wallet.move each sent once (services/chat/balance_alerts.py). On SQLite
and Postgres."""
import dataclasses
import datetime
import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import models
from models import AuditEntry, LedgerEntry, Message, OutboxMessage, User, Wallet, db
from services.core import events, policy
from services.core.actors import Actor
from services.shop import catalogue, orders, premium, queue, wallet
from services.shop.default_catalogue import EMAIL_CONFIRMATION_PRICES
from tests.shop.conftest import FUNDER, NOW, PANEL
from tests.threads import at_once

DAY = datetime.timedelta(days=1)
MONTH = datetime.timedelta(days=30)


def set_policy(monkeypatch, **values):
    monkeypatch.setattr(policy, "_current", dataclasses.replace(policy.current(), **values))


def notices(lead):
    """(html, [button data…]) of the notices queued for the customer, oldest first."""
    user = User.get(User.telegram_id == int(lead.contact("telegram")))
    rows = (Message.select(Message, OutboxMessage).join(OutboxMessage)
            .where(OutboxMessage.recipient == user.id, Message.sender_kind == "system")
            .order_by(Message.id))
    return [(m.outbox.text, [b.get("callback_data") for row in
                             json.loads(m.outbox.reply_markup or '{"inline_keyboard": []}')["inline_keyboard"]
                             for b in row]) for m in rows]


def until_of(lead):
    return Wallet.get(Wallet.lead == lead.id).premium_until


def audited(event):
    return [(e.entity, json.loads(e.changes)) for e in
            AuditEntry.select().where(AuditEntry.event == event).order_by(AuditEntry.id)]


# Buying ---------------------------------------------------------------------------------

def test_buying_debits_the_price_and_gives_thirty_days_audited(customer):
    actor, lead, _ = customer(tokens=1000)
    bought = premium.buy(actor, lead.id, 300, now=NOW)
    assert not bought.repeated and bought.until == NOW + MONTH == until_of(lead)
    assert wallet.balance(lead.id) == 700 and wallet.problems() == []
    entry = LedgerEntry.get(LedgerEntry.kind == "subscription")
    assert (entry.amount, entry.balance_after, entry.reference) == (-300, 700, "Premium, 30 days")
    assert bought.entry.id == entry.id
    account = Wallet.get(Wallet.lead == lead.id)
    assert audited("premium.bought") == [
        ("wallet", {"premium_until": [None, "2026-06-03 10:00:00"]})]
    assert AuditEntry.get(AuditEntry.event == "premium.bought").entity_id == account.id
    assert wallet.is_subscriber(lead.id, NOW) and premium.until(lead.id, NOW) == NOW + MONTH
    assert notices(lead) == []   # the chat that sold it confirms it


def test_renewing_early_adds_thirty_days_to_the_end_and_late_starts_from_now(customer):
    actor, lead, _ = customer(tokens=1000)
    premium.buy(actor, lead.id, 300, now=NOW)
    early = premium.buy(actor, lead.id, 300, now=NOW + 10 * DAY)
    assert early.until == NOW + 2 * MONTH == until_of(lead)
    late = premium.buy(actor, lead.id, 300, now=NOW + 100 * DAY)
    assert late.until == NOW + 100 * DAY + MONTH
    assert audited("premium.bought")[1][1] == {
        "premium_until": ["2026-06-03 10:00:00", "2026-07-03 10:00:00"]}
    assert wallet.balance(lead.id) == 100


def test_a_price_that_changed_is_refused_showing_the_new_one(customer, monkeypatch):
    actor, lead, _ = customer(tokens=1000)
    set_policy(monkeypatch, subscription_price_tokens=450)
    with pytest.raises(premium.PriceChanged) as refused:
        premium.buy(actor, lead.id, 300, now=NOW)
    assert str(refused.value) == "Premium now costs 450 tokens (it was 300); please confirm again."
    assert refused.value.price == 450 and until_of(lead) is None and wallet.balance(lead.id) == 1000
    assert premium.buy(actor, lead.id, 450, now=NOW).entry.amount == -450


def test_too_few_tokens_change_nothing_and_say_the_shortfall(customer):
    actor, lead, _ = customer(tokens=120)
    with pytest.raises(wallet.InsufficientTokens) as refused:
        premium.buy(actor, lead.id, 300, now=NOW)
    assert refused.value.shortfall == 180 and until_of(lead) is None
    assert wallet.balance(lead.id) == 120 and LedgerEntry.select().where(
        LedgerEntry.kind == "subscription").count() == 0
    assert audited("premium.bought") == []


def test_the_same_confirmation_buys_once_another_one_buys_again(customer, monkeypatch):
    actor, lead, _ = customer(tokens=1000)
    first = premium.buy(actor, lead.id, 300, request_key="telegram:7:41", now=NOW)
    again = premium.buy(actor, lead.id, 300, request_key="telegram:7:41", now=NOW + DAY)
    assert again.repeated and again.entry.id == first.entry.id and again.until == NOW + MONTH
    assert wallet.balance(lead.id) == 700 and len(audited("premium.bought")) == 1
    assert first.entry.reference.startswith("Premium, 30 days (receipt ")
    assert "telegram" not in first.entry.reference   # the customer reads it in /tokens
    set_policy(monkeypatch, subscription_price_tokens=350)   # bought at the price then
    assert premium.buy(actor, lead.id, 300, request_key="telegram:7:41", now=NOW + DAY).repeated
    set_policy(monkeypatch, subscription_price_tokens=300)
    other = premium.buy(actor, lead.id, 300, request_key="telegram:7:42", now=NOW + DAY)
    assert not other.repeated and other.until == NOW + 2 * MONTH and wallet.balance(lead.id) == 400


def test_someone_else_refused_an_admin_may_buy_for_a_customer(customer, staff):
    actor, lead, _ = customer(tokens=1000)
    stranger, _, _ = customer(tokens=1000)
    for who in (stranger, staff["olga"], staff["sales"], staff["dispatcher"]):
        with pytest.raises(premium.PremiumNotAllowed):
            premium.buy(who, lead.id, 300, now=NOW)
    assert until_of(lead) is None and wallet.balance(lead.id) == 1000
    premium.buy(staff["admin"], lead.id, 300, now=NOW)
    assert until_of(lead) == NOW + MONTH
    # Bought by someone else: the customer is told, with no button to press.
    assert notices(lead) == [("⭐ Our team bought you 30 days of Premium for 300 tokens from your "
                              "balance: it is yours until <b>2026-06-03 10:00 (UTC)</b>.", [])]


def test_buying_for_no_customer_is_refused(any_db):
    with pytest.raises(premium.PremiumError, match="There is no customer #999"):
        premium.buy(PANEL, 999, 300, now=NOW)


def split(outcomes):
    """([results], [exceptions]) of what at_once gave back."""
    return ([o for o in outcomes if not isinstance(o, Exception)],
            [o for o in outcomes if isinstance(o, Exception)])


def test_buyers_at_once_never_overdraw_and_each_extends_from_the_last_end(customer):
    actor, lead, _ = customer(tokens=700)
    outcomes = at_once(*[lambda i=i: premium.buy(actor, lead.id, 300, request_key=f"k{i}", now=NOW)
                         for i in range(5)])
    results, failures = split(outcomes)
    assert len(results) == 2 and len(failures) == 3
    assert all(isinstance(f, wallet.InsufficientTokens) for f in failures), failures
    assert sorted(r.until for r in results) == [NOW + MONTH, NOW + 2 * MONTH]
    assert until_of(lead) == NOW + 2 * MONTH and wallet.balance(lead.id) == 100
    assert wallet.problems() == []


def test_one_confirmation_pressed_at_once_in_many_places_buys_once(customer):
    actor, lead, _ = customer(tokens=2000)
    results, failures = split(at_once(*[lambda: premium.buy(actor, lead.id, 300,
                                                            request_key="the-same", now=NOW)] * 4))
    assert failures == [] and sorted(r.repeated for r in results) == [False, True, True, True]
    assert len({r.entry.id for r in results}) == 1
    assert wallet.balance(lead.id) == 1700 and until_of(lead) == NOW + MONTH


# What a subscriber gets ------------------------------------------------------------------

def test_a_customer_who_bought_premium_pays_subscriber_prices_and_jumps_the_queue(customer, package):
    assert EMAIL_CONFIRMATION_PRICES == (50, 30) and catalogue.addon().subscriber_price == 30
    early, early_lead, early_profile = customer(tokens=1000)
    first = orders.place(early, early_lead.id, early_profile.id, package.id, now=NOW)
    actor, lead, profile = customer(tokens=1000)
    assert catalogue.quote(lead.id, package.id, True, NOW).price == 150   # 100 + 50
    premium.buy(actor, lead.id, 300, now=NOW)
    quote = catalogue.quote(lead.id, package.id, True, NOW + DAY)
    assert (quote.price, quote.subscriber) == (90, True)   # 60 + the add-on at 30
    order = orders.place(actor, lead.id, profile.id, package.id, email_confirmation=True,
                         expected_price=90, now=NOW + DAY)
    assert (order.price, order.subscriber_price, order.priority) == (90, True, True)
    assert [o.id for o in queue.queue()] == [order.id, first.id]
    assert wallet.balance(lead.id) == 1000 - 300 - 90
    # Once it has ended, the regular prices again.
    assert catalogue.quote(lead.id, package.id, True, NOW + MONTH).price == 150


# Granting and ending ---------------------------------------------------------------------

def test_an_admin_grants_days_from_the_end_free_of_charge_audited(customer, staff):
    actor, lead, _ = customer(tokens=1000)
    premium.buy(actor, lead.id, 300, now=NOW)
    assert premium.grant(PANEL, lead.id, now=NOW + DAY) == NOW + 2 * MONTH
    assert premium.grant(staff["admin"], lead.id, days=5, now=NOW + DAY) == NOW + 2 * MONTH + 5 * DAY
    assert wallet.balance(lead.id) == 700
    assert [changes for _, changes in audited("premium.granted")] == [
        {"premium_until": ["2026-06-03 10:00:00", "2026-07-03 10:00:00"]},
        {"premium_until": ["2026-07-03 10:00:00", "2026-07-08 10:00:00"]}]
    assert [a.actor_kind for a in AuditEntry.select().where(AuditEntry.event == "premium.granted")] \
        == ["panel", "member"]
    assert [text for text, _ in notices(lead)] == [
        "⭐ Our team gave you 30 days of Premium: it is yours until <b>2026-07-03 10:00 (UTC)</b>.",
        "⭐ Our team gave you 5 days of Premium: it is yours until <b>2026-07-08 10:00 (UTC)</b>."]


def test_a_grant_without_premium_starts_now(customer):
    _, lead, _ = customer()
    assert premium.grant(PANEL, lead.id, days=1, now=NOW) == NOW + DAY


@pytest.mark.parametrize("days", [0, -1, premium.MAX_GRANT_DAYS + 1, True, "30", 2.5, None])
def test_a_grant_needs_a_sensible_number_of_days(customer, days):
    _, lead, _ = customer()
    with pytest.raises(premium.PremiumError, match="from 1 to 3660"):
        premium.grant(PANEL, lead.id, days=days, now=NOW)
    assert premium.until(lead.id, NOW) is None


@pytest.mark.parametrize("who", ["client", "olga", "sales", "dispatcher", "system"])
def test_only_admins_grant_and_end(customer, staff, who):
    actor, lead, _ = customer(tokens=1000)
    premium.buy(actor, lead.id, 300, now=NOW)
    someone = {"client": actor, "system": Actor.system("test")}.get(who) or staff.get(who)
    for change in (premium.grant, premium.end):
        with pytest.raises(premium.PremiumNotAllowed, match="Only admins"):
            change(someone, lead.id, now=NOW)
    assert until_of(lead) == NOW + MONTH and audited("premium.granted") == audited("premium.ended") == []


def test_an_admin_ends_premium_now_audited_and_the_end_is_not_announced_again(customer):
    actor, lead, _ = customer(tokens=1000)
    premium.buy(actor, lead.id, 300, now=NOW)
    assert premium.end(PANEL, lead.id, now=NOW + DAY) == NOW + DAY
    assert until_of(lead) == NOW + DAY and not wallet.is_subscriber(lead.id, NOW + DAY)
    assert audited("premium.ended") == [("wallet", {
        "premium_until": ["2026-06-03 10:00:00", "2026-05-05 10:00:00"],
        "premium_ended_for": [None, "2026-05-05 10:00:00"]})]
    assert premium.send_alerts(NOW + DAY)["expired"] == 0
    assert notices(lead) == [("⭐ Our team ended your Premium: from now on you pay the regular "
                              "prices.", ["premium:"])]
    with pytest.raises(premium.PremiumError, match=f"Customer #{lead.id} has no Premium to end"):
        premium.end(PANEL, lead.id, now=NOW + 2 * DAY)
    with pytest.raises(premium.PremiumError, match="no customer #999"):
        premium.grant(PANEL, 999, now=NOW)


# The alerts ------------------------------------------------------------------------------

def test_the_end_is_warned_of_three_days_before_and_announced_each_once(customer):
    actor, lead, _ = customer(tokens=1000)
    ends = premium.buy(actor, lead.id, 300, now=NOW).until
    assert premium.send_alerts(ends - 3 * DAY - datetime.timedelta(seconds=1))["expiring"] == 0
    counts = [premium.send_alerts(ends - 3 * DAY), premium.send_alerts(ends - 3 * DAY),
              premium.send_alerts(ends - DAY), premium.send_alerts(ends),
              premium.send_alerts(ends), premium.send_alerts(ends + DAY)]
    assert [(c["expiring"], c["expired"]) for c in counts] == [(1, 0), (0, 0), (0, 0), (0, 1),
                                                               (0, 0), (0, 0)]
    assert notices(lead) == [
        ("⭐ Your Premium ends on <b>2026-06-03 10:00 (UTC)</b>. Renew it for 300 tokens to keep "
         "the subscriber prices and the front of the queue: renewing now adds 30 days to that "
         "date, so nothing is lost.", ["premium:"]),
        ("⭐ Your Premium has ended: from now on you pay the regular prices and your orders queue "
         "in turn. Renew it for 300 tokens whenever you like.", ["premium:"])]
    account = Wallet.get(Wallet.lead == lead.id)
    assert account.premium_warned_for == account.premium_ended_for == ends
    assert [e.actor_kind for e in AuditEntry.select().where(
        AuditEntry.event.in_(["premium.expiring", "premium.expired"]))] == ["system", "system"]


def test_a_renewal_warns_again_for_the_next_period(customer):
    actor, lead, _ = customer(tokens=1000)
    ends = premium.buy(actor, lead.id, 300, now=NOW).until
    assert premium.send_alerts(ends - 2 * DAY)["expiring"] == 1
    renewed = premium.buy(actor, lead.id, 300, now=ends - 2 * DAY).until
    assert premium.send_alerts(ends)["expired"] == 0   # not ended: renewed
    assert premium.send_alerts(renewed - 3 * DAY)["expiring"] == 1
    assert premium.send_alerts(renewed - DAY)["expiring"] == 0
    assert premium.send_alerts(renewed)["expired"] == 1
    again = premium.buy(actor, lead.id, 300, now=renewed + 5 * DAY).until   # after it ended
    assert premium.send_alerts(again)["expired"] == 1
    assert len(notices(lead)) == 4


def test_ends_long_past_are_recorded_without_a_word(customer):
    _, old, _ = customer()
    _, recent, _ = customer()
    wallet.set_premium(PANEL, old.id, NOW - 2 * DAY - datetime.timedelta(seconds=1))
    wallet.set_premium(PANEL, recent.id, NOW - 2 * DAY)
    assert premium.send_alerts(NOW) == {"expiring": 0, "expired": 1, "quiet": 1, "failed": 0}
    assert notices(old) == [] and len(notices(recent)) == 1
    assert Wallet.get(Wallet.lead == old.id).premium_ended_for == NOW - 2 * DAY - datetime.timedelta(seconds=1)
    assert premium.send_alerts(NOW) == {"expiring": 0, "expired": 0, "quiet": 0, "failed": 0}


def test_customers_without_premium_or_far_from_the_end_hear_nothing(customer):
    _, never, _ = customer()
    wallet.wallet_of(never.id)
    actor, far, _ = customer(tokens=300)
    premium.buy(actor, far.id, 300, now=NOW)
    _, cleared, _ = customer()
    wallet.set_premium(PANEL, cleared.id, NOW + DAY)
    wallet.set_premium(PANEL, cleared.id, None)
    assert premium.send_alerts(NOW + DAY) == {"expiring": 0, "expired": 0, "quiet": 0, "failed": 0}
    assert notices(never) == [] and notices(cleared) == []


def test_one_customer_failing_does_not_stop_the_others_and_is_tried_again(customer):
    _, broken, _ = customer()
    _, fine, _ = customer()
    for lead in (broken, fine):
        wallet.set_premium(PANEL, lead.id, NOW + DAY)

    def fails(event):
        if event.data["lead"].id == broken.id:
            raise RuntimeError("the notice could not be written")
    events.subscribe("premium.expiring", fails)
    try:
        assert premium.send_alerts(NOW)["failed"] == 1
    finally:
        events.unsubscribe("premium.expiring", fails)
    assert notices(broken) == [] and len(notices(fine)) == 1
    assert Wallet.get(Wallet.lead == broken.id).premium_warned_for is None   # rolled back
    assert premium.send_alerts(NOW)["expiring"] == 1 and len(notices(broken)) == 1


def test_the_alerts_speak_in_the_deployers_time_zone(customer, monkeypatch):
    set_policy(monkeypatch, timezone="Europe/Kyiv", subscription_price_tokens=250)
    _, lead, _ = customer()
    wallet.set_premium(PANEL, lead.id, datetime.datetime(2026, 5, 5, 22, 30))
    premium.send_alerts(NOW)
    assert notices(lead)[0][0].startswith(
        "⭐ Your Premium ends on <b>2026-05-06 01:30 (Europe/Kyiv)</b>. Renew it for 250 tokens")


def test_alerts_of_a_customer_who_cannot_be_reached_are_still_recorded(any_db):
    lead = models.Lead.create(first_name="No", last_name="Telegram")   # made in the panel
    wallet.set_premium(PANEL, lead.id, NOW + DAY)
    assert premium.send_alerts(NOW)["expiring"] == 1
    assert Wallet.get(Wallet.lead == lead.id).premium_warned_for == NOW + DAY
    assert OutboxMessage.select().count() == 0


# The low balance -------------------------------------------------------------------------

LOW_TEXT = ("🪙 Your balance is down to <b>{} tokens</b> (below 50). Top up now so your next "
            "order is not held up.")


def test_falling_below_the_threshold_alerts_once_per_crossing(customer):
    _, lead, _ = customer(tokens=100)
    for amount in (-40, -10, -1, -9, -20, +100, -80, +5, -1):   # 60 50 49 40 20 120 40 45 44
        wallet.move(FUNDER, lead.id, "adjustment", amount, now=NOW)
    assert notices(lead) == [(LOW_TEXT.format(49), ["menu:topup", "menu:tokens"]),
                             (LOW_TEXT.format(40), ["menu:topup", "menu:tokens"])]
    assert AuditEntry.select().where(AuditEntry.event == "wallet.low_balance").count() == 0


def test_an_order_that_takes_the_balance_low_alerts_and_a_rollback_says_nothing(customer, package):
    actor, lead, profile = customer(tokens=120)
    orders.place(actor, lead.id, profile.id, package.id, now=NOW)   # 120 -> 20
    assert [text for text, _ in notices(lead)] == [LOW_TEXT.format(20)]
    actor, lead, _ = customer(tokens=120)
    with pytest.raises(RuntimeError), db.atomic():
        wallet.move(FUNDER, lead.id, "adjustment", -100, now=NOW)
        raise RuntimeError("rolled back")
    assert notices(lead) == [] and wallet.balance(lead.id) == 120


def test_premium_bought_down_to_a_low_balance_alerts_too(customer):
    actor, lead, _ = customer(tokens=330)
    premium.buy(actor, lead.id, 300, now=NOW)
    assert [text for text, _ in notices(lead)] == [LOW_TEXT.format(30)]


def test_a_threshold_of_zero_never_alerts_and_another_threshold_is_followed(customer, monkeypatch):
    set_policy(monkeypatch, low_balance_tokens=0)
    _, lead, _ = customer(tokens=100)
    wallet.move(FUNDER, lead.id, "adjustment", -100, now=NOW)
    assert notices(lead) == []
    set_policy(monkeypatch, low_balance_tokens=500)
    _, lead, _ = customer(tokens=600)
    wallet.move(FUNDER, lead.id, "adjustment", -101, now=NOW)
    assert notices(lead)[0][0].startswith("🪙 Your balance is down to <b>499 tokens</b> (below 500).")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(start=st.integers(0, 200), threshold=st.integers(0, 120),
       amounts=st.lists(st.integers(-150, 150).filter(bool), max_size=12))
def test_the_alerts_are_exactly_the_crossings(customer, monkeypatch, start, threshold, amounts):
    set_policy(monkeypatch, low_balance_tokens=threshold)
    _, lead, _ = customer(tokens=start)
    balance, crossings = start, []
    for amount in amounts:
        try:
            wallet.move(FUNDER, lead.id, "adjustment", amount, now=NOW)
        except wallet.InsufficientTokens:
            continue
        if threshold and balance >= threshold > balance + amount:
            crossings.append(balance + amount)
        balance += amount
    assert [text for text, _ in notices(lead)] == [
        f"🪙 Your balance is down to <b>{b} token{'' if b == 1 else 's'}</b> (below {threshold}). "
        f"Top up now so your next order is not held up." for b in crossings]
