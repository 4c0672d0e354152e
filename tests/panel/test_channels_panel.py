"""The panel's side of the channels (issue 14): the Channels page (on or off and what to
set, last success and error, the outbox per channel, Twilio's webhook addresses, events
given up on, refused webhooks), the dashboard's warning, the outbox's channel and address,
the templates' WhatsApp content SID and the lead's consent per contact. Escaping, CSRF and
fuzzed input. On SQLite and Postgres."""
import datetime
import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from models import ChannelState, Contact, InboundEvent, MessageTemplate, OutboxMessage, utcnow
from services.core.actors import Actor
from services.crm import contacts
from services.delivery import channels, outbox
from services.inbox import inbound, templates
from tests.fuzz_values import values
from tests.panel.conftest import csrf_token, log_in, text_of
from tests.panel.test_conversation_channels import CHANNELS_ENV, SID
from tests.panel.test_templates_panel import errors_under

XSS = "<script>alert(1)</script>"
SETUP = Actor.panel("setup")
HOUR = datetime.timedelta(hours=1)


@pytest.fixture
def panel(make_app):
    client = make_app(**CHANNELS_ENV).test_client()
    assert log_in(client).status_code == 302
    return client


def card(page, name):
    """One channel's card: from its own tag to the next card's column (or the end of them)."""
    start = page.index(f'id="channel-{name}"')
    ends = [page.find(marker, start) for marker in ('class="col-md-6', 'id="twilio-webhooks"')]
    return page[page.rindex("<div", 0, start):min(e for e in ends if e > 0)]


def queue(channel, status, n=1):
    for _ in range(n):
        key = f"{channel}-{status}-{OutboxMessage.select().count()}"
        outbox.enqueue(key, None, "Hi", parse_mode="plain", channel=channel,
                       address="+442079460958" if channel != "email" else "ann@example.com")
        OutboxMessage.update(status=status).where(OutboxMessage.key == key).execute()


# The Channels page --------------------------------------------------------------------

def test_each_channel_says_whether_it_is_on_and_what_turns_it_on(browser):
    page = text_of(browser.get("/channels/"))   # the tests' settings: Telegram only
    assert re.search(r'href="/channels/">\s*Channels</a>', page)   # in the menu
    assert 'id="channel-telegram" data-on="yes"' in page
    for name in ("email", "imap", "sms", "whatsapp"):
        assert f'id="channel-{name}" data-on="no"' in page
        assert channels.off_reason(name) in card(page, name)
    assert "set SMTP_HOST and EMAIL_FROM" in card(page, "email")
    assert "Twilio cannot reach the panel until PUBLIC_BASE_URL is" in card(page, "sms")


def test_on_channels_show_their_last_success_error_and_outbox(panel):
    now = utcnow()
    channels.record_ok("email", now - 2 * HOUR)
    channels.record_error("email", "SMTP 421: try later", now - HOUR)   # newer: failing
    channels.record_error("sms", "Twilio 20003: authenticate", now - 2 * HOUR)
    channels.record_ok("sms", now - HOUR)                              # recovered
    queue("email", "pending", 2)
    queue("email", "failed")
    queue("sms", "sending")
    page = text_of(panel.get("/channels/"))
    email, sms = card(page, "email"), card(page, "sms")
    assert 'data-on="yes"' in email and "border-danger" in email
    assert re.search(r'channel-error text-danger font-weight-bold">[^<]*: SMTP 421: try later', email)
    assert re.search(r'channel-waiting">2<', email) and re.search(r'channel-failed text-danger">1', email)
    assert "/outbox/?flt0_0=failed&amp;flt1_2=email" in email
    # A success clears the error's text (services/delivery/channels.record_ok), not its time.
    assert "border-danger" not in sms and re.search(r'channel-error">[^<]+ \(working again since\)</dd>', sms)
    assert re.search(r'channel-waiting">1<', sms)
    assert "never" in card(page, "whatsapp")   # no record yet


