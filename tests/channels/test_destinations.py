"""Where a message to a client goes, and when it may not (services/inbox/destinations.py,
sending.py, consent.py): one conversation across channels, answers on the client's last
channel, consent per channel, WhatsApp's 24 hours, SMS parts, email threading."""
import datetime as dt
import json

import pytest

from models import Contact, Conversation, MessageTemplate, OutboxMessage, User
from services.core import policy
from services.core.actors import Actor
from services.delivery import broadcasts
from services.inbox import clients, consent, conversations, destinations, sending
from services.inbox.sending import CannotSend

NOW = dt.datetime(2026, 11, 27, 9, 0)
EMAIL_ACTOR = Actor.system("email")


@pytest.fixture
def client(any_db, all_channels):
    """A client who wrote by email, then SMS, then Telegram (one conversation)."""
    user = User.create(telegram_id=777, first_name="Zoë", username="zoe")
    lead, _ = clients.from_address(EMAIL_ACTOR, "email", "zoe@example.com", "Zoë Quinn", NOW)
    Contact.create(lead=lead, kind="phone", value="+14155550100")
    Contact.create(lead=lead, kind="telegram", value="777", label="@zoe")
    Contact.create(lead=lead, kind="whatsapp", value="+14155550100")
    conversations.record_inbound(EMAIL_ACTOR, lead, "Hello by mail", transport="email",
                                 address="zoe@example.com", external_ref="<m1@mail.example>",
                                 details={"subject": "Prices?", "references": ["<m0@x>"]},
                                 now=NOW)
    return lead, user, Conversation.get(Conversation.lead == lead.id)


def written(lead, transport, address, external_ref=None, now=NOW, text="hi"):
    return conversations.record_inbound(EMAIL_ACTOR, lead, text, transport=transport,
                                        address=address, external_ref=external_ref, now=now)


def test_every_contact_on_a_channel_that_is_on_is_a_destination(client):
    lead, _, _ = client
    assert [d.label for d in destinations.of_lead(lead.id)] == [
        "Telegram · @zoe", "Email · zoe@example.com",
        "SMS · +1 415-555-0100", "WhatsApp · +1 415-555-0100"]


def test_channels_that_are_off_offer_nothing(client, monkeypatch):
    lead, _, _ = client
    monkeypatch.setattr(policy, "_current", policy.Policy(channels=frozenset({"telegram"})))
    assert [d.channel for d in destinations.of_lead(lead.id)] == ["telegram"]


def test_an_answer_goes_where_the_client_last_wrote(client):
    lead, _, conversation = client
    assert destinations.default_for(conversation).key == "email:zoe@example.com"
    written(lead, "sms", "+14155550100", "SM1", NOW + dt.timedelta(minutes=1))
    assert destinations.default_for(conversation).key == "sms:+14155550100"
    written(lead, "telegram", "777", None, NOW + dt.timedelta(minutes=2))
    assert destinations.default_for(conversation).key == "telegram:777"
    assert Conversation.select().count() == 1


def test_an_email_answer_threads_under_the_clients_mail(client):
    lead, _, conversation = client
    message = sending.send_text(Actor.panel(), conversation.id, "Our <prices> & terms",
                                now=NOW)
    row = OutboxMessage.get_by_id(message.outbox_id)
    headers = json.loads(row.headers)
    assert (row.channel, row.address, row.recipient_id, row.expires_at) == (
        "email", "zoe@example.com", None, None)   # the scheduler's, not the bot's
    assert row.text == "Our &lt;prices&gt; &amp; terms" and row.parse_mode == "HTML"
    assert headers["subject"] == "Re: Prices?"
    assert headers["in_reply_to"] == "<m1@mail.example>"
    assert headers["references"] == "<m0@x> <m1@mail.example>"
    assert headers["message_id"].endswith("@acme.example>")
    assert headers["unsubscribe_url"].startswith("https://crm.acme.example/unsubscribe/")
    assert (message.transport, message.address, message.text) == (
        "email", "zoe@example.com", "Our <prices> & terms")


