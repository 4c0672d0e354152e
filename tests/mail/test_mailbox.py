"""The mailbox poll (services/delivery/mailbox.py) against a private Dovecot: each mail is stored
once, across polls, reconnects, restarts and a poll that dies half-way; a new UIDVALIDITY reads
the folder again without storing anything twice; a refused login, a server that is down or a
missing folder is logged and shown (ChannelState "imap") and loses nothing."""
import json
import logging
import time
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from imap_tools import MailBoxUnencrypted

from models import ChannelState, InboundEvent
from services.core import policy
from services.core.config import load_settings
from services.delivery import mailbox
from services.inbox import email_in

CLIENT = "Jane Doe <jane@example.org>"


@pytest.fixture
def imap(imap_server, monkeypatch):
    """The Dovecot, its certificate trusted as a deployer's CA bundle would make it."""
    monkeypatch.setenv("SSL_CERT_FILE", str(imap_server.cert.cert_path))
    return imap_server


def imap_settings(server, security="ssl", **env):
    port = server.ssl_port if security == "ssl" else server.port
    values = {"IMAP_HOST": server.host, "IMAP_PORT": str(port), "IMAP_USERNAME": server.user,
              "IMAP_PASSWORD": server.password, "EMAIL_FROM": f"Acme <{server.user}>",
              "IMAP_SSL": "1" if security == "ssl" else "0",
              "IMAP_STARTTLS": "1" if security == "starttls" else "0", **env}
    return load_settings(values)


def mail(subject="Hello", body="Is my order ready?", message_id=True, sender=CLIENT):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "support@acme.example", subject
    if message_id:
        message["Message-ID"] = make_msgid(domain="example.org")
    message.set_content(body)
    return message


def poll(settings):
    """As the scheduler polls (scheduler.py), its policy made from the same settings."""
    policy.configure(settings)
    return mailbox.poll(settings, email_in.storer)


def stored():
    return [(event.external_ref, json.loads(event.payload)["subject"])
            for event in InboundEvent.select().order_by(InboundEvent.id)]


def state():
    return ChannelState.get_or_none(ChannelState.name == "imap")


def test_each_mail_is_stored_once_across_polls_and_restarts(any_db, imap):
    sent = [mail(f"mail {n}") for n in range(3)]
    for message in sent:
        imap.deliver(message)
    settings = imap_settings(imap)
    assert poll(settings) == 3
    assert stored() == [(m["Message-ID"], m["Subject"]) for m in sent]
    first = state()
    assert first.last_uid == 3 and first.uid_validity and first.error is None and first.ok_at

    assert poll(settings) == 0
    imap.restart()
    assert poll(settings) == 0
    later = mail("after the restart")
    imap.deliver(later)
    assert poll(settings) == 1
    assert len(stored()) == 4 and stored()[-1] == (later["Message-ID"], "after the restart")
    assert state().last_uid == 4 and state().uid_validity == first.uid_validity


def test_the_payload_is_the_parsed_mail_and_the_mail_stays_unread(any_db, imap):
    imap.deliver(mail("Question", "Is my order ready?\n\nOn Mon, Jan 15, 2024 at 10:02 AM Acme "
                                  "<support@acme.example> wrote:\n> Your order"))
    assert poll(imap_settings(imap)) == 1
    payload = json.loads(InboundEvent.get().payload)
    assert payload["from_address"] == "jane@example.org" and payload["from_name"] == "Jane Doe"
    assert payload["text"] == "Is my order ready?" and "> Your order" in payload["original"]
    assert payload["from_us"] is False
    with MailBoxUnencrypted(imap.host, imap.port, timeout=5).login(imap.user, imap.password) as box:
        [flags] = [message.flags for message in box.fetch(mark_seen=False)]
    assert "\\Seen" not in flags


def test_our_own_mail_is_marked_so_the_handler_drops_it(any_db, imap):
    imap.deliver(mail(sender=f"Acme <{imap.user}>"))
    poll(imap_settings(imap))
    assert json.loads(InboundEvent.get().payload)["from_us"] is True


def test_a_mail_without_message_id_is_stored_by_its_uid(any_db, imap):
    imap.deliver(mail(message_id=False))
    poll(imap_settings(imap))
    assert stored() == [(f"uid:{state().uid_validity}:1", "Hello")]


def test_many_mails_are_taken_in_batches_in_uid_order(any_db, imap):
    for n in range(mailbox.BATCH * 2 + 3):
        imap.deliver(mail(f"mail {n:02d}"))
    assert poll(imap_settings(imap)) == mailbox.BATCH * 2 + 3
    assert [subject for _, subject in stored()] == [f"mail {n:02d}" for n in range(mailbox.BATCH * 2 + 3)]


