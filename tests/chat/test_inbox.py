"""Client conversations in chat: a client writes, the team is told and answers (issue 11).
Runs on SQLite and Postgres (any_db); the bot's Telegram side is tests/e2e/test_client_inbox.py."""
import dataclasses
import datetime
import json

import pytest

from models import Activity, Contact, Conversation, Lead, Message, OutboxMessage, RuleAction, User
from services.chat import inbox as chat_inbox, router as chat
from services.chat.inbox import Incoming
from services.core import policy
from services.core.actors import Actor
from services.crm import activities, team as team_service
from services.delivery import outbox
from services.followups import automation, rule_lines, rulebook, rules
from services.inbox import consent, conversations, sending, templates
from tests.chat.helpers import CTX, NOW, data_of, labels, press, say

CLIENT_CTX = CTX
PHOTO = {"kind": "photo", "file_id": "AgAD-photo", "file_unique_id": "u1", "width": 800,
         "height": 600, "file_size": 4096}


@pytest.fixture(autouse=True)
def company(monkeypatch):
    monkeypatch.setattr(policy, "_current", policy.Policy(company="Acme & Sons"))


@pytest.fixture
def team(any_db, make_user):
    """An admin, a dispatcher and two salespeople (Telegram ids 1-4)."""
    return {role: make_user(role=role.rstrip("2"), telegram_id=n, first_name=role.capitalize())
            for n, role in enumerate(("admin", "dispatcher", "sales", "sales2"), start=1)}


def client(telegram_id=500, first_name="Zoë", last_name="<Client>", username="zoe"):
    return User.get_or_create(telegram_id=telegram_id, defaults={
        "first_name": first_name, "last_name": last_name, "username": username})[0]


counter = iter(range(1, 10**6))


def writes(user, text=None, attachments=(), reply_to=None, ctx=CLIENT_CTX, now=None):
    incoming = Incoming(message_id=next(counter), text=text, attachments=list(attachments),
                        reply_to_message_id=reply_to)
    ctx = dataclasses.replace(ctx, clock=lambda: now) if now else ctx
    return chat.on_message(ctx, User.get_by_id(user.id), incoming, user.telegram_id)


def rows_to(user, prefix=""):
    return list(OutboxMessage.select().where(OutboxMessage.recipient == user.id,
                                             OutboxMessage.key.startswith(prefix))
                .order_by(OutboxMessage.id))


def sent_alert(member, message_id):
    """Pretend the scheduler or bot sent the member's newest alert as Telegram message N."""
    row = rows_to(member, "inbox:")[-1]
    OutboxMessage.update(status="sent", sent_message_id=message_id).where(
        OutboxMessage.id == row.id).execute()
    return row


def test_a_first_message_makes_the_client_greets_them_and_tells_dispatch(team):
    zoe = client()
    assert writes(zoe, "Hi, do you ship to Kyiv?") == []
    lead = Lead.get()
    assert (lead.first_name, lead.last_name, lead.source, lead.owner) == ("Zoë", "<Client>",
                                                                            "telegram", None)
    assert Contact.get(Contact.lead == lead).value == "500"
    conversation = Conversation.get()
    inbound = Message.get(Message.direction == "in")
    assert (inbound.text, inbound.sender_kind, inbound.conversation_id) == (
        "Hi, do you ship to Kyiv?", "client", conversation.id)
    welcome = rows_to(zoe)
    assert len(welcome) == 1 and "Thanks for writing to Acme &amp; Sons" in welcome[0].text
    assert welcome[0].text.startswith("Hi Zoë!")
    # Nobody owns the client: the admin and the dispatcher hear of it, the sales do not.
    for role in ("admin", "dispatcher"):
        (alert,) = rows_to(team[role], "inbox:")
        assert "Zoë &lt;Client&gt;" in alert.text and "do you ship to Kyiv?" in alert.text
        keyboard = json.loads(alert.reply_markup)["inline_keyboard"][0]
        assert [b["text"] for b in keyboard] == ["↩️ Reply", "📖 Open", "✋ Take"]
        assert alert.conversation_id == conversation.id and alert.expires_at is not None
    assert rows_to(team["sales"]) == [] and rows_to(team["sales2"]) == []
    # The second message creates nothing new and greets nobody again.
    writes(zoe, "Hello?")
    assert Lead.select().count() == 1 and len(rows_to(zoe)) == 1
    assert Message.select().where(Message.direction == "in").count() == 2


