"""Working on what Twilio's webhooks stored (services/inbox/twilio_in.py): incoming SMS and
WhatsApp messages join the client's conversation, STOP and START change consent, status
callbacks move the outbox row; every handler may run twice."""
import json

import pytest

from models import Contact, Conversation, InboundEvent, Lead, Message, OutboxMessage, utcnow
from services.core.actors import Actor
from services.delivery.transport import Receipt
from services.delivery.twilio_messages import TwilioTransport
from services.inbox import consent, inbound, twilio_in
from tests.twilio.conftest import (
    ANN,
    BOB,
    PUBLIC,
    SMS_FROM,
    WHATSAPP_FROM,
    claimed,
    hooks_app,
    twilio_settings,
)


@pytest.fixture(autouse=True)
def handlers():
    twilio_in.register()   # as services/subscriptions.py does in every process


def sms(body, sid, number=ANN, **extra):
    return {"MessageSid": sid, "From": number, "To": SMS_FROM, "Body": body, "NumMedia": "0",
            **extra}


def whatsapp(body, sid, number=ANN, name="Ann Lee", **extra):
    return {"MessageSid": sid, "From": f"whatsapp:{number}", "To": f"whatsapp:{WHATSAPP_FROM}",
            "Body": body, "NumMedia": "0", "ProfileName": name, "WaId": number[1:], **extra}


def deliver(source, payload, ref=None):
    """As the webhook and then the scheduler do: store, then process."""
    inbound.store(source, ref or payload["MessageSid"], payload)
    return inbound.process_pending()


def sid(n):
    return f"SM{n:032x}"


def messages():
    return list(Message.select().order_by(Message.id))


def test_an_sms_from_a_new_number_makes_a_client_and_their_conversation(any_db):
    assert deliver("sms", sms("Hi, do you ship to Leeds?", sid(1))) == 1
    lead = Lead.get()
    assert Contact.get(Contact.lead == lead).kind == "phone"
    assert Contact.get(Contact.lead == lead).value == ANN
    [message] = messages()
    assert (message.text, message.transport, message.address, message.external_ref,
            message.direction) == ("Hi, do you ship to Leeds?", "sms", ANN, sid(1), "in")
    assert message.conversation.lead_id == lead.id
    assert InboundEvent.get().processed_at is not None


def test_the_same_number_writes_into_the_same_conversation(any_db):
    deliver("sms", sms("First", sid(1)))
    deliver("sms", sms("Second", sid(2), number="+1 (202) 555-0123"))   # as typed by a carrier
    assert Lead.select().count() == 1 and Conversation.select().count() == 1
    assert [m.text for m in messages()] == ["First", "Second"]


def test_a_message_processed_twice_is_stored_once(any_db):
    payload = sms("Once", sid(1))
    twilio_in.receive("sms", payload)
    assert twilio_in.receive("sms", payload) is None
    assert len(messages()) == 1


def test_whatsapp_names_the_client_by_their_profile(any_db):
    deliver("whatsapp", whatsapp("Hola", sid(1)))
    lead = Lead.get()
    assert (lead.first_name, lead.last_name) == ("Ann", "Lee")
    assert Contact.get(Contact.lead == lead).kind == "whatsapp"
    [message] = messages()
    assert (message.transport, message.address) == ("whatsapp", ANN)


def test_sms_and_whatsapp_from_one_number_are_one_client(any_db):
    deliver("sms", sms("By SMS", sid(1)))
    deliver("whatsapp", whatsapp("By WhatsApp", sid(2)))
    assert Lead.select().count() == 1 and Conversation.select().count() == 1
    assert sorted(c.kind for c in Contact.select()) == ["phone", "whatsapp"]
    assert [(m.transport, m.text) for m in messages()] == [("sms", "By SMS"),
                                                          ("whatsapp", "By WhatsApp")]


