"""Lead intake through the real bot process."""
import time

import pytest

from models import Lead, OutboxMessage, User
from services.crm import leads
from tests.e2e.conftest import ADMIN_ID, button_labels, join_team, replies_settled, wait_until

pytestmark = pytest.mark.e2e


def test_wizard_with_bad_answers_then_every_member_notified_once(processes, emulator, chat_with):
    processes.start("bot.py")
    processes.start("scheduler.py")
    admin, member = chat_with(ADMIN_ID, "Ada"), chat_with(777, "Max")
    assert "as admin" in admin.send("/start", replies=2)["text"]
    join_team(admin, member)
    assert "Step 1/5" in admin.send("/createLead")["text"]
    assert "not a valid email" in admin.send("nope")["text"]
    assert "phone" in admin.send("ann@example.com")["text"]
    assert "country code" in admin.send("12345")["text"]
    admin.send("+44 20 7946 0958")
    admin.send("O'Neil_Smith <b>&")
    admin.send("Smith")
    summary = admin.send("United Kingdom")
    assert "First name: O'Neil_Smith <b>&" in summary["text"]  # shown literally
    assert "Saved as lead #1" in admin.press(summary, "✅ Save", contains="Saved as lead")["text"]
    # Every member but its creator is told, once, with Open (it is Ada's: no Take it).
    note = emulator.wait_for_message(member.user_id, "New lead #1")
    assert "Name: O'Neil_Smith <b>& Smith" in note["text"] and note["parse_mode"] == "HTML"
    assert "Owner: Ada" in note["text"] and button_labels(note) == ["Open"]
    notifications = OutboxMessage.select().where(OutboxMessage.key.startswith("lead:"))
    wait_until(lambda: notifications.where(OutboxMessage.status == "sent").count() == 1)
    time.sleep(0.5)  # the scheduler sends every 0.2 s: a second copy would be out by now
    notes = [m for m in emulator.sent_messages() if "New lead #1" in m["text"]]
    assert [m["chat"]["id"] for m in notes] == [member.user_id]
    assert emulator.commands["default"] and emulator.commands[f"chat:{ADMIN_ID}"]


def test_duplicate_is_refused_naming_field_and_lead(processes, emulator, chat_with):
    processes.start("bot.py")
    admin = chat_with(ADMIN_ID, "Ada")
    admin.send("/start", replies=2)
    admin.send("/createLead")
    for answer in ["ann@example.com", "+442079460958", "Ann", "Smith"]:
        admin.send(answer)
    admin.press(admin.send("gb"), "✅ Save")
    admin.send("/newlead")
    reply = admin.send("ANN@EXAMPLE.COM")["text"]
    assert "email already exists. It is #1 Ann Smith: /lead_1 opens it." in reply
    admin.send("bob@example.com")
    assert "phone already exists. It is #1" in admin.send("+44 20 7946 0958")["text"]
    assert Lead.select().count() == 1


def test_restart_mid_wizard_continues_where_it_stopped(processes, emulator, chat_with):
    bot = processes.start("bot.py")
    admin = chat_with(ADMIN_ID, "Ada")
    admin.send("/start", replies=2)
    admin.send("/createLead")
    admin.send("ann@example.com")
    wait_until(replies_settled)
    processes.kill(bot)
    processes.start("bot.py")
    assert "Step 3/5" in admin.send("+442079460958")["text"]
    admin.send("Ann")
    admin.send("Smith")
    assert "Saved as lead #1" in admin.press(admin.send("DE"), "✅ Save", contains="Saved as lead")["text"]
    assert Lead.get().country == "DE"


def test_with_the_client_inbox_off_a_stranger_is_kept_out(processes, emulator, chat_with):
    """CLIENT_INBOX=off: today's "ask for an invite" (with it on, tests/e2e/test_client_inbox.py)."""
    processes.start("bot.py", CLIENT_INBOX="off")
    processes.start("scheduler.py")
    admin, stranger = chat_with(ADMIN_ID, "Ada"), chat_with(555, "Eve")
    admin.send("/start", replies=2)
    assert "not on it yet" in stranger.send("/start")["text"]
    for text in ["/leads", "/createLead", "/find ann", "hello"]:
        assert "not on it yet" in stranger.send(text)["text"]
    admin.send("/createLead")
    for answer in ["ann@example.com", "+442079460958", "Ann", "Smith"]:
        admin.send(answer)
    admin.press(admin.send("gb"), "✅ Save")
    leads.add_lead({"email": "bob@example.com", "first_name": "Bob"})  # told to the whole team
    emulator.wait_for_message(ADMIN_ID, "New lead #2")
    assert not any("example.com" in m["text"] for m in emulator.sent_messages(555))
    assert User.get(User.telegram_id == 555).role is None
    assert emulator.commands["chat:555"] == [] or all(
        c["command"] in ("start", "help") for c in emulator.commands["chat:555"])


def test_unknown_input_gets_help_and_group_chats_get_nothing(processes, emulator, chat_with):
    processes.start("bot.py")
    admin = chat_with(ADMIN_ID, "Ada")
    admin.send("/start", replies=2)
    assert "/help" in admin.send("what is this?")["text"]
    assert "/createlead" in admin.send("/help")["text"]


def test_redelivered_update_is_handled_once_and_outages_are_waited_out(processes, emulator,
                                                                       chat_with):
    bot = processes.start("bot.py")
    admin = chat_with(ADMIN_ID, "Ada")
    admin.send("/start", replies=2)
    time.sleep(0.5)  # let the bot settle into its next long poll, which the faults must not hit
    # The poll that would confirm the next update fails, so Telegram still holds it
    # when the bot dies; the new bot must not handle it a second time.
    emulator.fail("getUpdates", "drop", times=2)
    emulator.fail("getUpdates", 502, times=2)
    assert "Step 1/5" in admin.send("/createLead")["text"]
    wait_until(replies_settled)
    processes.kill(bot)
    processes.start("bot.py")
    assert "Step 2/5" in admin.send("ann@example.com", timeout=20)["text"]
    prompts = [m for m in emulator.sent_messages(ADMIN_ID) if "Step 1/5" in m["text"]]
    assert len(prompts) == 1
    deliveries_of_command = sum(
        1 for call in emulator.calls_to("getUpdates") if call.status == 200
        for update in call.response["result"]
        if update.get("message", {}).get("text") == "/createLead")
    assert deliveries_of_command == 2  # Telegram did send it again
    statuses = [c.status for c in emulator.calls_to("getUpdates")]
    assert None in statuses and 502 in statuses  # the outage really happened


def test_a_reply_hit_by_flood_control_is_sent_after_retry_after(processes, emulator, chat_with):
    processes.start("bot.py")
    admin = chat_with(ADMIN_ID, "Ada")
    admin.send("/start", replies=2)
    emulator.fail("sendMessage", 429, retry_after=1, times=1, chat_id=ADMIN_ID)
    assert "Step 1/5" in admin.send("/createLead")["text"]
    statuses = [c.status for c in emulator.calls_to("sendMessage")][-2:]
    assert statuses == [429, 200]