def test_a_burst_tells_each_member_once_a_minute(team):
    zoe = client()
    for text in ("one", "two", "three"):
        writes(zoe, text, now=NOW)
    assert len(rows_to(team["admin"], "inbox:")) == 1
    writes(zoe, "four", now=NOW + datetime.timedelta(seconds=61))
    assert len(rows_to(team["admin"], "inbox:")) == 2


def test_the_owner_alone_is_told_once_the_client_is_theirs(team):
    zoe = client()
    writes(zoe, "hi")
    Lead.update(owner=team["sales"]).execute()
    writes(zoe, "are you there?", now=NOW + datetime.timedelta(minutes=5))
    (alert,) = rows_to(team["sales"], "inbox:")
    assert "owner: Sales" in alert.text and "✋ Take" not in alert.reply_markup
    assert len(rows_to(team["admin"], "inbox:")) == 1


def test_answering_an_alert_with_telegram_reply_reaches_the_client(team):
    zoe = client()
    writes(zoe, "hi")
    sent_alert(team["dispatcher"], 77)
    answer = writes(team["dispatcher"], "Yes, <we> do & it's free", reply_to=77)
    assert answer[-1].text == "✓ Sent to Zoë &lt;Client&gt;."
    relay = rows_to(zoe, "client:")[-1]
    assert relay.text == "Yes, &lt;we&gt; do &amp; it's free"
    message = Message.get(Message.outbox == relay.id)
    assert (message.direction, message.sender_id, message.text) == (
        "out", team["dispatcher"].id, "Yes, <we> do & it's free")
    # A reply to some other message of the bot is a command as usual.
    assert "didn't understand" in writes(team["dispatcher"], "hello", reply_to=12)[-1].text


def test_reply_mode_relays_text_and_media_until_done(team):
    zoe = client()
    writes(zoe, "hi")
    conversation = Conversation.get()
    reply = press(team["admin"], f"chat:reply:{conversation.id}")
    assert "Replying to <b>Zoë &lt;Client&gt;</b>" in reply.text
    writes(team["admin"], "First answer")
    writes(team["admin"], "look", attachments=[PHOTO])
    relayed = rows_to(zoe, "client:")[-2:]
    assert relayed[0].text == "First answer" and relayed[0].copy_message_id is None
    assert (relayed[1].copy_from_chat_id, relayed[1].copy_message_id) == (
        team["admin"].telegram_id, next(counter) - 1)
    media = Message.get(Message.outbox == relayed[1].id)
    assert json.loads(media.attachments)[0]["file_id"] == "AgAD-photo" and media.text == "look"
    assert "stopped replying" in say(team["admin"], "/done")
    assert "didn't understand" in writes(team["admin"], "not for the client")[-1].text
    assert len(rows_to(zoe, "client:")) == 3   # the welcome and the two relays


def test_media_whose_caption_looks_like_a_command_is_passed_on(team):
    """A caption is never a command: a client's photo captioned "/help" reaches the
    team, and a member's in reply mode reaches the client."""
    zoe = client()
    writes(zoe, "hi")
    assert writes(zoe, "/help me with this", attachments=[PHOTO]) == []
    stored = Message.select().where(Message.direction == "in").order_by(Message.id.desc()).get()
    assert stored.text == "/help me with this" and json.loads(stored.attachments)[0]["kind"] == "photo"
    press(team["admin"], f"chat:reply:{Conversation.get().id}")
    writes(team["admin"], "/t is our price list", attachments=[PHOTO])
    relayed = rows_to(zoe, "client:")[-1]
    assert relayed.copy_message_id == next(counter) - 1
    assert Message.get(Message.outbox == relayed.id).text == "/t is our price list"


