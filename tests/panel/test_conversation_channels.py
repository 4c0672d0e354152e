"""A conversation across channels in the panel (issue 14): each bubble's channel and
address, an email's subject and its original, files that came by email or Twilio, the
provider's delivery reports (also through the poll), and the composer's "Send by" with
each contact's refusal, the SMS part counter and limit and WhatsApp's 24 hours. Escaping,
CSRF and fuzzed input. On SQLite and Postgres."""
import datetime
import json
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from models import Contact, Message, MessageTemplate, OutboxMessage, utcnow
from services.core.actors import Actor
from services.crm import contacts
from services.delivery import outbox
from services.inbox import conversations, destinations, sending, templates
from tests.fuzz_values import values
from tests.panel.conftest import csrf_token, log_in, text_of
from tests.panel.inbox_helpers import PANEL, XSS, conversation_of, flashes, inbound, make_client, page_of

CHANNELS_ENV = {
    "SMTP_HOST": "127.0.0.1", "EMAIL_FROM": "Acme <team@acme.example>",
    "TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "TWILIO_AUTH_TOKEN": "token",
    "TWILIO_SMS_FROM": "+15005550006", "TWILIO_WHATSAPP_FROM": "+14155238886",
    "PUBLIC_BASE_URL": "https://crm.example.com",
}
EMAIL, PHONE, WHATSAPP = "ann@example.com", "+442079460958", "+442079460959"
SMS_KEY, EMAIL_KEY, WHATSAPP_KEY = f"sms:{PHONE}", f"email:{EMAIL}", f"whatsapp:{WHATSAPP}"
PDF = {"kind": "document", "file_name": "quote.pdf", "mime_type": "application/pdf",
       "file_size": 20_480}
SID = "HX" + "ab12" * 8


@pytest.fixture
def channels_app(make_app):
    return make_app(**CHANNELS_ENV)


@pytest.fixture
def panel(channels_app):
    client = channels_app.test_client()
    assert log_in(client).status_code == 302
    return client


def a_client_on_every_channel():
    """Eve: a Telegram chat, an email address, a phone for SMS and a WhatsApp number."""
    user, lead = make_client()
    for kind, value in (("email", EMAIL), ("phone", PHONE), ("whatsapp", WHATSAPP)):
        contacts.add(PANEL, lead.id, kind, value)
    return user, lead


def by_email(lead, text="Trimmed reply", now=None, attachments=(), **details):
    return conversations.record_inbound(
        Actor.system("email"), lead, text, transport="email", attachments=attachments,
        address=EMAIL, external_ref="<m1@example.com>", now=now,
        details={"subject": "Quote for 20 units", "references": [],
                 "original": "Trimmed reply\n\n> On Monday you wrote:\n> the old text", **details})


def by_twilio(lead, channel, text="Hi by text", now=None, attachments=()):
    address = PHONE if channel == "sms" else WHATSAPP
    return conversations.record_inbound(Actor.system(channel), lead, text, transport=channel,
                                        address=address, external_ref=f"SM{channel}{text[:5]}",
                                        attachments=attachments, now=now)


def bubble_html(page, message_id):
    return re.search(rf'<li[^>]*id="m{message_id}".*?</li>', page, re.S).group(0)


def options(page):
    """The composer's "Send by" options: (value, label, selected)."""
    select = re.search(r'<select[^>]*id="composer-via".*?</select>', page, re.S).group(0)
    return [(value, " ".join(label.split()), bool(chosen)) for value, chosen, label in
            re.findall(r'<option value="([^"]*)" data-channel="\w+"( selected)?>(.*?)</option>', select, re.S)]


def visible_refusal(page):
    """The text of the refusal shown for the selected contact, or None."""
    found = re.search(r'<div class="alert[^"]*"[^>]*id="send-problem"[^>]*>(.*?)</div>', page, re.S)
    return " ".join(found.group(1).split()) if found else None


def sent_by(row_id):
    return OutboxMessage.get_by_id(row_id)


# Bubbles ------------------------------------------------------------------------------

