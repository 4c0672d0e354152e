"""The shop (issue 12) through the real processes: the bot, the scheduler and the admin
panel, over HTTP, against the Bot API emulator; on SQLite and on Postgres.

A customer registers a profile (with Skips and a /back) and the bot is killed mid-form;
the form goes on after the restart. An admin tops the customer up in the panel; the
customer orders with too few tokens and with enough, and sees the queue position. An
operator takes the order from /queue and completes it; the customer hears of each step.
An admin cancels a second, pending order in the panel and the refund shows in /tokens.
tests/chat/test_registration.py, test_ordering.py and test_operator_queue.py check each
step in-process in more detail.
"""
import signal

import pytest
from cryptography.fernet import Fernet

import models
from models import Contact, CustomerProfile, LedgerEntry, Order
from services.shop import wallet
from tests.e2e.conftest import (
    ADMIN_ID,
    button_labels,
    join_team,
    panel_session,
    replies_settled,
    wait_until,
)
from tests.e2e.test_admin_browser import wait_for_page

pytestmark = pytest.mark.e2e

OPERATOR_ID, CUSTOMER_ID = 900004, 5101
KEY = Fernet.generate_key().decode()
SHOP = {"SHOP": "on", "DATA_ENCRYPTION_KEY": KEY}


@pytest.fixture
def shop_key():
    """The processes' data key, also in this process: the test reads the profile's password."""
    models.use_data_key(KEY)
    yield
    models.use_data_key("")


def lead_id_of(telegram_id):
    return Contact.get(Contact.kind == "telegram", Contact.value == str(telegram_id)).lead_id


def notices(emulator, chat_id, contains):
    return [m for m in emulator.sent_messages(chat_id) if contains in m.get("text", "")]