def test_take_one_wins_the_other_hears_who(team):
    zoe = client()
    writes(zoe, "hi")
    conversation = Conversation.get()
    first = press(team["dispatcher"], f"chat:take:{conversation.id}")
    assert "is yours now" in first.text and "✋ Take" not in labels(first)
    second = press(team["admin"], f"chat:take:{conversation.id}")
    assert second.text == "Dispatcher already took Zoë &lt;Client&gt;."
    assert Lead.get().owner_id == team["dispatcher"].id


def test_chats_lists_unread_and_chat_marks_read(team):
    zoe, max_ = client(), client(501, "Max", "", None)
    writes(zoe, "one")
    writes(zoe, "two")
    writes(max_, "hello")
    listing = chat.on_text(CLIENT_CTX, team["admin"], "/chats")[0]
    assert "· 2 with unread messages" in listing.text
    assert "#2 Max · <b>1 new</b>" in listing.text
    assert "#1 Zoë &lt;Client&gt; · <b>2 new</b>" in listing.text
    assert listing.text.index("Max") < listing.text.index("Zoë")    # newest first
    shown = say(team["admin"], "/chat 1")
    assert "one" in shown and "two" in shown and "Hi Zoë!" in shown
    listing = chat.on_text(CLIENT_CTX, team["admin"], "/chats")[0]
    assert "· 1 with unread messages" in listing.text
    assert "Zoë &lt;Client&gt; · <b>" not in listing.text and "#2 Max · <b>1 new</b>" in listing.text
    # Read state is the reader's own: the dispatcher still has both unread.
    assert "<b>2 new</b>" in chat.on_text(CLIENT_CTX, team["dispatcher"], "/chats")[0].text


def test_a_salesperson_sees_only_their_clients_conversations(team):
    zoe, max_ = client(), client(501, "Max", "", None)
    writes(zoe, "hi")
    writes(max_, "hi")
    Lead.update(owner=team["sales"]).where(Lead.first_name == "Zoë").execute()
    listing = say(team["sales"], "/chats")
    assert "Zoë" in listing and "Max" not in listing
    max_conversation = Conversation.select().join(Lead).where(Lead.first_name == "Max").get()
    assert "another member" in say(team["sales"], f"/chat {max_conversation.id}")
    assert "another member" in press(team["sales"], f"chat:reply:{max_conversation.id}").text
    assert "nothing to" in say(team["sales2"], "/chats").lower() or "No open" in say(team["sales2"], "/chats")


def test_a_client_sees_nothing_of_the_team(team):
    zoe = client()
    for command in ("/leads", "/chats", "/lead 1", "/team", "/help", "/createLead"):
        answer = writes(zoe, command)
        if answer:   # the first command makes the client; it gets the welcome instead
            assert "This is the chat with Acme &amp; Sons" in answer[-1].text, command
    assert Message.select().count() == 1   # the welcome; commands are not messages
    assert chat.menu(None, client_inbox=True) == [
        ("start", "Start the chat"), ("help", "How this chat works"),
        ("stop", "Stop messages from us")]


def test_stop_holds_messages_until_the_client_writes_again(team):
    zoe = client()
    writes(zoe, "hi")
    assert "no more messages" in writes(zoe, "/stop")[-1].text
    conversation = Conversation.get()
    with pytest.raises(sending.CannotSend, match="asked not to get messages"):
        sending.send_text(Actor.member(team["admin"]), conversation.id, "Still there?")
    assert consent.opted_out(Lead.get().id, "telegram", zoe.telegram_id)
    writes(zoe, "sorry, I do want answers")
    assert not consent.opted_out(Lead.get().id, "telegram", zoe.telegram_id)
    sending.send_text(Actor.member(team["admin"]), conversation.id, "Welcome back")