def test_each_bubble_shows_its_channel_and_the_clients_address(panel):
    user, lead = a_client_on_every_channel()
    on_telegram = inbound(user, lead, "By Telegram")
    email = by_email(lead, attachments=[PDF])
    sms = by_twilio(lead, "sms", attachments=[{"kind": "photo", "mime_type": "image/jpeg",
                                                "file_size": 1_500_000, "url": "https://api.twilio.com/x"}])
    page = page_of(panel, lead)
    assert '<span class="channel-badge channel-telegram" title="Telegram">Telegram</span>' in \
        bubble_html(page, on_telegram.id)
    assert (f'<span class="channel-badge channel-email" title="Email · {EMAIL}">Email</span> '
            f'<span class="channel-address">{EMAIL}</span>') in bubble_html(page, email.id)
    sms_bubble = bubble_html(page, sms.id)
    assert ('title="SMS · +44 20 7946 0958">SMS</span> <span class="channel-address">+44 20 7946 0958</span>'
            in sms_bubble)
    # Files that came by email or Twilio are not kept: name, type and size, no link.
    assert "📎 photo" in sms_bubble and "image/jpeg · 1.4 MB" in sms_bubble and "<a " not in sms_bubble
    email_bubble = bubble_html(page, email.id)
    assert "📎 document quote.pdf" in email_bubble and "application/pdf · 20.0 KB" in email_bubble
    assert "/file/" not in email_bubble


def test_an_email_shows_its_subject_and_the_untrimmed_original_on_request(panel):
    _, lead = a_client_on_every_channel()
    email = by_email(lead)
    same = by_email(lead, text="Short", original="Short")  # nothing trimmed: no disclosure
    page = page_of(panel, lead)
    bubble = bubble_html(page, email.id)
    assert '<div class="bubble-subject"><span class="sr-only">Subject: </span>Quote for 20 units</div>' in bubble
    assert re.search(r'<details class="bubble-original"><summary>Show the original</summary>\s*'
                     r'<div class="bubble-text">Trimmed reply\n\n&gt; On Monday you wrote:\n&gt; the old text</div>',
                     bubble)
    assert "<details" not in bubble_html(page, same.id)


def test_an_answer_by_email_shows_the_subject_it_went_with(panel):
    _, lead = a_client_on_every_channel()
    by_email(lead)
    conversation = conversation_of(lead)
    answer = sending.send_text(PANEL, conversation.id, "Here it is",
                               destination=destinations.find(lead.id, EMAIL_KEY))
    bubble = bubble_html(page_of(panel, lead), answer.id)
    assert "Re: Quote for 20 units" in bubble and f'channel-address">{EMAIL}<' in bubble


def test_bad_details_json_shows_the_message_without_them(panel):
    _, lead = a_client_on_every_channel()
    email = by_email(lead)
    for details in ("not json", "[1, 2]", json.dumps({"subject": ["x"], "original": 5})):
        Message.update(details=details).where(Message.id == email.id).execute()
        response = panel.get(f"/conversations/{conversation_of(lead).id}")
        assert response.status_code == 200 and "Trimmed reply" in text_of(response)


def test_an_unknown_channel_on_a_stored_message_shows_as_telegram_not_an_error(panel):
    user, lead = a_client_on_every_channel()
    message = inbound(user, lead, "Odd")
    Message.update(transport="carrier-pigeon").where(Message.id == message.id).execute()
    response = panel.get(f"/conversations/{conversation_of(lead).id}")
    assert response.status_code == 200 and "Odd" in text_of(response)


# Delivery states ----------------------------------------------------------------------

def a_sent_sms(lead, provider_status="queued", sent_at=None):
    conversation = conversation_of(lead)
    message = sending.send_text(PANEL, conversation.id, "On its way",
                                destination=destinations.find(lead.id, SMS_KEY))
    OutboxMessage.update(status="sent", sent_at=sent_at or utcnow(), provider_id=f"SM{message.id}",
                         provider_status=provider_status, provider_status_at=sent_at or utcnow()
                         ).where(OutboxMessage.id == message.outbox_id).execute()
    return message


