"""Crypto top-ups (issue 15) through the real processes: the bot, the scheduler and the
admin panel against the Bot API emulator and the fake OxaPay (devtools/fake_oxapay.py,
real HTTP, signed webhooks with OxaPay's retries); on SQLite and on Postgres.

A customer buys a pack from /buy: the payment is stored before the Pay link reaches
them. OxaPay's webhooks say "paying" then "paid", and "paid" arrives twice more: the
balance rises once and the customer is told once. A webhook signed with another key, or
not signed, is refused with 403 and changes nothing. A payment whose webhooks never
arrive is credited by the scheduler's polling; an invoice left to expire credits nothing
and the customer is told. A customer buys Premium from their balance, orders at the
subscriber price and goes before an earlier regular order; their balance falling low,
Premium about to end and Premium ended are each told once, across scheduler restarts.
Throughout, every balance equals its ledger and the reconciliation finds nothing.
tests/payments/, tests/chat/test_topup.py and tests/shop/test_premium.py check each part
in-process in more detail.
"""
import datetime
import signal

import pytest
import requests

from devtools.fake_oxapay import FakeOxaPay, sign
from models import CustomerProfile, LedgerEntry, Order, OutboxMessage, Payment, Wallet, utcnow
from services.core.actors import Actor
from services.payments import reconciliation
from services.shop import wallet
from tests.e2e.conftest import button_labels, replies_settled, wait_until
from tests.e2e.test_admin_browser import wait_for_page
from tests.e2e.test_shop import lead_id_of, notices

pytestmark = pytest.mark.e2e

CUSTOMER_ID = 5301
KEY = "E2E-OXAPAY-MERCHANT-KEY"


@pytest.fixture
def oxapay():
    # OxaPay waits minutes between its 5 attempts; a tenth of a second here.
    with FakeOxaPay(KEY, retry_delays=(0.1,) * 4, step_delay=0.05) as fake:
        yield fake


def payments_env(processes, oxapay, poll_seconds="30"):
    return {"SHOP": "on", "OXAPAY_MERCHANT_API_KEY": KEY, "OXAPAY_API_URL": oxapay.base_url,
            "PUBLIC_BASE_URL": processes.panel_url, "PAYMENT_POLL_SECONDS": poll_seconds}


def buy(customer, tokens, price):
    """/buy, then the pack: the invoice message and its stored payment."""
    packs = customer.ask("/buy", "Buy tokens")
    invoice = customer.press(packs, f"{tokens} tokens · {price}", contains="Invoice for")
    pay = next(button for row in invoice["reply_markup"]["inline_keyboard"] for button in row
               if button["text"].startswith("💳 Pay"))
    payment = Payment.get(Payment.pay_url == pay["url"])
    assert (payment.tokens, payment.status) == (tokens, "waiting")
    return invoice, payment


def assert_ledger_agrees():
    assert wallet.problems() == []
    assert reconciliation.summary().problems == 0


