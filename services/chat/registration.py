"""/register: a customer describes a person they order for (a customer profile), one
question per message, then saves it from a summary; /profiles lists their profiles to
change or delete (seed 002 §3.1.1).

The dialogue is kept in the database (services/chat/dialogues.py), so a registration
left for days is offered again ("Continue your registration?"). The questions and the
summary are in services/chat/registration_steps.py; checks and writes in
services/shop/profiles.py.
"""
import dataclasses

from models import db
from services.chat import buttons, dialogues, registration_steps as steps
from services.chat.registration_steps import (
    CONFIRM,
    EDIT,
    HAS_PASSWORD,
    PROFILE_ID,
    STEPS,
    USERNAME,
    button,
)
from services.chat.replies import Reply
from services.core.actors import Actor
from services.core.markup import h
from services.inbox import clients
from services.shop import profiles as customer_profiles
from services.shop.profiles import InvalidProfile, NoSuchProfile, TooManyProfiles

FLOW = "register"
INTRO = ("Let's add a profile: the person we work for when you order. "
         "One question at a time; you check everything before it is saved.")
NOT_ACTIVE = Reply("There is no registration going on. Send /register to start one.")
INVALID_BUTTON = buttons.NO_LONGER_VALID
USE_BUTTONS = "Use the buttons below the summary: Save, Edit or Cancel."
ANSWER_FIRST = "This has to be answered before the profile can be saved."
_NO_SUCH_BUTTON = object()
WIZARD = dialogues.Dialogue(
    FLOW, (*STEPS, CONFIRM), lambda step, values, note="": steps.ask(step, values, note),
    inactive=NOT_ACTIVE, cancelled="Cancelled. Nothing was saved.", doing="registering a profile",
    detours_from=CONFIRM)


def _lead(ctx, user):
    return clients.from_telegram(Actor.client(user), user, ctx.clock())[0]


def start(ctx, user):
    """Start a registration, or offer to continue the one left unfinished."""
    conversation = WIZARD.get(user)
    if conversation is not None:
        return _prompt(conversation)
    return _start_over(ctx, user)


def _start_over(ctx, user, replace=False):
    if len(customer_profiles.of_customer(_lead(ctx, user).id)) >= customer_profiles.MAX_PROFILES:
        return Reply(h(str(TooManyProfiles())), replace=replace)
    values = {USERNAME: user.username}
    WIZARD.go(user, STEPS[0], values)
    return dataclasses.replace(steps.ask(STEPS[0], values, INTRO), replace=replace)


def unfinished(ctx, user):
    """The "Continue your registration?" prompt when one is open, else None (for /start)."""
    conversation = WIZARD.get(user)
    return None if conversation is None else _prompt(conversation)


def _prompt(conversation, note=""):
    values = dialogues.data(conversation)
    if values.get(PROFILE_ID):
        where = f"changing the profile of {h(_name(values))}"
    elif conversation.step == CONFIRM:
        where = "at the summary, ready to save"
    else:
        field = steps.field_of(conversation.step)
        label = customer_profiles.FIELDS[field][0].lower()
        where = f"at step {STEPS.index(field) + 1}/{len(STEPS)}: {label}"
    return Reply((f"{h(note)}\n\n" if note else "") + f"<b>Continue your registration?</b>\n"
                 f"You were {where}.",
                 [[button("▶️ Continue", "continue"), button("🔄 Start over", "restart"),
                   button("✖️ Cancel", "stop")]])


def _name(values):
    return " ".join(values[f] for f in ("first_name", "middle_name", "last_name") if values.get(f))


def answer(ctx, user, text):
    """Take the answer to the current question; None when no registration is open."""
    conversation = WIZARD.get(user)
    if conversation is None:
        return None
    step, values = conversation.step, dialogues.data(conversation)
    if step == CONFIRM:
        return steps.summary(values, USE_BUTTONS)
    field = steps.field_of(step)
    try:
        value = customer_profiles.clean(field, text, values, ctx.clock().date())
        if field == "password" and value is not None:
            value = {"sealed": customer_profiles.seal(value), "generated": False}
    except InvalidProfile as exc:
        return steps.ask(step, values, exc.reason)
    return steps.ask(_take(conversation, step, field, value, values), values)