def test_twilio_cards_give_the_exact_webhook_addresses(panel):
    page = text_of(panel.get("/channels/"))
    assert 'hook-url">https://crm.example.com/hooks/twilio/sms</code>' in card(page, "sms")
    assert 'hook-url">https://crm.example.com/hooks/twilio/whatsapp</code>' in card(page, "whatsapp")
    for name in ("sms", "whatsapp"):
        assert 'hook-url">https://crm.example.com/hooks/twilio/status</code>' in card(page, name)
        assert "cannot reach the panel" not in card(page, name)


def test_events_given_up_on_and_refused_webhooks_are_listed(panel):
    assert inbound.store("sms", "SM1", {"Body": "hi"})
    InboundEvent.update(attempts=inbound.MAX_ATTEMPTS, processed_at=utcnow(),
                        last_error="LookupError: no lead " + XSS).execute()
    inbound.store("sms", "SM2", {"Body": "still trying"})
    channels.record_error(channels.TWILIO_WEBHOOKS, "Refused a webhook: bad signature " + XSS)
    page = text_of(panel.get("/channels/"))
    rows = re.findall(r'<tr class="given-up-row">(.*?)</tr>', page, re.S)
    assert len(rows) == 1 and "LookupError: no lead &lt;script&gt;" in rows[0] and ">sms<" in rows[0]
    assert re.search(r'id="twilio-webhooks"', page) and "bad signature &lt;script&gt;" in page
    assert "border-danger\" id=\"twilio-webhooks\"" in page
    assert XSS not in page


def test_the_dashboard_warns_while_a_channel_fails(panel, make_app):
    assert 'id="channel-alert"' not in text_of(panel.get("/"))
    channels.record_error("sms", "Twilio answered 500")
    page = text_of(panel.get("/"))
    assert re.search(r'<a class="card border-danger text-danger mb-3 channel-alert" id="channel-alert" '
                     r'href="/channels/">', page) and "A channel is failing:</b> SMS." in page
    channels.record_error(channels.TWILIO_WEBHOOKS, "Refused a webhook")
    assert "SMS, Twilio webhooks." in text_of(panel.get("/"))
    channels.record_ok("sms")
    channels.record_ok(channels.TWILIO_WEBHOOKS)
    assert 'id="channel-alert"' not in text_of(panel.get("/"))
    # A channel since turned off no longer warns.
    channels.record_error("imap", "IMAP login failed")
    assert 'id="channel-alert"' not in text_of(panel.get("/"))


# The outbox ----------------------------------------------------------------------------

def test_the_outbox_shows_channel_and_address_and_filters_by_channel(panel, make_user):
    ann = make_user(first_name="Ann")
    outbox.enqueue("tg", ann, "To Telegram")
    queue("sms", "pending")
    queue("email", "failed")
    page = text_of(panel.get("/outbox/"))
    assert "Ann" in page and "+44 20 7946 0958" in page and "ann@example.com" in page
    for label in ("Telegram", "SMS", "Email"):
        assert re.search(rf'<td class="col-channel">\s*{label}\s*</td>', page)
    only_sms = text_of(panel.get("/outbox/?flt0_2=sms"))
    assert "+44 20 7946 0958" in only_sms and "ann@example.com" not in only_sms and "To Telegram" not in only_sms
    sms_row = OutboxMessage.get(OutboxMessage.channel == "sms")
    OutboxMessage.update(provider_id="SMabc", provider_status="delivered",
                         provider_status_at=utcnow()).where(OutboxMessage.id == sms_row.id).execute()
    details = text_of(panel.get(f"/outbox/details/?id={sms_row.id}"))
    assert details.count("SMabc") == 1 and "delivered (" in details
    assert panel.get("/outbox/?flt0_2=" + XSS).status_code == 200


# Templates -----------------------------------------------------------------------------

