"""The /register dialogue's questions, their buttons, the summary and which question
comes next (services/chat/registration.py runs the dialogue).

Steps are the profile's fields in order, then "confirm" (the summary); "edit:<field>"
asks one field again and returns to the summary. Answers are kept as they will be stored
(a date as ISO text), except the password, which an unfinished registration never holds
in the clear: {"sealed": <encrypted>, "generated": bool}, or {"kept": true} for an
edited profile's unchanged one.
"""
from models import GENDERS
from services.chat import buttons
from services.chat.replies import Reply
from services.core import policy
from services.core.markup import h
from services.crm.validation import country_name
from services.shop import profiles

STEPS = tuple(profiles.FIELDS)
CONFIRM = "confirm"
EDIT = "edit:"
STATES_PER_PAGE = 12
STATES_PER_ROW = 3
NONE = "—"
NOT_ANSWERED = "(not answered yet)"
CONTROLS = "/back goes back a step, /cancel stops."
# Values that are no field: the profile being edited and whether it has a password, and
# the customer's Telegram username (for "Use @…"; the dialogue's ask() has no user).
PROFILE_ID, HAS_PASSWORD, USERNAME = "profile_id", "has_password", "username"
QUESTIONS = {
    "first_name": "Send the <b>first name</b>.",
    "middle_name": "Send the <b>middle name</b>, or press Skip.",
    "last_name": "Send the <b>last name</b>.",
    "phone": ("Send the <b>phone number</b> with its country code, e.g. +44 20 7946 0958 "
              "({country} numbers also without it)."),
    "email": "Send the <b>email</b> address.",
    "gender": "Choose the <b>gender</b>, or press Skip.",
    "date_of_birth": "Send the <b>date of birth</b>, e.g. 1990-03-25, 25.03.1990 or 25 March 1990.",
    "country": "Send the <b>country</b>: its two-letter code (GB, DE, US) or its name.",
    "street": "Send the <b>street address</b>: house number and street.",
    "apartment": "Send the <b>apartment</b>, suite or unit, or press Skip.",
    "city": "Send the <b>city</b>.",
    "state": "Send the <b>state, province or region</b>, or press Skip.",
    "state_buttons": "Choose the <b>state</b> below, or type its name or two-letter code.",
    "postal_code": "Send the <b>{kind}</b>{example}{skip}.",
    "no_postal_code": "{country} has no postal codes: press Skip.",
    "telegram_username": "Send the <b>Telegram username</b>, or press Skip.",
    "instagram_username": "Send the <b>Instagram username</b>, or press Skip.",
    "password": ("Send a <b>password</b> the team may use on this person's behalf "
                 "(6 to 128 characters), or press Generate or Skip."),
}


def button(label, action, **fields):
    return label, buttons.encode("reg", action=action, **fields)


SUMMARY_BUTTONS = [[button("✅ Save", "save"), button("✏️ Edit", "edit"), button("✖️ Cancel", "cancel")]]


def field_of(step):
    return step.removeprefix(EDIT)


def default_country(values):
    return values.get("country") or policy.current().shop_country


def ask(step, values, note="", page=0):
    """The question for `step` (the summary at CONFIRM) with `note` (plain text: a reason
    the last answer was refused, or what a button chose) said first."""
    if step == CONFIRM:
        return summary(values, note)
    field = field_of(step)
    number = "" if step.startswith(EDIT) else f"Step {STEPS.index(field) + 1}/{len(STEPS)}: "
    text = (f"{h(note)}\n\n" if note else "") + f"{number}{_question(field, values)}\n{CONTROLS}"
    return Reply(text, _buttons(step, field, values, page))


def _question(field, values):
    if field == "phone":
        return QUESTIONS[field].format(country=h(country_name(default_country(values))))
    if field == "state" and profiles.states_of(values.get("country")):
        return QUESTIONS["state_buttons"]
    if field == "postal_code" and not profiles.asked(field, values):
        return QUESTIONS["no_postal_code"].format(country=h(country_name(default_country(values))))
    if field == "postal_code":
        kind, example = profiles.postal_code_format(values)
        return QUESTIONS[field].format(kind=kind, example=f", e.g. {h(example)}" if example else "",
                                       skip=", or press Skip" if profiles.optional(field, values) else "")
    return QUESTIONS[field]


