"""How to reach a client (seed 001): emails, phones, Telegram, WhatsApp and others.

Contact rows are the only place an email or phone is kept (a lead's `email` and `phone`
read its first one of each). Values are normalised, so one address or number is one
value however it was typed, and unique within their kind: a contact leads to one client.
"""
from peewee import IntegrityError

from models import CONTACT_KINDS, Contact, Lead, db
from services.core import events, search
from services.crm import messages, validation
from services.crm.validation import ValidationError

MAX_VALUE_LENGTH = 200
ASCII_DIGITS = frozenset("0123456789")
FIRSTS_CHUNK = 1000   # lead ids per query: well under any database's parameter limit


class InvalidContact(ValueError):
    pass


class DuplicateContact(ValueError):
    def __init__(self, kind, lead):
        super().__init__(messages.DUPLICATE_LEAD.format(label=kind, lead_id=lead.id,
                                                        name=lead.full_name))
        self.kind, self.lead = kind, lead


def _telegram(text):
    """A Telegram user id: the one thing about an account that never changes."""
    text = text.strip()
    # Only ASCII digits: str.isdigit() also takes "²", which int() refuses.
    if not text or len(text) > 20 or not set(text) <= ASCII_DIGITS:
        raise ValidationError("A Telegram contact is the person's numeric user id.")
    return str(int(text))


def _other(text):
    text = " ".join(text.split())
    if not text:
        raise ValidationError("It cannot be empty.")
    if len(text) > MAX_VALUE_LENGTH:
        raise ValidationError(f"That is too long ({len(text)} characters).")
    return text


NORMALISERS = {"email": validation.email, "phone": validation.phone,
               "whatsapp": validation.phone, "telegram": _telegram, "other": _other}
assert set(NORMALISERS) == set(CONTACT_KINDS)


def normalise(kind, text):
    """The stored form of a contact, or InvalidContact saying what is wrong."""
    if kind not in NORMALISERS:
        raise InvalidContact(f"A contact is one of: {', '.join(CONTACT_KINDS)}.")
    try:
        return NORMALISERS[kind](text if isinstance(text, str) else "")
    except ValidationError as exc:
        raise InvalidContact(f"{kind.capitalize()}: {exc}") from None


def shown(contact):
    """A contact as people read it: its label (a Telegram @username), a phone or WhatsApp
    number in international format, else its value."""
    if contact.label:
        return contact.label
    if NORMALISERS.get(contact.kind) is validation.phone:   # stored as E.164
        return validation.display_phone(contact.value)
    return contact.value


def find_lead(kind, text):
    """The client reached at this contact (typed any way), or None."""
    try:
        value = normalise(kind, text)
    except InvalidContact:
        return None
    return holder(kind, value)


def holder(kind, value):
    """The lead holding a normalised contact, or None: one indexed lookup."""
    return (Lead.select().join(Contact)
            .where(Contact.kind == kind, Contact.value == value).first())


def of(lead_id):
    """A lead's contacts, kind by kind, oldest first."""
    order = {kind: n for n, kind in enumerate(CONTACT_KINDS)}
    rows = list(Contact.select().where(Contact.lead == lead_id).order_by(Contact.id))
    return sorted(rows, key=lambda row: order.get(row.kind, len(order)))


def firsts(lead_ids, kinds=CONTACT_KINDS):
    """{lead id: {kind: value}}: each lead's first contact of each of `kinds`, as
    Lead.contact() reads it, for many leads at once (a list page, an export): one query
    per FIRSTS_CHUNK leads."""
    found, kinds, lead_ids = {}, set(kinds), list(lead_ids)
    for start in range(0, len(lead_ids), FIRSTS_CHUNK):
        # By lead only: with `kind IN (…)` too, SQLite may walk the (kind, value) index
        # through every email and phone instead (100 ms at 100,000 leads).
        rows = (Contact.select(Contact.lead, Contact.kind, Contact.value)
                .where(Contact.lead.in_(lead_ids[start:start + FIRSTS_CHUNK]))
                .order_by(Contact.id).tuples())
        for lead_id, kind, value in rows:
            if kind in kinds:
                found.setdefault(lead_id, {}).setdefault(kind, value)
    return found


def add(actor, lead_id, kind, text, label=None):
    """Give a lead another contact and return it (the one it has, if it has this one
    already); InvalidContact, DuplicateContact naming who has it, or LookupError."""
    value = normalise(kind, text)
    try:
        with db.atomic():
            if not Lead.select().where(Lead.id == lead_id).exists():
                raise LookupError(messages.LEAD_GONE.format(lead_id=lead_id))
            existing = _refuse_taken(kind, value, lead_id)
            if existing is not None:
                return existing
            contact = Contact.create(lead=lead_id, kind=kind, value=value, label=label,
                                     search_value=search.fold(value))
            events.emit("contact.added", actor, "lead", lead_id,
                        {kind: (None, value)})
    except IntegrityError:  # someone saved it between our check and insert
        existing = _refuse_taken(kind, value, lead_id)
        if existing is not None:
            return existing
        raise
    return contact


def remove(actor, lead_id, contact_id):
    """Remove one of a lead's contacts; False when it was not theirs (or is gone)."""
    with db.atomic():
        contact = Contact.get_or_none(Contact.id == contact_id, Contact.lead == lead_id)
        if contact is None:
            return False
        contact.delete_instance()
        events.emit("contact.removed", actor, "lead", lead_id,
                    {contact.kind: (contact.value, None)})
    return True


def set_first(lead_id, kind, value):
    """Make `value` (normalised; None removes it) the lead's first contact of `kind`, as
    editing a lead's email or phone does. The caller audits the change and handles
    IntegrityError (the value taken meanwhile)."""
    first = (Contact.select().where(Contact.lead == lead_id, Contact.kind == kind)
             .order_by(Contact.id).first())
    if value is None:
        if first is not None:
            first.delete_instance()
    elif first is None:
        Contact.create(lead=lead_id, kind=kind, value=value, search_value=search.fold(value))
    elif first.value != value:
        (Contact.update(value=value, search_value=search.fold(value))
         .where(Contact.id == first.id).execute())


def matching(needle):
    """Leads with a contact containing `needle` (folded: services/core/search.py), for
    searches."""
    return Lead.id.in_(lead_ids(needle))


def lead_ids(needle):
    """A subquery: the ids of leads with a contact containing `needle` (folded), whatever
    its case and accents."""
    return Contact.select(Contact.lead).where(Contact.search_value.contains(needle))


def _refuse_taken(kind, value, lead_id):
    """DuplicateContact if another lead holds this contact; the contact row if this lead
    does; else None."""
    row = Contact.get_or_none(Contact.kind == kind, Contact.value == value)
    if row is not None and row.lead_id != lead_id:
        raise DuplicateContact(kind, row.lead)
    return row