def test_a_poll_that_dies_half_way_resumes_after_the_last_mail_it_stored(any_db, imap):
    for n in range(3):
        imap.deliver(mail(f"mail {n}"))
    settings = imap_settings(imap)
    calls = []

    def dies_at_the_second(raw, ref):
        calls.append(ref)
        email_in.storer(raw, ref)
        if len(calls) == 2:
            raise RuntimeError("killed")   # after its insert, before its commit
    with pytest.raises(RuntimeError):
        mailbox.poll(settings, dies_at_the_second)
    assert [subject for _, subject in stored()] == ["mail 0"] and state().last_uid == 1
    assert poll(settings) == 2
    assert [subject for _, subject in stored()] == ["mail 0", "mail 1", "mail 2"]


def test_a_new_uidvalidity_reads_the_folder_again_without_storing_twice(any_db, imap, caplog):
    for n in range(2):
        imap.deliver(mail(f"mail {n}"))
    settings = imap_settings(imap)
    poll(settings)
    old = state().uid_validity
    ChannelState.update(uid_validity=old - 1).execute()  # as if the folder had been recreated
    with caplog.at_level(logging.WARNING, "leadgram.email"):
        assert poll(settings) == 2     # read again...
    assert len(stored()) == 2          # ...and recognised by Message-ID
    assert state().uid_validity == old and state().last_uid == 2
    assert "UIDVALIDITY changed" in caplog.text


def test_dovecot_renumbering_its_folder_is_survived(any_db, imap):
    imap.deliver(mail("before"))
    settings = imap_settings(imap)
    poll(settings)
    old = state().uid_validity
    imap.stop()
    time.sleep(1.1)  # Dovecot's new UIDVALIDITY is the time: make it another second
    for index in imap.maildir.glob("dovecot*"):   # its UID list and indexes: the folder is renumbered
        index.unlink()
    imap.start()
    imap.deliver(mail("after"))
    assert poll(settings) == 2
    assert state().uid_validity != old
    assert [subject for _, subject in stored()] == ["before", "after"]


@pytest.mark.parametrize("security", ["ssl", "starttls", "none"])
def test_every_security_mode_reads_the_mailbox(any_db, imap, security):
    imap.deliver(mail())
    assert poll(imap_settings(imap, security)) == 1


def test_a_refused_login_is_logged_and_shown_and_nothing_is_lost(any_db, imap, caplog):
    imap.deliver(mail("waiting"))
    wrong = imap_settings(imap, IMAP_PASSWORD=imap.bad_password)
    with caplog.at_level(logging.ERROR, "leadgram.email"):
        assert poll(wrong) == 0
    expected = f"IMAP login refused for {imap.user}@{imap.host}: check IMAP_USERNAME/IMAP_PASSWORD"
    assert state().error == expected and state().error_at is not None
    assert expected in caplog.text and imap.bad_password not in caplog.text
    assert stored() == [] and not state().last_uid

    assert poll(imap_settings(imap)) == 1   # the password fixed
    assert [subject for _, subject in stored()] == ["waiting"]
    assert state().error is None


def test_a_server_that_is_down_is_logged_and_nothing_is_lost(any_db, imap, caplog):
    imap.deliver(mail("kept"))
    settings = imap_settings(imap)
    imap.stop()
    with caplog.at_level(logging.ERROR, "leadgram.email"):
        assert poll(settings) == 0
    assert "refused the connection" in state().error and "refused the connection" in caplog.text
    imap.start()
    assert poll(settings) == 1 and state().error is None


def test_a_missing_folder_names_the_setting(any_db, imap):
    poll(imap_settings(imap, IMAP_FOLDER="Support"))
    assert state().error == f"IMAP folder 'Support' not found on {imap.host}: check IMAP_FOLDER"


def test_another_folder_is_read_when_configured(any_db, imap):
    imap.deliver(mail("filed"), folder="Support")
    imap.deliver(mail("inbox"))
    assert poll(imap_settings(imap, IMAP_FOLDER="Support")) == 1
    assert [subject for _, subject in stored()] == ["filed"]


def test_wrong_security_settings_name_the_settings(any_db, imap):
    poll(imap_settings(imap, "ssl", IMAP_PORT=str(imap.port)))   # TLS to the plain port
    assert "IMAP_SSL/IMAP_STARTTLS" in state().error
    poll(imap_settings(imap, "starttls", IMAP_PORT="993"))
    assert "set IMAP_SSL=1 or IMAP_PORT=143" in state().error


def test_an_untrusted_certificate_is_shown(any_db, imap_server):
    poll(imap_settings(imap_server))   # no SSL_CERT_FILE: the self-signed certificate is refused
    assert "certificate" in state().error.lower() and "IMAP_PORT" in state().error
