"""An aiosmtpd server on loopback that records what it accepts (see tests/mailservers)."""
import email
import email.policy
import threading
from dataclasses import dataclass
from email.message import EmailMessage

from tests.mailservers.loopback import HOST, SelfSignedCert, free_port

SMTP_USER, SMTP_PASSWORD = "leadgram-smtp", "smtp-secret"


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple
    raw: bytes
    message: EmailMessage
    auth_login: str | None  # the AUTH user name, None without AUTH
    tls: bool               # the session was encrypted (STARTTLS or implicit TLS)


@dataclass
class _Refusal:
    stage: str   # "MAIL", "RCPT" or "DATA"
    reply: str   # e.g. "550 5.1.1 No such user", "451 4.3.0 Try again later"


class _RecordingHandler:
    """aiosmtpd handler: answers per the server's refusal setting, records what DATA accepts."""

    def __init__(self, server):
        self.server = server

    def _refused(self, stage):
        refusal = self.server.refusal
        return refusal.reply if refusal is not None and refusal.stage == stage else None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.server.auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        if reply := self._refused("MAIL"):
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if reply := self._refused("RCPT"):
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if reply := self._refused("DATA"):
            return reply
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        login = session.auth_data.login if session.authenticated and session.auth_data else None
        if isinstance(login, bytes):
            login = login.decode("utf-8", "replace")
        self.server._record(ReceivedMail(
            mail_from=envelope.mail_from, rcpt_tos=tuple(envelope.rcpt_tos), raw=raw,
            message=email.message_from_bytes(raw, policy=email.policy.default),
            auth_login=login, tls=server.transport.get_extra_info("ssl_object") is not None))
        return "250 2.0.0 Message accepted"


class SmtpServer:
    """aiosmtpd on 127.0.0.1. `auth`: require AUTH with (user, password); `starttls`: offer STARTTLS
    (`require_tls` refuses mail before it); `implicit_tls`: SMTPS, TLS from the first byte."""

    def __init__(self, directory, *, auth=(SMTP_USER, SMTP_PASSWORD), starttls=False, require_tls=False,
                 implicit_tls=False):
        self.host, self.port = HOST, free_port()
        self.auth = auth
        self.username, self.password = auth if auth else (None, None)
        self.starttls, self.require_tls, self.implicit_tls = starttls, require_tls, implicit_tls
        self.cert = SelfSignedCert.create(directory) if (starttls or implicit_tls) else None
        self.refusal = None
        self._messages = []
        self._changed = threading.Condition()
        self._controller = None

    # -- control ---------------------------------------------------------------------------------

    def start(self):
        from aiosmtpd.controller import Controller

        kwargs = {"hostname": self.host, "port": self.port, "ready_timeout": 10,
                  "server_hostname": "smtp.leadgram.test"}
        if self.auth:
            # AUTH is offered without TLS; handle_MAIL insists on it (aiosmtpd's auth_required=True would
            # warn on every connection that AUTH without TLS is unsafe, which on loopback it is not).
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        if self.starttls:
            kwargs.update(tls_context=self.cert.server_context(), require_starttls=self.require_tls)
        if self.implicit_tls:
            kwargs.update(ssl_context=self.cert.server_context())
        self._controller = Controller(_RecordingHandler(self), **kwargs)
        self._controller.start()
        return self

    def stop(self):
        """The server goes away: connections to its port are refused until `start()`."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self):
        return self._controller is not None

    def refuse(self, reply="451 4.3.0 Try again later", stage="DATA"):
        """Answer `reply` at MAIL, RCPT or DATA (e.g. "550 5.1.1 No such user" at RCPT)."""
        assert stage in ("MAIL", "RCPT", "DATA"), stage
        self.refusal = _Refusal(stage, reply)

    def accept(self):
        self.refusal = None

    def client_tls_context(self):
        return self.cert.client_context()

    def settings(self):
        """The product's SMTP_* settings that point at this server."""
        return {
            "SMTP_HOST": self.host, "SMTP_PORT": str(self.port),
            "SMTP_USERNAME": self.username or "", "SMTP_PASSWORD": self.password or "",
            "SMTP_STARTTLS": "1" if self.starttls else "0", "SMTP_SSL": "1" if self.implicit_tls else "0",
        }

    # -- what arrived ----------------------------------------------------------------------------

    @property
    def messages(self):
        with self._changed:
            return list(self._messages)

    def wait_for(self, count, timeout=5.0):
        """The first `count` messages received, waiting up to `timeout` s for them."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._messages) >= count, timeout):
                raise AssertionError(f"expected {count} messages within {timeout} s, got {len(self._messages)}")
            return list(self._messages[:count])

    def clear(self):
        with self._changed:
            self._messages.clear()

    def _record(self, received):
        with self._changed:
            self._messages.append(received)
            self._changed.notify_all()

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == self.username.encode() and auth_data.password == self.password.encode())
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)
