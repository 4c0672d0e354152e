"""Client conversations (issue 11) through the real bot and scheduler processes.

People who are not on the team write to the bot; the team answers them from Telegram.
tests/chat/test_inbox.py checks the same flows in-process; here they go over HTTP
through the Bot API emulator, with the bot's own sending, its restarts and its crashes.

Both tests run on SQLite and on Postgres (`processes_any_db`; Postgres is skipped, with
the reason, when no server answers).

Not repeated here: a scheduler killed with SIGKILL while notifications are queued
loses none and sends at most the one in flight twice: test_delivery.py::
test_scheduler_killed_mid_batch_loses_nothing. The scheduler runs beside the bot in
the first test to show it leaves the bot's rows (alerts, relays, replies) alone: every
client message is counted exactly.
"""
import json
import signal

import pytest

from models import Contact, Conversation, Lead, Message, OutboxMessage, User
from services.chat import buttons
from services.core.actors import Actor
from services.inbox import templates
from tests.e2e.conftest import (
    ADMIN_ID,
    button_labels,
    join_team,
    replies_settled,
    user_sends_in_group,
    wait_until,
)

pytestmark = pytest.mark.e2e

DISPATCHER_ID, SALES_ID = 900002, 900003
ZOE, MAX = 5001, 5002          # two clients; Max has no last name
STRANGER_IN_GROUP, GROUP = 5003, -100777
COMPANY = "Acme & Sons"        # an ampersand the emulator refuses unless escaped
ALERT_BUTTONS = ["↩️ Reply", "📖 Open", "✋ Take"]
# A template whose placeholder has no value for Max (no last name): the fallback shows.
FALLBACK_TEMPLATE = "Dear {last_name|friend}, R&D <team> says hi"


def welcome(first_name):
    return (f"Hi {first_name}! Thanks for writing to {COMPANY}. Someone from the team will "
            f"answer you here shortly.")


CLIENT_HELP = (f"This is the chat with {COMPANY}. Write your question here, send photos or "
               f"files, and someone from the team will answer you in this chat.\n\n"
               f"/help — this message\n/stop — stop messages from us (write again to resume)")
CLIENT_MENU = ["start", "help", "stop"]


def received(emulator, chat_id):
    """What the bot sent the chat, as the person sees it ("[photo] caption" for media)."""
    return [text for who, text in emulator.transcript(chat_id) if who == "bot"]


def alerts(emulator, chat_id, about=""):
    return [m for m in emulator.sent_messages(chat_id)
            if m.get("text", "").startswith("💬") and about in m["text"]]


def conversation_of(telegram_id):
    lead = (Lead.select().join(Contact)
            .where(Contact.kind == "telegram", Contact.value == str(telegram_id)).get())
    return Conversation.get(Conversation.lead == lead)


def line_of(listing, conversation_id):
    """The /chats line of one conversation."""
    return next(line for line in listing["text"].splitlines()
                if line.startswith(f"#{conversation_id} "))


def writes(emulator, chat, text=None, media=None, reply_to=None, expect=None, **fields):
    """A member's message (text, or media with `text` as caption), optionally a Telegram
    reply. Returns it and the bot's answer: its first new message containing `expect`, or
    without `expect` its 👌 reaction on the member's message (relayed, no message used)."""
    seen = len(chat.bot_messages())
    if media:
        update = emulator.user_sends_media(chat.user_id, media, caption=text,
                                           reply_to_message_id=reply_to, **fields)
    else:
        update = emulator.user_sends(chat.user_id, text, reply_to_message_id=reply_to)
    sent = update["message"]
    if expect is None:
        return sent, emulator.wait_for(lambda: next(
            (call for call in emulator.calls_to("setMessageReaction")
             if (call.params["chat_id"], call.params["message_id"], call.status)
             == (chat.user_id, sent["message_id"], 200)), None))
    answer = emulator.wait_for(lambda: next(
        (m for m in chat.bot_messages()[seen:] if expect in m.get("text", "")), None))
    return sent, answer


def client_gets(emulator, chat_id, count):
    """Wait until the client has `count` messages from the bot; return them."""
    return emulator.wait_for(lambda: len(emulator.sent_messages(chat_id)) >= count
                             and emulator.sent_messages(chat_id))


