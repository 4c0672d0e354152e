"""Answering clients on other channels from Telegram (issue 14): an alert says where the
client wrote from, a Telegram reply to it answers there, reply mode says where answers go,
/chat shows each message's channel, and /stop is consent for Telegram only."""
import dataclasses
import datetime as dt
import json

import pytest

from models import Contact, Conversation, OutboxMessage, User
from services.chat import buttons, router as chat
from services.chat.inbox import Incoming
from services.core import policy
from services.core.actors import Actor
from services.core.policy import CHANNELS
from services.inbox import clients, consent, conversations
from tests.chat.helpers import CTX, NOW, press, say

EMAIL = Actor.system("email")
counter = iter(range(5000, 10**6))


@pytest.fixture(autouse=True)
def channels_on(monkeypatch):
    monkeypatch.setattr(policy, "_current", policy.Policy(
        channels=frozenset(CHANNELS), company="Acme", email_from="hi@acme.example"))


@pytest.fixture
def admin_member(any_db, make_user):
    return make_user("admin", telegram_id=1, first_name="Ada")


@pytest.fixture
def zoe(admin_member):
    """A client who wrote by email, then SMS."""
    lead, _ = clients.from_address(EMAIL, "email", "zoe@example.com", "Zoë Quinn", NOW)
    Contact.create(lead=lead, kind="phone", value="+14155550100")
    conversations.record_inbound(EMAIL, lead, "Mail <hello>", transport="email",
                                 address="zoe@example.com", external_ref="<m1@x>",
                                 details={"subject": "Prices"}, now=NOW)
    conversations.record_inbound(EMAIL, lead, "And an SMS", transport="sms",
                                 address="+14155550100", external_ref="SM1",
                                 now=NOW + dt.timedelta(minutes=2))
    return lead


def alerts(member):
    return list(OutboxMessage.select().where(OutboxMessage.recipient == member.id,
                                             OutboxMessage.key.startswith("inbox:"))
                .order_by(OutboxMessage.id))


def member_writes(member, text, reply_to=None):
    incoming = Incoming(message_id=next(counter), text=text, reply_to_message_id=reply_to)
    ctx = dataclasses.replace(CTX, clock=lambda: NOW + dt.timedelta(minutes=5))
    return chat.on_message(ctx, User.get_by_id(member.id), incoming, member.telegram_id)


def test_an_alert_says_where_the_client_wrote_and_a_reply_to_it_answers_there(zoe, admin_member):
    mail_alert, sms_alert = alerts(admin_member)
    assert "· Email · zoe@example.com ·" in mail_alert.text and "Mail &lt;hello&gt;" in mail_alert.text
    assert "· SMS · +1 415-555-0100 ·" in sms_alert.text
    for number, row in enumerate((mail_alert, sms_alert), start=100):
        OutboxMessage.update(status="sent", sent_message_id=number).where(
            OutboxMessage.id == row.id).execute()
    # Answering the older email alert answers by email, though the client's last was an SMS.
    [answer] = member_writes(admin_member, "Our prices are attached", reply_to=100)
    assert answer.text == "✓ Sent to Zoë Quinn by Email." and answer.reaction == "👌"
    row = OutboxMessage.get(OutboxMessage.key.startswith("client:"))
    assert (row.channel, row.address) == ("email", "zoe@example.com")
    assert json.loads(row.headers)["in_reply_to"] == "<m1@x>"
    member_writes(admin_member, "And by text", reply_to=101)
    newest = OutboxMessage.select().where(OutboxMessage.key.startswith("client:")).order_by(
        OutboxMessage.id.desc()).first()
    assert (newest.channel, newest.address, newest.text) == ("sms", "+14155550100", "And by text")


def test_reply_mode_answers_on_the_last_channel_and_says_so(zoe, admin_member):
    conversation = Conversation.get()
    shown = press(admin_member, buttons.encode("chat", action="reply",
                                               conversation_id=conversation.id))
    assert "Replying to <b>Zoë Quinn</b> by SMS · +1 415-555-0100" in shown.text
    member_writes(admin_member, "Texting you back")
    row = OutboxMessage.get(OutboxMessage.key.startswith("client:"))
    assert (row.channel, row.address) == ("sms", "+14155550100")


def test_chat_history_marks_each_channel(zoe, admin_member):
    conversation = Conversation.get()
    shown = say(admin_member, f"/chat {conversation.id}")
    assert "[Email]: Mail &lt;hello&gt;" in shown and "[SMS]: And an SMS" in shown


def test_a_reply_to_a_channel_that_went_away_says_why(zoe, admin_member, monkeypatch):
    [mail_alert, _] = alerts(admin_member)
    OutboxMessage.update(status="sent", sent_message_id=100).where(
        OutboxMessage.id == mail_alert.id).execute()
    consent.opt_out(EMAIL, zoe, "sms", "+14155550100", NOW)
    monkeypatch.setattr(policy, "_current", policy.Policy(channels=frozenset({"telegram", "sms"})))
    # Email is off now: the answer falls back to the last channel, where the client opted out.
    [answer] = member_writes(admin_member, "Hello?", reply_to=100)
    assert answer.text == "Not sent: Zoë Quinn opted out of SMS messages."
    assert not OutboxMessage.select().where(OutboxMessage.key.startswith("client:")).exists()
