"""bot.py's own duties, in-process against the emulator: failures, dedupe, menus, replies."""
import datetime
import json
import logging
import time

import pytest
from peewee import OperationalError
from telebot import apihelper, types

import bot
from devtools.telegram_emulator import TelegramEmulator
from models import Lead, Message, OutboxMessage, ProcessedUpdate, User, utcnow
from services.chat import router as chat
from services.core.config import load_settings
from services.crm import team
from services.delivery.pacing import Pacer
from services.delivery.sender import DeliveryPolicy

TOKEN = "4242:ADAPTER"


@pytest.fixture
def emulator(monkeypatch):
    emu = TelegramEmulator(token=TOKEN, bot_username="adapter_bot")
    emu.start()
    monkeypatch.setattr(apihelper, "API_URL", emu.base_url + "/bot{0}/{1}")
    yield emu
    emu.stop()
    assert emu.violations == []


@pytest.fixture
def leadgram(sqlite_db, emulator):
    settings = load_settings({"TELEGRAM_BOT_TOKEN": TOKEN, "ADMIN_TELEGRAM_IDS": "1",
                              "TELEGRAM_API_URL": emulator.base_url})
    return quick(bot.LeadgramBot(settings, "adapter_bot"))


def quick(leadgram):
    """The adapter's duties, not Telegram's pace (tests/test_pacing.py): a short chat gap."""
    leadgram.delivery = DeliveryPolicy(per_chat_gap=0.02)
    leadgram.pacer = Pacer(leadgram.delivery)
    return leadgram


def receive(leadgram, update):
    assert leadgram.process_new_updates([types.Update.de_json(update)])


def handle(leadgram, update):
    receive(leadgram, update)
    settle(leadgram)


def settle(leadgram, timeout=5):
    """Send every reply, as the sender threads and the sweep do between them."""
    deadline = time.monotonic() + timeout
    leadgram.replies.drain()
    waiting = OutboxMessage.select().where(OutboxMessage.status == "pending",
                                           OutboxMessage.expires_at.is_null(False))  # not notifications
    while waiting.exists():
        assert time.monotonic() < deadline, "replies still waiting"
        time.sleep(0.02)
        leadgram.sweep()
        leadgram.replies.drain()


def boom(*args, **kwargs):
    raise RuntimeError("boom")


def test_each_update_is_handled_once(leadgram, emulator):
    update = emulator.user_sends(1, "/help")
    handle(leadgram, update)
    handle(leadgram, update)
    assert len(emulator.sent_messages(1)) == 1
    assert ProcessedUpdate.select().count() == 1


def test_a_failing_service_apologises_and_the_next_update_works(leadgram, emulator, monkeypatch):
    handle(leadgram, emulator.user_sends(1, "/start"))
    with monkeypatch.context() as patch:
        patch.setattr(chat, "on_text", boom)
        handle(leadgram, emulator.user_sends(1, "/leads"))
    assert emulator.sent_messages(1)[-1]["text"] == bot.SORRY
    handle(leadgram, emulator.user_sends(1, "/notify off"))
    assert "now off" in emulator.sent_messages(1)[-1]["text"]


def test_a_failure_outside_the_services_rolls_back_and_apologises(leadgram, emulator, monkeypatch):
    monkeypatch.setattr(team, "register", boom)
    update = emulator.user_sends(1, "/start")
    handle(leadgram, update)
    assert emulator.sent_messages(1)[-1]["text"] == bot.SORRY
    assert ProcessedUpdate.select().count() == 0  # so a redelivery is handled
    assert User.select().count() == 0


def test_save_turns_the_summary_into_the_confirmation(leadgram, emulator):
    handle(leadgram, emulator.user_sends(1, "/createLead"))
    for answer in ["ann@example.com", "+442079460958", "Ann", "Smith", "gb"]:
        handle(leadgram, emulator.user_sends(1, answer))
    summary = emulator.sent_messages(1)[-1]
    handle(leadgram, emulator.user_presses(1, summary["message_id"], "wiz:save"))
    edited = emulator.sent_messages(1)[-1]
    assert edited["message_id"] == summary["message_id"]
    assert "Saved as lead #1" in edited["text"] and "Email: ann@example.com" in edited["text"]
    assert not edited.get("reply_markup")


def test_a_stale_button_loses_its_keyboard_and_gets_a_new_answer(leadgram, emulator):
    handle(leadgram, emulator.user_sends(1, "/team"))
    listing = emulator.sent_messages(1)[-1]
    handle(leadgram, emulator.user_presses(1, listing["message_id"], "gone:1",
                                           require_button=False))
    messages = emulator.sent_messages(1)
    assert messages[-1]["text"] == "That button is no longer valid."
    assert not messages[-2].get("reply_markup")


