"""Leads: creation with validation, duplicate checks and team notification."""
from peewee import JOIN, IntegrityError

from models import Lead, User, db, utcnow
from services.core import events, search as search_text
from services.core.actors import Actor
from services.core.inputs import InvalidField
from services.crm import contacts, messages, pipeline, profile as client_profile, validation
from services.crm.access import require_lead, visible_leads
from services.crm.team import require_team

FIELDS = {
    "email": ("Email", validation.email),
    "phone": ("Phone", validation.phone),
    "first_name": ("First name", validation.name),
    "last_name": ("Last name", validation.name),
    "country": ("Country", validation.country),
}
# Kept as the lead's first contact of that kind (services/crm/contacts.py), unique.
CONTACT_FIELDS = ("email", "phone")
# A client needs only a first name; the chat's wizard asks for every field anyway.
REQUIRED_FIELDS = ("first_name",)
BLANK = {"last_name": "", "country": "", "email": None, "phone": None}
PAGE_SIZE = 10
PANEL = Actor.panel()
MAX_SEARCH_RESULTS = 20
ASCII_DIGITS = frozenset("0123456789")
PHONE_CHARACTERS = ASCII_DIGITS | set("+-(). ")


class InvalidLead(InvalidField):
    labels = {field: label for field, (label, _check) in FIELDS.items()}


class DuplicateLead(ValueError):
    def __init__(self, field, lead):
        label = FIELDS[field][0].lower()
        super().__init__(messages.DUPLICATE_LEAD.format(label=label, lead_id=lead.id,
                                                        name=lead.full_name))
        self.field, self.lead = field, lead


def clean_field(field, text):
    """The normalised value of one field, or InvalidLead."""
    try:
        return FIELDS[field][1](text)
    except validation.ValidationError as exc:
        raise InvalidLead(field, str(exc)) from None


def find_duplicate(field, value):
    """The existing lead holding `value` in a unique field, or None."""
    if field not in CONTACT_FIELDS or value is None:
        return None
    return contacts.holder(field, value)


def create_lead(creator, **raw):
    """A team member adds a lead from chat; it is theirs to work."""
    require_team(creator)
    return add_lead(raw, created_by=creator, details={"source": "telegram"}, owner=creator)


def add_lead(raw, created_by=None, details=None, owner=None, actor=None, profile=None):
    """Validate, store and emit lead.created (the audit log, the rules, the team's
    notification); all or nothing.

    `created_by` None means the deployer, in the admin panel (which has its own login).
    `details` are pipeline fields (source, business_domain, priority, value); `profile`
    the client's profile fields (services/crm/profile.py: InvalidProfile).
    `actor` defaults to the creator, or the panel.
    """
    actor = actor or (Actor.member(created_by) if created_by else PANEL)
    values = validate(raw)
    values.update(pipeline.clean_details(details or {}))
    values.update(_clean_profile(profile))
    _refuse_duplicates(values)
    reach = {field: values.pop(field) for field in CONTACT_FIELDS}
    try:
        with db.atomic():
            now = utcnow()
            lead = Lead.create(created_by=created_by, owner=owner, created_at=now,
                               last_activity_at=now, assigned_at=now if owner else None,
                               search_name=search_text.name_key(values["first_name"],
                                                                values["last_name"]), **values)
            for field, value in reach.items():
                contacts.set_first(lead.id, field, value)
            changes = events.created(lead)
            changes.update({field: (None, value) for field, value in reach.items() if value})
            # announce: the team hears of a lead someone added (services/chat/lead_alerts.py);
            # a client who writes in is announced by their message instead.
            events.emit("lead.created", actor, "lead", lead.id, changes, lead=lead, now=now,
                        announce=True)
    except IntegrityError:
        # Someone saved the same email or phone between our check and insert.
        _refuse_duplicates(reach)
        raise
    return lead


def update_lead(actor, lead_id, raw, profile=None):
    """Change a lead's fields under the same rules as creating one; the `profile` fields
    given (services/crm/profile.py) too, the others kept."""
    values = validate(raw)
    values.update(_clean_profile(profile))
    _refuse_duplicates(values, except_id=lead_id)
    try:
        with db.atomic():
            lead = Lead.get_or_none(Lead.id == lead_id)
            if lead is None:
                raise LookupError(messages.LEAD_GONE.format(lead_id=lead_id))
            changes = events.changed(lead, values)
            columns = {f: values[f] for f in changes if f not in CONTACT_FIELDS}
            if {"first_name", "last_name"} & set(columns):
                columns["search_name"] = search_text.name_key(values["first_name"],
                                                              values["last_name"])
            if columns:  # only what changed: a kept secret is not encrypted again
                Lead.update(**columns).where(Lead.id == lead_id).execute()
            if changes:
                for field in CONTACT_FIELDS:
                    if field in changes:
                        contacts.set_first(lead_id, field, values[field])
                events.emit("lead.updated", actor, "lead", lead_id, changes)
    except IntegrityError:
        _refuse_duplicates(values, except_id=lead_id)
        raise
    return get(lead_id)


