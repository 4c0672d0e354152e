"""Email out (services/delivery/email_smtp.py) against a real SMTP server on loopback (aiosmtpd):
STARTTLS, implicit TLS and plain; the MIME a client's mail program gets (both parts, threading
headers, RFC 8058 unsubscribe); and each failure's kind: a refused login or wrong security
settings wait for the deployer, a server that is down is tried again, a refused recipient is
final. Then a row through the real sender, on both databases."""
import json

import pytest

from models import OutboxMessage, utcnow
from services.core.config import load_settings
from services.delivery import outbox, sender
from services.delivery.channels import Transports
from services.delivery.email_smtp import SmtpTransport, html_body, plain_text
from services.delivery.outbox import Claimed
from services.delivery.transport import MISCONFIGURED, PERMANENT, TRANSIENT, DeliveryError
from tests.mailservers import SMTP_PASSWORD, SMTP_USER

FROM = "Acme Support <support@acme.example>"
CLIENT = "jane@example.org"
UNSUBSCRIBE = "https://crm.example.com/unsubscribe/abc.def"
TEXT = ('Hello <b>Jane</b> &amp; co,\nyour order is <a href="https://acme.example/o/7">ready</a>.\n'
        "<blockquote>Is it ready?</blockquote>\n<pre>line 1\nline 2</pre>")
HEADERS = {"subject": "Re: Your order", "message_id": "<answer-1@acme.example>",
           "in_reply_to": "<question-1@example.org>",
           "references": "<first@acme.example> <question-1@example.org>",
           "unsubscribe_url": UNSUBSCRIBE}


def smtp_settings(server, **env):
    values = {**server.settings(), "EMAIL_FROM": FROM, **env}
    return load_settings({k: v for k, v in values.items() if v is not None})


def claimed(text=TEXT, headers=HEADERS, address=CLIENT):
    return Claimed(id=1, worker="test", recipient_id=None, chat_id=None, text=text, parse_mode="HTML",
                   attempts=0, parts_sent=0, channel="email", address=address,
                   headers=json.dumps(headers) if headers is not None else None)


@pytest.fixture
def trusted(monkeypatch):
    """Make the test servers' self-signed certificate trusted, as a deployer's CA bundle would."""
    def trust(server):
        monkeypatch.setenv("SSL_CERT_FILE", str(server.cert.cert_path))
    return trust


def part(mail, subtype):
    """A received part's text, with the wire's CRLFs as newlines."""
    return mail.get_body((subtype,)).get_content().replace("\r\n", "\n")


def failure(transport, row=None):
    with pytest.raises(DeliveryError) as caught:
        transport.send(row or claimed())
    return caught.value


# -- what arrives -------------------------------------------------------------------------------