def test_group_chats_are_ignored(leadgram, emulator):
    update = emulator.user_sends(1, "/leads")
    update["message"]["chat"] = {"id": -100, "type": "group", "title": "Team"}
    emulator.add_user(-100)
    handle(leadgram, update)
    assert emulator.sent_messages(-100) == [] and emulator.sent_messages(1) == []
    assert Lead.select().count() == 0   # nobody in a group becomes a client either


def test_menu_matches_the_role(leadgram, emulator):
    member = team.register(7, first_name="M")
    leadgram.publish_menu(member)   # not on the team: a client
    assert [c["command"] for c in emulator.commands["chat:7"]] == ["start", "help", "stop"]
    admin = team.register(1, first_name="A", admin_ids={1})
    leadgram.publish_menu(admin)
    assert "invite" in [c["command"] for c in emulator.commands["chat:1"]]


def test_a_batch_that_cannot_be_saved_is_reported_for_fetching_again(leadgram, emulator,
                                                                     monkeypatch, sqlite_db):
    batch = [types.Update.de_json(emulator.user_sends(1, "/notify off"))]

    def refuse():
        raise RuntimeError("disk full")
    with monkeypatch.context() as patch:
        patch.setattr(sqlite_db, "commit", refuse)
        assert leadgram.process_new_updates(batch) is False
    leadgram.replies.drain()
    assert emulator.sent_messages(1) == [] and ProcessedUpdate.select().count() == 0
    assert leadgram.process_new_updates(batch) is True
    leadgram.replies.drain()
    assert "now off" in emulator.sent_messages(1)[-1]["text"]


def test_replies_are_stored_with_the_update_and_sent_by_the_next_bot(leadgram, emulator,
                                                                     monkeypatch):
    """The bot dies after the commit, before sending: its successor sends each reply once."""
    with monkeypatch.context() as patch:
        patch.setattr(leadgram.replies, "flush", lambda chat_id, send: None)  # never sent
        receive(leadgram, emulator.user_sends(1, "/start"))
        receive(leadgram, emulator.user_sends(1, "/notify off"))
    assert emulator.sent_messages(1) == []
    assert {m.status for m in OutboxMessage.select()} == {"pending"}
    successor = quick(bot.LeadgramBot(leadgram.ctx.settings, "adapter_bot"))
    settle(successor)
    texts = [m["text"] for m in emulator.sent_messages(1)]
    assert len(texts) == 3 and "now off" in texts[-1]
    assert {m.status for m in OutboxMessage.select()} == {"sent"}


