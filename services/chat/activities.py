"""Activities in chat: /today with Done buttons, and the /log dialogue.

/log is kept in the database like the lead wizard (flow "log"), one step at a time:
    type -> subject -> (a note is saved here) -> when -> outcome (only for "Done now")
Times are shown and typed in the team's time zone (TZ); the database keeps naive UTC.
"""
import datetime
import json

from models import OUTCOMES, db, utcnow
from services.chat import buttons, dialogues
from services.chat.leads import command_lead, lead_or_refusal
from services.chat.replies import Reply
from services.core.actors import Actor
from services.core.clock import local_date, local_time, parse_local, to_utc
from services.core.markup import h
from services.core.policy import current as policy
from services.crm import activities
from services.crm.access import AccessDenied, require_activity
from services.crm.messages import lead_command
from services.delivery.html import TELEGRAM_TEXT_LIMIT
from services.followups import rule_lines

FLOW = "log"
STEPS = ("type", "subject", "when", "outcome")
CONTROLS = "/back goes back a step, /cancel stops."
TODAY_BUTTON = [("◀ Today", buttons.encode("today"))]
IN_LIST = 50          # characters of a subject or name in the /today list
NOT_LOGGING = Reply("There is no activity being logged right now. /log &lt;lead id&gt; starts one.")
LOG = dialogues.Dialogue(
    FLOW, STEPS, lambda step, values, note="": _ask(step, values, note),
    inactive=NOT_LOGGING, cancelled="Cancelled. Nothing was logged.", doing="logging an activity",
    answers={"subject": ("subject", "description")})


def label(code):
    """"callback_requested" -> "Callback requested"."""
    return code.replace("_", " ").capitalize()


def _short(text, limit=IN_LIST):
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _zone():
    return policy().timezone


def _when(moment):
    return f"{local_time(moment, _zone())} {_zone()}"


# /today ----------------------------------------------------------------------------

def today(ctx, user, replace=False):
    """Overdue and due-today activities, each with a Done button; for dispatchers and
    admins also the unassigned activities and leads (each lead a tappable /lead_12)."""
    actor = Actor.member(user)
    agenda = activities.agenda(actor, _zone(), now=ctx.clock())
    sections = [("Overdue", agenda.overdue), ("Due today", agenda.today),
                ("Unassigned", agenda.unassigned)]
    lines, rows = [f"<b>To do</b> (times in {_zone()})"], []
    for title, items in sections:
        if items:
            lines.append(f"\n<b>{title}</b>")
        for activity in items:
            lines.append(_agenda_line(activity))
            rows.append([(f"✅ Done #{activity.id}: {_short(activity.subject, 30)}",
                          buttons.encode("done", activity_id=activity.id))])
    if agenda.unowned_leads:  # dispatchers and admins: leads waiting for an owner
        lines.append("\n<b>Unassigned leads</b>")
        lines += [f"{lead_command(lead.id)} {h(_short(lead.full_name))} · {lead.source}"
                  for lead in agenda.unowned_leads]
        if agenda.more_unowned:
            lines.append(f"…and {agenda.more_unowned:,} more.")
    if not rows and not agenda.unowned_leads:
        return Reply("Nothing is overdue or due today. /log &lt;lead id&gt; plans an activity.",
                     replace=replace)
    text = "\n".join(lines)
    # Editing a message cannot split it, so a long list goes out as a new one.
    fits = len(text.encode("utf-16-le")) // 2 <= TELEGRAM_TEXT_LIMIT
    return Reply(text, rows, replace=replace and fits)


def _agenda_line(activity):
    lead = activity.lead
    return (f"#{activity.id} {local_time(activity.due_at, _zone())} "
            f"{label(activity.type).lower()}: {h(_short(activity.subject))} · "
            f"{lead_command(lead.id)} {h(_short(lead.full_name))}")