def test_a_client_marked_unreachable_is_refused_with_the_reason(team):
    zoe = client()
    writes(zoe, "hi")
    User.update(unreachable=True, unreachable_reason="Forbidden: bot was blocked by the user") \
        .where(User.id == zoe.id).execute()
    sent_alert(team["admin"], 5)
    answer = writes(team["admin"], "hello?", reply_to=5)
    assert "cannot be reached on Telegram (Forbidden: bot was blocked by the user)" in answer[-1].text


def test_a_failed_relay_tells_its_sender_why(team):
    zoe = client()
    writes(zoe, "hi")
    message = sending.send_text(Actor.member(team["admin"]), Conversation.get().id, "hello")
    claimed = [c for c in outbox.claim_replies(zoe.id) if c.id == message.outbox_id]
    outbox.mark_failed(claimed[0], "Bad Request: message to copy not found")
    (notice,) = rows_to(team["admin"], "undelivered:")
    assert "was not delivered: Bad Request: message to copy not found" in notice.text


def test_close_and_the_next_message_reopens(team):
    zoe = client()
    writes(zoe, "hi")
    assert "is closed" in say(team["admin"], "/close 1")
    assert "already closed" in say(team["admin"], "/close 1")
    assert "No open conversations" in say(team["admin"], "/chats")
    writes(zoe, "one more thing")
    assert Conversation.get().status == "open"


def test_templates_in_reply_mode(team):
    zoe = client()
    writes(zoe, "hi")
    press(team["admin"], "chat:reply:1")
    listing = chat.on_text(CLIENT_CTX, team["admin"], "/t")[0]
    assert labels(listing) == ["quote_followup", "review_request", "welcome"]
    answer = press(team["admin"], data_of(listing, "quote_followup"))
    assert answer.text == "✓ Sent to Zoë &lt;Client&gt;."
    assert "Admin will gladly answer" in rows_to(zoe, "client:")[-1].text
    assert "There is no template named nope" in say(team["admin"], "/t nope")
    say(team["admin"], "/done")
    assert "while replying to a client" in say(team["admin"], "/t welcome")


def test_groups_of_conversations_are_paged(team):
    for n in range(10):
        writes(client(600 + n, f"C{n}", "", None), "hi")
    first = chat.on_text(CLIENT_CTX, team["admin"], "/chats")[0]
    assert "page 1 of 2" in first.text and "Older ▶" in labels(first)
    second = press(team["admin"], data_of(first, "Older ▶"))
    assert "page 2 of 2" in second.text and second.replace


def test_with_the_inbox_off_strangers_are_turned_away(team):
    off = dataclasses.replace(CLIENT_CTX, client_inbox=False)
    zoe = client()
    assert "ask an admin for an invite" in writes(zoe, "hi", ctx=off)[-1].text
    assert Lead.select().count() == 0 and Conversation.select().count() == 0


def test_invites_and_an_open_team_still_make_members(team):
    joining = client(700, "New", "Member", None)
    assert "Welcome" in writes(joining, "/start", ctx=dataclasses.replace(CLIENT_CTX, open_team=True))[0].text
    assert User.get_by_id(joining.id).role == "sales" and Lead.select().count() == 0
    invited = client(701, "Invited", "", None)
    token = team_service.create_invite(team["admin"], "dispatcher").token
    assert "You joined as <b>dispatcher</b>" in writes(invited, f"/start {token}")[0].text
    assert Lead.select().count() == 0


def test_history_shows_delivery_state(team):
    zoe = client()
    writes(zoe, "hi")
    conversation = conversations.of_lead(Lead.get().id)
    shown = chat_inbox.show_conversation(CLIENT_CTX, team["admin"], conversation.id).text
    assert "(sending…)" in shown   # the welcome is queued, not sent yet


