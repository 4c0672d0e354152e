"""The /createLead dialogue: one question per message, then a summary to confirm.

Steps are the lead's fields in order, then "confirm". "edit:<field>" asks
one field again and returns to the summary.
"""
from models import db
from services.chat import dialogues as conversations
from services.crm import leads, team
from services.chat.replies import Reply
from services.core.markup import h
from services.crm.validation import country_name

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
SUMMARY_BUTTONS = [[("✅ Save", "wiz:save"), ("✏️ Edit", "wiz:edit"), ("✖️ Cancel", "wiz:cancel")]]
NOT_ACTIVE = Reply("There is no lead being created right now. Send /createLead to start one.")


def start(user):
    team.require_team(user)
    conversations.save(user, FLOW, STEPS[0], {})
    return Reply("Let's add a lead. " + _question(STEPS[0]))


def is_active(user):
    return conversations.get(user, FLOW) is not None


def answer(user, text):
    """Take the answer to the current question; None when no lead is being created."""
    conversation = conversations.get(user, FLOW)
    if conversation is None:
        return None
    step, values = conversation.step, conversations.data(conversation)
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
        return Reply(f"A lead with this {field} already exists: #{duplicate.id} "
                     f"{h(duplicate.full_name)}. See /lead {duplicate.id}.\n\n"
                     + _question(field, step))
    values[field] = value
    next_step = _next_step(step, values)
    conversations.advance(conversation, next_step, values)
    if next_step == CONFIRM:
        return _summary(values)
    return Reply(_question(next_step))


def back(user):
    conversation = conversations.get(user, FLOW)
    if conversation is None:
        return NOT_ACTIVE
    step, values = conversation.step, conversations.data(conversation)
    if step.startswith("edit:"):
        conversations.save(user, FLOW, CONFIRM, values)
        return _summary(values)
    position = STEPS.index(step) if step in STEPS else len(STEPS)
    if position == 0:
        return Reply("This is the first question. " + _question(step))
    previous = STEPS[position - 1]
    values.pop(previous, None)
    conversations.save(user, FLOW, previous, values)
    return Reply(_question(previous))


def cancel(user):
    if not is_active(user):
        return Reply("Nothing to cancel.")
    conversations.end(user)
    return Reply("Cancelled. Nothing was saved.")


def press(user, action):
    """A summary button: save, edit, cancel or edit:<field>."""
    conversation = conversations.get(user, FLOW)
    if conversation is None or conversation.step != CONFIRM:
        return NOT_ACTIVE if conversation is None else Reply(_question_for_step(conversation.step))
    values = conversations.data(conversation)
    # Answers replace the summary, so its buttons cannot be pressed again.
    if action == "save":
        return _save(user, values)
    if action == "cancel":
        conversations.end(user)
        return Reply(_summary(values).text + "\n\n✖️ Cancelled. Nothing was saved.", replace=True)
    if action == "edit":
        return Reply("Which field?", [[(leads.FIELDS[f][0], f"wiz:edit:{f}")] for f in STEPS],
                     replace=True)
    if action.startswith("edit:") and action[5:] in STEPS:
        conversations.save(user, FLOW, action, values)
        return Reply(_question(action[5:], action), replace=True)
    return Reply("That button is no longer valid.", SUMMARY_BUTTONS)


def _save(user, values):
    try:
        with db.atomic():
            lead = leads.create_lead(user, **values)
            conversations.end(user)
    except leads.DuplicateLead as exc:
        conversations.save(user, FLOW, f"edit:{exc.field}", values)
        return Reply(f"{h(str(exc))} Send a different {exc.field.replace('_', ' ')}, or /cancel.")
    except leads.InvalidLead as exc:
        conversations.save(user, FLOW, f"edit:{exc.field}", values)
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
        f"Phone: {h(values['phone'])}",
        f"First name: {h(values['first_name'])}",
        f"Last name: {h(values['last_name'])}",
        f"Country: {h(country_name(values['country']))} ({h(values['country'])})",
    ]
    return Reply("\n".join(lines), SUMMARY_BUTTONS)