def test_clients_write_in_and_the_team_answers(processes_any_db, emulator, chat_with):
    """Steps numbered as in issue 11's test plan. 4b (a client's photo) comes early since
    a member hears of one client at most once a minute, and 9 before 8 since a client who
    writes again is reachable again."""
    processes = processes_any_db
    templates.save(Actor.panel(), "fallback_hi", FALLBACK_TEMPLATE)
    processes.start("bot.py", COMPANY_NAME=COMPANY)
    processes.start("scheduler.py", COMPANY_NAME=COMPANY)
    admin, dispatcher, sales = (chat_with(ADMIN_ID, "Ada"), chat_with(DISPATCHER_ID, "Dina"),
                                chat_with(SALES_ID, "Sam"))

    # The team: an admin from ADMIN_TELEGRAM_IDS, a dispatcher and a salesperson invited.
    assert "as admin" in admin.send("/start", replies=2)["text"]
    join_team(admin, dispatcher, "dispatcher")
    join_team(admin, sales, "sales")

    # 1. A client's first message makes the client, greets them once, and alerts the
    #    admin and the dispatcher (nobody owns the client yet), not the salesperson.
    emulator.user_sends(ZOE, "Hi, do you ship to Kyiv? A&B <3", first_name="Zoë",
                        last_name="<Client>", username="zoe")
    assert emulator.wait_for_message(ZOE, "Thanks for writing")["text"] == welcome("Zoë")
    zoe_alert = {}
    for member in (ADMIN_ID, DISPATCHER_ID):
        zoe_alert[member] = emulator.wait_for(lambda m=member: alerts(emulator, m, "Zoë"))[0]
        assert zoe_alert[member]["text"].startswith("💬 Zoë <Client> · client #")
        assert "no owner yet\nHi, do you ship to Kyiv? A&B <3" in zoe_alert[member]["text"]
        assert button_labels(zoe_alert[member]) == ALERT_BUTTONS
    conversation = conversation_of(ZOE)
    lead = conversation.lead
    assert (lead.first_name, lead.last_name, lead.source, lead.owner_id) == (
        "Zoë", "<Client>", "telegram", None)
    assert Contact.get(Contact.lead == lead, Contact.kind == "telegram").label == "@zoe"
    inbound = Message.get(Message.conversation == conversation)
    assert (inbound.direction, inbound.text) == ("in", "Hi, do you ship to Kyiv? A&B <3")
    sales_user = User.get(User.telegram_id == SALES_ID)
    assert not OutboxMessage.select().where(OutboxMessage.recipient == sales_user,
                                            OutboxMessage.key.startswith("inbox:")).exists()

    # 4b. A client's photo is stored, and its alert says what it is.
    emulator.add_user(MAX, first_name="Max")  # no last name
    photo = emulator.user_sends_media(MAX, "photo", caption="my receipt")["message"]["photo"]
    for member in (ADMIN_ID, DISPATCHER_ID):
        alert = emulator.wait_for(lambda m=member: alerts(emulator, m, "Max"))[0]
        assert "no owner yet\n📎 photo my receipt" in alert["text"]
        assert button_labels(alert) == ALERT_BUTTONS
    max_alert_to_admin = alerts(emulator, ADMIN_ID, "Max")[0]
    stored = Message.get(Message.conversation == conversation_of(MAX))
    assert stored.text == "my receipt"
    (attachment,) = json.loads(stored.attachments)
    assert (attachment["kind"], attachment["file_id"]) == ("photo", photo[-1]["file_id"])
    emulator.wait_for_message(MAX, "Thanks for writing")

    # 2. The dispatcher takes Zoë; the admin pressing Take afterwards is told who did.
    took = dispatcher.press(zoe_alert[DISPATCHER_ID], "✋ Take", contains="is yours now")
    assert took["text"].startswith("✋ Zoë <Client> is yours now.")
    assert button_labels(took) == ["↩️ Reply", "📖 Open"]
    late = admin.press(zoe_alert[ADMIN_ID], "✋ Take", contains="already took")
    assert late["text"] == "Dina already took Zoë <Client>."
    lead = Lead.get_by_id(lead.id)
    assert lead.owner.telegram_id == DISPATCHER_ID

    # 3. Answering with Telegram's reply to the alert, then in reply mode: each reaches
    #    Zoë once (her whole transcript is compared at the end), and the member is told.
    _, sent = writes(emulator, dispatcher, "Yes, <we> do & it's free",
                     reply_to=zoe_alert[DISPATCHER_ID]["message_id"])
    assert "👌" in str(sent.params["reaction"])
    assert client_gets(emulator, ZOE, 2)[-1]["text"] == "Yes, <we> do & it's free"
    replying = dispatcher.press(took, "↩️ Reply", contains="Replying to")
    assert replying["text"].startswith("↩️ Replying to Zoë <Client>:")
    writes(emulator, dispatcher, "Anything else?")
    assert client_gets(emulator, ZOE, 3)[-1]["text"] == "Anything else?"

    # 4. Media in reply mode reach Zoë as copies, the caption with them.
    sent_photo, _ = writes(emulator, dispatcher, "our catalogue", media="photo")
    sent_voice, _ = writes(emulator, dispatcher, media="voice", duration=4)
    copies = client_gets(emulator, ZOE, 5)[-2:]
    assert [c["sent_with"] for c in copies] == ["copyMessage", "copyMessage"]
    assert copies[0]["photo"] == sent_photo["photo"] and copies[0]["caption"] == "our catalogue"
    assert copies[1]["voice"] == sent_voice["voice"]
    relayed = Message.select().where(Message.conversation == conversation,
                                     Message.direction == "out", Message.sender == lead.owner_id
                                     ).order_by(Message.id)
    assert [m.text for m in relayed] == ["Yes, <we> do & it's free", "Anything else?",
                                         "our catalogue", None]

    # 5. A template whose placeholder has no value for Max shows its fallback, the
    #    template's own "&" and "<" escaped (the emulator refuses a bare "&").
    assert "Replying to Max:" in admin.press(max_alert_to_admin, "↩️ Reply",
                                             contains="Replying to")["text"]
    assert admin.ask("/t fallback_hi", "Sent to")["text"] == "✓ Sent to Max."
    templated = client_gets(emulator, MAX, 2)[-1]
    assert templated["text"] == "Dear friend, R&D <team> says hi"
    assert templated["raw_text"] == "Dear friend, R&amp;D &lt;team&gt; says hi"

    # 6. /chats counts the admin's unread messages until /chat shows them.
    emulator.user_sends(ZOE, "Also, do you have XL?")
    wait_until(lambda: Message.select().where(Message.conversation == conversation,
                                              Message.direction == "in").count() == 2)
    listing = admin.ask("/chats", "Conversations")
    assert line_of(listing, conversation.id) == f"#{conversation.id} Zoë <Client> · 2 new"
    max_id = conversation_of(MAX).id
    assert line_of(listing, max_id) == f"#{max_id} Max"  # the admin answered Max: all read
    shown = admin.ask(f"/chat {conversation.id}", "conversation #")["text"]
    assert "Hi, do you ship to Kyiv?" in shown and "Also, do you have XL?" in shown
    listing = admin.ask("/chats", "Conversations")
    assert line_of(listing, conversation.id) == f"#{conversation.id} Zoë <Client>"

    # 7. The salesperson sees no conversation of another member's client.
    refusal = f"Conversation #{conversation.id} is with a client of another member"
    assert refusal in sales.ask(f"/chat {conversation.id}", "Conversation #")["text"]
    listing = sales.ask("/chats", "conversations")
    assert "No open conversations" in listing["text"]
    forged = buttons.encode("chat", action="reply", conversation_id=conversation.id)
    seen = len(sales.bot_messages())
    emulator.user_presses(SALES_ID, listing["message_id"], forged, require_button=False)
    assert refusal in emulator.wait_for(lambda: next(
        (m["text"] for m in sales.bot_messages()[seen:] if "Conversation #" in m["text"]), None))

    # 9. A client typing a team command gets the client's help; the client menu is
    #    start/help/stop (for everyone by default, and in Zoë's chat after /start).
    emulator.user_sends(ZOE, "/leads")
    assert client_gets(emulator, ZOE, 6)[-1]["text"] == CLIENT_HELP
    emulator.user_sends(ZOE, "/start")
    assert client_gets(emulator, ZOE, 7)[-1]["text"] == CLIENT_HELP
    assert [c["command"] for c in emulator.commands["default"]] == CLIENT_MENU
    assert emulator.wait_for(lambda: [c["command"] for c in emulator.commands.get(
        f"chat:{ZOE}", [])] == CLIENT_MENU)
    assert "createlead" in [c["command"] for c in emulator.commands[f"chat:{DISPATCHER_ID}"]]

    # 8. Zoë blocks the bot: the dispatcher's next answer fails and says why, the one
    #    after is refused with the reason.
    emulator.block(ZOE)
    writes(emulator, dispatcher, "Are you still there?",
           expect="✗ Your message to Zoë <Client> was not delivered: "
                  "Forbidden: bot was blocked by the user")
    zoe_user = User.get(User.telegram_id == ZOE)
    assert zoe_user.unreachable and "blocked" in zoe_user.unreachable_reason
    _, refused = writes(emulator, dispatcher, "Hello??", expect="Not sent")
    assert refused["text"] == ("Not sent: Zoë <Client> cannot be reached on Telegram "
                               "(Forbidden: bot was blocked by the user).")
    to_zoe = [c.status for c in emulator.calls if c.method in ("sendMessage", "copyMessage")
              and str(c.params.get("chat_id")) == str(ZOE)]
    assert to_zoe[-1] == 403 and to_zoe.count(403) == 1  # tried once, then refused

    # 12. A message in a group is ignored: the stranger writing there is no client,
    #     the client writing there adds nothing, nobody hears of it. (The emulator's
    #     public API makes private chats only: user_sends_in_group uses its internals.)
    messages_before = Message.select().count()
    user_sends_in_group(emulator, STRANGER_IN_GROUP, GROUP, "hello, who sells here?")
    user_sends_in_group(emulator, MAX, GROUP, "/leads")
    admin.ask("/done", "stopped replying")   # handled after the group's updates
    assert User.get_or_none(User.telegram_id == STRANGER_IN_GROUP) is None
    assert Lead.select().count() == 2 and Message.select().count() == messages_before
    assert not [c for c in emulator.calls if str(c.params.get("chat_id")) == str(GROUP)]

    # Everything settled: each client got each message exactly once, in order.
    wait_until(replies_settled, message="every reply sent")
    assert received(emulator, ZOE) == [
        welcome("Zoë"), "Yes, <we> do & it's free", "Anything else?", "[photo] our catalogue",
        "[voice]", CLIENT_HELP, CLIENT_HELP]
    assert received(emulator, MAX) == [welcome("Max"), "Dear friend, R&D <team> says hi"]
    assert alerts(emulator, SALES_ID) == []
    assert len(alerts(emulator, ADMIN_ID)) == 2 and len(alerts(emulator, DISPATCHER_ID)) == 2


