"""Email out: one outbox row becomes one message sent by SMTP (services/delivery/transport.py).

The row's text is Telegram-style HTML (b, i, u, s, a, code, pre, blockquote; newlines as
line breaks); the mail carries it as an HTML part and as plain text. Its headers JSON
(services/inbox/email_threads.py) gives the subject and the threading ids, so the client's mail
program files the reply under the conversation, and the unsubscribe link (RFC 8058).
Each send opens its own connection: mail is sent a few at a time, and a connection kept
open between scheduler passes would just time out on the server.
"""
import html
import json
import re
import smtplib
import socket
import ssl
from email import charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, make_msgid, parseaddr

from services.delivery import html as telegram_html
from services.delivery.transport import MISCONFIGURED, PERMANENT, TRANSIENT, DeliveryError, Receipt

TIMEOUT = 20  # seconds, per connect and per command
_LINK = re.compile(r'<a href="([^"]*)">(.*?)</a>', re.DOTALL)
_PRE = re.compile(r"(<pre>.*?</pre>)", re.DOTALL)
_SPOILER = re.compile(r"</?tg-spoiler>")
_UTF8 = charset.Charset("utf-8")
_UTF8.body_encoding = charset.QP   # readable in the raw mail, and what spam filters expect
QUOTE_STYLE = "margin:0 0 0 .8em;padding-left:.8em;border-left:3px solid #ccc;color:#555"


class SmtpTransport:
    channel = "email"

    def __init__(self, settings):
        self.settings = settings
        self.sender = parseaddr(settings.email_from)[1]

    def send(self, claimed):
        try:
            message = compose(self.settings, claimed)
        except (ValueError, TypeError) as exc:  # an address or header no mail can carry
            raise DeliveryError(PERMANENT, f"this email cannot be written: {exc}") from None
        try:
            with self._connect() as smtp:
                if self.settings.smtp_username:
                    smtp.login(self.settings.smtp_username, self.settings.smtp_password)
                smtp.send_message(message, from_addr=self.sender, to_addrs=[claimed.address])
        except Exception as exc:  # noqa: BLE001 - every failure gets its kind below
            raise self._error(exc) from None
        return Receipt(provider_id=message["Message-ID"], status="sent")

    def _connect(self):
        s = self.settings
        if s.smtp_security == "ssl":
            return smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=TIMEOUT,
                                    context=ssl.create_default_context())
        smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=TIMEOUT)
        if s.smtp_security == "starttls":
            try:
                smtp.starttls(context=ssl.create_default_context())
            except BaseException:
                smtp.close()
                raise
        return smtp

    def _error(self, exc):
        """The DeliveryError for `exc`. smtplib's messages never hold the password; ours
        name the setting to check."""
        s = self.settings
        server = f"{s.smtp_host}:{s.smtp_port}"
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return DeliveryError(MISCONFIGURED, f"SMTP login refused for {s.smtp_username} at {server}: "
                                                f"check SMTP_USERNAME/SMTP_PASSWORD ({_reply(exc)})")
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return DeliveryError(MISCONFIGURED, f"SMTP server {server} does not support what we asked "
                                                f"({exc}): check SMTP_STARTTLS/SMTP_SSL and SMTP_USERNAME")
        if isinstance(exc, ssl.SSLError):
            return DeliveryError(MISCONFIGURED, f"TLS with SMTP server {server} failed ({exc.reason or exc}): "
                                                "check SMTP_PORT and SMTP_STARTTLS/SMTP_SSL (implicit TLS "
                                                "is usually port 465, STARTTLS port 587)")
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            code, reason = next(iter(exc.recipients.values()), (0, b""))
            return _by_code(code, f"the mail server refused the recipient: {code} {_text(reason)}")
        if isinstance(exc, smtplib.SMTPSenderRefused):
            if 500 <= exc.smtp_code < 600:
                return DeliveryError(MISCONFIGURED, f"SMTP server {server} refused EMAIL_FROM {exc.sender}: "
                                                    f"{_reply(exc)} (check EMAIL_FROM and SMTP_USERNAME)")
            return DeliveryError(TRANSIENT, f"SMTP server {server} deferred the sender: {_reply(exc)}")
        if isinstance(exc, smtplib.SMTPResponseException):
            return _by_code(exc.smtp_code, f"the mail server refused the message: {_reply(exc)}")
        if isinstance(exc, socket.gaierror):
            return DeliveryError(MISCONFIGURED, f"cannot find SMTP server {s.smtp_host} ({exc.strerror}): "
                                                "check SMTP_HOST")
        if isinstance(exc, ConnectionRefusedError):
            return DeliveryError(TRANSIENT, f"SMTP server {server} refused the connection (is it running?)")
        if isinstance(exc, (TimeoutError, socket.timeout)):
            return DeliveryError(TRANSIENT, f"SMTP server {server} did not answer within {TIMEOUT} s")
        if isinstance(exc, (smtplib.SMTPException, OSError)):
            return DeliveryError(TRANSIENT, f"SMTP server {server}: {type(exc).__name__}: {exc}")
        return DeliveryError(TRANSIENT, f"sending by SMTP failed: {type(exc).__name__}: {exc}")


