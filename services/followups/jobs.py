"""The scheduler's follow-up jobs (seed 003's cron jobs), each a function of `now`.

Reminders are sent once per activity (the row remembers), summaries once per
member per day (the outbox key), and lead.stale once per quiet spell.
"""
import datetime
import logging

from peewee import fn

from models import (
    Activity,
    DialogueState,
    Invite,
    Lead,
    LeadScore,
    OutboxMessage,
    RuleAction,
    User,
    db,
)
from services.core import events
from services.core.actors import Actor
from services.core.clock import local_date, local_day_end
from services.crm.activities import open_activities, overdue
from services.delivery import outbox
from services.followups import automation, messages, periodic

log = logging.getLogger("leadgram.followups")
UPCOMING_WINDOW = datetime.timedelta(minutes=30)
STALE_BATCH = 500
# Cleanup at 02:00: how long finished records are kept.
KEEP_SENT_MESSAGES = datetime.timedelta(days=30)
KEEP_FAILED_MESSAGES = datetime.timedelta(days=90)
KEEP_RULE_LOG = datetime.timedelta(days=90)
KEEP_SCORES = datetime.timedelta(days=90)
# A customer's half-done registration is offered again when they come back, weeks later.
KEEP_ABANDONED_DIALOGUES = datetime.timedelta(days=30)
KEEP_USED_INVITES = datetime.timedelta(days=30)


def _by_member(activities):
    grouped = {}
    for activity in activities:
        grouped.setdefault(activity.assigned_to_id, []).append(activity)
    return grouped


def _supervisors():
    """Who hears about activities nobody is assigned to."""
    return list(User.lead_recipients().where(User.role.in_(("admin", "dispatcher"))))


def _remind(query, stamp, title, key, now, timezone):
    """Send each assignee one message listing their activities in `query`, then stamp them."""
    job = Actor.job(f"{key}_reminders")
    with db.atomic():
        found = list(query.join(Lead).select(Activity, Lead))
        for member_id, items in _by_member(found).items():
            recipients = [User.get_by_id(member_id)] if member_id else _supervisors()
            text = messages.reminder(title, items, timezone)
            for member in recipients:
                if member.is_team and not member.unreachable:
                    outbox.enqueue(f"{key}:{member.id}:{now:%Y%m%d%H%M}", member, text)
        if found:
            Activity.update({stamp: now}).where(Activity.id.in_([a.id for a in found])).execute()
        for activity in found:
            events.emit("activity.reminded", job, "activity", activity.id,
                        events.changed(activity, {stamp: now}), now=now)
    return len(found)


def send_overdue_reminders(now, timezone="UTC"):
    """Hourly: activities that became overdue since the last run, once each."""
    query = overdue(now).where(Activity.overdue_notified_at.is_null())
    return _remind(query, Activity.overdue_notified_at, "Overdue", "overdue", now, timezone)


def send_upcoming_reminders(now, timezone="UTC"):
    """Every 30 minutes: activities due within the next 30 minutes, once each."""
    query = (open_activities().where(Activity.due_at > now, Activity.due_at <= now + UPCOMING_WINDOW,
                                     Activity.reminded_at.is_null())
             .order_by(Activity.due_at))
    return _remind(query, Activity.reminded_at, "Coming up in 30 minutes", "upcoming", now, timezone)


def stale_leads(now, stale_days):
    """Open leads quiet for `stale_days` that have not had lead.stale since they went quiet."""
    cutoff = now - datetime.timedelta(days=stale_days)
    return Lead.open().where(Lead.last_activity_at < cutoff,
                              Lead.stale_event_at.is_null()
                              | (Lead.stale_event_at < Lead.last_activity_at))


def detect_stale(now, stale_days):
    """Every 6 hours: emit lead.stale for each newly quiet lead; returns how many."""
    found = 0
    while True:
        batch = list(stale_leads(now, stale_days).order_by(Lead.id).limit(STALE_BATCH))
        for lead in batch:
            with db.atomic():
                Lead.update(stale_event_at=now).where(Lead.id == lead.id).execute()
                days = (now - lead.last_activity_at).days
                events.emit("lead.stale", Actor.job("stale_leads"), "lead", lead.id,
                            events.changed(lead, {"stale_event_at": now}), lead=lead, now=now,
                            fields={"days_without_activity": days})
        found += len(batch)
        if len(batch) < STALE_BATCH:
            return found


