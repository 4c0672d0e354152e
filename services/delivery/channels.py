"""The channels a message can take, their transports (those the settings turn on:
Settings.channel_on), and how each one last fared (ChannelState: the log's errors, shown
in the panel).

Telegram is always on (the bot needs its token). Email sends when SMTP_HOST and EMAIL_FROM
are set, and receives when IMAP_HOST, IMAP_USERNAME and IMAP_PASSWORD are; SMS and WhatsApp
need the Twilio account (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN) and their sender.
"""
import time

from models import ChannelState, utcnow
from services.core.policy import CHANNELS

TELEGRAM, EMAIL, SMS, WHATSAPP = CHANNELS
LABELS = {TELEGRAM: "Telegram", EMAIL: "Email", SMS: "SMS", WHATSAPP: "WhatsApp"}
# The contact kind (models.CONTACT_KINDS) each channel reaches.
CONTACT_KIND = {TELEGRAM: "telegram", EMAIL: "email", SMS: "phone", WHATSAPP: "whatsapp"}
# What else ChannelState tracks: receiving mail, and the webhooks Twilio calls.
IMAP, TWILIO_WEBHOOKS = "imap", "twilio_webhooks"
OXAPAY_WEBHOOKS = "oxapay_webhooks"   # refused OxaPay webhooks (panel/oxapay_hooks.py)
# What a channel that is off needs, for the panel and the refusals.
NEEDS = {
    EMAIL: "SMTP_HOST and EMAIL_FROM",
    IMAP: "IMAP_HOST, IMAP_USERNAME and IMAP_PASSWORD",
    SMS: "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_SMS_FROM",
    WHATSAPP: "TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_WHATSAPP_FROM",
}


def off_reason(channel):
    return f"{LABELS.get(channel, 'Receiving email')} is not set up: set {NEEDS[channel]}."


class Transports:
    """The transport of each channel that is on (services/delivery/transport.py)."""

    def __init__(self, telegram=None, **others):
        self._by_channel = {TELEGRAM: telegram, **others}

    @classmethod
    def from_settings(cls, settings, telegram):
        from services.delivery.email_smtp import SmtpTransport
        from services.delivery.twilio_messages import TwilioTransport
        others = {}
        if settings.channel_on(EMAIL):
            others[EMAIL] = SmtpTransport(settings)
        for channel in (SMS, WHATSAPP):
            if settings.channel_on(channel):
                others[channel] = TwilioTransport(channel, settings)
        return cls(telegram, **others)

    def get(self, channel):
        """The channel's transport, or None when it is off."""
        return self._by_channel.get(channel)


def record_ok(name, now=None):
    """`name` worked: its error, if any, is over."""
    _record(name, ok_at=now or utcnow(), error=None)


def record_error(name, error, now=None):
    _record(name, error_at=now or utcnow(), error=error)
    _noted_ok.pop(name, None)   # the next success is news again


# A webhook that works would cost one more write per request: its success is noted at
# most this often per process (an error in between lets the next one through at once).
NOTE_OK_EVERY_SECONDS = 60.0
_noted_ok = {}   # name -> time.monotonic() of this process's last noted success


def note_ok(name):
    """record_ok, at most once every NOTE_OK_EVERY_SECONDS for `name` in this process."""
    now = time.monotonic()
    last = _noted_ok.get(name)
    if last is None or now - last >= NOTE_OK_EVERY_SECONDS:
        record_ok(name)
        _noted_ok[name] = now


def _record(name, **values):
    (ChannelState.insert(name=name, **values)
     .on_conflict(conflict_target=[ChannelState.name], update=values).execute())


def failing(state):
    """Whether a channel's ChannelState (or None) has an error newer than its last success."""
    return bool(state is not None and state.error_at is not None
                and (state.ok_at is None or state.error_at > state.ok_at))


def states():
    """{name: ChannelState} of every channel that has a record."""
    return {state.name: state for state in ChannelState.select()}