def test_a_customer_registers_orders_and_is_served(processes_any_db, emulator, chat_with, shop_key):
    processes = processes_any_db
    bot = processes.start("bot.py", **SHOP)
    processes.start("scheduler.py", **SHOP)
    panel = processes.start("admin.py", **SHOP)
    admin, operator = chat_with(ADMIN_ID, "Ada"), chat_with(OPERATOR_ID, "Olga")
    customer = chat_with(CUSTOMER_ID, "Zoë")
    emulator.add_user(CUSTOMER_ID, first_name="Zoë", username="zoe_k")
    assert "as admin" in admin.send("/start", replies=2)["text"]
    join_team(admin, operator, "operator")

    # The customer's menu: the shop's commands, and buttons under /start.
    start = customer.ask("/start", "/register")
    assert button_labels(start)[:4] == ["📝 Register", "🛒 New order", "📦 My orders", "🪙 Tokens"]
    wait_until(lambda: [c["command"] for c in emulator.commands.get(f"chat:{CUSTOMER_ID}", [])][:5]
               == ["start", "help", "stop", "register", "order"], message="the customer's menu")

    # Registration: a Skip, a /back, then the bot dies mid-form and comes back.
    assert "Step 1/16" in customer.ask("/register", "first name")["text"]
    middle = customer.ask("Zoë", "middle name")
    last = customer.press(middle, "Skip", contains="last name")
    assert "Step 3/16" in last["text"]
    customer.ask("Kowalski", "phone number")
    assert "Step 3/16" in customer.ask("/back", "last name")["text"]
    customer.ask("Kowalska", "phone number")
    customer.ask("+1 650 253 0000", "email")
    wait_until(replies_settled, message="the bot's answers sent")
    processes.kill(bot)
    bot = processes.start("bot.py", **SHOP)
    gender = customer.ask("zoe@example.com", "gender")   # the same form, after the restart
    assert "Step 6/16" in gender["text"]
    customer.press(gender, "Female", contains="date of birth")
    country = customer.ask("1990-03-25", "country")
    customer.press(country, "Keep United States", contains="street address")
    apartment = customer.ask("1600 Amphitheatre Pkwy", "apartment")
    customer.press(apartment, "Skip", contains="city")
    state = customer.ask("Mountain View", "state")
    customer.press(state, "California", contains="ZIP code")
    assert "not a valid ZIP code for California" in customer.ask("10001", "ZIP")["text"]
    telegram = customer.ask("94043", "Telegram username")
    instagram = customer.press(telegram, "Use @zoe_k", contains="Instagram")
    password = customer.press(instagram, "Skip", contains="password")
    summary = customer.press(password, "🎲 Generate", contains="Check the profile")
    assert "Password: ••• (generated)" in summary["text"] and "Middle name: —" in summary["text"]
    saved = customer.press(summary, "✅ Save", contains="Saved as profile")
    profile = CustomerProfile.get()
    assert (profile.first_name, profile.last_name, profile.state, profile.postal_code) == (
        "Zoë", "Kowalska", "US-CA", "94043")
    assert len(profile.password) == 14 and "/order" in saved["text"]
    lead = lead_id_of(CUSTOMER_ID)

    # Too few tokens: the shortfall and Top up.
    def summary_for(sites):
        choose = customer.ask("/order", "who is it for")
        packages = customer.press(choose, "Zoë Kowalska", contains="100 sites")
        addon = customer.press(packages, f"{sites} sites · {sites}", contains="email confirmation")
        return customer.press(addon, "No, thanks", contains="Price:")
    short = summary_for(250)
    assert "Your balance: 0 tokens: 250 tokens short." in short["text"]
    refused = customer.press(short, "✅ Confirm", contains="Not enough tokens")
    assert "you need 150" not in refused["text"] and "need 250 more" in refused["text"]
    assert button_labels(refused)[0] == "🪙 Top up" and not Order.select().exists()

    # An admin tops the customer up in the panel; the customer is told.
    wait_for_page(processes.panel_url, panel, "/login")
    session, csrf = panel_session(processes.panel_url)
    adjusted = session.post(f"{processes.panel_url}/customers/adjust/", data={
        "id": lead, "amount": "400", "kind": "adjustment", "reason": "Paid by bank transfer",
        "csrf_token": csrf(f"/customers/details/?id={lead}")}, timeout=10)
    assert adjusted.status_code == 200 and "Paid by bank transfer" in adjusted.text
    told = emulator.wait_for(lambda: notices(emulator, CUSTOMER_ID, "Paid by bank transfer"))
    assert "400" in told[0]["text"]

    # Enough tokens now: the order is placed and queued; a second one waits behind it.
    placed = customer.press(refused, "🔁 Try again", contains="is confirmed")
    first = Order.get()
    assert f"Order #{first.id} is confirmed" in placed["text"]
    assert "position in the queue: 1" in placed["text"]
    second_summary = summary_for(100)
    customer.press(second_summary, "✅ Confirm", contains="position in the queue: 2")
    second = Order.select().order_by(Order.id.desc()).get()
    assert wallet.balance(lead) == 400 - 250 - 100
    listing = customer.ask("/orders", "Your orders")["text"]
    assert "position 1" in listing and "position 2" in listing

    # The operator takes the first order and completes it; the customer hears of both.
    queue = operator.ask("/queue", f"#{first.id}")
    card = operator.press(queue, f"✋ Take #{first.id}", contains="is yours now")
    assert "Last name: Kowalska" in card["text"] and "Password: •••" in card["text"]
    emulator.wait_for(lambda: notices(emulator, CUSTOMER_ID, f"#{first.id}") and any(
        "operator" in m["text"] for m in notices(emulator, CUSTOMER_ID, f"#{first.id}")))
    shown = operator.press(card, "🔑 Show password", contains="Password:")
    assert profile.password in shown["text"]
    ask_note = operator.press(shown, "✅ Complete", contains="note")
    assert "/skip" in ask_note["text"]
    operator.ask("Done: 250 sites submitted", "is complete")
    assert Order.get_by_id(first.id).status == "completed"
    emulator.wait_for(lambda: notices(emulator, CUSTOMER_ID, "is complete"))
    assert "position 1" in customer.ask("/orders", "Your orders")["text"]  # the second moved up

    # An admin cancels the second (pending) order in the panel: refunded, and /tokens says so.
    confirm = f"/orders/status/?id={second.id}&to=cancelled"
    cancelled = session.post(f"{processes.panel_url}/orders/status/", data={
        "id": second.id, "to": "cancelled", "csrf_token": csrf(confirm)}, timeout=10)
    assert cancelled.status_code == 200 and "went back to the customer" in cancelled.text
    assert Order.get_by_id(second.id).status == "cancelled"
    emulator.wait_for(lambda: notices(emulator, CUSTOMER_ID, "was cancelled"))
    tokens = customer.ask("/tokens", "Your balance")["text"]
    assert "Your balance: 150 tokens" in tokens and "+100" in tokens
    assert [e.kind for e in LedgerEntry.select().order_by(LedgerEntry.id)] == [
        "adjustment", "order", "order", "refund"]
    assert wallet.problems() == []
    processes.kill(bot, signal.SIGTERM)
