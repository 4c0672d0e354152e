"""Email, SMS and WhatsApp with the real processes (issue 14): `python bot.py`,
`python scheduler.py` and `python admin.py` against a local SMTP server (aiosmtpd), a
private Dovecot (IMAP), the fake Twilio and the Bot API emulator.

A client writes by email, then SMS, then Telegram: one conversation holds all three, and
the team's answers reach each channel. Faults (SMTP down, IMAP refusing the login, Twilio
failing, a forged webhook) give a clear error in the log and the panel and lose nothing.
"""
import email.message
import email.utils
import json
import re

import pytest

from devtools.fake_twilio import FakeTwilio
from models import ChannelState, Conversation, InboundEvent, Message, OutboxMessage
from tests.e2e.conftest import ADMIN_ID, panel_session, wait_until
from tests.e2e.test_admin_browser import wait_for_page
from tests.e2e.test_client_inbox import writes

pytestmark = pytest.mark.e2e

PUBLIC = "https://crm.e2e.example"      # PUBLIC_BASE_URL: what Twilio calls and signs
ZOE_EMAIL, ZOE_PHONE, ZOE_TELEGRAM = "zoe@example.com", "+14155550100", 6001
SMS_FROM = "+15005550006"


@pytest.fixture
def twilio():
    with FakeTwilio(callback_delay=0.01) as fake:
        yield fake


@pytest.fixture
def channels(make_smtp_server, imap_server, twilio, processes_any_db):
    """The three processes with every channel set up, the admin on the team; returns
    (processes, env, smtp, imap, twilio)."""
    smtp = make_smtp_server()   # AUTH, no TLS: loopback
    env = {**smtp.settings(), **imap_server.settings(ssl=False),
           "EMAIL_FROM": "Acme Support <support@acme.example>", "IMAP_POLL_SECONDS": "1",
           "TWILIO_ACCOUNT_SID": twilio.account_sid, "TWILIO_AUTH_TOKEN": twilio.auth_token,
           "TWILIO_SMS_FROM": SMS_FROM, "TWILIO_WHATSAPP_FROM": "+14155238886",
           "TWILIO_API_URL": twilio.base_url, "PUBLIC_BASE_URL": PUBLIC, "COMPANY_NAME": "Acme"}
    processes = processes_any_db
    twilio.forward(PUBLIC, processes.panel_url)   # the panel behind a proxy
    return processes, env, smtp, imap_server, twilio


def start(processes, env, **changes):
    bot = processes.start("bot.py", **env)
    scheduler = processes.start("scheduler.py", **{**env, **changes})
    panel = processes.start("admin.py", **env)
    wait_for_page(processes.panel_url, panel, "/login")
    return bot, scheduler, panel


def mail(subject, body, message_id, in_reply_to=None, sender=f"Zoë Quinn <{ZOE_EMAIL}>"):
    message = email.message.EmailMessage()
    message["From"], message["To"] = sender, "support@acme.example"
    message["Subject"], message["Message-ID"] = subject, message_id
    message["Date"] = email.utils.formatdate()
    if in_reply_to:
        message["In-Reply-To"] = message["References"] = in_reply_to
    message.set_content(body)
    return message


def alert(emulator, contains):
    return emulator.wait_for_message(ADMIN_ID, contains, timeout=20)


