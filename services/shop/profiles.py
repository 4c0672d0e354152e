"""Customer profiles (seed 002 §3.1.1): the people a customer orders for, several per
customer (a lead). A profile is saved whole, every field checked again
(services/shop/profile_fields.py says how); a deleted one is only marked deleted, so the
orders made for it keep it. The password is kept encrypted and shown masked.
"""
import datetime
import secrets
import string

from models import CustomerProfile, db, utcnow
from services.core import events, search
from services.crm.validation import country_name, display_phone
from services.shop import access
from services.shop.profile_fields import (  # noqa: F401 - the profile API, in one place
    FIELDS,
    US_STATES,
    InvalidProfile,
    asked,
    clean,
    optional,
    postal_code_format,
    seal,
    states_of,
    unseal,
)

ENTITY = "customer_profile"
# Each profile is a row of buttons in the customer's list; Telegram takes 100 buttons.
MAX_PROFILES = 20
NONE = "—"
MASK = "•••"
GENERATED_LENGTH = 14
NO_SUCH_PROFILE = "That profile is not there any more."
TOO_MANY = "There are {count} profiles already, the most one customer can have: delete one first."


class NoSuchProfile(ValueError):
    def __init__(self):
        super().__init__(NO_SUCH_PROFILE)


class TooManyProfiles(ValueError):
    def __init__(self):
        super().__init__(TOO_MANY.format(count=MAX_PROFILES))


def of_customer(lead_id):
    """A customer's profiles (not deleted), oldest first."""
    return list(CustomerProfile.select()
                .where(CustomerProfile.lead == lead_id, CustomerProfile.deleted_at.is_null())
                .order_by(CustomerProfile.id))


def get_for(lead_id, profile_id):
    """The customer's profile `profile_id` (not deleted), else NoSuchProfile."""
    profile = CustomerProfile.get_or_none(CustomerProfile.id == profile_id,
                                          CustomerProfile.lead == lead_id,
                                          CustomerProfile.deleted_at.is_null())
    if profile is None:
        raise NoSuchProfile()
    return profile


def save(actor, lead_id, values, profile_id=None, now=None):
    """Create a profile for customer `lead_id`, or update their `profile_id`, from
    `values` ({field: value}; on an update a field left out keeps its value, the password
    included). InvalidProfile for the first field refused (a required one missing too),
    NoSuchProfile, TooManyProfiles. A client acts only for themself."""
    now = now or utcnow()
    _require_allowed(actor, lead_id)
    with db.atomic():
        profile = None if profile_id is None else get_for(lead_id, profile_id)
        if profile is None and len(of_customer(lead_id)) >= MAX_PROFILES:
            raise TooManyProfiles()
        current = {} if profile is None else {field: getattr(profile, field) for field in FIELDS}
        cleaned = checked({**current, **values}, now.date())
        key = search.name_key(cleaned["first_name"], cleaned["last_name"])
        if profile is None:
            profile = CustomerProfile.create(lead=lead_id, created_at=now, updated_at=now,
                                             search_name=key, **cleaned)
            events.emit(f"{ENTITY}.created", actor, ENTITY, profile.id, events.created(profile),
                        lead_id=lead_id, now=now)
            return profile
        changes = events.changed(profile, cleaned)
        if changes:
            (CustomerProfile.update(updated_at=now, search_name=key,
                                    **{field: cleaned[field] for field in changes})
             .where(CustomerProfile.id == profile.id).execute())
            events.emit(f"{ENTITY}.updated", actor, ENTITY, profile.id, changes,
                        lead_id=lead_id, now=now)
    return CustomerProfile.get_by_id(profile.id)


def checked(values, today):
    """Every field of `values` cleaned again, in order (the state and postal code are
    checked against the country); InvalidProfile for the first one refused."""
    cleaned = {}
    for field in FIELDS:
        value = values.get(field)
        text = "" if value is None else value.isoformat() if isinstance(value, datetime.date) else value
        # Fields cleaned so far win over what was given: a postal code is checked
        # against the country as stored, not as typed.
        cleaned[field] = clean(field, text, {**values, **cleaned}, today)
    return cleaned


def delete(actor, profile_id, now=None):
    """Mark a profile deleted (its orders keep it); NoSuchProfile when it is gone or not
    the client's own."""
    now = now or utcnow()
    with db.atomic():
        profile = CustomerProfile.get_or_none(CustomerProfile.id == profile_id,
                                              CustomerProfile.deleted_at.is_null())
        if profile is None:
            raise NoSuchProfile()
        _require_allowed(actor, profile.lead_id)
        updated = (CustomerProfile.update(deleted_at=now, updated_at=now)
                   .where(CustomerProfile.id == profile.id, CustomerProfile.deleted_at.is_null())
                   .execute())
        if not updated:   # deleted meanwhile, by another press of the same button
            raise NoSuchProfile()
        # Only deleted_at changed: the row and its values stay, for the orders.
        events.emit(f"{ENTITY}.deleted", actor, ENTITY, profile.id,
                    events.changed(profile, {"deleted_at": now}), lead_id=profile.lead_id, now=now)


def reveal_password(actor, profile_id, now=None):
    """A profile's password for an admin (operators see it through the order they work:
    services/shop/orders.reveal_password); the audit log records who saw it."""
    if not access.is_admin(actor):
        raise NoSuchProfile()
    with db.atomic():
        profile = CustomerProfile.get_or_none(CustomerProfile.id == profile_id)
        if profile is None:
            raise NoSuchProfile()
        events.emit(f"{ENTITY}.password_revealed", actor, ENTITY, profile.id, {},
                    lead_id=profile.lead_id, now=now or utcnow())
        return profile.password


def generate_password():
    """14 random letters and digits, with at least one lower, one upper and one digit."""
    alphabet = string.ascii_letters + string.digits
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(GENERATED_LENGTH))
        if (any(c.islower() for c in password) and any(c.isupper() for c in password)
                and any(c.isdigit() for c in password)):
            return password


def shown(field, value):
    """A stored value as people read it ("" for none); the password masked."""
    if value is None or value == "":
        return ""
    if field == "password":
        return MASK
    if field == "country":
        return f"{country_name(value)} ({value})"
    if field == "phone":
        return display_phone(value)
    if field == "state":
        return dict(US_STATES).get(value, value)
    if field == "gender":
        return value.capitalize()
    if field in ("telegram_username", "instagram_username"):
        return f"@{value}"
    return value.isoformat() if isinstance(value, datetime.date) else str(value)


def masked(profile):
    """The password as it is shown: "•••", or "" for none."""
    return MASK if profile.password else ""


def summary_lines(profile, reveal=False):
    """Every field as "Label: value" (plain text: escape it to show it); the password
    masked unless `reveal`."""
    lines = []
    for field, (label, _optional) in FIELDS.items():
        value = getattr(profile, field)
        text = value if reveal and field == "password" and value else shown(field, value)
        lines.append(f"{label}: {text or NONE}")
    return lines


def _require_allowed(actor, lead_id):
    """Admins (and the panel) keep anyone's profiles; a client keeps their own."""
    if not (access.is_admin(actor) or access.client_lead_id(actor) == lead_id):
        raise NoSuchProfile()
