"""What follow-ups tell the team (Telegram HTML, user data escaped): rule notifications,
reminders and the daily summary."""
from services.core.clock import local_time
from services.core.markup import h
from services.crm.validation import display_phone
from services.followups.vocabulary import TEMPLATES


def rendered(template, lead):
    """A rule's notification template filled in for `lead`."""
    owner = lead.owner.display_name if lead.owner_id else "nobody yet"
    stage = lead.sales_stage if lead.stage == "transferred" else lead.stage
    return TEMPLATES[template].format(
        lead_id=lead.id, lead_name=h(lead.full_name), lead_phone=h(display_phone(lead.phone)),
        owner=h(owner), stage=h(stage))


def new_follow_up(activity, lead):
    return (f"New follow-up for you: <b>{h(activity.subject)}</b> ({activity.type}) "
            f"for lead #{lead.id} {h(lead.full_name)}, due now.\n/today lists them.")


LINES_PER_MESSAGE = 15


def reminder(title, activities, timezone):
    """Overdue or coming up: one line per activity, the first LINES_PER_MESSAGE of them."""
    lines = [f"<b>{title}</b> ({len(activities)})"]
    lines += [_line(a, timezone) for a in activities[:LINES_PER_MESSAGE]]
    if len(activities) > LINES_PER_MESSAGE:
        lines.append(f"…and {len(activities) - LINES_PER_MESSAGE} more.")
    lines.append("/today lists them with Done buttons.")
    return "\n".join(lines)


def daily_summary(member, late, today, new, quiet, stale_days, timezone):
    lines = [f"<b>Good morning, {h(member.display_name)}!</b> Your day:"]
    if not late and not today and not quiet and not new:
        lines.append("Nothing is due today and none of your leads is waiting.")
    if late:
        lines.append(f"\n<b>Overdue</b> ({len(late)})")
        lines += [_line(a, timezone) for a in late[:LINES_PER_MESSAGE]]
    if today:
        lines.append(f"\n<b>Due today</b> ({len(today)})")
        lines += [_line(a, timezone) for a in today[:LINES_PER_MESSAGE]]
    if new:
        lines.append(f"\n{new} lead(s) assigned to you in the last 24 hours.")
    if quiet:
        lines.append(f"{quiet} of your open leads had no activity for {stale_days}+ days.")
    if late or today:
        lines.append("\n/today lists them with Done buttons.")
    return "\n".join(lines)


def _line(activity, timezone):
    lead = activity.lead
    return (f"• #{lead.id} {h(lead.full_name)}: {h(activity.subject)} ({activity.type}), "
            f"due {local_time(activity.due_at, timezone)}")