def test_media_become_attachments(any_db):
    deliver("sms", sms("my receipt", sid(1), NumMedia="3",
                       MediaUrl0="https://api.twilio.com/media/ME1", MediaContentType0="image/jpeg",
                       MediaUrl1="https://api.twilio.com/media/ME2",
                       MediaContentType1="application/pdf",
                       MediaUrl2="https://api.twilio.com/media/ME3", MediaContentType2="audio/ogg"))
    [message] = messages()
    assert json.loads(message.attachments) == [
        {"kind": "photo", "mime_type": "image/jpeg", "url": "https://api.twilio.com/media/ME1"},
        {"kind": "document", "mime_type": "application/pdf",
         "url": "https://api.twilio.com/media/ME2"},
        {"kind": "audio", "mime_type": "audio/ogg", "url": "https://api.twilio.com/media/ME3"}]


def test_a_media_message_without_text(any_db):
    deliver("whatsapp", whatsapp("", sid(1), NumMedia="1", MediaUrl0="https://x.test/v",
                                 MediaContentType0="video/mp4"))
    [message] = messages()
    assert message.text is None and json.loads(message.attachments)[0]["kind"] == "video"


@pytest.mark.parametrize("nonsense", ["-3", "many", "500"])
def test_a_strange_media_count_is_no_failure(any_db, nonsense):
    deliver("sms", sms("hi", sid(1), NumMedia=nonsense))
    assert json.loads(messages()[0].attachments) == []


@pytest.mark.parametrize("channel, payload", [
    ("sms", sms), ("whatsapp", whatsapp)])
def test_stop_and_start_change_consent_on_that_channel_only(any_db, channel, payload):
    deliver(channel, payload("Hello", sid(1)))
    lead = Lead.get()
    deliver(channel, payload("  stop ", sid(2)))
    assert consent.opted_out(lead.id, channel, ANN)
    assert [m.text for m in messages()] == ["Hello"]     # a keyword is not a message
    deliver(channel, payload("Start", sid(3)))
    assert not consent.opted_out(lead.id, channel, ANN)
    deliver(channel, payload("UNSUBSCRIBE", sid(4)))
    assert consent.opted_out(lead.id, channel, ANN)
    deliver(channel, payload("unstop", sid(5)))
    assert not consent.opted_out(lead.id, channel, ANN)


@pytest.mark.parametrize("body", ["STOPALL", "cancel", "End", "QUIT"])
def test_every_twilio_opt_out_keyword(any_db, body):
    deliver("sms", sms("Hello", sid(1)))
    deliver("sms", sms(body, sid(2)))
    assert consent.opted_out(Lead.get().id, "sms", ANN)


def test_a_keyword_inside_a_sentence_is_a_message(any_db):
    deliver("sms", sms("Please stop calling me at work", sid(1)))
    deliver("sms", sms("HELP", sid(2)))
    assert [m.text for m in messages()] == ["Please stop calling me at work", "HELP"]
    assert not consent.opted_out(Lead.get().id, "sms", ANN)


def test_stop_from_a_stranger_records_nothing(any_db):
    deliver("sms", sms("STOP", sid(1), number=BOB))
    assert Lead.select().count() == 0 and messages() == []


def test_a_sender_that_is_not_a_phone_number_is_ignored(any_db):
    assert deliver("sms", sms("Your code is 1234", sid(1), number="VERIFY")) == 1
    assert Lead.select().count() == 0 and messages() == []


def sent_row(provider_id, channel="sms", conversation=None):
    """An SMS row the sender has sent, as Twilio's receipt left it."""
    now = utcnow()
    row = OutboxMessage.create(key=f"test:{provider_id}", channel=channel, address=ANN,
                               text="Your order ships today", parse_mode="plain", status="sent",
                               attempts=1, next_attempt_at=now, created_at=now, sent_at=now,
                               provider_id=provider_id, provider_status="queued",
                               conversation=conversation)
    return row


def status(provider_id, state, **extra):
    return {"MessageSid": provider_id, "MessageStatus": state, **extra}


