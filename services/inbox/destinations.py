"""Where a message to a client can go, and why it may not go there now.

A destination is one of the client's contacts on a channel that is on: their Telegram
chat, an email address, a phone number for SMS, a WhatsApp number. An answer goes where
the client last wrote from unless the member picks another (the panel's composer, the
channel of the alert answered in Telegram). Refusals are Telegram HTML, user data escaped.
"""
import datetime
from dataclasses import dataclass

from models import Contact, User, utcnow
from services.core import policy
from services.core.markup import h
from services.crm import contacts, validation
from services.delivery.channels import CONTACT_KIND, EMAIL, LABELS, SMS, TELEGRAM, WHATSAPP
from services.inbox import conversations, messages

# WhatsApp lets a business write freely for 24 hours after the client's last message;
# after that only a template WhatsApp approved.
WHATSAPP_WINDOW = datetime.timedelta(hours=24)
CHANNEL_OF_KIND = {kind: channel for channel, kind in CONTACT_KIND.items()}
PREFERENCE = (TELEGRAM, EMAIL, SMS, WHATSAPP)   # with no message from the client yet


@dataclass(frozen=True)
class Destination:
    channel: str
    address: str          # a Telegram user id, an email address, an E.164 number
    shown: str            # the contact as people read it
    opted_out: bool = False

    @property
    def key(self):
        """How a form names it: "email:ann@example.com"."""
        return f"{self.channel}:{self.address}"

    @property
    def label(self):
        return f"{LABELS[self.channel]} · {self.shown}"


def describe(channel, address):
    """"Email · ann@example.com", "SMS · +44 20 7946 0958": a message's channel as shown."""
    phone = CONTACT_KIND[channel] in ("phone", "whatsapp")
    shown = validation.display_phone(address) if phone and address else (address or "")
    return f"{LABELS[channel]} · {shown}" if shown else LABELS[channel]


def of_lead(lead_id):
    """The client's destinations on the channels that are on, in PREFERENCE order."""
    on = policy.current().channels
    found = [Destination(CHANNEL_OF_KIND[c.kind], c.value, contacts.shown(c), c.opted_out_at is not None)
             for c in Contact.select().where(Contact.lead == lead_id).order_by(Contact.id)
             if CHANNEL_OF_KIND.get(c.kind) in on]
    return sorted(found, key=lambda d: PREFERENCE.index(d.channel))


def find(lead_id, key):
    """The client's destination a form named by its key, or None."""
    return next((d for d in of_lead(lead_id) if d.key == key), None)


def of_channel(lead_id, channel, address=None):
    """The client's destination on `channel` (at `address`, when known), or None."""
    return next((d for d in of_lead(lead_id)
                 if d.channel == channel and (address is None or d.address == str(address))), None)


def default_for(conversation):
    """Where an answer goes unless the member picks: where the client last wrote from,
    else their first destination (Telegram first), else None."""
    last = conversations.last_inbound(conversation.lead_id)
    if last is not None:
        found = of_channel(conversation.lead_id, last.transport, last.address)
        if found is not None:
            return found
    choices = of_lead(conversation.lead_id)
    return choices[0] if choices else None


def choose(conversation, automated, whatsapp_template=False, now=None):
    """(destination, refusal or None) for a message the sender did not direct: where the
    client last wrote. An automated one goes to the first of the client's destinations,
    that one first, that takes it (so it skips a channel they opted out of); when none
    does, the refusal is the first's."""
    lead = conversation.lead
    first = default_for(conversation)
    refused = refusal(lead, first, automated, whatsapp_template, now)
    if refused is None or not automated:
        return first, refused
    for other in of_lead(lead.id):
        if other != first and refusal(lead, other, automated, whatsapp_template, now) is None:
            return other, None
    return first, refused


def refusal(lead, destination, automated, whatsapp_template=False, now=None):
    """Why nothing can be sent to `destination` now (Telegram HTML), or None. `automated`:
    a rule, a notice or a greeting, which no opted-out contact gets; `whatsapp_template`:
    the message is a template WhatsApp approved (Message templates' content SID)."""
    name = h(lead.full_name)
    if destination is None:
        return messages.NO_DESTINATION.format(name=name)
    channel = LABELS[destination.channel]
    if destination.channel == TELEGRAM:
        client = User.get_or_none(User.telegram_id == int(destination.address))
        if destination.opted_out:   # writing again opts them back in
            return messages.OPTED_OUT.format(name=name)
        if client is None:
            return messages.NO_TELEGRAM
        if client.unreachable:
            return messages.UNREACHABLE.format(name=name, reason=h(client.unreachable_reason or "blocked"))
        return None
    if destination.opted_out and (automated or destination.channel != EMAIL):
        # SMS and WhatsApp deliver nothing to a number that sent STOP (Twilio's 21610).
        return messages.CHANNEL_OPTED_OUT.format(name=name, channel=channel)
    if destination.channel == WHATSAPP and not whatsapp_template:
        last = conversations.last_inbound(lead.id, WHATSAPP, destination.address)
        if last is None or (now or utcnow()) - last.created_at > WHATSAPP_WINDOW:
            return messages.WHATSAPP_WINDOW.format(name=name)
    return None