def test_a_top_up_is_credited_once_whatever_oxapay_repeats(processes_any_db, emulator, chat_with,
                                                           oxapay):
    processes = processes_any_db
    env = payments_env(processes, oxapay)
    processes.start("bot.py", **env)
    processes.start("scheduler.py", **env)
    panel = processes.start("admin.py", **env)
    wait_for_page(processes.panel_url, panel, "/login")
    customer = chat_with(CUSTOMER_ID, "Zoë")
    customer.ask("/start", "/buy")

    invoice, payment = buy(customer, 250, "$25.00")
    assert "Pay within" in invoice["text"] and "🔄 Check payment" in button_labels(invoice)
    # The invoice OxaPay made is the one stored: our reference, the amount, our webhook.
    made = oxapay.invoice(payment.track_id)
    assert (made["order_id"], made["amount"], made["currency"]) == (payment.reference, 25.0, "USD")
    assert made["callback_url"] == f"{processes.panel_url}/hooks/oxapay"
    lead = lead_id_of(CUSTOMER_ID)

    # Paying, then paid; then OxaPay delivers "paid" twice more (its retries, a duplicate).
    oxapay.pay(payment.track_id, ("paying", "paid"))
    hooks = oxapay.wait_for_webhooks(count=2, timeout=15)
    assert [(hook.status, hook.http_status, hook.response_body) for hook in hooks] == [
        ("Paying", 200, "ok"), ("Paid", 200, "ok")]
    for _ in range(2):
        again = oxapay.deliver_again(payment.track_id)
        assert (again.http_status, again.response_body) == (200, "ok")
    assert wallet.balance(lead) == 250
    assert LedgerEntry.select().where(LedgerEntry.payment == payment.id).count() == 1
    emulator.wait_for(lambda: notices(emulator, CUSTOMER_ID, "Payment received"))
    emulator.wait_for(lambda: notices(emulator, CUSTOMER_ID, "We see your payment"))
    paid = notices(emulator, CUSTOMER_ID, "Payment received")
    assert len(paid) == 1 and "+250 tokens" in paid[0]["text"]
    assert "balance is now 250 tokens" in paid[0]["text"]
    assert_ledger_agrees()

    # Forged: signed with another key, not signed at all, or a body changed after signing.
    second_invoice, second = buy(customer, 100, "$10.00")
    forged = oxapay.forged(second.track_id, "paid", key="not-our-key")
    unsigned = oxapay.forged(second.track_id, "paid", signature=None)
    assert (forged.http_status, unsigned.http_status) == (403, 403)
    body = b'{"track_id": "%s", "status": "Paid", "type": "invoice"}' % second.track_id.encode()
    tampered = requests.post(f"{processes.panel_url}/hooks/oxapay", data=body + b" ",
                             headers={"HMAC": sign(body, KEY),
                                      "Content-Type": "application/json"}, timeout=10)
    assert tampered.status_code == 403
    assert Payment.get_by_id(second.id).status == "waiting" and wallet.balance(lead) == 250

    # A payment whose webhooks never arrive: Check payment finds it paid at once.
    oxapay.lose_webhooks(second.track_id)
    oxapay.pay(second.track_id, ("paid",))
    wait_until(lambda: oxapay.invoice(second.track_id)["status"] == "paid", message="paid at OxaPay")
    checked = customer.press(second_invoice, "🔄 Check payment", contains="Paid")
    assert "100 tokens were added" in checked["text"]
    assert wallet.balance(lead) == 350
    assert_ledger_agrees()


def test_lost_webhooks_are_caught_by_polling_and_an_expired_invoice_credits_nothing(
        processes_any_db, emulator, chat_with, oxapay):
    processes = processes_any_db
    env = payments_env(processes, oxapay, poll_seconds="1")
    processes.start("bot.py", **env)
    processes.start("scheduler.py", **env)
    customer = chat_with(CUSTOMER_ID, "Zoë")
    customer.ask("/start", "/buy")
    lead = lead_id_of(CUSTOMER_ID)

    # Every webhook is lost (no panel is even running): the scheduler asks OxaPay.
    _, lost = buy(customer, 500, "$50.00")
    oxapay.lose_webhooks()
    oxapay.pay(lost.track_id, ("paying", "paid"))
    wait_until(lambda: wallet.balance(lead) == 500, timeout=30, message="credited by polling")
    emulator.wait_for(lambda: notices(emulator, CUSTOMER_ID, "Payment received"), timeout=15)
    assert any(call.path == f"/v1/payment/{lost.track_id}" for call in oxapay.calls)

    # Left unpaid until it expires: nothing credited, the customer is told, polling stops.
    _, unpaid = buy(customer, 100, "$10.00")
    oxapay.expire(unpaid.track_id)
    wait_until(lambda: Payment.get_by_id(unpaid.id).status == "expired", timeout=30,
               message="expiry noticed")
    told = emulator.wait_for(lambda: notices(emulator, CUSTOMER_ID, "expired unpaid"), timeout=15)
    assert "nothing was charged" in told[0]["text"]
    assert Payment.get_by_id(unpaid.id).next_check_at is None
    assert wallet.balance(lead) == 500
    assert len(notices(emulator, CUSTOMER_ID, "Payment received")) == 1
    assert_ledger_agrees()


REGULAR_ID, SUBSCRIBER_ID = 5302, 5303


