"""Real mail servers on loopback for the email tests: aiosmtpd for SMTP, a private Dovecot for IMAP.

`SmtpServer` is an aiosmtpd `Controller` on 127.0.0.1 (a free port) that records every message it
accepts; it can require AUTH (LOGIN/PLAIN, allowed without TLS on loopback), offer STARTTLS or speak
implicit TLS (a self-signed certificate made at test time), refuse mail with a chosen reply, and be
stopped and started again on the same port ("SMTP down").

`ImapServer` runs Debian's Dovecot (`/usr/sbin/dovecot -F`) with its own configuration, maildir,
passwd-file user, log file and run/state directories under one temporary directory, listening on
127.0.0.1: `port` speaks plain IMAP (login allowed without TLS, STARTTLS offered) and `ssl_port`
implicit TLS (imaps), both with a self-signed certificate `client_tls_context()` trusts. It works as root (the mail and
service users are Dovecot's own, `dovecot`/`dovenull`) and as a normal user (every process runs as
that user). `deliver()` appends a message by IMAP APPEND; `stop()`/`start()` take the server away and
bring it back on the same port with the same mail (UIDs and UIDVALIDITY survive).

The fixtures `smtp_server`, `make_smtp_server` and `imap_server` are imported by a conftest
(tests/mail/conftest.py; an e2e conftest can import them the same way). Without Dovecot the IMAP
fixture skips with the reason (`.ci/run` installs `dovecot-imapd` like it installs Chromium).
"""
import pytest

from tests.mailservers.imap import IMAP_PASSWORD, IMAP_USER, ImapServer, dovecot_missing_reason
from tests.mailservers.smtp import SMTP_PASSWORD, SMTP_USER, SmtpServer

__all__ = ["IMAP_PASSWORD", "IMAP_USER", "SMTP_PASSWORD", "SMTP_USER", "ImapServer", "SmtpServer",
           "imap_server", "make_smtp_server", "smtp_server"]


@pytest.fixture
def make_smtp_server(tmp_path):
    """Factory: make_smtp_server(auth=(user, pw) | None, starttls=..., require_tls=..., implicit_tls=...)."""
    servers = []

    def make(**options):
        server = SmtpServer(tmp_path, **options).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def smtp_server(make_smtp_server):
    """AUTH required (SMTP_USER/SMTP_PASSWORD, allowed without TLS) and STARTTLS offered."""
    return make_smtp_server(starttls=True)


@pytest.fixture
def imap_server():
    """A private Dovecot with one user (IMAP_USER/IMAP_PASSWORD) and an empty INBOX, or a skip."""
    reason = dovecot_missing_reason()
    if reason:
        pytest.skip(reason)
    server = ImapServer()
    try:
        server.start()
        yield server
    finally:
        server.close()
