"""The /createLead dialogue: one question per message, then a summary to confirm.

Steps are the lead's fields in order, then "confirm". "edit:<field>" asks
one field again and returns to the summary.
"""
from models import db
from services.chat import buttons, dialogues
from services.chat.leads import someone_elses
from services.chat.replies import Reply
from services.core.actors import Actor
from services.core.markup import h
from services.crm import leads, team
from services.crm.messages import lead_command
from services.crm.validation import country_name, display_phone

FLOW = "lead"
STEPS = ("email", "phone", "first_name", "last_name", "country")
CONFIRM = "confirm"
QUESTIONS = {
    "email": "the lead's <b>email</b> address",
    "phone": "the lead's <b>phone</b> number, with country code (e.g. +44 20 7946 0958)",
    "first_name": "the lead's <b>first name</b>",
    "last_name": "the lead's <b>last name</b>",
    "country": "the lead's <b>country</b>: two-letter code (GB, DE, US) or its name",
}
CONTROLS = "/back goes back a step, /cancel stops."
SUMMARY_BUTTONS = [[("✅ Save", buttons.encode("wiz", action="save")),
                    ("✏️ Edit", buttons.encode("wiz", action="edit")),
                    ("✖️ Cancel", buttons.encode("wiz", action="cancel"))]]
NOT_ACTIVE = Reply("There is no lead being created right now. Send /createLead to start one.")
WIZARD = dialogues.Dialogue(
    FLOW, (*STEPS, CONFIRM), lambda step, values, note="": _ask(step, values, note),
    inactive=NOT_ACTIVE, cancelled="Cancelled. Nothing was saved.", doing="adding a lead",
    detours_from=CONFIRM)


def start(user):
    team.require_team(user)
    WIZARD.go(user, STEPS[0], {})
    return Reply("Let's add a lead. " + _question(STEPS[0]))


def answer(user, text):
    """Take the answer to the current question; None when no lead is being created."""
    conversation = WIZARD.get(user)
    if conversation is None:
        return None
    step, values = conversation.step, dialogues.data(conversation)
    field = step.split(":", 1)[1] if step.startswith("edit:") else step
    if field == CONFIRM:
        return Reply("Please use the buttons below the summary, or /back to change the "
                     "country, /cancel to stop.", SUMMARY_BUTTONS)
    try:
        value = leads.clean_field(field, text)
    except leads.InvalidLead as exc:
        return Reply(f"{h(exc.reason)}\n\n" + _question(field, step))
    duplicate = leads.find_duplicate(field, value)
    if duplicate:
        return _duplicate(user, field, duplicate, step)
    values[field] = value
    next_step = _next_step(step, values)
    dialogues.advance(conversation, next_step, values)
    if next_step == CONFIRM:
        return _summary(values)
    return Reply(_question(next_step))


def _duplicate(user, field, lead, step):
    """Someone has this lead already: the member is shown it, or told whose it is and
    offered to take or ask for it, and asked for a different value."""
    intro = f"A lead with this {field.replace('_', ' ')} already exists. "
    if Actor.member(user).sees_all or lead.owner_id == user.id:
        seen = Reply(f"{intro}It is #{lead.id} {h(lead.full_name)}: "
                     f"{lead_command(lead.id)} opens it.")
    else:
        seen = someone_elses(lead, intro)
    return Reply(f"{seen.text}\n\n{_question(field, step)}", seen.buttons)


def _ask(step, values, note=""):
    """The question for `step` (the summary at CONFIRM), for /back."""
    if step == CONFIRM:
        return _summary(values)
    return Reply((f"{note} " if note else "") + _question(step))


def press(user, action, field=None):
    """A summary button (wiz:save, wiz:edit, wiz:cancel or wiz:edit:<field>)."""
    conversation = WIZARD.get(user)
    if conversation is None or conversation.step != CONFIRM:
        return NOT_ACTIVE if conversation is None else Reply(_question_for_step(conversation.step))
    values = dialogues.data(conversation)
    # Answers replace the summary, so its buttons cannot be pressed again.
    if action == "save":
        return _save(user, values)
    if action == "cancel":
        WIZARD.end(user)
        return Reply(_summary(values).text + "\n\n✖️ Cancelled. Nothing was saved.", replace=True)
    if action == "edit" and field is None:
        return Reply("Which field?", [[(leads.FIELDS[f][0], buttons.encode("wiz", action="edit", field=f))]
                                      for f in STEPS], replace=True)
    if action == "edit" and field in STEPS:
        WIZARD.go(user, f"edit:{field}", values)
        return Reply(_question(field, f"edit:{field}"), replace=True)
    return Reply("That button is no longer valid.", SUMMARY_BUTTONS)


def _save(user, values):
    try:
        with db.atomic():
            lead = leads.create_lead(user, **values)
            WIZARD.end(user)
    except leads.DuplicateLead as exc:
        WIZARD.go(user, f"edit:{exc.field}", values)
        return Reply(f"{h(str(exc))} Send a different {exc.field.replace('_', ' ')}, or /cancel.")
    except leads.InvalidLead as exc:
        WIZARD.go(user, f"edit:{exc.field}", values)
        return Reply(f"{h(str(exc))}\n\n" + _question(exc.field, f"edit:{exc.field}"))
    return Reply(_summary(values).text
                 + f"\n\n✅ Saved as lead #{lead.id}. The team is being notified.\n"
                 f"/lead {lead.id} shows it; /createLead adds another.", replace=True)


def _next_step(step, values):
    if step.startswith("edit:"):
        return CONFIRM
    missing = [s for s in STEPS if s not in values]
    return missing[0] if missing else CONFIRM


def _question(field, step=None):
    step = step or field
    if step.startswith("edit:"):
        return f"Send {QUESTIONS[field]}.\n{CONTROLS}"
    number = STEPS.index(field) + 1
    return f"Step {number}/{len(STEPS)}: send {QUESTIONS[field]}.\n{CONTROLS}"


def _question_for_step(step):
    return _question(step.split(":", 1)[-1], step)


def _summary(values):
    lines = [
        "<b>Check the lead</b>",
        f"Email: {h(values['email'])}",
        f"Phone: {h(display_phone(values['phone']))}",
        f"First name: {h(values['first_name'])}",
        f"Last name: {h(values['last_name'])}",
        f"Country: {h(country_name(values['country']))} ({h(values['country'])})",
    ]
    return Reply("\n".join(lines), SUMMARY_BUTTONS)