def test_status_callbacks_move_the_row_on_in_order(any_db):
    row = sent_row(sid(9))
    for state in ("queued", "sent", "delivered"):
        deliver("status", status(sid(9), state), ref=f"{sid(9)}:{state}")
        assert OutboxMessage.get_by_id(row.id).provider_status == state
    # A late "sent" never moves a delivered message back.
    twilio_in.status(status(sid(9), "sent"))
    assert OutboxMessage.get_by_id(row.id).provider_status == "delivered"
    assert twilio_in.status(status(sid(9), "read")) is True
    assert OutboxMessage.get_by_id(row.id).status == "sent"


def test_undelivered_marks_the_row_failed_with_twilios_reason(any_db):
    row = sent_row(sid(9))
    deliver("status", status(sid(9), "sent"), ref=f"{sid(9)}:sent")
    deliver("status", status(sid(9), "undelivered", ErrorCode="30003"),
            ref=f"{sid(9)}:undelivered")
    row = OutboxMessage.get_by_id(row.id)
    assert (row.status, row.provider_status) == ("failed", "undelivered")
    assert row.last_error == "Twilio 30003: unreachable destination handset"


def test_failed_with_twilios_own_message(any_db):
    row = sent_row(sid(9))
    twilio_in.status(status(sid(9), "failed", ErrorCode="63016",
                            ErrorMessage="Outside the allowed window"))
    assert OutboxMessage.get_by_id(row.id).last_error == "Twilio 63016: Outside the allowed window"


def test_a_status_for_a_message_we_do_not_know_is_left(any_db):
    assert deliver("status", status(sid(404), "delivered"), ref=f"{sid(404)}:delivered") == 1
    assert twilio_in.status({"MessageSid": sid(404)}) is False


def test_the_fake_twilios_callbacks_end_to_end(any_db, fake, serve):
    """The transport sends through the fake, which calls the webhook over HTTP; the
    scheduler's pass then moves the row: queued, sent, undelivered."""
    served = serve(hooks_app(twilio_settings(fake)))
    fake.forward(PUBLIC, served.url)
    fake.outcome(["queued", "sent", "undelivered"], to=ANN, error_code=30005)
    receipt = TwilioTransport("sms", twilio_settings(fake)).send(claimed("Hi Ann"))
    assert receipt == Receipt(receipt.provider_id, "queued")
    row = sent_row(receipt.provider_id)
    fake.wait_for_callbacks()
    assert [c.status for c in fake.callbacks] == [200, 200, 200]
    assert inbound.process_pending() == 3
    row = OutboxMessage.get_by_id(row.id)
    assert (row.status, row.provider_status) == ("failed", "undelivered")
    assert row.last_error == "Twilio 30005: unknown destination handset"


def test_the_fake_twilios_inbound_end_to_end(any_db, fake, serve):
    served = serve(hooks_app(twilio_settings(fake)))
    fake.forward(PUBLIC, served.url)
    assert fake.send_inbound(f"{PUBLIC}/hooks/twilio/sms", ANN, SMS_FROM, "Hello",
                             media=[("https://api.twilio.com/m/ME1", "image/png")]) == 200
    assert fake.retry_inbound() == 200
    assert fake.send_inbound(f"{PUBLIC}/hooks/twilio/whatsapp", ANN, WHATSAPP_FROM, "Again",
                             channel="whatsapp", profile_name="Ann") == 200
    assert inbound.process_pending() == 2
    assert [(m.transport, m.text) for m in messages()] == [("sms", "Hello"), ("whatsapp", "Again")]
    assert json.loads(messages()[0].attachments)[0]["kind"] == "photo"
    assert Conversation.select().count() == 1


def test_consent_is_kept_by_contact(any_db):
    """What STOP records is what broadcasts read: the contact's opted_out_at."""
    deliver("sms", sms("Hello", sid(1)))
    deliver("sms", sms("STOP", sid(2)))
    contact = Contact.get(Contact.kind == "phone")
    assert contact.opted_out_at is not None
    assert consent.opt_in(Actor.system("test"), Lead.get(), "sms", ANN) is True
