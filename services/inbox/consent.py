"""A client's consent, channel by channel: Telegram's /stop, SMS and WhatsApp STOP (Twilio's
keywords), an email's unsubscribe link. Each opts the client out of that channel only, by
marking the contact it reaches (models.Contact.opted_out_at); START (or, on Telegram,
writing again) opts back in.

Opted out, a contact gets nothing automated: no broadcast, no rule's template, no notice.
A member's answer to the client's own message still goes out where the channel allows
it (services/inbox/destinations.py says where it does not).
"""
from models import Contact, db, utcnow
from services.core import events
from services.delivery.channels import CONTACT_KIND


def opt_out(actor, lead, channel, address, now=None):
    """The client opted out of `channel` at `address` (normalised); False if already."""
    return _set(actor, lead, channel, address, now or utcnow())


def opt_in(actor, lead, channel, address):
    """The client opted back in; False if they had not opted out."""
    return _set(actor, lead, channel, address, None)


def opted_out(lead_id, channel, address):
    return (Contact.select()
            .where(Contact.lead == lead_id, Contact.kind == CONTACT_KIND[channel],
                   Contact.value == str(address), Contact.opted_out_at.is_null(False))
            .exists())


def _set(actor, lead, channel, address, when):
    kind = CONTACT_KIND[channel]
    with db.atomic():
        contact = Contact.get_or_none(Contact.lead == lead.id, Contact.kind == kind,
                                      Contact.value == str(address))
        if contact is None or (contact.opted_out_at is None) == (when is None):
            return False
        Contact.update(opted_out_at=when).where(Contact.id == contact.id).execute()
        events.emit("contact.consent_changed", actor, "lead", lead.id,
                    {f"{channel} opted out": (contact.opted_out_at, when)},
                    channel=channel, address=contact.value)
    return True