def test_one_conversation_across_email_sms_and_telegram(channels, emulator, chat_with):
    processes, env, smtp, imap, twilio = channels
    start(processes, env)
    admin = chat_with(ADMIN_ID, "Ada")
    assert "as admin" in admin.send("/start", replies=2)["text"]

    # 1. Email: the scheduler takes it from the mailbox; the team is told where it came from.
    imap.deliver(mail("Prices?", "Hello, what are your prices?\n\nOn Mon, 1 Jun 2026, Acme "
                      "wrote:\n> Our catalogue is attached", "<c1@mail.example>"))
    told = alert(emulator, "Email · zoe@example.com")
    assert "Zoë Quinn" in told["text"] and "what are your prices?" in told["text"]
    assert "catalogue" not in told["text"]   # the quoted history is trimmed
    conversation = Conversation.get()
    [first] = Message.select()
    assert json.loads(first.details)["original"].endswith("> Our catalogue is attached")

    # Answering the alert with Telegram's reply answers by email, in the client's thread.
    writes(emulator, admin, "Our prices start at 10 USD.", reply_to=told["message_id"])
    [sent] = smtp.wait_for(1, timeout=15)
    received = sent.message
    assert (received["To"], received["Subject"]) == (ZOE_EMAIL, "Re: Prices?")
    assert received["In-Reply-To"] == "<c1@mail.example>"
    assert "Our prices start at 10 USD." in received.get_body(("plain",)).get_content()
    assert "/unsubscribe/" in received["List-Unsubscribe"]

    # The team records the client's phone and Telegram account in the panel.
    session, csrf = panel_session(processes.panel_url)
    page = f"/conversations/{conversation.id}"
    for kind, value in (("phone", "+1 415 555 0100"), ("telegram", str(ZOE_TELEGRAM))):
        added = session.post(f"{processes.panel_url}{page}/contacts", timeout=10, data={
            "kind": kind, "value": value, "csrf_token": csrf(page)})
        assert added.status_code == 200 and f"Added {kind}" in added.text

    # 2. SMS, through Twilio's signed webhook (the proxy's public URL); a retry stores nothing.
    url = f"{PUBLIC}/hooks/twilio/sms"
    assert twilio.send_inbound(url, ZOE_PHONE, SMS_FROM, "Can I pay by card?") == 200
    assert twilio.retry_inbound() == 200
    wait_until(lambda: Message.select().where(Message.transport == "sms").exists(), 15, "the SMS")
    # Within a minute of the email's alert the team is not told again: Reply on the alert
    # answers where the client last wrote, and says so.
    replying = admin.press(told, "↩️ Reply", contains="Replying to")
    assert "by SMS · +1 415-555-0100" in replying["text"]
    writes(emulator, admin, "Yes, cards are fine.")
    wait_until(lambda: twilio.messages, 15, "the SMS answer")
    [sms] = twilio.messages
    assert (sms["to"], sms["from"], sms["body"]) == (ZOE_PHONE, SMS_FROM, "Yes, cards are fine.")
    answer = OutboxMessage.get(OutboxMessage.channel == "sms")
    wait_until(lambda: OutboxMessage.get_by_id(answer.id).provider_status == "delivered", 15,
               "Twilio's delivery report")

    # 3. Telegram: the client's account is theirs, so it is the same conversation.
    zoe = chat_with(ZOE_TELEGRAM, "Zoë")
    emulator.user_sends(ZOE_TELEGRAM, "And now I am on Telegram", first_name="Zoë")
    wait_until(lambda: Message.select().where(Message.transport == "telegram").exists(), 15,
               "the Telegram message")
    writes(emulator, admin, "Welcome to Telegram, Zoë!")
    emulator.wait_for_message(ZOE_TELEGRAM, "Welcome to Telegram, Zoë!")
    assert zoe.bot_messages()

    # 4. From the panel, the member picks the client's email instead.
    answered = session.post(f"{processes.panel_url}{page}/send", timeout=10, data={
        "text": "The invoice follows by email.", "via": f"email:{ZOE_EMAIL}",
        "csrf_token": csrf(page)})
    assert answered.status_code == 200
    second = smtp.wait_for(2, timeout=15)[1].message
    assert second["In-Reply-To"] == "<c1@mail.example>" and second["To"] == ZOE_EMAIL

    # One conversation: every channel's messages, each on its own.
    assert Conversation.select().count() == 1
    history = [(m.direction, m.transport) for m in Message.select().order_by(Message.id)]
    assert history == [("in", "email"), ("out", "email"), ("in", "sms"), ("out", "sms"),
                       ("in", "telegram"), ("out", "telegram"), ("out", "email")]
    shown = session.get(f"{processes.panel_url}{page}", timeout=10).text
    for label in ("Email", "SMS", "Telegram", "delivered"):
        assert label in shown, label
    stored = [e.source for e in InboundEvent.select().where(InboundEvent.source != "status")]
    assert stored == ["email", "sms"]   # Twilio's retry of the SMS was the same one


def test_faults_are_reported_and_lose_nothing(channels, emulator):
    processes, env, smtp, imap, twilio = channels
    imap.deliver(mail("Hello", "Are you open on Sunday?", "<c2@mail.example>"))
    # IMAP refuses the login: said in the log and the panel; the mail stays in the mailbox.
    bot, scheduler, panel = start(processes, env, IMAP_PASSWORD="wrong")
    wait_until(lambda: (ChannelState.get_or_none(ChannelState.name == "imap") or
                        ChannelState()).error, 15, "the IMAP error")
    session, csrf = panel_session(processes.panel_url)
    page = session.get(f"{processes.panel_url}/channels/", timeout=10).text
    assert "IMAP login refused" in page
    assert not Message.select().exists()
    processes.kill(scheduler)
    processes.start("scheduler.py", **env)   # the password fixed: the mail is taken, once
    wait_until(lambda: Message.select().count() == 1, 15, "the mail")
    conversation = Conversation.get()

    # SMTP down: the answer waits with the reason; once it is back, it goes once.
    smtp.stop()
    path = f"/conversations/{conversation.id}"
    session.post(f"{processes.panel_url}{path}/send", timeout=10, data={
        "text": "Yes, from 10 to 4.", "csrf_token": csrf(path)})
    row = wait_until(lambda: OutboxMessage.get_or_none(OutboxMessage.channel == "email",
                                                       OutboxMessage.last_error.is_null(False)),
                     15, "the SMTP error")
    assert row.status == "pending" and "refused" in row.last_error.lower()
    assert ChannelState.get_by_id("email").error
    assert re.search(r"email zoe@example.com: transient", processes.output())
    smtp.start()
    wait_until(lambda: OutboxMessage.get_by_id(row.id).status == "sent", 30, "the retried email")
    assert len(smtp.messages) == 1

    # Twilio answers 503 twice: retried with backoff, sent once.
    session.post(f"{processes.panel_url}{path}/contacts", timeout=10, data={
        "kind": "phone", "value": ZOE_PHONE, "csrf_token": csrf(path)})
    twilio.fail(503, times=2)
    session.post(f"{processes.panel_url}{path}/send", timeout=10, data={
        "text": "Texting you too.", "via": f"sms:{ZOE_PHONE}", "csrf_token": csrf(path)})
    wait_until(lambda: twilio.messages, 40, "the SMS after Twilio's 503s")
    sms_row = OutboxMessage.get(OutboxMessage.channel == "sms")
    assert len(twilio.messages) == 1 and sms_row.attempts == 3   # two 503s, then sent

    # A forged webhook: 403, nothing stored, and the panel says why (after the delivery
    # reports of that SMS: a genuine webhook after it would clear the error, as it should).
    twilio.wait_for_callbacks(timeout=15)
    stored = InboundEvent.select().count()
    assert twilio.send_inbound(f"{PUBLIC}/hooks/twilio/sms", ZOE_PHONE, SMS_FROM, "forged",
                               auth_token="not-the-token") == 403
    assert InboundEvent.select().count() == stored
    assert "bad X-Twilio-Signature" in session.get(f"{processes.panel_url}/channels/",
                                                  timeout=10).text
    assert "refused a Twilio webhook" in processes.output()
