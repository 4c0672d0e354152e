"""Is Leadgram working? For load balancers, uptime monitors and /health."""
from peewee import PeeweeException

from models import JobRun, OutboxMessage, db, drop_connection
from services.delivery import outbox
from services.ops import dashboard, heartbeat


def report(settings, now=None):
    """(healthy, details): unhealthy when the database is unreachable or the
    scheduler has missed three beats (queued messages would not go out)."""
    try:
        db.execute_sql("SELECT 1")
        # Only these two statuses: cheap through the status index even with millions sent.
        counts = outbox.counts_by_status(
            OutboxMessage.status.in_([outbox.PENDING, outbox.FAILED]))
        age = heartbeat.age_seconds(heartbeat.SCHEDULER, now)
        # The scheduler is alive but a follow-up job (reminders, summary…) keeps failing.
        failing = [name for (name,) in JobRun.select(JobRun.name)
                   .where(JobRun.last_error.is_null(False)).order_by(JobRun.name).tuples()]
    except PeeweeException as exc:
        drop_connection()
        return False, {"status": "down", "database": "unreachable",
                       "error": type(exc).__name__}
    stale = age is None or age > dashboard.stale_after(settings)
    return not stale, {
        "status": "stale" if stale else "ok",
        "database": "ok",
        "scheduler_heartbeat_age_seconds": None if age is None else round(age, 1),
        "scheduler_stale_after_seconds": dashboard.stale_after(settings),
        "pending": counts[outbox.PENDING],
        "failed": counts[outbox.FAILED],
        "failing_jobs": failing,
    }