def test_a_reply_left_unsent_too_long_is_dropped(leadgram, emulator, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(leadgram.replies, "flush", lambda chat_id, send: None)
        receive(leadgram, emulator.user_sends(1, "/help"))
    OutboxMessage.update(expires_at=utcnow() - datetime.timedelta(seconds=1)).execute()
    leadgram.sweep()
    leadgram.replies.drain()
    assert emulator.sent_messages(1) == []
    row = OutboxMessage.get()
    assert row.status == "expired" and "not sent in time" in row.last_error


def test_a_pressed_button_edits_its_message_through_the_queue(leadgram, emulator):
    handle(leadgram, emulator.user_sends(1, "/team"))
    listing = emulator.sent_messages(1)[-1]
    handle(leadgram, emulator.user_presses(1, listing["message_id"], "gone:1",
                                           require_button=False))
    edits = OutboxMessage.select().where(OutboxMessage.edit_message_id == listing["message_id"])
    assert [(m.text, m.status) for m in edits] == [("", "sent")]  # its keyboard removed
    assert [c.status for c in emulator.calls_to("editMessageReplyMarkup")] == [200]


def test_a_batch_the_database_rolled_back_by_itself_is_fetched_again(leadgram, emulator,
                                                                     monkeypatch, sqlite_db):
    """SQLite undoes the whole transaction on a disk I/O error, and the next update's
    SAVEPOINT quietly opens a new one: the batch must not be confirmed as if it were saved."""
    batch = [types.Update.de_json(emulator.user_sends(1, text))
             for text in ("/start", "/help", "/notify off")]
    real = chat.on_text

    def disk_fails(ctx, user, text):
        if text == "/help":
            sqlite_db.connection().rollback()  # what SQLite does after SQLITE_IOERR
            raise OperationalError("disk I/O error")
        return real(ctx, user, text)
    with monkeypatch.context() as patch:
        patch.setattr(chat, "on_text", disk_fails)
        assert leadgram.process_new_updates(batch) is False
    leadgram.replies.drain()
    assert ProcessedUpdate.select().count() == 0 and User.select().count() == 0
    assert leadgram.process_new_updates(batch) is True
    leadgram.replies.drain()
    assert ProcessedUpdate.select().count() == 3


def test_housekeeping_failures_are_logged_once_and_retried(leadgram, monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="leadgram.bot")
    tries = []

    def sweep():
        tries.append(1)
        if len(tries) <= 3:
            raise OperationalError("attempt to write a readonly database")
    monkeypatch.setattr(leadgram, "sweep", sweep)
    monkeypatch.setattr(bot, "SWEEP_SECONDS", 0.01)
    keeper = bot.Housekeeper(leadgram)
    keeper.start()
    deadline = time.monotonic() + 5
    while len(tries) < 6 and time.monotonic() < deadline:
        time.sleep(0.01)
    keeper.stopped.set()
    keeper.join(timeout=5)
    assert len(tries) >= 6 and not keeper.is_alive()
    assert caplog.text.count("housekeeping failed") == 1
    assert "readonly" in caplog.text and "housekeeping works again" in caplog.text


def test_a_clients_media_and_the_teams_answer_travel_through_the_bot(leadgram, emulator):
    """Telegram's message types become Incoming: attachments stored with their file ids,
    captions as text; the admin's Telegram reply to the alert is copied to the client."""
    handle(leadgram, emulator.user_sends(1, "/start", first_name="Ada"))   # the admin
    update = emulator.user_sends_media(500, "photo", caption="my <receipt>")
    handle(leadgram, update)
    handle(leadgram, emulator.user_sends_media(500, "location", latitude=50.45, longitude=30.52))
    handle(leadgram, emulator.user_sends_media(500, "voice"))
    stored = [(m.text, json.loads(m.attachments))
              for m in Message.select().where(Message.direction == "in").order_by(Message.id)]
    assert [(text, [a["kind"] for a in items]) for text, items in stored] == [
        ("my <receipt>", ["photo"]), (None, ["location"]), (None, ["voice"])]
    largest = update["message"]["photo"][-1]
    assert (stored[0][1][0]["file_id"], stored[0][1][0]["width"]) == (largest["file_id"],
                                                                      largest["width"])
    assert stored[1][1][0]["latitude"] == 50.45
    alert = emulator.wait_for_message(1, contains="📎 photo my <receipt>")
    assert [b["text"] for b in alert["reply_markup"]["inline_keyboard"][0]] == [
        "↩️ Reply", "📖 Open", "✋ Take"]
    answer = emulator.user_sends_media(1, "sticker", reply_to_message_id=alert["message_id"])
    handle(leadgram, answer)
    settle(leadgram)
    copied = [m for m in emulator.sent_messages(500) if m.get("sent_with") == "copyMessage"]
    assert len(copied) == 1 and copied[0]["sticker"]["emoji"] == "👍"
    # The admin's sticker gets the bot's 👌, and no "sent" message takes a place in the chat.
    (reaction,) = emulator.calls_to("setMessageReaction")
    assert (reaction.params["chat_id"], reaction.params["message_id"], reaction.status) == (
        1, answer["message"]["message_id"], 200)
    assert "👌" in str(reaction.params["reaction"])
    assert emulator.sent_messages(1)[-1]["message_id"] == alert["message_id"]


def test_a_chat_within_its_gap_is_sent_to_when_the_gap_ends_without_waiting_for_a_sweep(
        leadgram, emulator):
    """No housekeeper runs here: the second answer goes out only because the first send
    left a timer for the end of the chat's gap."""
    leadgram.delivery = DeliveryPolicy(per_chat_gap=0.6)
    leadgram.pacer = Pacer(leadgram.delivery)
    handle(leadgram, emulator.user_sends(1, "/start", first_name="Ada"))
    before = len(emulator.sent_messages(1))
    receive(leadgram, emulator.user_sends(1, "/help"))
    receive(leadgram, emulator.user_sends(1, "/notify"))
    leadgram.replies.drain()
    sends = emulator.wait_for(lambda: len(emulator.calls_to("sendMessage")) >= before + 2
                              and emulator.calls_to("sendMessage")[-2:], timeout=3)
    assert "notifications are" in sends[1].params["text"]
    assert 0.55 <= sends[1].at - sends[0].at < 1.0
