"""A conversation on Telegram, email and SMS in a real browser (headless Chromium against
`python admin.py` with email and Twilio set up): each bubble's channel and address, an
email's subject and original, the provider's delivery reports; "Send by" switching the
refusal shown and the SMS part counter, which counts as services/delivery/sms_segments.py
does; an answer sent by SMS. Photographed at 1,400 and 390 px, and nothing may stick out
past the screen's right edge; the Channels page too."""
import datetime
import json

import pytest

from models import Contact, InboundEvent, OutboxMessage, User, utcnow
from services.core import policy
from services.core.actors import Actor
from services.crm import contacts
from services.delivery import channels, outbox, sms_segments
from services.inbox import clients, conversations, destinations, inbound, sending
from tests.e2e import test_admin_browser as admin_browser
from tests.e2e.conftest import PANEL_USER
from tests.e2e.test_responsive_browser import PAST_THE_EDGE

pytestmark = pytest.mark.e2e

browser = admin_browser.browser  # headless Chromium at /usr/bin/chromium, or a skip saying why
ARTIFACTS = admin_browser.ARTIFACTS
CHANNEL_ENV = {
    "SMTP_HOST": "127.0.0.1", "SMTP_PORT": "2525", "EMAIL_FROM": "Acme Clinics <team@acme.example>",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "e2e-token",
    "TWILIO_SMS_FROM": "+15005550006", "TWILIO_WHATSAPP_FROM": "+14155238886",
    "TWILIO_API_URL": "http://127.0.0.1:9", "PUBLIC_BASE_URL": "https://crm.example.com",
}
EMAIL = "olga.petrenko-kovalenko@an-extraordinarily-long-company-name.example.com"
PHONE, WHATSAPP = "+380441234567", "+380441234568"
# What the counter must count as the server does: GSM-7 with its two-septet extension
# characters, UCS-2 with an emoji (two units, never split), and part boundaries.
COUNTED = ["Your quote is ready", "Price: 20 € [VAT incl.] ~ {ok}", "a" * 160, "a" * 161,
           "€" * 80 + "a", "Привет, Ольга! Ваш заказ готов.", "Thanks 👍" * 10, "é" * 70 + "ü"]


def olgas_conversation():
    """Olga wrote on Telegram, then by email (a quoted reply, a PDF), then by SMS; the team
    answered by email and by SMS (one delivered, one the carrier could not deliver)."""
    user = User.create(telegram_id=700_101, first_name="Olga", last_name="Petrenko-Kovalenko",
                       username="olga_petrenko_kovalenko")
    lead, _ = clients.from_telegram(Actor.client(user), user)
    for kind, value in (("email", EMAIL), ("phone", PHONE), ("whatsapp", WHATSAPP)):
        contacts.add(Actor.panel("setup"), lead.id, kind, value)
    start = utcnow() - datetime.timedelta(hours=30)
    at = [start + datetime.timedelta(minutes=n * 7) for n in range(8)]
    conversations.record_inbound(Actor.client(user), lead, "Hello! Do you have booking software "
                                 "for a clinic with three sites?", now=at[0])
    conversations.record_inbound(
        Actor.system("email"), lead, "Here is our list of rooms, as promised.", transport="email",
        address=EMAIL, external_ref="<olga-1@example.com>", now=at[1],
        attachments=[{"kind": "document", "file_name": "rooms-and-opening-hours-2026.pdf",
                      "mime_type": "application/pdf", "file_size": 284_113}],
        details={"subject": "Re: Booking software for Petrenko-Kovalenko Veterinary Clinics",
                 "references": [], "original": "Here is our list of rooms, as promised.\n\n"
                 "Best,\nOlga\n--\nPetrenko-Kovalenko Veterinary Clinics\n\n"
                 "On Mon, Acme Clinics <team@acme.example> wrote:\n> Could you send the rooms?"})
    conversation = conversations.of_lead(lead.id)
    member = Actor.panel(PANEL_USER)
    by_email = sending.send_text(member, conversation.id, "Thank you, Olga. The quote follows today.",
                                 now=at[2], destination=destinations.find(lead.id, f"email:{EMAIL}"))
    OutboxMessage.update(status="sent", sent_at=at[2], provider_id="<q1@acme.example>").where(
        OutboxMessage.id == by_email.outbox_id).execute()
    conversations.record_inbound(Actor.system("sms"), lead, "Got it, thanks! Can we talk at 3?",
                                 transport="sms", address=PHONE, external_ref="SMin1", now=at[3])
    sms = destinations.find(lead.id, f"sms:{PHONE}")
    for n, (text, report, error) in enumerate((
            ("Yes, I will call you at 3 pm.", "delivered", None),
            ("Calling now.", "undelivered", "Twilio 30003: Unreachable destination handset"))):
        answer = sending.send_text(member, conversation.id, text, now=at[4 + n], destination=sms)
        OutboxMessage.update(status="sent", sent_at=at[4 + n], provider_id=f"SMout{n}",
                             provider_status="sent").where(OutboxMessage.id == answer.outbox_id).execute()
        outbox.record_provider_status(f"SMout{n}", report, error=error, now=at[4 + n])
    return user, lead, conversation