def _take(conversation, step, field, value, values):
    next_step = steps.take(step, field, value, values)
    dialogues.advance(conversation, next_step, values)
    return next_step


def pressed(ctx, user, action, **fields):
    """A "reg" button: a question's choice, the summary's, the prompt's or /profiles'."""
    if action in _PROFILE_ACTIONS:
        try:
            return _PROFILE_ACTIONS[action](ctx, user, **fields)
        except NoSuchProfile as exc:
            return profiles(ctx, user, str(exc), replace=True)
    conversation = WIZARD.get(user)
    if conversation is None:
        return NOT_ACTIVE
    step, values = conversation.step, dialogues.data(conversation)
    if action in ("continue", "restart", "stop"):
        return _prompted(ctx, user, action, conversation, values)
    if step == CONFIRM:
        return _at_summary(ctx, user, action, fields.get("field"), values)
    field = steps.field_of(step)
    if fields.get("field", field) != field or action in ("save", "cancel") or (
            action == "edit" and "field" not in fields):
        return steps.ask(step, values, INVALID_BUTTON)
    if action == "back":
        return WIZARD.back(user)
    if action == "states" and customer_profiles.states_of(values.get("country")):
        return dataclasses.replace(steps.ask(step, values, page=fields["page"]), replace=True)
    try:
        value = _chosen(user, action, field, values, fields)
    except InvalidProfile as exc:
        return steps.ask(step, values, exc.reason)
    if value is _NO_SUCH_BUTTON:
        return steps.ask(step, values, INVALID_BUTTON)
    next_step = _take(conversation, step, field, value, values)
    # What the button chose is said above the next question: the pressed message keeps
    # only its question.
    chosen = f"{customer_profiles.FIELDS[field][0]}: {steps.shown(field, values)}"
    return steps.ask(next_step, values, chosen)


def _chosen(user, action, field, values, fields):
    """The value a question's button answers with, or _NO_SUCH_BUTTON when this question
    has no such button (pressed on an older message, or forged)."""
    if action == "skip" and customer_profiles.optional(field, values):
        return None
    if action == "gender" and field == "gender":
        return fields["choice"]
    if action == "state" and field == "state" and customer_profiles.states_of(values.get("country")):
        return customer_profiles.clean("state", fields["choice"], values)
    if action == "keep" and field == "country":
        return steps.default_country(values)
    if action == "keep" and field == "password" and values.get(HAS_PASSWORD):
        return {"kept": True}
    if action == "mine" and field == "telegram_username" and user.username:
        return customer_profiles.clean(field, user.username, values)
    if action == "generate" and field == "password":
        password = customer_profiles.generate_password()
        return {"sealed": customer_profiles.seal(password), "generated": True}
    return _NO_SUCH_BUTTON


def _prompted(ctx, user, action, conversation, values):
    if action == "stop":
        WIZARD.end(user)
        return Reply(WIZARD.cancelled, replace=True)
    if action == "restart":
        return _start_over(ctx, user, replace=True)
    values[USERNAME] = user.username   # it may have changed since they started
    dialogues.advance(conversation, conversation.step, values)
    return dataclasses.replace(steps.ask(conversation.step, values), replace=True)


def _at_summary(ctx, user, action, field, values):
    if action == "save":
        return _save(ctx, user, values)
    if action == "cancel":
        WIZARD.end(user)
        return Reply(steps.summary(values).text + "\n\n✖️ Cancelled. Nothing was saved.", replace=True)
    if action == "edit" and field is None:
        return steps.field_choice()
    if action == "edit":
        WIZARD.go(user, EDIT + field, values)
        return steps.ask(EDIT + field, values)
    return steps.summary(values, INVALID_BUTTON)