def test_reply_mode_survives_a_restart_and_queued_relays_survive_a_kill(processes_any_db, emulator,
                                                                         chat_with):
    processes = processes_any_db
    bot = processes.start("bot.py", COMPANY_NAME=COMPANY)
    admin = chat_with(ADMIN_ID, "Ada")
    admin.send("/start", replies=2)
    emulator.user_sends(MAX, "hello?", first_name="Max")
    alert = emulator.wait_for(lambda: alerts(emulator, ADMIN_ID, "Max"))[0]
    admin.press(alert, "↩️ Reply", contains="Replying to Max")

    # 10. SIGTERM while the admin is in reply mode; the next bot still relays their text.
    wait_until(replies_settled, message="every reply sent")
    assert processes.kill(bot, signal.SIGTERM) == 0
    bot = processes.start("bot.py", COMPANY_NAME=COMPANY)
    _, sent = writes(emulator, admin, "Back after the restart")
    assert "👌" in str(sent.params["reaction"])
    assert client_gets(emulator, MAX, 2)[-1]["text"] == "Back after the restart"

    # 11. Relays queued and one in flight when the bot is killed with SIGKILL. Max's
    #     network is slow: the first relay is held by the emulator (Telegram has not seen
    #     it), the others wait in the outbox behind it. The next bot takes the abandoned
    #     claim back (outbox.recover_stale: its holder's pid is dead) and sends all three.
    #     The window that remains: a kill after Telegram took a message but before the row
    #     was marked sent sends that one message again after the restart (at least once);
    #     the hold makes the kill land before Telegram sees it, so here each arrives once.
    emulator.delay("sendMessage", 60, chat_id=MAX)
    queued = ["queued one", "queued two", "queued three"]
    for text in queued:
        emulator.user_sends(ADMIN_ID, text)
    relays = Message.select().where(Message.direction == "out", Message.text.in_(queued))
    wait_until(lambda: relays.count() == 3, message="three relays queued")
    held = emulator.wait_for(lambda: [c for c in emulator.held
                                      if str(c.params.get("chat_id")) == str(MAX)])
    # The first is on the wire; the others are claimed behind it or wait to be.
    states = [OutboxMessage.get_by_id(m.outbox_id).status for m in relays.order_by(Message.id)]
    assert states[0] == "sending" and set(states) <= {"pending", "sending"}, states
    assert [c.params["text"] for c in held] == ["queued one"]
    processes.kill(bot)
    # Lift the delay only once the emulator has dropped the dead bot's call: lifted
    # earlier, the held call would go through after all.
    abandoned = emulator.wait_for(lambda: emulator.abandoned, timeout=5)
    assert [c.params["text"] for c in abandoned] == ["queued one"]  # Telegram never saw it
    emulator.delay("sendMessage", None, chat_id=MAX)
    processes.start("bot.py", COMPANY_NAME=COMPANY)
    client_gets(emulator, MAX, 5)
    wait_until(replies_settled, timeout=20, message="every reply sent")
    assert received(emulator, MAX) == [welcome("Max"), "Back after the restart", *queued]
    assert all(OutboxMessage.get_by_id(m.outbox_id).status == "sent" for m in relays)