def delete_leads(actor, lead_ids):
    """Delete these leads; returns how many there were."""
    with db.atomic():
        doomed = list(Lead.select().where(Lead.id.in_(list(lead_ids))))
        for lead in doomed:
            changes = events.deleted(lead)
            for row in contacts.of(lead.id):
                key, n = row.kind, 1
                while key in changes:
                    n += 1
                    key = f"{row.kind} {n}"
                changes[key] = (row.value, None)
            events.emit("lead.deleted", actor, "lead", lead.id, changes)
        return Lead.delete().where(Lead.id.in_([lead.id for lead in doomed])).execute()


def _clean_profile(raw):
    """The profile fields of `raw` cleaned, refused (InvalidProfile) before anything is
    written if a secret among them cannot be encrypted (no DATA_ENCRYPTION_KEY)."""
    values = client_profile.clean_profile(raw or {})
    client_profile.require_data_key(values)
    return values


def validate(raw):
    """Every field normalised (a blank optional one empty), or InvalidLead for the first
    bad one."""
    return {field: BLANK[field] if _blank(raw.get(field)) and field not in REQUIRED_FIELDS
            else clean_field(field, raw.get(field)) for field in FIELDS}


def _blank(text):
    return text is None or (isinstance(text, str) and not text.strip())


def _refuse_duplicates(values, except_id=None):
    for field in CONTACT_FIELDS:
        existing = find_duplicate(field, values.get(field))
        if existing and existing.id != except_id:
            raise DuplicateLead(field, existing)


def recent(page=0, per_page=PAGE_SIZE, actor=PANEL):
    """One page of the leads `actor` may see, newest first, and the number of pages."""
    total = visible_leads(actor).count()
    pages = max(1, -(-total // per_page))
    page = min(max(page, 0), pages - 1)
    rows = list(visible_leads(actor, _with_creator()).order_by(Lead.id.desc())
                .paginate(page + 1, per_page))
    return rows, page, pages


def get(lead_id):
    return _with_creator().where(Lead.id == lead_id).first()


def search(text, limit=MAX_SEARCH_RESULTS, actor=PANEL):
    """Leads `actor` may see whose name or any contact contains `text`, whatever the case
    and accents (services/core/search.py)."""
    needle = search_text.fold(text)
    if not needle:
        return []
    # contains() escapes % and _, so what people type is matched literally.
    condition = Lead.search_name.contains(needle) | contacts.matching(needle)
    digits = _phone_digits(needle)
    if digits and digits != needle:
        condition |= contacts.matching(digits)
    return list(visible_leads(actor, _with_creator()).where(condition)
                .order_by(Lead.id.desc()).limit(limit))


def matching(text):
    """A condition on Lead for the panel's search box: every word of `text` is in the
    lead's first or last name or in one of its contacts, whatever the case and accents
    (services/core/search.py); a phone number typed with spaces, dashes or brackets is
    one word, its digits. None for no words. Each word reads the name and contact
    indexes separately (a UNION of ids), so Postgres' trigram indexes serve it."""
    needle = search_text.fold(text)
    digits = _phone_digits(needle)
    condition = None
    for word in [digits] if digits else needle.split():
        ids = (Lead.select(Lead.id).where(Lead.search_name.contains(word))
               | contacts.lead_ids(word))
        condition = Lead.id.in_(ids) if condition is None else condition & Lead.id.in_(ids)
    return condition


def _phone_digits(needle):
    """The digits of `needle` if it looks like (part of) a phone number, else "". Leading
    zeros go: a trunk or international prefix (020…, 0044…) is not in the stored E.164."""
    if set(needle) <= PHONE_CHARACTERS and any(ch in ASCII_DIGITS for ch in needle):
        return "".join(ch for ch in needle if ch in ASCII_DIGITS).lstrip("0")
    return ""


def _with_creator():
    return Lead.select(Lead, User).join(User, JOIN.LEFT_OUTER, on=Lead.created_by)


class OwnerKept(ValueError):
    """A lead that has an owner keeps one: it is handed over, never left without."""

    def __init__(self):
        super().__init__(messages.OWNER_KEPT)


def edit_lead(actor, lead_id, raw, details=None, owner_id=None, profile=None):
    """One edit of a lead, as the panel's form makes it, all or nothing (one transaction):
    the contact fields in `raw` and the `profile` fields (the rules of update_lead; one
    lead.updated event for both), the pipeline `details` (set_details) and the owner: a
    member id, given the lead through pipeline.assign (which tells them and notes it on
    the timeline), or None for no owner, which a lead that has one may not go back to
    (OwnerKept).

    Raises InvalidLead, DuplicateLead, InvalidProfile, ValueError (a bad detail),
    OwnerKept, AccessDenied or LookupError, and then nothing of the edit is saved.
    Returns the lead.
    """
    with db.atomic():
        if Lead.get_or_none(Lead.id == lead_id) is None:
            raise LookupError(messages.LEAD_GONE.format(lead_id=lead_id))
        lead = require_lead(actor, lead_id)
        if owner_id is None and lead.owner_id:
            raise OwnerKept()
        update_lead(actor, lead_id, raw, profile)
        pipeline.set_details(actor, lead_id, **(details or {}))
        if owner_id is not None and owner_id != lead.owner_id:
            pipeline.assign(actor, lead_id, owner_id)
    return get(lead_id)
