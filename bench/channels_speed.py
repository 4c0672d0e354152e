"""The scheduler's own time per email and per SMS (issue 14: target <= 5 ms), the
provider's excluded: the real SmtpTransport builds each mail (MIME, both parts, headers)
and hands it to an SMTP connection that takes it at once; the real TwilioTransport builds
each request with the official client, whose HTTP client answers at once as Twilio does.
What is timed is deliver_batch: claiming, composing, sending through those, marking sent.

Messages are queued as the bot and the panel queue them (sending.send_text, with email
threading headers and SMS parts counted), for 1,000 clients with an email and a phone.
"""
import dataclasses
import statistics
import time

from twilio.http.response import Response  # noqa: E402

from common import note, percentile, say
from outbox_speed import each_backend

import models  # noqa: E402
from models import Contact, OutboxMessage  # noqa: E402
from services.core import policy, search  # noqa: E402
from services.core.actors import Actor  # noqa: E402
from services.core.config import load_settings  # noqa: E402
from services.delivery.channels import Transports  # noqa: E402
from services.delivery.email_smtp import SmtpTransport  # noqa: E402
from services.delivery.sender import DeliveryPolicy, deliver_batch  # noqa: E402
from services.delivery.twilio_messages import TwilioTransport  # noqa: E402
from services.inbox import clients, conversations, destinations, sending  # noqa: E402

TARGET_MS = 5.0
CLIENTS = 1000
BATCH = 30
TEXT = ("Hello {name}, thanks for your message about the order. We will ship it on Monday; "
        "the tracking number follows by email. Reply here with any question.")
SETTINGS = dataclasses.replace(
    load_settings({}), smtp_host="smtp.bench.invalid", email_from="Acme <support@acme.example>",
    smtp_security="none", twilio_account_sid="AC" + "0" * 32, twilio_auth_token="bench",
    twilio_sms_from="+15005550006", public_base_url="https://crm.acme.example",
    secret_key="bench-secret-key-" * 3, company_name="Acme")


class AcceptingSmtp:
    """An SMTP connection that takes every mail at once: no provider time."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def send_message(self, message, from_addr=None, to_addrs=None):
        message.as_bytes()   # what smtplib does before the wire: serialise the mail
        return {}


class NoNetworkSmtp(SmtpTransport):
    def _connect(self):
        return AcceptingSmtp()


class AcceptingTwilio:
    """Twilio's HTTP client answering every create as Twilio does, at once."""

    def __init__(self):
        self.count = 0

    def request(self, method, url, params=None, data=None, headers=None, auth=None,
                timeout=None, allow_redirects=False):
        self.count += 1
        body = ('{"sid": "SM%032d", "status": "queued", "to": "%s", "from": "+15005550006", '
                '"body": "", "num_segments": "2", "account_sid": "AC%s"}'
                % (self.count, data.get("To"), "0" * 32))
        return Response(201, body)


def build(now):
    actor = Actor.system("bench")
    for n in range(CLIENTS):
        lead, _ = clients.from_address(actor, "email", f"client{n}@example.com", f"Client {n}", now)
        Contact.create(lead=lead, kind="phone", value=f"+1415555{n:04d}",
                       search_value=search.fold(f"+1415555{n:04d}"))
        conversations.record_inbound(actor, lead, "Where is my order?", transport="email",
                                     address=f"client{n}@example.com",
                                     external_ref=f"<c{n}@mail.example>",
                                     details={"subject": "My order"}, now=now)


def queue(channel, now):
    """One message to each client on `channel`, as a member's answer; ms per message."""
    started = time.perf_counter()
    panel = Actor.panel("bench")
    for conversation in models.Conversation.select():
        target = destinations.of_channel(conversation.lead_id, channel)
        sending.send_text(panel, conversation.id, TEXT.format(name=conversation.lead_id),
                          destination=target, now=now)
    return 1000 * (time.perf_counter() - started) / CLIENTS


def drain(channel, transports):
    no_gaps = DeliveryPolicy(per_chat_gap=0, messages_per_second=1e9)
    per_message, sent = [], 0
    while True:
        started = time.perf_counter()
        result = deliver_batch(transports, BATCH, no_gaps)
        elapsed = time.perf_counter() - started
        if not result.claimed:
            break
        per_message.append(1000 * elapsed / result.claimed)
        sent += result.sent
    waiting = OutboxMessage.select().where(OutboxMessage.channel == channel,
                                           OutboxMessage.status != "sent").count()
    return per_message, sent, waiting


def bench_channels():
    for backend, url in each_backend("channels ms/message"):
        say(f"\n== channels: {CLIENTS:,} clients, an email and an SMS to each, {backend} ==")
        models.bind(url)
        policy.configure(SETTINGS)
        now = models.utcnow()
        build(now)
        transports = Transports(None, email=NoNetworkSmtp(SETTINGS),
                                sms=TwilioTransport("sms", SETTINGS, http_client=AcceptingTwilio()))
        for channel in ("email", "sms"):
            queued_ms = queue(channel, now)
            per_message, sent, waiting = drain(channel, transports)
            median, p95 = statistics.median(per_message), percentile(per_message, 0.95)
            ok = median <= TARGET_MS and p95 <= TARGET_MS
            say(f"{backend}: {channel:<5} {sent} sent ({waiting} not sent), per message median "
                f"{median:.2f} ms, p95 {p95:.2f} ms   target <= {TARGET_MS:g} ms: "
                f"{'ok' if ok else 'MISSED'}   (queueing it: {queued_ms:.2f} ms)")
            note(f"scheduler ms per {channel}, median / p95", backend,
                 f"{median:.2f} / {p95:.2f} ms", f"<= {TARGET_MS:g} ms", ok)
        models.db.close()
        policy.configure(load_settings({}))


if __name__ == "__main__":
    from common import print_table
    bench_channels()
    print_table()