def test_starttls_sends_both_parts_with_threading_and_one_click_unsubscribe(smtp_server, trusted):
    trusted(smtp_server)
    receipt = SmtpTransport(smtp_settings(smtp_server)).send(claimed())
    [got] = smtp_server.wait_for(1)
    assert got.tls is True and got.auth_login == SMTP_USER
    assert got.mail_from == "support@acme.example" and got.rcpt_tos == (CLIENT,)
    mail = got.message
    assert receipt.provider_id == "<answer-1@acme.example>" == mail["Message-ID"]
    assert receipt.status == "sent"
    assert mail["From"] == FROM and mail["To"] == CLIENT and mail["Subject"] == "Re: Your order"
    assert mail["In-Reply-To"] == "<question-1@example.org>"
    assert mail["References"] == "<first@acme.example> <question-1@example.org>"
    assert mail["Date"]
    assert mail["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>, <mailto:support@acme.example?subject=unsubscribe>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail.get_content_type() == "multipart/alternative"
    plain = part(mail, "plain")
    assert plain.startswith("Hello Jane & co,\nyour order is ready (https://acme.example/o/7).\n"
                            "Is it ready?\nline 1\nline 2")
    assert f"Unsubscribe: {UNSUBSCRIBE}" in plain
    markup = part(mail, "html")
    assert "Hello <b>Jane</b> &amp; co,<br>" in markup
    assert '<a href="https://acme.example/o/7">ready</a>' in markup
    assert "<pre>line 1\nline 2</pre>" in markup  # no <br> inside a code block
    assert "<blockquote style=" in markup
    assert f'<a href="{UNSUBSCRIBE}">Unsubscribe</a>' in markup


def test_implicit_tls(make_smtp_server, trusted):
    server = make_smtp_server(implicit_tls=True)
    trusted(server)
    SmtpTransport(smtp_settings(server)).send(claimed())
    [got] = server.wait_for(1)
    assert got.tls is True and got.auth_login == SMTP_USER


def test_plain_without_login_and_without_unsubscribe_link(make_smtp_server):
    server = make_smtp_server(auth=None)
    settings = smtp_settings(server, SMTP_STARTTLS="0")
    assert settings.smtp_security == "none" and not settings.smtp_username
    headers = {**HEADERS, "unsubscribe_url": None, "in_reply_to": None, "references": None}
    SmtpTransport(settings).send(claimed("Just text", headers))
    [got] = server.wait_for(1)
    mail = got.message
    assert got.tls is False and got.auth_login is None
    assert mail["List-Unsubscribe"] == "<mailto:support@acme.example?subject=unsubscribe>"
    assert mail["List-Unsubscribe-Post"] is None
    assert mail["In-Reply-To"] is None and mail["References"] is None
    assert part(mail, "plain") == "Just text"
    assert "Unsubscribe" not in part(mail, "html")


def test_non_ascii_names_and_subjects_arrive_as_written(make_smtp_server):
    server = make_smtp_server(auth=None)
    settings = smtp_settings(server, SMTP_STARTTLS="0", EMAIL_FROM="Büro Müller <buero@acme.example>")
    SmtpTransport(settings).send(claimed("Grüße, <b>Jürgen</b> ✓", {**HEADERS, "subject": "Re: Grüße ✓"}))
    mail = server.wait_for(1)[0].message
    assert mail["Subject"] == "Re: Grüße ✓" and mail["From"] == "Büro Müller <buero@acme.example>"
    assert part(mail, "plain").startswith("Grüße, Jürgen ✓")
    assert "Grüße, <b>Jürgen</b> ✓" in part(mail, "html")


def test_a_row_without_headers_still_gets_a_message_id_on_our_domain(make_smtp_server):
    server = make_smtp_server(auth=None)
    receipt = SmtpTransport(smtp_settings(server, SMTP_STARTTLS="0")).send(claimed("Hi", headers=None))
    [got] = server.wait_for(1)
    assert got.message["Message-ID"] == receipt.provider_id
    assert receipt.provider_id.endswith("@acme.example>")


# -- failures -----------------------------------------------------------------------------------


def test_a_refused_login_is_misconfigured_and_never_shows_the_password(smtp_server, trusted):
    trusted(smtp_server)
    error = failure(SmtpTransport(smtp_settings(smtp_server, SMTP_PASSWORD="hunter2-wrong")))
    assert error.kind == MISCONFIGURED
    assert "SMTP login refused for leadgram-smtp" in error.description
    assert "SMTP_USERNAME/SMTP_PASSWORD" in error.description
    assert "hunter2" not in error.description and SMTP_PASSWORD not in error.description
    assert smtp_server.messages == []


def test_a_server_that_wants_a_login_we_do_not_give_is_misconfigured(smtp_server, trusted):
    trusted(smtp_server)
    error = failure(SmtpTransport(smtp_settings(smtp_server, SMTP_USERNAME="", SMTP_PASSWORD="")))
    assert error.kind == MISCONFIGURED and "530" in error.description


def test_wrong_security_modes_are_misconfigured(make_smtp_server, smtp_server, trusted):
    trusted(smtp_server)
    implicit_on_a_starttls_port = failure(SmtpTransport(smtp_settings(smtp_server, SMTP_SSL="1")))
    assert implicit_on_a_starttls_port.kind == MISCONFIGURED
    assert "SMTP_STARTTLS/SMTP_SSL" in implicit_on_a_starttls_port.description
    no_starttls = make_smtp_server()  # offers no STARTTLS
    error = failure(SmtpTransport(smtp_settings(no_starttls, SMTP_STARTTLS="1")))
    assert error.kind == MISCONFIGURED and "SMTP_STARTTLS/SMTP_SSL" in error.description


def test_an_untrusted_certificate_is_misconfigured(smtp_server):
    error = failure(SmtpTransport(smtp_settings(smtp_server)))  # self-signed, not trusted
    assert error.kind == MISCONFIGURED and "certificate" in error.description.lower()


def test_a_server_that_is_down_is_transient_and_the_next_try_works(smtp_server, trusted):
    trusted(smtp_server)
    transport = SmtpTransport(smtp_settings(smtp_server))
    smtp_server.stop()
    error = failure(transport)
    assert error.kind == TRANSIENT and "refused the connection" in error.description
    smtp_server.start()
    transport.send(claimed())
    assert len(smtp_server.wait_for(1)) == 1


def test_a_refused_recipient_is_permanent_with_the_servers_reason(smtp_server, trusted):
    trusted(smtp_server)
    smtp_server.refuse("550 5.1.1 No such user", stage="RCPT")
    error = failure(SmtpTransport(smtp_settings(smtp_server)))
    assert error.kind == PERMANENT and "550 5.1.1 No such user" in error.description


def test_temporary_refusals_are_transient(smtp_server, trusted):
    trusted(smtp_server)
    transport = SmtpTransport(smtp_settings(smtp_server))
    smtp_server.refuse("451 4.3.0 Try again later", stage="DATA")
    assert failure(transport).kind == TRANSIENT
    smtp_server.refuse("450 4.2.1 Mailbox busy", stage="RCPT")
    assert failure(transport).kind == TRANSIENT
    smtp_server.refuse("554 5.7.1 Message rejected as spam", stage="DATA")
    error = failure(transport)
    assert error.kind == PERMANENT and "rejected as spam" in error.description


def test_an_unknown_host_is_misconfigured():
    settings = load_settings({"SMTP_HOST": "smtp.invalid", "SMTP_PORT": "2525", "EMAIL_FROM": FROM})
    error = failure(SmtpTransport(settings))
    assert error.kind == MISCONFIGURED and "SMTP_HOST" in error.description


def test_an_address_no_mail_can_carry_is_permanent():
    settings = load_settings({"SMTP_HOST": "127.0.0.1", "EMAIL_FROM": FROM})
    error = failure(SmtpTransport(settings), claimed(address="jane@example.org\r\nBcc: x@example.org"))
    assert error.kind == PERMANENT


# -- the two bodies -----------------------------------------------------------------------------


@pytest.mark.parametrize("text, plain, markup", [
    ("a < b & c", "a < b & c", "a &lt; b &amp; c"),
    ('<a href="https://x.example/">https://x.example/</a>', "https://x.example/",
     '<a href="https://x.example/">https://x.example/</a>'),
    ('<a href="https://x.example/?a=1&amp;b=2">the <i>site</i></a>', "the site (https://x.example/?a=1&b=2)",
     '<a href="https://x.example/?a=1&amp;b=2">the <i>site</i></a>'),
    ("<tg-spoiler>secret</tg-spoiler>\nnext", "secret\nnext", "secret<br>\nnext"),
    ("<b>never closed", "<b>never closed", "&lt;b&gt;never closed"),  # shown as typed
    ("<code>x = 1</code>", "x = 1", "<code>x = 1</code>"),
])
def test_plain_and_html_parts(text, plain, markup):
    assert plain_text(text) == plain
    assert html_body(text) == markup


# -- through the sender -------------------------------------------------------------------------


def test_an_email_row_goes_out_through_the_sender_and_keeps_its_message_id(any_db, smtp_server, trusted):
    trusted(smtp_server)
    OutboxMessage.create(key="email-1", channel="email", address=CLIENT, text=TEXT, parse_mode="HTML",
                         headers=json.dumps(HEADERS))
    rows = outbox.claim_batch(10)
    result = sender.deliver(Transports(None, email=SmtpTransport(smtp_settings(smtp_server))), rows)
    assert result.sent == 1
    row = OutboxMessage.get(OutboxMessage.key == "email-1")
    assert row.status == "sent" and row.provider_id == "<answer-1@acme.example>"
    assert smtp_server.wait_for(1)[0].message["Message-ID"] == row.provider_id


def test_smtp_down_keeps_the_row_for_a_retry(any_db, smtp_server, trusted):
    trusted(smtp_server)
    OutboxMessage.create(key="email-2", channel="email", address=CLIENT, text="Hi", parse_mode="HTML",
                         headers=json.dumps(HEADERS))
    smtp_server.stop()
    sender.deliver(Transports(None, email=SmtpTransport(smtp_settings(smtp_server))), outbox.claim_batch(10))
    row = OutboxMessage.get(OutboxMessage.key == "email-2")
    assert row.status == "pending" and row.attempts == 1 and "refused the connection" in row.last_error
    assert row.next_attempt_at > utcnow()