def state_in(html, message_id):
    return re.search(rf'<span class="delivery delivery-(\w+)" data-state-for="{message_id}"'
                     rf'( data-pending="{message_id}")?[^>]*>(.*?)</span>\s*(?=<|$)', html, re.S)


def test_the_providers_reports_show_on_the_bubble_and_through_the_poll(panel):
    _, lead = a_client_on_every_channel()
    by_twilio(lead, "sms")
    message = a_sent_sms(lead)
    conversation = conversation_of(lead)
    state = state_in(page_of(panel, lead), message.id)
    assert state.group(1) == "queued" and state.group(2) and "queued at Twilio" in state.group(3)

    def polled():
        fragment = text_of(panel.get(f"/conversations/{conversation.id}/messages",
                                     query_string={"after": message.id, "pending": message.id}))
        return state_in(fragment, message.id)
    assert outbox.record_provider_status(f"SM{message.id}", "sent")
    state = polled()
    assert state.group(1) == "sent" and state.group(2) and "✓ sent" in state.group(3)
    assert outbox.record_provider_status(f"SM{message.id}", "delivered")
    state = polled()
    # Delivered is the end of an SMS: the page stops asking.
    assert state.group(1) == "sent" and not state.group(2) and "✓✓ delivered" in state.group(3)


def test_whatsapp_is_watched_until_read_and_failures_say_why(panel):
    _, lead = a_client_on_every_channel()
    by_twilio(lead, "whatsapp")
    conversation = conversation_of(lead)
    read = sending.send_text(PANEL, conversation.id, "Read me",
                             destination=destinations.find(lead.id, WHATSAPP_KEY))
    OutboxMessage.update(status="sent", sent_at=utcnow(), provider_id="SMread",
                         provider_status="delivered").where(OutboxMessage.id == read.outbox_id).execute()
    lost = a_sent_sms(lead, provider_status="sent")
    outbox.record_provider_status(f"SM{lost.id}", "undelivered",
                                  error="Twilio 30003: Unreachable destination handset")
    page = page_of(panel, lead)
    state = state_in(page, read.id)
    assert "✓✓ delivered" in state.group(3) and state.group(2)  # a read receipt may follow
    assert "✗ undelivered" in page and "Twilio 30003: Unreachable destination handset" in page
    assert sent_by(lost.outbox_id).status == "failed"
    outbox.record_provider_status("SMread", "read")
    fragment = text_of(panel.get(f"/conversations/{conversation.id}/messages",
                                 query_string={"after": lost.id, "pending": read.id}))
    state = state_in(fragment, read.id)
    assert state.group(1) == "read" and "✓✓ read" in state.group(3) and not state.group(2)


def test_a_report_that_never_comes_stops_being_watched_after_a_day(panel):
    _, lead = a_client_on_every_channel()
    by_twilio(lead, "sms")
    old = a_sent_sms(lead, provider_status=None, sent_at=utcnow() - datetime.timedelta(days=2))
    fresh = a_sent_sms(lead, provider_status=None)
    page = page_of(panel, lead)
    assert not state_in(page, old.id).group(2) and state_in(page, fresh.id).group(2)
    assert "✓ sent" in state_in(page, old.id).group(3)


# The composer -------------------------------------------------------------------------

def test_send_by_lists_the_contacts_and_preselects_where_the_client_last_wrote(panel):
    user, lead = a_client_on_every_channel()
    inbound(user, lead, "Telegram first")
    by_twilio(lead, "sms")
    Contact.update(opted_out_at=utcnow()).where(Contact.kind == "email").execute()
    page = page_of(panel, lead)
    assert options(page) == [
        (f"telegram:{user.telegram_id}", "Telegram · @eve", False),
        (EMAIL_KEY, f"Email · {EMAIL} (opted out)", False),
        (SMS_KEY, "SMS · +44 20 7946 0958", True),
        (WHATSAPP_KEY, "WhatsApp · +44 20 7946 0959", False)]
    # The SMS counter shows for SMS, counting the (empty) draft.
    assert re.search(r'id="sms-count" data-max="5" aria-live="polite">', page)
    assert "0 characters · 0 SMS parts (GSM-7)" in page
    # ?via= picks another (a refused send comes back with it), else the default stands.
    assert [o for o in options(page_of(panel, lead, via=EMAIL_KEY)) if o[2]][0][0] == EMAIL_KEY
    assert [o for o in options(page_of(panel, lead, via="fax:123")) if o[2]][0][0] == SMS_KEY