def test_a_new_email_thread_is_named_after_the_company(client):
    lead, _, conversation = client
    other = sending.send_text(Actor.panel(), conversation.id, "Hi",
                              destination=destinations.of_channel(lead.id, "email"), now=NOW)
    assert json.loads(other.outbox.headers)["subject"] == "Re: Prices?"
    Contact.create(lead=lead, kind="email", value="zoe@work.example")
    fresh = sending.send_text(Actor.panel(), conversation.id, "Hi",
                              destination=destinations.of_channel(lead.id, "email", "zoe@work.example"),
                              now=NOW)
    headers = json.loads(fresh.outbox.headers)
    assert headers["subject"] == "Message from Acme" and headers["in_reply_to"] is None


def test_an_sms_longer_than_the_limit_is_refused_with_its_parts(client):
    lead, _, conversation = client
    sms = destinations.of_channel(lead.id, "sms")
    sending.send_text(Actor.panel(), conversation.id, "x" * 306, destination=sms, now=NOW)
    with pytest.raises(CannotSend, match=r"3 parts \(GSM-7\); at most 2"):
        sending.send_text(Actor.panel(), conversation.id, "x" * 307, destination=sms, now=NOW)
    with pytest.raises(CannotSend, match=r"3 parts \(UCS-2\)"):
        sending.send_text(Actor.panel(), conversation.id, "ж" * 135, destination=sms, now=NOW)
    row = OutboxMessage.get(OutboxMessage.channel == "sms")
    assert (row.text, row.parse_mode) == ("x" * 306, "plain")


def test_whatsapp_free_text_needs_a_message_from_the_last_24_hours(client):
    lead, _, conversation = client
    whatsapp = destinations.of_channel(lead.id, "whatsapp")
    with pytest.raises(CannotSend, match="not written on WhatsApp in the last 24 hours"):
        sending.send_text(Actor.panel(), conversation.id, "Hi", destination=whatsapp, now=NOW)
    written(lead, "whatsapp", "+14155550100", "SM9", NOW)
    sending.send_text(Actor.panel(), conversation.id, "Hi", destination=whatsapp,
                      now=NOW + dt.timedelta(hours=23, minutes=59))
    with pytest.raises(CannotSend, match="24 hours"):
        sending.send_text(Actor.panel(), conversation.id, "Hi", destination=whatsapp,
                          now=NOW + dt.timedelta(hours=24, minutes=1))


def test_an_approved_whatsapp_template_goes_outside_the_24_hours(client):
    lead, _, conversation = client
    MessageTemplate.create(name="checkin", text="Hi {first_name|there}, {agent_name} from {company} here")
    whatsapp = destinations.of_channel(lead.id, "whatsapp")
    with pytest.raises(CannotSend, match="24 hours"):
        sending.send_template(Actor.panel(), conversation.id, "checkin", destination=whatsapp, now=NOW)
    MessageTemplate.update(whatsapp_content_sid="HX" + "a" * 32).execute()
    message = sending.send_template(Actor.panel(), conversation.id, "checkin", destination=whatsapp,
                                    now=NOW)
    headers = json.loads(message.outbox.headers)
    assert headers == {"content_sid": "HX" + "a" * 32,
                       "content_variables": {"1": "Zoë", "2": "-", "3": "Acme"}}
    assert message.text == "Hi Zoë,  from Acme here"


def test_media_goes_to_telegram_only(client):
    lead, _, conversation = client
    with pytest.raises(CannotSend, match="files and media go to Telegram chats only; Email"):
        sending.send_copy(Actor.panel(), conversation.id, 1, 2, "look", [{"kind": "photo"}],
                          destination=destinations.of_channel(lead.id, "email"), now=NOW)


def test_consent_is_per_channel_and_automated_messages_respect_it(client):
    lead, _, conversation = client
    email = destinations.of_channel(lead.id, "email")
    assert consent.opt_out(EMAIL_ACTOR, lead, "email", "zoe@example.com", NOW)
    assert not consent.opt_out(EMAIL_ACTOR, lead, "email", "zoe@example.com", NOW)
    email = destinations.of_channel(lead.id, "email")
    assert email.opted_out
    with pytest.raises(CannotSend, match="opted out of Email"):
        sending.send_template(Actor.system("welcome"), conversation.id, "welcome",
                              destination=email, now=NOW)
    # A member's answer to the client's own mail still goes.
    sending.send_text(Actor.panel(), conversation.id, "Answering your question", destination=email,
                      now=NOW)
    # The other channels are untouched.
    sending.send_template(Actor.system("welcome"), conversation.id, "welcome",
                          destination=destinations.of_channel(lead.id, "sms"), now=NOW)
    assert consent.opt_in(EMAIL_ACTOR, lead, "email", "zoe@example.com")
    assert not destinations.of_channel(lead.id, "email").opted_out


