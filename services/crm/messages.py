"""What the team reads from the CRM: lead cards and notifications (Telegram HTML, user
data escaped), and the refusals the services raise (plain text: whoever shows one
escapes it for their page or parse mode). One place, so a translation is a catalogue."""
from services.core.markup import h
from services.crm.validation import country_name, display_phone

NONE = "—"  # a field not known yet


def lead_card(lead, title="Lead"):
    """A lead's card; what is not known yet (a client needs only a first name) is "—"."""
    creator = lead.created_by.display_name if lead.created_by_id else "the admin panel"
    country = f"{h(country_name(lead.country))} ({h(lead.country)})" if lead.country else NONE
    return (
        f"<b>{h(title)} #{lead.id}</b>\n"
        f"Name: {h(lead.full_name)}\n"
        f"Email: {h(lead.email) or NONE}\n"
        f"Phone: {h(display_phone(lead.phone)) or NONE}\n"
        f"Country: {country}\n"
        f"Added by {h(creator)} on {lead.created_at:%Y-%m-%d %H:%M} UTC"
    )


def lead_command(lead_id):
    """A command Telegram shows as a link: tapping it opens the lead (chat's router reads
    "/lead_12" as "/lead 12")."""
    return f"/lead_{lead_id}"


def lead_line(lead, reach=None):
    """One line of a list; `reach`: the lead's {kind: first contact}, read for the whole
    page at once (contacts.firsts), else read here."""
    reach = reach if reach is not None else {"email": lead.email, "phone": lead.phone}
    parts = (reach.get("email"), display_phone(reach.get("phone")), lead.country)
    return " · ".join([f"{lead_command(lead.id)} {h(lead.full_name)}",
                       *(h(part) for part in parts if part)])


# Refusals of the pipeline (services/crm/pipeline.py) ------------------------------------
STAGE_FINAL = "{subject} is {stage}, which is final; it cannot move on."
STAGE_NOT_NEXT = "{subject} is {stage}; it can move to {allowed}, not {to}."
STAGE_CHANGED_MEANWHILE = "Lead #{lead_id} was changed meanwhile; look again."
NOT_TRANSFERABLE = "Lead #{lead_id} cannot be transferred: {problems}."
TRANSFER_NOT_QUALIFIED = "it is {stage}; only qualified leads are transferred"
TRANSFER_NO_SCORE = "it has no score yet (score it first)"
TRANSFER_LOW_SCORE = "its latest score {score:.2f} is below {min_score:.2f}"
TRANSFER_NO_DOMAIN = "its business domain is not set"
ONLY_DISPATCHERS_ASSIGN = "Only dispatchers and admins assign leads."
NOT_ON_TEAM = "That person is not on the team."
NOT_A_SALESPERSON = "A transferred lead goes to a salesperson, and that person is not one."
NOBODY_TO_ASSIGN = "There is nobody on the team to assign it to."
BAD_SOURCE = "Source must be one of: {choices}."
BAD_PRIORITY = "Priority must be one of: {choices}."
DOMAIN_TOO_LONG = "The business domain is too long (at most {limit} characters)."
BAD_VALUE = "Value must be an amount like 1500 or 1500.50, got {typed!r}."
VALUE_OUT_OF_RANGE = "Value must be between 0 and 9,999,999,999.99."

# Refusals of leads, access, activities and the team ---------------------------------------
DUPLICATE_LEAD = "A lead with this {label} already exists: #{lead_id} {name}."
LEAD_GONE = "Lead #{lead_id} no longer exists."
OWNER_KEPT = "A lead keeps an owner once it has one; choose who takes it over instead."
NO_SUCH_LEAD = "There is no lead #{lead_id}."
NOT_YOUR_LEAD = "Lead #{lead_id} is not yours; a dispatcher or admin can assign it to you."
NO_SUCH_ACTIVITY = "There is no activity #{activity_id}."
NOT_YOUR_ACTIVITY = "Activity #{activity_id} is assigned to someone else."
TEXT_TOO_LONG = "The {what} is {length} characters long; at most {limit}."
UNKNOWN_ACTIVITY_TYPE = "Unknown activity type {kind!r}; one of: {choices}."
UNKNOWN_OUTCOME = "Unknown outcome {outcome!r}; one of: {choices}."
NO_SUBJECT = "Say in a few words what it is about."
ONLY_DISPATCHERS_DELEGATE = "Only dispatchers and admins give activities to others."
ALREADY_DONE = "Activity #{activity_id} was already marked done ({outcome})."
ALREADY_DONE_MEANWHILE = "Activity #{activity_id} was already marked done."
UNKNOWN_ROLE = "Unknown role {role!r}. Roles: {roles}."
INVITE_INVALID = "This invite link is not valid. Ask an admin for a new one."
INVITE_USED = "This invite link has already been used. Ask an admin for a new one."
INVITE_EXPIRED = "This invite link has expired. Ask an admin for a new one."
ALREADY_ON_TEAM = "You are already on the team as {role}."
TEAM_ONLY = "This is only for team members."
ADMINS_ONLY = "Only admins can do that."
NEVER_STARTED = "That person has not started the bot."
NO_LONGER_ON_TEAM = "That person is not on the team (any more)."
ADMIN_BY_SETTING = "{name} is an admin by ADMIN_TELEGRAM_IDS; change it there."
LAST_ADMIN = "The team needs at least one admin."