def test_each_contacts_refusal_is_there_and_only_the_chosen_ones_shows(panel):
    user, lead = a_client_on_every_channel()
    inbound(user, lead, "Hello")
    Contact.update(opted_out_at=utcnow()).where(Contact.kind == "phone").execute()
    page = page_of(panel, lead)
    assert visible_refusal(page) is None   # Telegram, where they wrote: nothing in the way
    hidden = dict(re.findall(r'data-refusal-for="([^"]+)" hidden>(.*?)</div>', page, re.S))
    assert "opted out of SMS messages" in hidden[SMS_KEY]
    assert "has not written on WhatsApp in the last 24 hours" in hidden[WHATSAPP_KEY]
    assert "content SID" in hidden[WHATSAPP_KEY] and EMAIL_KEY not in hidden
    assert "opted out of SMS" in visible_refusal(page_of(panel, lead, via=SMS_KEY))


def test_the_reply_goes_by_the_chosen_contact(panel):
    user, lead = a_client_on_every_channel()
    inbound(user, lead, "Hello")
    conversation = conversation_of(lead)
    response = panel.post(f"/conversations/{conversation.id}/send", data={"text": "By SMS", "via": SMS_KEY})
    assert response.status_code == 302
    assert response.location == f"/conversations/{conversation.id}?via=sms:%2B442079460958#composer"
    row = OutboxMessage.get()
    assert (row.channel, row.address, row.recipient_id, row.text, row.parse_mode) == (
        "sms", PHONE, None, "By SMS", "plain")
    assert Message.get(Message.direction == "out").transport == "sms"
    panel.post(f"/conversations/{conversation.id}/send", data={"text": "By email", "via": EMAIL_KEY})
    panel.post(f"/conversations/{conversation.id}/send", data={"text": "By Telegram"})  # no via: default
    rows = list(OutboxMessage.select().order_by(OutboxMessage.id))
    assert [(r.channel, r.address) for r in rows[1:]] == [("email", EMAIL), ("telegram", None)]
    assert json.loads(rows[1].headers)["subject"].startswith("Message from ")


def test_an_unknown_contact_is_refused_with_the_draft_kept_and_nothing_sent(panel):
    user, lead = a_client_on_every_channel()
    inbound(user, lead, "Hello")
    conversation = conversation_of(lead)
    contacts.remove(PANEL, lead.id, Contact.get(Contact.kind == "email").id)
    for via in (EMAIL_KEY, "fax:+1", XSS, "sms:" + "9" * 400):
        response = panel.post(f"/conversations/{conversation.id}/send",
                              data={"text": "Keep <this> draft", "via": via})
        page = text_of(response)
        assert response.status_code == 200 and "is not one of this client&#39;s contacts" in flashes(page)
        assert ">Keep &lt;this&gt; draft</textarea>" in page and XSS not in page
    response = panel.post(f"/conversations/{conversation.id}/template", data={"template": "welcome", "via": "x"})
    assert response.status_code == 200 and "is not one of this client" in flashes(text_of(response))
    assert OutboxMessage.select().count() == 0 and Message.select().count() == 1