def test_a_number_that_sent_stop_gets_no_sms_at_all(client):
    lead, _, conversation = client
    consent.opt_out(EMAIL_ACTOR, lead, "sms", "+14155550100", NOW)
    with pytest.raises(CannotSend, match="opted out of SMS"):
        sending.send_text(Actor.panel(), conversation.id, "Hi",
                          destination=destinations.of_channel(lead.id, "sms"), now=NOW)
    assert not consent.opted_out(lead.id, "whatsapp", "+14155550100")


def test_a_client_with_no_reachable_channel_is_told_why(any_db, all_channels, monkeypatch):
    lead, _ = clients.from_address(EMAIL_ACTOR, "email", "a@example.com", None, NOW)
    assert (lead.first_name, lead.last_name) == ("a@example.com", "")
    conversation = conversations.open_for(lead, NOW)
    monkeypatch.setattr(policy, "_current", policy.Policy(channels=frozenset({"telegram"})))
    with pytest.raises(CannotSend, match="no contact on a channel that is set up"):
        sending.send_text(Actor.panel(), conversation.id, "Hi", now=NOW)


def test_a_broadcast_to_everyone_skips_clients_who_sent_stop(client, make_user):
    lead, user, _ = client
    make_user("admin")
    assert broadcasts.prepare("Hi all", "everyone").recipients == 2
    consent.opt_out(Actor.client(user), lead, "telegram", user.telegram_id, NOW)
    assert broadcasts.prepare("Hi all", "everyone").recipients == 1
    broadcast = broadcasts.send("Hi all", "everyone", False, "boss")
    recipients = [r.recipient_id for r in OutboxMessage.select().where(
        OutboxMessage.broadcast == broadcast.id)]
    assert len(recipients) == 1 and user.id not in recipients


def test_a_client_is_found_again_by_their_address(any_db, all_channels):
    first, created = clients.from_address(EMAIL_ACTOR, "phone", "+14155550100", "Ann Lee", NOW)
    again, created_again = clients.from_address(EMAIL_ACTOR, "phone", "+14155550100", "Other", NOW)
    assert (created, created_again, again.id) == (True, False, first.id)
    assert (first.first_name, first.last_name, first.source) == ("Ann", "Lee", "other")


def test_an_automated_message_skips_a_channel_the_client_left_for_one_they_did_not(client):
    lead, _, conversation = client
    consent.opt_out(EMAIL_ACTOR, lead, "email", "zoe@example.com", NOW)
    message = sending.send_template(Actor.system("welcome"), conversation.id, "welcome", now=NOW)
    assert message.transport == "telegram"     # the next channel that takes it
    for channel, address in (("telegram", "777"), ("sms", "+14155550100"),
                             ("whatsapp", "+14155550100")):
        consent.opt_out(EMAIL_ACTOR, lead, channel, address, NOW)
    with pytest.raises(sending.OptedOut, match="opted out of Email"):
        sending.send_template(Actor.system("welcome"), conversation.id, "welcome", now=NOW)
    # A member's answer still goes where the client last wrote: their email.
    answer = sending.send_text(Actor.panel(), conversation.id, "About your question", now=NOW)
    assert answer.transport == "email"


def test_a_rule_skips_a_client_who_opted_out_everywhere_rather_than_failing(client):
    from models import RuleAction
    from services.followups import automation, rule_lines, rulebook

    lead, user, conversation = client
    for channel, address in (("email", "zoe@example.com"), ("telegram", "777"),
                             ("sms", "+14155550100"), ("whatsapp", "+14155550100")):
        consent.opt_out(EMAIL_ACTOR, lead, channel, address, NOW)
    rule = rulebook.create_rule(Actor.panel(), "Thanks", "message.received", [],
                                rule_lines.parse_actions("send_template welcome to client"))
    conversations.record_inbound(EMAIL_ACTOR, lead, "again", transport="email",
                                 address="zoe@example.com", now=NOW)
    [action] = RuleAction.select().where(RuleAction.rule == rule.id)
    assert (action.status, action.result) == (
        automation.CANCELLED, "skipped: Not sent: Zoë Quinn opted out of Email messages.")
