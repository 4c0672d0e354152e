"""Leads: creation with validation, duplicate checks and team notification."""
from peewee import JOIN, IntegrityError

from models import Lead, User, db, utcnow
from services.core import events
from services.core.actors import Actor
from services.crm import messages, pipeline, validation
from services.crm.access import require_lead, visible_leads
from services.crm.messages import lead_card
from services.crm.team import require_team
from services.delivery import outbox

FIELDS = {
    "email": ("Email", validation.email),
    "phone": ("Phone", validation.phone),
    "first_name": ("First name", validation.name),
    "last_name": ("Last name", validation.name),
    "country": ("Country", validation.country),
}
UNIQUE_FIELDS = ("email", "phone")
PAGE_SIZE = 10
PANEL = Actor.panel()
MAX_SEARCH_RESULTS = 20


class InvalidLead(ValueError):
    def __init__(self, field, reason):
        super().__init__(messages.INVALID_FIELD.format(label=FIELDS[field][0], reason=reason))
        self.field, self.reason = field, reason


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
    if field not in UNIQUE_FIELDS:
        return None
    return Lead.get_or_none(getattr(Lead, field) == value)


def create_lead(creator, **raw):
    """A team member adds a lead from chat; it is theirs to work."""
    require_team(creator)
    return add_lead(raw, created_by=creator, details={"source": "telegram"}, owner=creator)


def add_lead(raw, created_by=None, details=None, owner=None, actor=None):
    """Validate, store, queue one notification per team member and emit lead.created
    (the audit log, the rules); all or nothing.

    `created_by` None means the deployer, in the admin panel (which has its own login).
    `details` are pipeline fields (source, business_domain, priority, value).
    `actor` defaults to the creator, or the panel.
    """
    actor = actor or (Actor.member(created_by) if created_by else PANEL)
    values = validate(raw)
    values.update(pipeline.clean_details(details or {}))
    _refuse_duplicates(values)
    try:
        with db.atomic():
            now = utcnow()
            lead = Lead.create(created_by=created_by, owner=owner, created_at=now,
                               last_activity_at=now, assigned_at=now if owner else None, **values)
            notify_team(lead)
            events.emit("lead.created", actor, "lead", lead.id, events.created(lead),
                        lead=lead, now=now)
    except IntegrityError:
        # Someone saved the same email or phone between our check and insert.
        _refuse_duplicates(values)
        raise
    return lead


def update_lead(actor, lead_id, raw):
    """Change a lead's fields under the same rules as creating one."""
    values = validate(raw)
    _refuse_duplicates(values, except_id=lead_id)
    try:
        with db.atomic():
            lead = Lead.get_or_none(Lead.id == lead_id)
            if lead is None:
                raise LookupError(messages.LEAD_GONE.format(lead_id=lead_id))
            changes = events.changed(lead, values)
            if changes:
                Lead.update(**values).where(Lead.id == lead_id).execute()
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
            events.emit("lead.deleted", actor, "lead", lead.id, events.deleted(lead))
        return Lead.delete().where(Lead.id.in_([lead.id for lead in doomed])).execute()


def validate(raw):
    """Every field normalised, or InvalidLead for the first bad one."""
    return {field: clean_field(field, raw.get(field)) for field in FIELDS}


def _refuse_duplicates(values, except_id=None):
    for field in UNIQUE_FIELDS:
        existing = find_duplicate(field, values[field])
        if existing and existing.id != except_id:
            raise DuplicateLead(field, existing)


def notify_team(lead):
    text = lead_card(lead, title="New lead")
    outbox.enqueue_for(User.lead_recipients(), f"lead:{lead.id}:to:", text)


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
    """Leads `actor` may see whose name, email or phone contains `text` (case-insensitive)."""
    needle = " ".join(text.split()).casefold()
    if not needle:
        return []
    digits = "".join(ch for ch in needle if ch.isdigit())
    # contains() escapes % and _, so what people type is matched literally.
    full_name = Lead.first_name.concat(" ").concat(Lead.last_name)
    condition = full_name.contains(needle) | Lead.email.contains(needle)
    if digits:
        condition |= Lead.phone.contains(digits)
    return list(visible_leads(actor, _with_creator()).where(condition)
                .order_by(Lead.id.desc()).limit(limit))


def _with_creator():
    return Lead.select(Lead, User).join(User, JOIN.LEFT_OUTER, on=Lead.created_by)


class OwnerKept(ValueError):
    """A lead that has an owner keeps one: it is handed over, never left without."""

    def __init__(self):
        super().__init__(messages.OWNER_KEPT)


def edit_lead(actor, lead_id, raw, details=None, owner_id=None):
    """One edit of a lead, as the panel's form makes it, all or nothing (one transaction):
    the contact fields in `raw` (the rules of update_lead), the pipeline `details`
    (set_details) and the owner: a member id, given the lead through pipeline.assign
    (which tells them and notes it on the timeline), or None for no owner, which a lead
    that has one may not go back to (OwnerKept).

    Raises InvalidLead, DuplicateLead, ValueError (a bad detail), OwnerKept, AccessDenied
    or LookupError, and then nothing of the edit is saved. Returns the lead.
    """
    with db.atomic():
        if Lead.get_or_none(Lead.id == lead_id) is None:
            raise LookupError(messages.LEAD_GONE.format(lead_id=lead_id))
        lead = require_lead(actor, lead_id)
        if owner_id is None and lead.owner_id:
            raise OwnerKept()
        update_lead(actor, lead_id, raw)
        pipeline.set_details(actor, lead_id, **(details or {}))
        if owner_id is not None and owner_id != lead.owner_id:
            pipeline.assign(actor, lead_id, owner_id)
    return get(lead_id)