def test_an_sms_over_the_part_limit_is_refused_and_the_count_shown(make_app):
    client = make_app(**CHANNELS_ENV, SMS_MAX_SEGMENTS="2").test_client()
    log_in(client)
    user, lead = a_client_on_every_channel()
    by_twilio(lead, "sms")
    conversation = conversation_of(lead)
    long_text = "Привет " * 30   # 210 UTF-16 units: UCS-2, 4 parts of 67
    response = client.post(f"/conversations/{conversation.id}/send", data={"text": long_text, "via": SMS_KEY})
    page = text_of(response)
    assert response.status_code == 200
    assert "that SMS would be 4 parts (UCS-2); at most 2 are allowed (SMS_MAX_SEGMENTS)" in flashes(page)
    assert "209 characters · 4 SMS parts (UCS-2)" in page   # the draft as it would be sent (stripped)
    assert re.search(r'id="sms-too-long">: more than the 2 allowed', page)
    assert OutboxMessage.select().count() == 0
    ok = "a" * 306   # GSM-7: two parts of 153
    assert client.post(f"/conversations/{conversation.id}/send",
                       data={"text": ok, "via": SMS_KEY}).status_code == 302
    assert OutboxMessage.get().channel == "sms"


def test_whatsapp_after_24_hours_takes_only_a_template_with_a_content_sid(panel):
    _, lead = a_client_on_every_channel()
    by_twilio(lead, "whatsapp", now=utcnow() - datetime.timedelta(hours=25))
    conversation = conversation_of(lead)
    templates.save(PANEL, "plain_one", "Hello {first_name}")
    templates.save(PANEL, "approved", "Hi {first_name|there}, your quote is ready",
                   whatsapp_content_sid=SID)
    page = page_of(panel, lead)
    assert [o[0] for o in options(page) if o[2]] == [WHATSAPP_KEY]
    assert "only approved templates" in visible_refusal(page) and "content SID" in visible_refusal(page)
    assert ">approved (WhatsApp approved)</option>" in page
    url = f"/conversations/{conversation.id}"
    page = text_of(panel.post(f"{url}/send", data={"text": "Free text", "via": WHATSAPP_KEY}))
    assert "has not written on WhatsApp in the last 24 hours" in flashes(page)
    page = text_of(panel.post(f"{url}/template", data={"template": "plain_one", "via": WHATSAPP_KEY}))
    assert "has not written on WhatsApp in the last 24 hours" in flashes(page)
    assert OutboxMessage.select().count() == 0
    response = panel.post(f"{url}/template", data={"template": "approved", "via": WHATSAPP_KEY})
    assert response.status_code == 302
    row = OutboxMessage.get()
    assert row.channel == "whatsapp" and json.loads(row.headers) == {
        "content_sid": SID, "content_variables": {"1": "Eve"}}


def test_with_no_channel_to_reach_the_client_the_composer_says_why(panel):
    user, lead = make_client()
    inbound(user, lead, "Hello")
    Contact.delete().execute()
    page = page_of(panel, lead)
    assert "has no contact on a channel that is set up" in visible_refusal(page)
    assert 'id="composer-via"' not in page
    assert re.search(r'id="send-button" disabled>', page) and re.search(r'id="template-button"[^>]*disabled', page)


def test_channels_that_are_off_are_not_offered(make_app):
    client = make_app().test_client()   # no SMTP, no Twilio
    log_in(client)
    user, lead = a_client_on_every_channel()
    inbound(user, lead)
    assert [o[0] for o in options(page_of(client, lead))] == [f"telegram:{user.telegram_id}"]
    assert 'id="sms-count"' in page_of(client, lead) and "hidden" in re.search(
        r'<div[^>]*id="sms-count"[^>]*>', page_of(client, lead)).group(0)
    response = client.post(f"/conversations/{conversation_of(lead).id}/send",
                           data={"text": "x", "via": SMS_KEY})
    assert "is not one of this client" in flashes(text_of(response))


def test_the_contacts_list_shows_consent_per_contact(panel):
    user, lead = a_client_on_every_channel()
    inbound(user, lead)
    Contact.update(opted_out_at=datetime.datetime(2026, 3, 1, 12, 5)).where(Contact.kind == "phone").execute()
    page = page_of(panel, lead)
    row = re.search(r'<li class="d-flex align-items-center contact-row"[^>]*>\s*<span[^>]*>phone</span>.*?</li>',
                    page, re.S).group(0)
    assert "Opted out of SMS on 2026-03-01 12:05" in row
    assert page.count("contact-consent") == 1


