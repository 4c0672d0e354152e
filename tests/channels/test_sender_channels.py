"""The sender on email, SMS and WhatsApp rows: the same retries, failure kinds and claims as
Telegram's, a channel that is off or refuses our settings waiting without holding up the
others, and the provider's delivery reports (services/delivery/sender.py, outbox.py)."""
import datetime as dt
import json

import pytest

from models import ChannelState, Conversation, Message, OutboxMessage
from services.core import events
from services.delivery import channels, outbox
from services.delivery.channels import Transports
from services.delivery.sender import DeliveryPolicy, deliver_batch
from services.delivery.transport import (
    MISCONFIGURED,
    PERMANENT,
    RETRY_AFTER,
    TRANSIENT,
    DeliveryError,
    Receipt,
)

NOW = dt.datetime(2026, 11, 27, 9, 0)


class FakeProvider:
    """A channel transport that records what it sends, or fails as told."""

    def __init__(self, channel, failures=()):
        self.channel, self.failures, self.sent = channel, list(failures), []

    def send(self, message):
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append((message.address, message.text, json.loads(message.headers or "{}")))
        return Receipt(f"SM{len(self.sent):032d}", "queued")


class FakeTelegram:
    channel = "telegram"

    def __init__(self):
        self.sent = []

    def send(self, chat_id, text, parse_mode=None, reply_markup=None):
        self.sent.append((chat_id, text))
        return len(self.sent)


def queue(key, channel="sms", address="+14155550100", **fields):
    outbox.enqueue(key, None, f"text {key}", parse_mode="plain", channel=channel,
                   address=address, next_attempt_at=NOW, **fields)
    return OutboxMessage.get(OutboxMessage.key == key)


def send(transports, now=NOW):
    return deliver_batch(transports, 50, DeliveryPolicy(per_chat_gap=0), now=lambda: now,
                         rand=lambda: 0.5)


def test_an_sms_row_goes_through_its_transport_and_keeps_the_providers_id(any_db):
    sms = FakeProvider("sms")
    row = queue("a", headers=json.dumps({"x": 1}))
    result = send(Transports(FakeTelegram(), sms=sms))
    assert (result.sent, sms.sent) == (1, [("+14155550100", "text a", {"x": 1})])
    row = OutboxMessage.get_by_id(row.id)
    assert (row.status, row.provider_id, row.provider_status, row.attempts) == (
        "sent", "SM" + "1".zfill(32), "queued", 1)
    assert ChannelState.get_by_id("sms").error is None


def test_transient_errors_back_off_and_rate_limits_hold_that_number_only(any_db):
    sms = FakeProvider("sms", [DeliveryError(TRANSIENT, "HTTP 503"),
                               DeliveryError(RETRY_AFTER, "Too Many Requests", retry_after=30)])
    first = queue("a", address="+14155550100")
    queue("b", address="+14155550101")
    queue("c", address="+14155550101")   # after a 429 for its number: waits with it
    queue("d", address="+14155550102")
    result = send(Transports(None, sms=sms))
    assert (result.sent, result.retrying) == (1, 3)
    rows = {r.key: r for r in OutboxMessage.select()}
    assert rows["a"].status == "pending" and rows["a"].attempts == 1
    assert rows["a"].next_attempt_at == NOW + dt.timedelta(seconds=5)   # backoff, jitter 0.5
    assert rows["b"].next_attempt_at == rows["c"].next_attempt_at == NOW + dt.timedelta(seconds=30)
    assert rows["d"].status == "sent"
    assert "Too Many Requests" in ChannelState.get_by_id("sms").error
    assert first.id  # the row was never lost: pending again, its error kept
    assert rows["a"].last_error == "HTTP 503"


def test_a_permanent_error_fails_the_row_and_tells_the_member_who_sent_it(any_db, make_lead,
                                                                          make_user):
    member = make_user("sales")
    lead = make_lead()
    conversation = Conversation.create(lead=lead, last_message_at=NOW)
    row = queue("a", conversation=conversation)
    Message.create(conversation=conversation, direction="out", sender_kind="member",
                   sender=member, sender_label="Sam", transport="sms", text="hi", outbox=row)
    told = []
    events.subscribe("message.undelivered", told.append)
    try:
        send(Transports(None, sms=FakeProvider("sms", [
            DeliveryError(PERMANENT, "Twilio 21211: Invalid 'To' Phone Number")])))
    finally:
        events.unsubscribe("message.undelivered", told.append)
    row = OutboxMessage.get_by_id(row.id)
    assert (row.status, row.last_error) == ("failed", "Twilio 21211: Invalid 'To' Phone Number")
    assert [e.data["error"] for e in told] == ["Twilio 21211: Invalid 'To' Phone Number"]
    reminder = OutboxMessage.get(OutboxMessage.recipient == member.id)
    assert "was not delivered" in reminder.text and "21211" in reminder.text


