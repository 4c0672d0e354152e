"""Customers hear about their orders and balance in their conversation
(services/shop/notifications.py), on SQLite and Postgres."""
import logging

import pytest

from models import Message, Order, OutboxMessage, Package, User
from services.inbox import consent
from services.shop import orders, wallet
from tests.shop.conftest import NOW, PANEL


def told(lead):
    """(html sent, plain text kept) of the notices to the customer, oldest first."""
    user = User.get(User.telegram_id == int(lead.contact("telegram")))
    rows = (Message.select(Message, OutboxMessage).join(OutboxMessage)
            .where(OutboxMessage.recipient == user.id, Message.sender_kind == "system")
            .order_by(Message.id))
    return [(m.outbox.text, m.text) for m in rows]


@pytest.fixture
def tricky(package):
    Package.update(name="100 <b>sites</b> & more").where(Package.id == package.id).execute()
    return package


def test_the_customer_hears_of_each_change_of_their_order(customer, tricky, staff):
    actor, lead, profile = customer(tokens=300)
    order = orders.place(actor, lead.id, profile.id, tricky.id, now=NOW)
    assert told(lead) == []   # the chat that took the order confirmed it
    orders.take(staff["olga"], order.id, now=NOW)
    orders.release(staff["olga"], order.id, now=NOW)
    orders.cancel(PANEL, order.id, now=NOW)
    sent = told(lead)
    assert [html for html, _ in sent] == [
        f"👷 An operator is now working on your order #{order.id} "
        "(<b>100 &lt;b&gt;sites&lt;/b&gt; &amp; more</b>).",
        f"⏳ Your order #{order.id} (<b>100 &lt;b&gt;sites&lt;/b&gt; &amp; more</b>) is being "
        "processed. It is number 1 in the queue.",
        f"❌ Your order #{order.id} (<b>100 &lt;b&gt;sites&lt;/b&gt; &amp; more</b>) was cancelled. "
        "100 tokens went back to your balance."]
    assert sent[2][1] == (f"❌ Your order #{order.id} (100 <b>sites</b> & more) was cancelled. "
                          "100 tokens went back to your balance.")
    message = Message.select().where(Message.sender_kind == "system").first()
    assert (message.direction, message.sender_label) == ("out", "Leadgram (shop)")


def test_an_order_placed_for_the_customer_and_an_adjustment_are_announced(customer, package):
    _, lead, profile = customer(tokens=300)
    order = orders.place(PANEL, lead.id, profile.id, package.id, now=NOW)
    wallet.adjust(PANEL, lead.id, -50, "a <typo> corrected", now=NOW)
    assert [html for html, _ in told(lead)] == [
        f"🧾 Order #{order.id} for <b>100 sites</b> was placed for you (100 tokens). "
        "It is number 1 in the queue.",
        "💰 50 tokens taken from your balance: a &lt;typo&gt; corrected. Your balance is now 150 tokens."]


def test_a_customer_who_sent_stop_and_then_orders_hears_of_the_order_again(customer, package,
                                                                         staff):
    actor, lead, profile = customer(tokens=300)
    consent.opt_out(actor, lead, "telegram", actor.user.telegram_id, NOW)
    order = orders.place(actor, lead.id, profile.id, package.id, now=NOW)
    assert not consent.opted_out(lead.id, "telegram", actor.user.telegram_id)
    orders.take(staff["olga"], order.id, now=NOW)
    assert [plain for _, plain in told(lead)] == [
        f"👷 An operator is now working on your order #{order.id} (100 sites)."]


def test_an_operator_hears_of_an_order_someone_else_gave_them(customer, package, staff):
    actor, lead, profile = customer(tokens=300)
    given, taken = (orders.place(actor, lead.id, profile.id, package.id, now=NOW) for _ in range(2))
    orders.assign(PANEL, given.id, staff["oscar"].user.id, now=NOW)
    orders.take(staff["olga"], taken.id, now=NOW)   # her own doing: nothing to tell her
    rows = OutboxMessage.select().where(OutboxMessage.key.contains(":given:"))
    assert [(row.recipient_id, row.text) for row in rows] == [
        (staff["oscar"].user.id, f"📂 Order #{given.id} (<b>100 sites</b>) is yours now: "
                                 "admin panel (admin) gave it to you. /queue shows it.")]


def test_operators_who_want_them_hear_of_each_new_order(customer, package, staff, make_user):
    actor, lead, profile = customer(tokens=1000)
    quiet = make_user("operator", first_name="Quiet")
    User.update(notify=False).where(User.id == quiet.id).execute()
    Package.update(name="100 <b>sites</b>").where(Package.id == package.id).execute()
    order = orders.place(actor, lead.id, profile.id, package.id, email_confirmation=True, now=NOW)
    alerts = OutboxMessage.select().where(OutboxMessage.key.startswith(f"order:{order.id}:to:"))
    operators = {staff["olga"].user.id, staff["oscar"].user.id}
    assert {row.recipient_id for row in alerts} == operators   # not the quiet one, nor sales
    assert alerts[0].text == (f"🧾 New order #{order.id}: <b>100 &lt;b&gt;sites&lt;/b&gt;</b> + "
                              "email confirmation. /queue shows the queue.")
    orders.take(staff["olga"], order.id, now=NOW)
    orders.complete(staff["olga"], order.id, now=NOW)
    wallet.set_premium(PANEL, lead.id, NOW.replace(year=2099), now=NOW)
    rerun = orders.rerun(actor, order.id, now=NOW)
    texts = {row.text for row in OutboxMessage.select().where(
        OutboxMessage.key.startswith(f"order:{rerun.id}:to:"))}
    assert texts == {f"🧾 New order #{rerun.id} (a rerun of #{order.id}): <b>100 &lt;b&gt;sites"
                     "&lt;/b&gt;</b> + email confirmation · ⭐ priority. /queue shows the queue."}


def test_a_customer_who_cannot_be_reached_still_gets_their_order_done(customer, package, staff,
                                                                      caplog):
    actor, lead, profile = customer(tokens=100)
    order = orders.place(actor, lead.id, profile.id, package.id, now=NOW)
    before = told(lead)   # the order took the balance below LOW_BALANCE_TOKENS: said then
    consent.opt_out(actor, lead, "telegram", actor.user.telegram_id, NOW)
    with caplog.at_level(logging.INFO, logger="leadgram.inbox"):
        cancelled = orders.cancel(PANEL, order.id, now=NOW)
    assert cancelled.status == "cancelled" and wallet.balance(lead.id) == 100
    assert told(lead) == before and Order.get_by_id(order.id).status == "cancelled"
    assert f"client #{lead.id} was not told" in caplog.text and "asked not to get messages" in caplog.text