def _save(ctx, user, values):
    missing = steps.missing(values)
    if missing:
        WIZARD.go(user, EDIT + missing[0], values)
        return steps.ask(EDIT + missing[0], values, ANSWER_FIRST)
    plain = {field: values[field] for field in STEPS if field != "password"}
    password = values["password"]   # a kept one is left out, so the profile keeps it
    try:
        if password is None:
            plain["password"] = None
        elif "sealed" in password:
            plain["password"] = customer_profiles.unseal(password["sealed"])
        with db.atomic():
            profile = customer_profiles.save(Actor.client(user), _lead(ctx, user).id, plain,
                                             profile_id=values.get(PROFILE_ID), now=ctx.clock())
            WIZARD.end(user)
    except InvalidProfile as exc:
        values.pop(exc.field, None)
        WIZARD.go(user, EDIT + exc.field, values)
        return steps.ask(EDIT + exc.field, values, exc.reason)
    except NoSuchProfile as exc:
        WIZARD.end(user)
        return Reply(h(str(exc)) + " Nothing was saved. /profiles lists yours.", replace=True)
    except TooManyProfiles as exc:
        return steps.summary(values, f"{exc} /profiles lists yours; then press Save again.")
    done = "✅ Saved." if values.get(PROFILE_ID) else f"✅ Saved as profile #{profile.id}."
    generated = ("\nA password was generated for it: the team uses it when they work on "
                 "your orders." if password and password.get("generated") else "")
    return Reply(steps.summary(values).text + f"\n\n{done}{generated}\n"
                 f"/order orders a package for {h(profile.full_name)}; /profiles lists your profiles.",
                 replace=True)


def profiles(ctx, user, note="", replace=False):
    """The customer's profiles, each with Edit and Delete, and a button for a new one."""
    listed = customer_profiles.of_customer(_lead(ctx, user).id)
    lines = [f"{h(note)}\n" if note else "", "<b>Your profiles</b>" if listed else
             "You have no profiles yet: a profile is the person we work for when you order."]
    rows = []
    for number, profile in enumerate(listed, 1):
        state = customer_profiles.shown("state", profile.state)
        place = ", ".join(part for part in (profile.city, state) if part)
        lines.append(f"{number}. {h(profile.full_name)}" + (f" — {h(place)}" if place else ""))
        rows.append([button(f"✏️ {number}. {profile.first_name}"[:40], "open", profile_id=profile.id),
                     button("🗑 Delete", "delete", profile_id=profile.id)])
    rows.append([button("➕ New profile", "new")])
    return Reply("\n".join(lines).strip(), rows, replace=replace)


def _open(ctx, user, profile_id):
    """Change a saved profile from a summary, unless another registration is unfinished."""
    profile = customer_profiles.get_for(_lead(ctx, user).id, profile_id)
    busy = WIZARD.get(user)
    if busy is not None and dialogues.data(busy).get(PROFILE_ID) == profile.id:
        return steps.ask(busy.step, dialogues.data(busy))
    if busy is not None:
        return _prompt(busy, "Finish or cancel this first, then press Edit again.")
    values = steps.values_of(profile, user.username)
    WIZARD.go(user, CONFIRM, values)
    return steps.summary(values, "Press Edit to change a field, then Save.")


def _delete(ctx, user, profile_id, confirm=None):
    profile = customer_profiles.get_for(_lead(ctx, user).id, profile_id)
    if confirm is None:
        return Reply(f"Delete the profile of <b>{h(profile.full_name)}</b>? Orders already "
                     f"made for it keep it.",
                     [[button("🗑 Yes, delete", "delete", profile_id=profile.id, confirm="yes"),
                       button("Keep", "list")]], replace=True)
    customer_profiles.delete(Actor.client(user), profile.id, now=ctx.clock())
    return profiles(ctx, user, f"Deleted the profile of {profile.full_name}.", replace=True)


_PROFILE_ACTIONS = {
    "new": lambda ctx, user: start(ctx, user),
    "list": lambda ctx, user: profiles(ctx, user, replace=True),
    "open": _open,
    "delete": _delete,
}
