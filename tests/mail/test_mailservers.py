"""The loopback mail servers the email channel is tested against (tests/mailservers/) behave like
real ones for what the product relies on: SMTP AUTH, STARTTLS and implicit TLS, refusals and a server
that is down; IMAP login, stable UIDs and UIDVALIDITY across reconnects and restarts, "UID above the
last one seen" fetches, attachments, a wrong password and a server that is down."""
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

import imap_tools
import pytest
from imap_tools import A, MailBox, MailboxLoginError, MailBoxStartTls, MailBoxUnencrypted

from tests.mailservers import SMTP_PASSWORD, SMTP_USER

SENDER, CLIENT = "crm@example.test", "client@example.org"


def threaded_message(subject="Re: your order", body="Thanks, it arrived.", attachment=None):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = f"Leadgram <{SENDER}>", CLIENT, subject
    message["Message-ID"] = make_msgid(domain="leadgram.test")
    message["In-Reply-To"] = "<first@example.org>"
    message["References"] = "<root@leadgram.test> <first@example.org>"
    message.set_content(body)
    message.add_alternative(f"<p>{body}</p>", subtype="html")
    if attachment:
        name, maintype, subtype, data = attachment
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message


def assert_threaded_copy(received, sent):
    got = received.message
    for header in ("Message-ID", "In-Reply-To", "References", "Subject", "From", "To"):
        assert got[header] == sent[header], header
    assert got.get_content_type() == "multipart/alternative"
    assert got.get_body(("plain",)).get_content().strip() == "Thanks, it arrived."
    assert got.get_body(("html",)).get_content().strip() == "<p>Thanks, it arrived.</p>"


# -- SMTP ---------------------------------------------------------------------------------------


def test_smtp_auth_without_tls_records_the_message_with_its_headers(make_smtp_server):
    server = make_smtp_server()
    sent = threaded_message()
    with smtplib.SMTP(server.host, server.port, timeout=5) as smtp:
        smtp.login(SMTP_USER, SMTP_PASSWORD)
        smtp.send_message(sent)
    [received] = server.wait_for(1)
    assert received.mail_from == SENDER and received.rcpt_tos == (CLIENT,)
    assert received.auth_login == SMTP_USER and received.tls is False
    assert_threaded_copy(received, sent)
    assert sent["Message-ID"].encode() in received.raw


def test_smtp_starttls_then_auth(smtp_server):
    sent = threaded_message()
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as smtp:
        smtp.starttls(context=smtp_server.client_tls_context())  # verifies the self-signed certificate
        smtp.login(SMTP_USER, SMTP_PASSWORD)
        smtp.send_message(sent)
    [received] = smtp_server.wait_for(1)
    assert received.tls is True and received.auth_login == SMTP_USER
    assert_threaded_copy(received, sent)


def test_smtp_implicit_tls(make_smtp_server):
    server = make_smtp_server(implicit_tls=True)
    with smtplib.SMTP_SSL(server.host, server.port, timeout=5, context=server.client_tls_context()) as smtp:
        smtp.login(SMTP_USER, SMTP_PASSWORD)
        smtp.send_message(threaded_message())
    assert server.wait_for(1)[0].tls is True


def test_smtp_wrong_password_and_missing_auth_are_refused(smtp_server):
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as error:
            smtp.login(SMTP_USER, "wrong")
        assert error.value.smtp_code == 535
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.send_message(threaded_message())
        assert refused.value.smtp_code == 530  # authentication required
    assert smtp_server.messages == []


def test_smtp_refusals_raise_smtplibs_errors(smtp_server):
    smtp_server.refuse("451 4.3.0 Try again later", stage="DATA")
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as smtp:
        smtp.login(SMTP_USER, SMTP_PASSWORD)
        with pytest.raises(smtplib.SMTPDataError) as temporary:
            smtp.send_message(threaded_message())
        assert temporary.value.smtp_code == 451
        smtp_server.refuse("550 5.1.1 No such user", stage="RCPT")
        with pytest.raises(smtplib.SMTPRecipientsRefused) as permanent:
            smtp.send_message(threaded_message())
        assert permanent.value.recipients[CLIENT][0] == 550
        smtp_server.accept()
        smtp.send_message(threaded_message())
    assert len(smtp_server.wait_for(1)) == 1


def test_smtp_down_gives_a_connection_error_and_comes_back(smtp_server):
    smtp_server.stop()
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5)
    smtp_server.start()
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as smtp:
        smtp.login(SMTP_USER, SMTP_PASSWORD)
        smtp.send_message(threaded_message())
    assert len(smtp_server.wait_for(1)) == 1


# -- IMAP ---------------------------------------------------------------------------------------


def inbox(server):
    """imap-tools' default client: implicit TLS (imaps), verifying the server's certificate."""
    return MailBox(server.host, server.ssl_port, timeout=5, ssl_context=server.client_tls_context()).login(
        server.user, server.password, "INBOX")