def test_a_template_takes_a_whatsapp_content_sid_and_the_list_shows_it(panel):
    response = panel.post("/templates/new/", data={"name": "quote_ready", "text": "Hi {first_name}",
                                                   "whatsapp_content_sid": f" {SID.upper()} "})
    assert response.status_code == 302, text_of(response)
    row = MessageTemplate.get(MessageTemplate.name == "quote_ready")
    assert row.whatsapp_content_sid == "HX" + SID[2:].lower()
    templates.save(SETUP, "no_sid", "Hello")
    page = text_of(panel.get("/templates/"))
    assert re.search(rf'<span class="badge badge-success" title="{row.whatsapp_content_sid}">WhatsApp</span>', page)
    assert page.count("badge badge-success") == 1
    edit = text_of(panel.get(f"/templates/edit/?id={row.id}"))
    assert f'value="{row.whatsapp_content_sid}"' in edit and "WhatsApp content SID" in edit
    assert panel.post(f"/templates/edit/?id={row.id}", data={"name": "quote_ready", "text": "Hi {first_name}",
                                                             "whatsapp_content_sid": ""}).status_code == 302
    assert MessageTemplate.get_by_id(row.id).whatsapp_content_sid is None


@pytest.mark.parametrize("sid", ["HX123", "SM" + "a" * 32, XSS, "HX" + "g" * 32])
def test_a_bad_content_sid_is_refused_under_its_field(panel, sid):
    response = panel.post("/templates/new/", data={"name": "bad_sid", "text": "Hi", "whatsapp_content_sid": sid})
    page = text_of(response)
    assert response.status_code == 200
    assert ("A WhatsApp content SID is HX followed by 32 hexadecimal digits"
            in errors_under(page, "whatsapp_content_sid"))
    assert MessageTemplate.get_or_none(MessageTemplate.name == "bad_sid") is None
    assert XSS not in page


def test_a_stored_odd_sid_is_shown_escaped(panel):
    MessageTemplate.create(name="odd", text="Hi", whatsapp_content_sid=XSS)
    row = MessageTemplate.get(MessageTemplate.name == "odd")
    for url in ("/templates/", f"/templates/details/?id={row.id}", f"/templates/edit/?id={row.id}"):
        page = text_of(panel.get(url))
        assert XSS not in page and "&lt;script&gt;" in page, url


def test_the_template_form_needs_its_csrf_token(make_app):
    client = make_app(csrf=True).test_client()
    assert log_in(client, csrf_token=csrf_token(client, "/login")).status_code == 302
    response = client.post("/templates/new/", data={"name": "x", "text": "Hi", "whatsapp_content_sid": SID})
    assert MessageTemplate.get_or_none(MessageTemplate.name == "x") is None
    assert response.status_code in (200, 400)


# Leads ---------------------------------------------------------------------------------

def test_the_lead_page_shows_consent_per_contact(browser, make_lead):
    lead = make_lead(email="ann@example.com", phone="+442079460958")
    contacts.add(SETUP, lead.id, "whatsapp", "+442079460959")
    Contact.update(opted_out_at=datetime.datetime(2026, 3, 1, 12, 5)).where(
        Contact.lead == lead.id, Contact.kind.in_(["phone", "email"])).execute()
    page = text_of(browser.get(f"/leads/details/?id={lead.id}"))
    assert "Contacts and consent" in page and ">Opted out<" not in page   # the old column is gone
    assert ('+44 20 7946 0958 <small class="text-danger contact-consent">'
            'Opted out of SMS on 2026-03-01 12:05</small>') in page
    assert "Opted out of Email on 2026-03-01 12:05" in page
    assert page.count("contact-consent") == 2 and "+44 20 7946 0959" in page
    export = text_of(browser.get("/leads/export/csv/"))
    assert "opted" not in export.splitlines()[0].lower()


# Odd input -----------------------------------------------------------------------------

def test_fuzzed_channel_pages_never_break(panel, request):
    channels.record_error("email", "x")
    inbound.store("email", "1", {})
    examples = 30 if "sqlite" in request.node.name else 10

    @settings(max_examples=examples, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(value=values, sid=values, key=st.sampled_from(["flt0_2", "flt1_2", "flt0_0", "page", "search"]))
    def never_a_server_error(value, sid, key):
        assert panel.get("/channels/", query_string={key: value}).status_code == 200
        assert panel.get("/outbox/", query_string={key: value}).status_code == 200
        response = panel.post("/templates/new/", data={"name": "fz", "text": "Hi", "whatsapp_content_sid": sid})
        assert response.status_code in (200, 302)
        MessageTemplate.delete().where(MessageTemplate.name == "fz").execute()
    never_a_server_error()
    assert ChannelState.select().count() == 1