def order(customer, profile_name, sites, price):
    """/order the package of `sites` at `price` (the customer's), without the add-on."""
    choose = customer.ask("/order", "who is it for")
    packages = customer.press(choose, profile_name, contains="which package")
    addon = customer.press(packages, f"{sites} sites · {price}", contains="email confirmation")
    summary = customer.press(addon, "No, thanks", contains="Price:")
    assert f"Price: {price} tokens" in summary["text"]
    return customer.press(summary, "✅ Confirm", contains="is confirmed")


def customer_with_profile(chat, telegram_id, name, tokens):
    chat.ask("/start", "/premium")
    lead = lead_id_of(telegram_id)
    CustomerProfile.create(lead=lead, first_name=name, last_name="Kowalska", email="z@example.com")
    wallet.adjust(Actor.panel(), lead, tokens, "Paid by bank transfer")
    return lead


def test_a_subscriber_pays_less_goes_first_and_is_alerted_once(processes_any_db, emulator, chat_with):
    processes = processes_any_db
    env = {"SHOP": "on", "LOW_BALANCE_TOKENS": "200", "SUBSCRIPTION_PRICE_TOKENS": "300"}
    processes.start("bot.py", **env)
    scheduler = processes.start("scheduler.py", **env)
    regular, subscriber = chat_with(REGULAR_ID, "Rita"), chat_with(SUBSCRIBER_ID, "Sam")
    customer_with_profile(regular, REGULAR_ID, "Rita", 1000)
    lead = customer_with_profile(subscriber, SUBSCRIBER_ID, "Sam", 600)

    # A regular customer orders first, at the regular price.
    order(regular, "Rita Kowalska", 250, 250)

    # Premium from the balance, confirmed; then the subscriber price and the front of the queue.
    offer = subscriber.ask("/premium", "Price:")
    bought = subscriber.press(offer, "✅ Subscribe for 300 tokens", contains="Premium is yours")
    assert "your orders go first" in bought["text"] and wallet.balance(lead) == 300
    placed = order(subscriber, "Sam Kowalska", 250, 150)
    assert "position in the queue: 1" in placed["text"]
    ordered = Order.select().where(Order.lead == lead).get()
    assert (ordered.price, ordered.priority, ordered.subscriber_price) == (150, True, True)
    assert "position 2" in regular.ask("/orders", "Your orders")["text"]

    # 300 -> 150 crosses LOW_BALANCE_TOKENS (200): told once; 150 -> 90 stays below: not again.
    emulator.wait_for(lambda: notices(emulator, SUBSCRIBER_ID, "Your balance is down to"), timeout=15)
    order(subscriber, "Sam Kowalska", 100, 60)
    assert wallet.balance(lead) == 90

    # Premium ending in two days: the scheduler warns once, across restarts; then it ends.
    def restart_scheduler(previous):
        processes.kill(previous, signal.SIGTERM)
        return processes.start("scheduler.py", **env)
    Wallet.update(premium_until=utcnow() + datetime.timedelta(days=2)).where(
        Wallet.lead == lead).execute()
    scheduler = restart_scheduler(scheduler)
    warned = emulator.wait_for(lambda: notices(emulator, SUBSCRIBER_ID, "Your Premium ends on"),
                               timeout=15)
    assert button_labels(warned[0]) == ["⭐ Renew Premium"]
    scheduler = restart_scheduler(scheduler)
    Wallet.update(premium_until=utcnow() - datetime.timedelta(minutes=1)).where(
        Wallet.lead == lead).execute()
    scheduler = restart_scheduler(scheduler)
    emulator.wait_for(lambda: notices(emulator, SUBSCRIBER_ID, "Your Premium has ended"), timeout=15)
    restart_scheduler(scheduler)
    wait_until(replies_settled, message="the notices sent")
    wait_until(lambda: not OutboxMessage.select().where(OutboxMessage.status == "pending").exists(),
               message="the scheduler's notices sent")
    for text in ("Your balance is down to", "Your Premium ends on", "Your Premium has ended"):
        assert len(notices(emulator, SUBSCRIBER_ID, text)) == 1, text
    assert_ledger_agrees()