def _buttons(step, field, values, page):
    rows = []
    if field == "gender":
        rows.append([button(g.capitalize(), "gender", choice=g) for g in GENDERS])
    elif field == "country":
        rows.append([button(f"Keep {country_name(default_country(values))}", "keep", field=field)])
    elif field == "state":
        rows += state_rows(values, page)
    elif field == "telegram_username" and values.get(USERNAME):
        rows.append([button(f"Use @{values[USERNAME]}", "mine", field=field)])
    elif field == "password":
        rows.append([button("🎲 Generate", "generate", field=field)]
                    + ([button("Keep the current one", "keep", field=field)]
                       if values.get(HAS_PASSWORD) else []))
    last = [button("◀ Back", "back", field=field)] if step != STEPS[0] else []
    if profiles.optional(field, values):
        last.append(button("Skip", "skip", field=field))
    return rows + ([last] if last else [])


def state_rows(values, page):
    """The state buttons of page `page` (clamped to the pages there are), then ◀ and ▶."""
    states = profiles.states_of(values.get("country"))
    if not states:
        return []
    last_page = (len(states) - 1) // STATES_PER_PAGE
    page = min(max(page, 0), last_page)
    on_page = states[page * STATES_PER_PAGE:(page + 1) * STATES_PER_PAGE]
    rows = [[button(name, "state", choice=code) for code, name in on_page[start:start + STATES_PER_ROW]]
            for start in range(0, len(on_page), STATES_PER_ROW)]
    turn = []
    if page > 0:
        turn.append(button("◀ Previous", "states", page=page - 1))
    if page < last_page:
        turn.append(button("Next ▶", "states", page=page + 1))
    return rows + ([turn] if turn else [])


def summary(values, note=""):
    title = "Check the changes" if values.get(PROFILE_ID) else "Check the profile"
    lines = [f"{h(note)}\n" if note else "", f"<b>{title}</b>"]
    lines += [f"{h(label)}: {h(shown(field, values))}" for field, (label, _) in profiles.FIELDS.items()]
    return Reply("\n".join(lines).strip(), SUMMARY_BUTTONS)


def shown(field, values):
    """An answer as the summary shows it: the password only masked."""
    if field not in values:
        return NOT_ANSWERED
    value = values[field]
    if field == "password" and value:
        extra = " (generated)" if value.get("generated") else " (unchanged)" if value.get("kept") else ""
        return profiles.MASK + extra
    return profiles.shown(field, value) or NONE


def field_choice():
    """Which field to change, from the summary."""
    choices = [button(label, "edit", field=field) for field, (label, _) in profiles.FIELDS.items()]
    rows = [choices[start:start + 2] for start in range(0, len(choices), 2)]
    return Reply("Which field do you want to change?",
                 rows + [[button("◀ Back to the summary", "continue")]], replace=True)


def take(step, field, value, values):
    """Store `value` (as profiles.clean gave it) for `field`, drop the answers it makes
    stale (a new country's state and postal code; a postal code outside a new state) and
    return the step to go to next."""
    before = values.get(field)
    values[field] = value.isoformat() if hasattr(value, "isoformat") else value
    if field == "country" and value != before:
        values.pop("state", None)
        values.pop("postal_code", None)
    if field == "state" and values.get("postal_code"):
        try:
            profiles.clean("postal_code", values["postal_code"], values)
        except profiles.InvalidProfile:
            values.pop("postal_code")
    return next_step(step, values)


def next_step(step, values):
    """The first question not answered yet (asked as an edit after an edit or from the
    summary), else the summary. A postal code where there are none is skipped."""
    for field in STEPS:
        if field in values:
            continue
        if not profiles.asked(field, values):
            values[field] = None
            continue
        return EDIT + field if step.startswith(EDIT) or step == CONFIRM else field
    return CONFIRM


def missing(values):
    return [field for field in STEPS if field not in values]


def values_of(profile, username):
    """A saved profile as the dialogue's values, for changing it from the summary."""
    values = {field: getattr(profile, field) or None for field in STEPS if field != "password"}
    if profile.date_of_birth:
        values["date_of_birth"] = profile.date_of_birth.isoformat()
    values["password"] = {"kept": True} if profile.password else None
    values.update({PROFILE_ID: profile.id, HAS_PASSWORD: bool(profile.password), USERNAME: username})
    return values
