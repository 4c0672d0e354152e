"""The email tests' servers: aiosmtpd and a private Dovecot on loopback (tests/mailservers/)."""
from tests.mailservers import imap_server, make_smtp_server, smtp_server  # noqa: F401 - fixtures