@pytest.mark.parametrize("client_answers", [False, True])
def test_a_rule_chases_a_quote_unless_the_client_answered(team, client_answers):
    """quote sent -> after 2 days send quote_followup to the client, unless they wrote."""
    chase = rulebook.create_rule(Actor.panel(), "Chase quotes", "quote.sent",
                         rule_lines.parse_conditions("messages_received_since_event less_than 1",
                                                "quote.sent"),
                         rule_lines.parse_actions("send_template quote_followup to client after 2d"))
    zoe = client()
    writes(zoe, "How much for 10 boxes?", now=NOW)
    lead = Lead.get()
    activities.log(Actor.member(team["admin"]), lead.id, "quote_sent", "Quote for 10 boxes",
                   done=True, now=NOW)
    if client_answers:
        writes(zoe, "Thanks, looking at it", now=NOW + datetime.timedelta(days=1))
    before = len(rows_to(zoe, "client:"))
    automation.run_due(now=NOW + datetime.timedelta(days=2, minutes=1))
    action = RuleAction.get(RuleAction.rule == chase.id)
    if client_answers:
        assert action.status == "cancelled" and "messages_received_since_event" in action.result
        assert len(rows_to(zoe, "client:")) == before
    else:
        assert action.status == "done", action.result
        assert "have you had a chance to look at our quote" in rows_to(zoe, "client:")[-1].text


def test_rules_refuse_a_template_that_does_not_exist(any_db):
    with pytest.raises(rules.RuleError, match="no message template 'nope'"):
        rule_lines.parse_actions("send_template nope to client")
    with pytest.raises(rules.RuleError, match="goes to the client"):
        rule_lines.parse_actions("send_template welcome to team")
    assert rule_lines.format_actions(rule_lines.parse_actions("send_template welcome to client after 2d")) \
        == "send_template welcome to client after 2d"


def test_message_received_runs_rules_with_the_text(team):
    rulebook.create_rule(Actor.panel(), "Urgent words", "message.received",
                         rule_lines.parse_conditions("message_text contains urgent", "message.received"),
                         rule_lines.parse_actions('create_activity call "Client says urgent" assign round_robin'))
    zoe = client()
    writes(zoe, "hello")
    writes(zoe, "this is URGENT please")
    assert [a.subject for a in Activity.select().where(Activity.type == "call")] == [
        "Client says urgent"]


def test_a_template_a_rule_sends_cannot_be_deleted_or_renamed(any_db):
    rulebook.create_rule(Actor.panel(), "Chase", "quote.sent", [],
                         rule_lines.parse_actions("send_template quote_followup to client after 2d"))
    chosen = templates.get("quote_followup")
    with pytest.raises(templates.TemplateError, match="Rule “Chase” sends this template"):
        templates.delete(Actor.panel(), chosen.id)
    with pytest.raises(templates.TemplateError, match="cannot be renamed"):
        templates.save(Actor.panel(), "chase_quote", chosen.text, chosen.id)
    templates.save(Actor.panel(), "quote_followup", "New words {first_name|there}", chosen.id)
    assert templates.get("quote_followup").text.startswith("New words")


def test_a_client_message_of_a_kind_we_cannot_pass_on_is_answered_not_stored(team):
    zoe = client()
    writes(zoe, "hi")
    answer = writes(zoe, None)   # a poll or a dice: no text, nothing we keep
    assert "not this kind of message" in answer[-1].text
    assert Message.select().where(Message.direction == "in").count() == 1


def test_a_delivery_error_in_the_history_is_escaped(team):
    zoe = client()
    writes(zoe, "hi")
    message = sending.send_text(Actor.member(team["admin"]), Conversation.get().id, "hello")
    OutboxMessage.update(status="failed", last_error="Bad Request: can't parse <b> & co").where(
        OutboxMessage.id == message.outbox_id).execute()
    shown = say(team["admin"], "/chat 1")
    assert "(✗ failed: Bad Request: can't parse &lt;b&gt; &amp; co)" in shown


def test_chat_and_close_take_the_number_with_or_without_a_hash(team):
    writes(client(), "hi")
    assert "conversation #1" in say(team["admin"], "/chat #1")
    assert "is closed" in say(team["admin"], "/close #1")
    assert "Send /chat with a conversation number" in say(team["admin"], "/chat soon")
