"""Email in: the scheduler polls one IMAP mailbox (IMAP_HOST, IMAP_USERNAME, IMAP_PASSWORD,
IMAP_FOLDER), so a deployment needs no public URL for mail.

Each mail is taken exactly once: the folder's UIDVALIDITY and the last UID taken are kept in
ChannelState("imap"), advanced in the same transaction that stores the mail. A poll killed
between two mails resumes after the last one stored; a mail stored twice (the server's
UIDVALIDITY changed, so every UID starts over) is stopped by the inbound_event unique key.
Mails are read without marking them seen, and never moved or deleted: the mailbox stays the
team's to read as well.

`store(raw_bytes, fallback_ref)` is given by the caller (services/inbox/email_in.storer): it
parses the mail and stores it, by its Message-ID or else `fallback_ref`.
"""
import contextlib
import imaplib
import logging
import socket
import ssl

from imap_tools import A, MailBox, MailBoxStartTls, MailBoxUnencrypted, MailMessage
from imap_tools.errors import (
    ImapToolsError,
    MailboxFolderSelectError,
    MailboxFolderStatusError,
    MailboxLoginError,
    MailboxStarttlsError,
)

from models import ChannelState, db
from services.delivery import channels

log = logging.getLogger("leadgram.email")
TIMEOUT = 20   # seconds, per connect and per command
BATCH = 10     # mails fetched per command: a few big mails, not the whole folder, in memory


class ImapSettingsError(Exception):
    """Settings that cannot work, found before connecting."""


IMAP_ERRORS = (OSError, imaplib.IMAP4.error, ImapToolsError, ImapSettingsError)


class RawMail(MailMessage):
    """imap-tools' message, keeping the bytes as the server sent them."""

    def __init__(self, fetch_data):
        super().__init__(fetch_data)
        self.raw = self._get_message_data_parts(fetch_data)[0]


def poll(settings, store, now=None):
    """Take the mails that arrived since the last poll; returns how many were taken. A
    failure is logged and recorded (channels.record_error("imap", ...)); nothing is taken
    past it, so the next poll starts where this one stopped."""
    try:
        taken = _poll(settings, store)
    except IMAP_ERRORS as exc:
        error = describe(settings, exc)
        log.error("%s", error)
        channels.record_error(channels.IMAP, error, now)
        return 0
    channels.record_ok(channels.IMAP, now)
    return taken


def _poll(settings, store):
    mailbox = connect(settings)
    try:
        return _take(settings, mailbox, store)
    finally:
        with contextlib.suppress(*IMAP_ERRORS):  # a connection already gone has nothing to close
            mailbox.logout()


def _take(settings, mailbox, store):
    mailbox.email_message_class = RawMail
    mailbox.login(settings.imap_username, settings.imap_password, initial_folder=None)
    mailbox.folder.set(settings.imap_folder, readonly=True)
    validity = int(mailbox.folder.status(settings.imap_folder, ["UIDVALIDITY"])["UIDVALIDITY"])
    last = _last_uid(validity)
    # "N:*" always matches the highest UID, even one at or below N: keep only newer ones.
    uids = sorted(int(uid) for uid in mailbox.uids(A(uid=f"{last + 1}:*")) if int(uid) > last)
    taken = 0
    for start in range(0, len(uids), BATCH):
        chunk = [str(uid) for uid in uids[start:start + BATCH]]
        mails = sorted(mailbox.fetch(uid_list=chunk, mark_seen=False, bulk=BATCH),
                       key=lambda mail: int(mail.uid or 0))
        for mail in mails:
            if not mail.uid or int(mail.uid) <= last:
                continue
            with db.atomic():
                store(mail.raw, f"uid:{validity}:{mail.uid}")
                _advance(validity, int(mail.uid))
            last = int(mail.uid)
            taken += 1
    return taken


def connect(settings):
    """The mailbox, connected (not logged in), over TLS, STARTTLS or plain per IMAP_SECURITY."""
    s = settings
    if s.imap_security == "ssl":
        return MailBox(s.imap_host, s.imap_port, timeout=TIMEOUT, ssl_context=ssl.create_default_context())
    if s.imap_security == "starttls":
        if s.imap_port == 993:
            raise ImapSettingsError("IMAP port 993 speaks implicit TLS, not STARTTLS: set IMAP_SSL=1 "
                                    "or IMAP_PORT=143")
        return MailBoxStartTls(s.imap_host, s.imap_port, timeout=TIMEOUT,
                               ssl_context=ssl.create_default_context())
    return MailBoxUnencrypted(s.imap_host, s.imap_port, timeout=TIMEOUT)


def _last_uid(validity):
    """The last UID taken in this folder, 0 when its UIDVALIDITY is new (every UID changed)."""
    state = ChannelState.get_or_none(ChannelState.name == channels.IMAP)
    if state is not None and state.uid_validity == validity:
        return state.last_uid or 0
    if state is not None and state.uid_validity is not None:
        log.warning("IMAP folder's UIDVALIDITY changed (%s -> %s): reading it again from the start; "
                    "mails already taken are recognised by their Message-ID",
                    state.uid_validity, validity)
    (ChannelState.insert(name=channels.IMAP, uid_validity=validity, last_uid=0)
     .on_conflict(conflict_target=[ChannelState.name], update={"uid_validity": validity, "last_uid": 0})
     .execute())
    return 0


def _advance(validity, uid):
    # Only forward: another poller that got further is not put back.
    (ChannelState.update(last_uid=uid)
     .where(ChannelState.name == channels.IMAP, ChannelState.uid_validity == validity,
            ChannelState.last_uid < uid)
     .execute())


def describe(settings, exc):
    """A failure as the log and the panel say it: what went wrong, which setting to check."""
    s = settings
    server = f"{s.imap_host}:{s.imap_port}"
    if isinstance(exc, ImapSettingsError):
        return str(exc)
    if isinstance(exc, MailboxLoginError):
        return f"IMAP login refused for {s.imap_username}@{s.imap_host}: check IMAP_USERNAME/IMAP_PASSWORD"
    if isinstance(exc, (MailboxFolderSelectError, MailboxFolderStatusError)):
        return f"IMAP folder {s.imap_folder!r} not found on {s.imap_host}: check IMAP_FOLDER"
    if isinstance(exc, MailboxStarttlsError):
        return f"IMAP server {server} refused STARTTLS: check IMAP_PORT and IMAP_STARTTLS/IMAP_SSL"
    if isinstance(exc, ssl.SSLError):
        return (f"TLS with IMAP server {server} failed ({exc.reason or exc}): check IMAP_PORT and "
                "IMAP_SSL/IMAP_STARTTLS (implicit TLS is usually port 993, STARTTLS port 143)")
    if isinstance(exc, socket.gaierror):
        return f"cannot find IMAP server {s.imap_host} ({exc.strerror}): check IMAP_HOST"
    if isinstance(exc, ConnectionRefusedError):
        return f"IMAP server {server} refused the connection (is it running? check IMAP_HOST and IMAP_PORT)"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"IMAP server {server} did not answer within {TIMEOUT} s"
    return f"IMAP server {server}: {type(exc).__name__}: {exc}"