def _text(reason):
    return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)


def _reply(exc):
    return f"{exc.smtp_code} {_text(exc.smtp_error)}"


def _by_code(code, description):
    """5xx: never (PERMANENT, with the server's reason); 4xx and anything else: later."""
    return DeliveryError(PERMANENT if 500 <= code < 600 else TRANSIENT, description)


def compose(settings, claimed):
    """The message for outbox row `claimed`. Built with the email package's compat32 classes:
    its default policy parses every header we set, and took 4 of the 5 ms an email may cost."""
    headers = _headers(claimed.headers)
    name, sender = parseaddr(settings.email_from)
    body = _clean(claimed.text or "")
    text, markup = _plain(body), _html(body)
    link = headers.get("unsubscribe_url")
    if link:
        text += f"\n\n--\nUnsubscribe: {link}\n"
        markup += (f'<p style="margin-top:2em;font-size:12px;color:#888">'
                   f'<a href="{html.escape(link)}">Unsubscribe</a></p>')
    message = MIMEMultipart("alternative")
    message.attach(MIMEText(text, "plain", _UTF8))
    message.attach(MIMEText(f"<!DOCTYPE html><html><body>{markup}</body></html>", "html", _UTF8))
    mailto = f"<mailto:{sender}?subject=unsubscribe>"
    for key, value in (
        ("From", formataddr((name, sender), "utf-8")),
        ("To", claimed.address),
        ("Subject", _encoded(" ".join(str(headers.get("subject") or "").split()))),
        ("Date", formatdate(usegmt=True)),
        ("Message-ID", headers.get("message_id") or make_msgid(domain=sender.rpartition("@")[2] or None)),
        ("In-Reply-To", headers.get("in_reply_to")),
        ("References", headers.get("references")),
        ("List-Unsubscribe", f"<{link}>, {mailto}" if link else mailto),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click" if link else None),
    ):
        if not value:
            continue
        if not isinstance(value, Header):
            value = str(value)
            if "\r" in value or "\n" in value:
                raise ValueError(f"{key} would hold a line break: {value!r}")  # header injection
        message[key] = value
    return message


def _encoded(text):
    return text if text.isascii() else Header(text, "utf-8")


def _headers(raw):
    try:
        value = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _clean(text):
    """The row as clean Telegram HTML; text that is not valid HTML is shown as typed."""
    try:
        return telegram_html.clean(text)
    except telegram_html.FormattingError:
        return html.escape(text, quote=False)


def plain_text(text):
    """The visible text, a link as "text (url)" (just the url when that is its text)."""
    return _plain(_clean(text))


def html_body(text):
    """The HTML part: Telegram's tags as they are, newlines as <br> outside <pre>."""
    return _html(_clean(text))


def _plain(cleaned):
    def link(match):
        url, label = html.unescape(match.group(1)), telegram_html.visible_text(match.group(2))
        return html.escape(url if label.strip() in ("", url) else f"{label} ({url})", quote=False)
    return telegram_html.visible_text(_LINK.sub(link, cleaned))


def _html(cleaned):
    pieces = _PRE.split(_SPOILER.sub("", cleaned))
    body = "".join(piece if piece.startswith("<pre>") else piece.replace("\n", "<br>\n") for piece in pieces)
    return (body.replace("<blockquote>", f'<blockquote style="{QUOTE_STYLE}">')
            .replace("<blockquote expandable>", f'<blockquote style="{QUOTE_STYLE}">'))