def test_a_conversation_on_three_channels_reads_well_wide_and_on_a_phone(browser, processes, monkeypatch):
    monkeypatch.setattr(policy, "_current", policy.Policy(
        channels=frozenset(policy.CHANNELS), email_from=CHANNEL_ENV["EMAIL_FROM"], company="Acme Clinics",
        public_base_url=CHANNEL_ENV["PUBLIC_BASE_URL"], secret_key="e2e-" + "s3cr3t-key-" * 4))
    user, lead, conversation = olgas_conversation()
    # Sending email fails now (a success before it); an SMS webhook could not be handled.
    channels.record_ok("email", utcnow() - datetime.timedelta(hours=2))
    channels.record_error("email", "SMTP 421 4.7.0 mail.acme.example: too many connections, try later")
    inbound.store("sms", "SMlost", {"From": PHONE, "Body": "?"})
    InboundEvent.update(attempts=inbound.MAX_ATTEMPTS, processed_at=utcnow(),
                        last_error="ValueError: From is not a phone number we can answer").execute()
    base = processes.panel_url
    panel = processes.start("admin.py", TZ="Europe/Kyiv", **CHANNEL_ENV)
    admin_browser.wait_for_page(base, panel, "/login")  # no scheduler: /health would wait
    path = f"/conversations/{conversation.id}"
    ARTIFACTS.mkdir(exist_ok=True)
    problems = {}

    page = admin_browser.logged_in(browser, base, path, width=1400, height=1000)
    seen = admin_browser.Recorder(page)
    heads = [" ".join(t.split()) for t in page.locator(".bubble-head").all_inner_texts()]
    olga, us = "Olga Petrenko-Kovalenko", f"admin panel ({PANEL_USER})"
    assert heads == [f"{olga} Telegram", f"{olga} Email {EMAIL}", f"{us} Email {EMAIL}",
                     f"{olga} SMS +380 44 123 4567", f"{us} SMS +380 44 123 4567",
                     f"{us} SMS +380 44 123 4567"]
    assert "Re: Booking software" in page.inner_text(".bubble-subject >> nth=0")
    assert "📎 document rooms-and-opening-hours-2026.pdf application/pdf · 277.5 KB" in " ".join(
        page.inner_text("#chat-list").split())
    original = page.locator(".bubble-original .bubble-text")
    assert not original.is_visible()
    page.click(".bubble-original summary")
    assert "> Could you send the rooms?" in original.inner_text()
    states = page.locator(".chat-row-out .delivery").all_inner_texts()
    assert states[0].strip() == "✓ sent" and states[1].strip() == "✓✓ delivered"
    assert "✗ undelivered: Twilio 30003: Unreachable destination handset" in states[2]

    # "Send by": where Olga last wrote (SMS), its counter counting as the server does.
    assert page.input_value("#composer-via") == f"sms:{PHONE}"
    assert page.is_visible("#sms-count") and not page.is_visible("#send-problem")
    for text in COUNTED:
        page.fill("#composer-text", text)
        counted = sms_segments.count(text)
        parts = f"{counted.segments} SMS part{'s' if counted.segments != 1 else ''}"
        expected = f"{counted.characters} characters · {parts} ({counted.encoding})"
        assert page.inner_text("#sms-count-text") == expected, text
        assert page.is_visible("#sms-too-long") == (counted.segments > 5), text
    page.fill("#composer-text", "")
    page.screenshot(path=str(ARTIFACTS / "channels-conversation-1400.png"), full_page=True)
    # WhatsApp: Olga never wrote there, so only an approved template may go; the refusal says so.
    page.select_option("#composer-via", f"whatsapp:{WHATSAPP}")
    assert page.is_hidden("#sms-count")
    assert "content SID" in page.inner_text("#send-problem")
    page.select_option("#composer-via", f"email:{EMAIL}")
    assert page.is_hidden("#sms-count") and page.locator("#send-problem").count() == 0
    fit = page.evaluate(PAST_THE_EDGE)
    if fit["scrollWidth"] > fit["width"] or fit["wide"]:
        problems["conversation at 1400px"] = fit

    # An answer by SMS from the composer.
    page.select_option("#composer-via", f"sms:{PHONE}")
    page.fill("#composer-text", "See you at 3 pm, Olga.")
    page.click("#send-button")
    page.wait_for_load_state()
    page.locator(".chat-row-out", has_text="See you at 3 pm, Olga.").wait_for()
    row = OutboxMessage.get(OutboxMessage.text == "See you at 3 pm, Olga.")
    assert (row.channel, row.address, row.recipient_id, row.status) == ("sms", PHONE, None, "pending")
    assert page.input_value("#composer-via") == f"sms:{PHONE}"

    # The dashboard warns; its card leads to the Channels page, which says what failed.
    page.goto(f"{base}/")
    assert "Email sending" in page.inner_text("#channel-alert")
    page.screenshot(path=str(ARTIFACTS / "channels-dashboard-1400.png"))
    page.click("#channel-alert")
    page.wait_for_url(f"{base}/channels/")
    assert page.inner_text("#channel-sms .hook-url >> nth=0") == "https://crm.example.com/hooks/twilio/sms"
    assert "too many connections" in page.inner_text("#channel-email .text-danger")
    assert "From is not a phone number" in page.inner_text("#given-up")
    page.screenshot(path=str(ARTIFACTS / "channels-page-1400.png"), full_page=True)
    fit = page.evaluate(PAST_THE_EDGE)
    if fit["scrollWidth"] > fit["width"] or fit["wide"]:
        problems["channels at 1400px"] = fit
    assert seen.errors == [] and seen.outside_requests() == []
    page.close()

    # A phone: the same pages, 390 px wide.
    Contact.update(opted_out_at=utcnow()).where(Contact.kind == "whatsapp").execute()
    page = admin_browser.logged_in(browser, base, path, width=390, height=844)
    seen = admin_browser.Recorder(page)
    page.screenshot(path=str(ARTIFACTS / "channels-conversation-390.png"), full_page=True)
    page.click(".bubble-original summary")
    page.screenshot(path=str(ARTIFACTS / "channels-conversation-390-original.png"), full_page=True)
    fit = page.evaluate(PAST_THE_EDGE)
    if fit["scrollWidth"] > fit["width"] or fit["wide"]:
        problems["conversation at 390px"] = fit
    assert "(opted out)" in page.inner_text("#composer-via")
    page.goto(f"{base}/channels/")
    page.screenshot(path=str(ARTIFACTS / "channels-page-390.png"), full_page=True)
    fit = page.evaluate(PAST_THE_EDGE)
    if fit["scrollWidth"] > fit["width"] or fit["wide"]:
        problems["channels at 390px"] = fit
    assert seen.errors == [] and seen.outside_requests() == []
    page.close()
    assert not problems, json.dumps(problems, indent=1, ensure_ascii=False)