def test_imap_plain_starttls_and_imaps_all_log_in(imap_server):
    imap_server.deliver(threaded_message(subject="hello"))
    host, user, password = imap_server.host, imap_server.user, imap_server.password
    clients = [
        MailBoxUnencrypted(host, imap_server.port, timeout=5),
        MailBoxStartTls(host, imap_server.port, timeout=5, ssl_context=imap_server.client_tls_context()),
        MailBox(host, imap_server.ssl_port, timeout=5, ssl_context=imap_server.client_tls_context()),
    ]
    for client in clients:
        with client.login(user, password) as mailbox:
            assert [msg.subject for msg in mailbox.fetch(mark_seen=False)] == ["hello"], type(client)


def test_imap_uids_and_uidvalidity_survive_reconnects_and_restarts(imap_server):
    first = threaded_message(subject="first")
    second = threaded_message(subject="second")
    assert imap_server.deliver(first) == 1
    assert imap_server.deliver(second) == 2
    with inbox(imap_server) as mailbox:
        uidvalidity = mailbox.folder.status("INBOX")["UIDVALIDITY"]
        seen = [(msg.uid, msg.subject, msg.headers["message-id"][0]) for msg in mailbox.fetch(mark_seen=False)]
    assert seen == [("1", "first", first["Message-ID"]), ("2", "second", second["Message-ID"])]

    with inbox(imap_server) as mailbox:  # a new connection
        assert mailbox.folder.status("INBOX")["UIDVALIDITY"] == uidvalidity
        assert [msg.uid for msg in mailbox.fetch(mark_seen=False)] == ["1", "2"]

    imap_server.restart()
    imap_server.deliver(threaded_message(subject="third"))
    with inbox(imap_server) as mailbox:
        assert mailbox.folder.status("INBOX")["UIDVALIDITY"] == uidvalidity
        assert [(msg.uid, msg.subject) for msg in mailbox.fetch(mark_seen=False)] == [
            ("1", "first"), ("2", "second"), ("3", "third")]
        # What a poller that has seen UID 2 asks for: only the new mail. (A range "3:*" always
        # matches the highest UID even when it is lower, so the criteria alone are not enough;
        # check uid > last as well.)
        newer = [msg for msg in mailbox.fetch(A(uid="3:*"), mark_seen=False) if int(msg.uid) > 2]
        assert [msg.subject for msg in newer] == ["third"]
        assert [msg.uid for msg in mailbox.fetch(A(uid="4:*"), mark_seen=False) if int(msg.uid) > 3] == []


def test_imap_attachments_are_listed_with_name_type_and_size(imap_server):
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 8
    imap_server.deliver(threaded_message(attachment=("invoice 42.pdf", "application", "pdf", pdf)))
    with inbox(imap_server) as mailbox:
        [msg] = list(mailbox.fetch(mark_seen=False))
    assert msg.text.strip() == "Thanks, it arrived." and msg.html.strip() == "<p>Thanks, it arrived.</p>"
    assert msg.headers["in-reply-to"] == ("<first@example.org>",)
    assert [(a.filename, a.content_type, a.size) for a in msg.attachments] == [
        ("invoice 42.pdf", "application/pdf", len(pdf))]
    assert msg.attachments[0].payload == pdf


def test_imap_delivery_into_another_folder(imap_server):
    imap_server.deliver(threaded_message(subject="filed"), folder="Support")
    with inbox(imap_server) as mailbox:
        assert [msg.subject for msg in mailbox.fetch(mark_seen=False)] == []
        mailbox.folder.set("Support")
        assert [msg.subject for msg in mailbox.fetch(mark_seen=False)] == ["filed"]


def test_imap_wrong_password_raises_the_login_error(imap_server):
    with pytest.raises(MailboxLoginError):
        MailBox(imap_server.host, imap_server.ssl_port, timeout=5, ssl_context=imap_server.client_tls_context()
                ).login(imap_server.user, imap_server.bad_password)
    with pytest.raises(MailboxLoginError):
        MailBoxUnencrypted(imap_server.host, imap_server.port, timeout=5).login(imap_server.user, "")
    assert issubclass(MailboxLoginError, imap_tools.errors.UnexpectedCommandStatusError)


def test_imap_down_gives_a_connection_error_and_comes_back(imap_server):
    imap_server.deliver(threaded_message(subject="kept"))
    imap_server.stop()
    with pytest.raises(ConnectionRefusedError):
        MailBox(imap_server.host, imap_server.ssl_port, timeout=5, ssl_context=imap_server.client_tls_context())
    with pytest.raises(ConnectionRefusedError):
        MailBoxUnencrypted(imap_server.host, imap_server.port, timeout=5)
    imap_server.start()
    with inbox(imap_server) as mailbox:
        assert [msg.subject for msg in mailbox.fetch(mark_seen=False)] == ["kept"]