def test_a_channel_that_refuses_our_settings_waits_without_holding_up_telegram(any_db,
                                                                              make_user):
    member = make_user("sales")
    outbox.enqueue("tg", member, "hello", next_attempt_at=NOW)
    queue("a", channel="email", address="ann@example.com")
    queue("b", channel="email", address="bob@example.com")
    telegram = FakeTelegram()
    email = FakeProvider("email", [DeliveryError(MISCONFIGURED, "SMTP login refused: check "
                                                                "SMTP_USERNAME and SMTP_PASSWORD")])
    result = send(Transports(telegram, email=email))
    assert telegram.sent == [(member.telegram_id, "hello")] and email.sent == []
    assert not result.misconfigured   # the scheduler keeps sending Telegram's
    later = NOW + dt.timedelta(seconds=DeliveryPolicy().channel_retry_seconds)
    for row in OutboxMessage.select().where(OutboxMessage.channel == "email"):
        assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 0, later)
        assert "SMTP_PASSWORD" in row.last_error
    assert "SMTP login refused" in ChannelState.get_by_id("email").error


def test_a_channel_that_is_off_keeps_its_rows_and_says_which_settings_it_needs(any_db):
    row = queue("a", channel="whatsapp")
    result = send(Transports(FakeTelegram()))
    row = OutboxMessage.get_by_id(row.id)
    assert (result.sent, row.status) == (0, "pending")
    assert row.last_error == channels.off_reason("whatsapp")
    assert "TWILIO_WHATSAPP_FROM" in row.last_error


def test_a_row_is_claimed_once_by_two_schedulers(any_db):
    for n in range(10):
        queue(f"r{n}", address=f"+1415555{n:04d}")
    first = outbox.claim_batch(6, NOW, worker="host:1")
    second = outbox.claim_batch(6, NOW, worker="host:2")
    assert len(first) == 6 and len(second) == 4
    assert not {m.id for m in first} & {m.id for m in second}
    assert {m.channel for m in first + second} == {"sms"} and first[0].chat_id is None


def _sent_row(any_db_key="a"):
    row = queue(any_db_key)
    send(Transports(None, sms=FakeProvider("sms")))
    return OutboxMessage.get_by_id(row.id)


def test_delivery_reports_move_the_row_forward_only(any_db):
    row = _sent_row()
    assert outbox.record_provider_status(row.provider_id, "delivered", now=NOW)
    assert not outbox.record_provider_status(row.provider_id, "sent", now=NOW)   # late, older
    assert outbox.record_provider_status(row.provider_id, "read", now=NOW)
    assert not outbox.record_provider_status(row.provider_id, "read", now=NOW)   # a retry
    assert not outbox.record_provider_status("SMunknown", "delivered", now=NOW)
    assert not outbox.record_provider_status(row.provider_id, "exploded", now=NOW)
    row = OutboxMessage.get_by_id(row.id)
    assert (row.status, row.provider_status) == ("sent", "read")


def test_an_undelivered_report_fails_the_row_with_the_providers_reason(any_db):
    row = _sent_row()
    assert outbox.record_provider_status(row.provider_id, "undelivered",
                                         error="Twilio 30003: Unreachable destination handset")
    row = OutboxMessage.get_by_id(row.id)
    assert (row.status, row.provider_status, row.last_error) == (
        "failed", "undelivered", "Twilio 30003: Unreachable destination handset")


@pytest.mark.parametrize("kind", [TRANSIENT, PERMANENT, MISCONFIGURED])
def test_every_failure_is_logged_with_the_channel_and_address(any_db, caplog, kind):
    queue("a", channel="email", address="ann@example.com")
    send(Transports(None, email=FakeProvider("email", [DeliveryError(kind, "it broke")])))
    assert f"to email ann@example.com: {kind}: it broke" in caplog.text