def press_done(ctx, user, activity_id, outcome=None):
    """done:<activity id> asks for the outcome; done:<id>:<outcome> completes it."""
    actor = Actor.member(user)
    try:
        activity = require_activity(actor, activity_id)
    except LookupError as exc:
        return Reply(h(str(exc)), [TODAY_BUTTON], replace=True)
    if activity.completed_at is not None:
        return Reply(f"Activity #{activity.id} is already done "
                     f"({label(activity.outcome or 'no outcome').lower()}).",
                     [TODAY_BUTTON], replace=True)
    if not outcome:
        return Reply(f"How did it go?\n{_describe(activity)}",
                     outcome_buttons(lambda o: buttons.encode("done", activity_id=activity.id, outcome=o))
                     + [TODAY_BUTTON], replace=True)
    try:
        activity, scheduled = activities.complete(actor, activity.id, outcome, now=ctx.clock())
    except activities.InvalidActivity as exc:  # pressed twice, or by two people at once
        return Reply(h(str(exc)), [TODAY_BUTTON], replace=True)
    return Reply(completed(activity, scheduled), [TODAY_BUTTON], replace=True)


def outcome_buttons(data):
    """Two outcomes a row; `data(outcome)` is a button's data."""
    names = list(OUTCOMES)
    return [[(label(o), data(o)) for o in names[i:i + 2]] for i in range(0, len(names), 2)]


def _describe(activity):
    lead = activity.lead
    return (f"{label(activity.type)} “{h(activity.subject)}” on lead #{lead.id} "
            f"{h(lead.full_name)}")


def completed(activity, scheduled):
    """The confirmation, and what the follow-up rules made of it."""
    lines = [f"✅ Done: {_describe(activity)} — {label(activity.outcome).lower()}."]
    lines += [follow_up(row) for row in scheduled]
    return "\n".join(lines)


def follow_up(row):
    """One RuleAction a rule created, as the member should read it."""
    action = json.loads(row.action)
    if action["type"] == "create_activity":
        what = h(action["subject"])
        if row.status == "pending":
            return f"Follow-up scheduled: {what}, {_when(row.due_at)}"
        if row.status == "done":
            return f"Follow-up created: {what}, due now"
        return f"Follow-up not created: {what} ({h(row.result)})"
    if row.status == "pending":
        return f"Scheduled by a rule for {_when(row.due_at)}: {h(rule_lines.format_action(action))}"
    return f"A rule {row.status}: {h(row.result)}"


# /log ------------------------------------------------------------------------------

def _log_button(step, choice):
    return buttons.encode("log", step=step, choice=choice)


TYPE_BUTTONS = [[(label(t), _log_button("type", t)) for t in activities.LOGGABLE_TYPES[i:i + 3]]
                for i in range(0, len(activities.LOGGABLE_TYPES), 3)]
WHEN_BUTTONS = [[("Done now", _log_button("when", "now"))],
                [("In 1 hour", _log_button("when", "1h")),
                 ("Tomorrow 10:00", _log_button("when", "tomorrow")),
                 ("In 3 days", _log_button("when", "3d"))]]


def start(ctx, user, args):
    lead, _, refusal = command_lead(Actor.member(user), args, "log")
    return refusal or _begin(user, lead)


def _begin(user, lead):
    LOG.go(user, "type", {"lead": lead.id})
    return _ask("type", {"lead": lead.id})


def answer(ctx, user, text):
    """A typed answer in the /log dialogue; None when no activity is being logged."""
    conversation = LOG.get(user)
    if conversation is None:
        return None
    step, values = conversation.step, dialogues.data(conversation)
    if step == "type":
        kind = "_".join(text.casefold().split())
        if kind not in activities.LOGGABLE_TYPES:
            return _ask(step, values, "Please choose one of the buttons.")
        return _typed(user, values, kind)
    if step == "subject":
        return _subject(ctx, user, values, text)
    if step == "when":
        due = _parse_time(text)
        if due is None:
            return _ask(step, values, f"I could not read “{h(text.strip())}” as a time.")
        if due <= ctx.clock():
            return _ask(step, values, f"{h(text.strip())} has already passed.")
        return _plan(ctx, user, values, due)
    return _ask(step, values, "Please choose the outcome with the buttons.")


def press(ctx, user, step, lead_id=None, choice=None):
    """log:lead:<id> starts; log:type:<t>, log:when:<w> and log:outcome:<o> answer."""
    if step == "lead":
        lead, refusal = lead_or_refusal(Actor.member(user), lead_id)
        return refusal or _begin(user, lead)
    conversation = LOG.get(user)
    if conversation is None:
        return NOT_LOGGING
    values = dialogues.data(conversation)
    if step != conversation.step:  # a button of an earlier question
        return _ask(conversation.step, values, "That button belongs to an earlier question.")
    if step == "type":
        return _typed(user, values, choice, replace=True)
    if step == "when" and choice == "now":
        LOG.go(user, "outcome", values)
        return _ask("outcome", values, replace=True)
    if step == "when":
        return _plan(ctx, user, values, _preset_time(choice, ctx.clock()), replace=True)
    return _done_now(ctx, user, values, choice)


