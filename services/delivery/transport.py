"""The one interface every channel's transport keeps, and what a failure means.

A transport sends one outbox row (services/delivery/outbox.py: Claimed) on its channel
and returns a Receipt (the provider's id of the message and the status it reported), or
raises DeliveryError with a kind the sender (services/delivery/sender.py) acts on the same
way for every channel:

- TRANSIENT: retry later, with backoff (network errors, 5xx, a server that is down);
- RETRY_AFTER: rate limited, retry after `retry_after` seconds (429);
- UNREACHABLE: this Telegram chat is gone (blocked the bot): every row to it fails;
- PERMANENT: this message can never be sent (a bad address, a refused body): the
  provider's reason is kept on the row and shown to the team;
- MISCONFIGURED: our settings are wrong (a refused token or password): the row keeps its
  attempts and waits until they are fixed.

Telegram's transport (services/delivery/telegram.py) also edits, copies and reacts; the
sender splits and paces its messages. Email (email_smtp.py), SMS and WhatsApp
(twilio_messages.py) send whole messages through `send`. A channel with no transport is
off: its rows wait, and say so (services/delivery/channels.py).
"""
from dataclasses import dataclass
from typing import Protocol

RETRY_AFTER, TRANSIENT, UNREACHABLE, PERMANENT, MISCONFIGURED = (
    "retry_after", "transient", "unreachable", "permanent", "misconfigured")


class DeliveryError(Exception):
    def __init__(self, kind, description, retry_after=None):
        super().__init__(description)
        self.kind = kind
        self.description = description
        self.retry_after = retry_after


@dataclass(frozen=True)
class Receipt:
    provider_id: str
    status: str = "sent"    # what the provider said: sent (email), queued/accepted (Twilio)


class Transport(Protocol):
    channel: str

    def send(self, message) -> Receipt:
        """Send the outbox row `message` (Claimed) to `message.address`, or raise
        DeliveryError."""