# Escaping, CSRF, odd input ------------------------------------------------------------

def test_what_providers_and_clients_sent_is_escaped(panel):
    user, lead = a_client_on_every_channel()
    inbound(user, lead)
    email = by_email(lead, text="Hi " + XSS, subject="Re: " + XSS, original="Orig " + XSS,
                     attachments=[{**PDF, "file_name": XSS, "mime_type": XSS}])
    Message.update(address="<script>x@y</script>").where(Message.id == email.id).execute()
    failed = a_sent_sms(lead, provider_status="sent")
    outbox.record_provider_status(f"SM{failed.id}", "failed", error="Carrier said " + XSS)
    MessageTemplate.create(name="evil", text="Hi", whatsapp_content_sid=XSS)
    conversation = conversation_of(lead)
    pages = [page_of(panel, lead),
             text_of(panel.get(f"/conversations/{conversation.id}/messages",
                               query_string={"after": 0, "pending": failed.id}))]
    for page in pages:
        assert "<script>" not in page.replace('<script src="', "")
        assert "&lt;script&gt;" in page
    assert "Re: &lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]
    assert "Carrier said &lt;script&gt;" in pages[0] and "Carrier said &lt;script&gt;" in pages[1]


def test_send_by_and_the_template_button_need_the_csrf_token(make_app):
    client = make_app(csrf=True, **CHANNELS_ENV).test_client()
    assert log_in(client, csrf_token=csrf_token(client, "/login")).status_code == 302
    user, lead = a_client_on_every_channel()
    inbound(user, lead)
    base = f"/conversations/{conversation_of(lead).id}"
    page = page_of(client, lead)
    composer = re.search(r'<form[^>]*id="composer-form".*?</form>', page, re.S).group(0)
    assert 'name="csrf_token"' in composer and 'name="via"' in composer and 'formaction="' in composer
    for path in ("/send", "/template"):
        response = client.post(base + path, data={"text": "Hi", "template": "welcome", "via": SMS_KEY})
        assert response.status_code == 400 and "Form expired" in text_of(response)
    assert OutboxMessage.select().count() == 0
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(base + "/send", data={"text": "Hi", "via": SMS_KEY, "csrf_token": token}).status_code == 302


form_values = st.one_of(values, st.sampled_from([SMS_KEY, EMAIL_KEY, WHATSAPP_KEY, "telegram:1", "",
                                                 "welcome", "sms:", "é" * 200]))


@pytest.fixture
def fuzz_target(panel):
    user, lead = a_client_on_every_channel()
    inbound(user, lead)
    by_email(lead)
    a_sent_sms(lead)
    return panel, conversation_of(lead).id


def test_fuzzed_sends_and_pages_never_break(fuzz_target, request):
    panel, conversation_id = fuzz_target
    examples = 40 if "sqlite" in request.node.name else 12

    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                           HealthCheck.function_scoped_fixture])
    @given(path=st.sampled_from(["send", "template"]), text=form_values, via=form_values,
           template=form_values, query_via=form_values, pending=st.lists(form_values, max_size=3))
    def never_a_server_error(path, text, via, template, query_via, pending):
        response = panel.post(f"/conversations/{conversation_id}/{path}",
                              data={"text": text, "via": via, "template": template})
        assert response.status_code in (200, 302), response.status_code
        assert panel.get(f"/conversations/{conversation_id}", query_string={"via": query_via}).status_code == 200
        poll = panel.get(f"/conversations/{conversation_id}/messages",
                         query_string={"after": query_via, "pending": pending})
        assert poll.status_code == 200
    never_a_server_error()
    # Whatever went out went where a key named it, and only to the client's contacts.
    assert {(r.channel, r.address) for r in OutboxMessage.select()} <= {
        ("sms", PHONE), ("email", EMAIL), ("telegram", None), ("whatsapp", WHATSAPP)}