def _ask(step, values, problem="", replace=False):
    lead = f"lead #{values['lead']}"
    kind = label(values.get("type", "activity")).lower()
    prefix = f"{problem}\n\n" if problem else ""
    if step == "type":
        return Reply(f"{prefix}What do you want to log on {lead}?\n{CONTROLS}", TYPE_BUTTONS,
                     replace=replace)
    if step == "subject":
        return Reply(f"{prefix}Send the {kind}'s subject in a few words. Lines after the first "
                     f"become its description.\n{CONTROLS}", replace=replace)
    if step == "when":
        return Reply(f"{prefix}{label(kind)} “{h(values['subject'])}”: done already, or when is it "
                     f"due? Press a button or send a time as YYYY-MM-DD HH:MM ({_zone()}), e.g. "
                     f"{_example_time()}.\n{CONTROLS}", WHEN_BUTTONS, replace=replace)
    return Reply(f"{prefix}How did the {kind} go?\n{CONTROLS}",
                 outcome_buttons(lambda o: _log_button("outcome", o)), replace=replace)


def _typed(user, values, kind, replace=False):
    values = {**values, "type": kind}
    LOG.go(user, "subject", values)
    return _ask("subject", values, replace=replace)


def _subject(ctx, user, values, text):
    subject, _, description = text.strip().partition("\n")
    try:
        subject = activities.clean_text(subject, activities.MAX_SUBJECT, "subject")
        description = activities.clean_text(description, activities.MAX_DESCRIPTION, "description")
    except activities.InvalidActivity as exc:
        return _ask("subject", values, h(str(exc)))
    if not subject:
        return _ask("subject", values, "The subject is empty.")
    values = {**values, "subject": subject, "description": description}
    if values["type"] == "note":
        return _save(ctx, user, values, lambda actor, now: activities.log(
            actor, values["lead"], "note", subject, description, now=now),
            lambda activity: f"📝 Note saved on lead #{values['lead']}.")
    LOG.go(user, "when", values)
    return _ask("when", values)


def _plan(ctx, user, values, due, replace=False):
    def planned(activity):
        return (f"📅 {_describe(activity)} is planned for {_when(activity.due_at)}.\n"
                "/today lists what is due.")
    return _save(ctx, user, values, lambda actor, now: activities.log(
        actor, values["lead"], values["type"], values["subject"], values["description"],
        due_at=due, now=now), planned, replace)


def _done_now(ctx, user, values, outcome):
    def log_and_complete(actor, now):
        # Logged as due now and completed, so the follow-ups the rules scheduled come back.
        activity = activities.log(actor, values["lead"], values["type"], values["subject"],
                                  values["description"], due_at=now, now=now)
        return activities.complete(actor, activity.id, outcome, now=now)
    return _save(ctx, user, values, log_and_complete,
                 lambda result: completed(*result), replace=True)


def _save(ctx, user, values, write, confirm, replace=False):
    """Write the activity and end the dialogue together; a lead that went away ends it too."""
    try:
        with db.atomic():
            result = write(Actor.member(user), ctx.clock())
            LOG.end(user)
    except (LookupError, AccessDenied) as exc:
        LOG.end(user)
        return Reply(f"{h(str(exc))} Nothing was logged.", replace=replace)
    except activities.InvalidActivity as exc:
        return _ask("subject", values, h(str(exc)), replace=replace)
    return Reply(confirm(result), replace=replace)


def _parse_time(text):
    """A local "YYYY-MM-DD HH:MM" as naive UTC, or None: the bot words its own refusal."""
    try:
        return parse_local(text, _zone())
    except ValueError:
        return None


def _preset_time(choice, now):
    if choice == "1h":
        return now + datetime.timedelta(hours=1)
    if choice == "3d":
        return now + datetime.timedelta(days=3)
    tomorrow = local_date(now, _zone()) + datetime.timedelta(days=1)
    return to_utc(datetime.datetime.combine(tomorrow, datetime.time(10, 0)), _zone())


def _example_time():
    return f"{local_date(utcnow(), _zone()) + datetime.timedelta(days=1):%Y-%m-%d} 15:30"