def daily_summary_text(member, now, timezone, stale_days):
    end = local_day_end(now, timezone)
    mine = (open_activities().join(Lead).select(Activity, Lead)
            .where(Activity.assigned_to == member.id, Activity.due_at < end)
            .order_by(Activity.due_at))
    items = list(mine)
    late = [a for a in items if a.due_at < now]
    today = [a for a in items if a.due_at >= now]
    quiet = (Lead.open().where(Lead.owner == member.id,
                                Lead.last_activity_at < now - datetime.timedelta(days=stale_days))
             .count())
    new = Lead.select().where(Lead.owner == member.id,
                              Lead.assigned_at >= now - datetime.timedelta(days=1)).count()
    return messages.daily_summary(member, late, today, new, quiet, stale_days, timezone)


def send_daily_summaries(now, timezone="UTC", stale_days=7):
    """08:00 local: one summary per reachable team member (keyed by day: sent once)."""
    day = local_date(now, timezone).isoformat()
    sent = 0
    for member in User.team().where(User.unreachable == False):  # noqa: E712
        with db.atomic():
            sent += outbox.enqueue(f"summary:{day}:{member.id}", member,
                                   daily_summary_text(member, now, timezone, stale_days))
    return sent


def cleanup(now):
    """02:00 local: delete finished records past their keep time; returns {what: rows}.

    Leads, activities and the stage audit log are the team's history and are kept.
    """
    deleted = {}
    with db.atomic():
        deleted["sent or cancelled messages"] = OutboxMessage.delete().where(
            OutboxMessage.status.in_((outbox.SENT, outbox.CANCELLED)),
            OutboxMessage.created_at < now - KEEP_SENT_MESSAGES).execute()
        deleted["failed messages"] = OutboxMessage.delete().where(
            OutboxMessage.status == outbox.FAILED,
            OutboxMessage.created_at < now - KEEP_FAILED_MESSAGES).execute()
        deleted["rule log entries"] = RuleAction.delete().where(
            RuleAction.status != automation.PENDING,
            RuleAction.executed_at < now - KEEP_RULE_LOG).execute()
        newest = LeadScore.select(fn.MAX(LeadScore.id)).group_by(LeadScore.lead)
        deleted["old scores"] = LeadScore.delete().where(  # the newest per lead stays
            LeadScore.created_at < now - KEEP_SCORES, LeadScore.id.not_in(newest)).execute()
        deleted["abandoned dialogues"] = DialogueState.delete().where(
            DialogueState.updated_at < now - KEEP_ABANDONED_DIALOGUES).execute()
        deleted["old invites"] = Invite.delete().where(
            Invite.expires_at < now - KEEP_USED_INVITES).execute()
        tables = {"sent or cancelled messages": "outbox", "failed messages": "outbox",
                  "rule log entries": "rule_action", "old scores": "lead_score",
                  "abandoned dialogues": "conversation", "old invites": "invite"}
        for what, count in deleted.items():
            if count:  # one entry per kind of record, not per row
                events.emit("cleanup.deleted", Actor.job("cleanup"), tables[what], None,
                            {what: (count, 0)}, now=now)
    log.info("cleanup: %s", ", ".join(f"{n} {what}" for what, n in deleted.items()))
    return deleted


def scheduled_jobs(settings):
    """The scheduler's periodic jobs besides the outbox (times in TZ)."""
    zone, quiet_days = settings.timezone, settings.stale_days
    return [
        periodic.every("rule_actions", lambda now: automation.run_due(now), minutes=1),
        periodic.every("overdue_reminders", lambda now: send_overdue_reminders(now, zone), minutes=60),
        periodic.every("upcoming_reminders", lambda now: send_upcoming_reminders(now, zone),
                       minutes=30),
        periodic.every("stale_leads", lambda now: detect_stale(now, quiet_days), minutes=6 * 60),
        periodic.daily("daily_summary", lambda now: send_daily_summaries(now, zone, quiet_days),
                       at="08:00"),
        periodic.daily("cleanup", cleanup, at="02:00"),
    ]
