"""Figures for the admin dashboard, /health and /metrics.

Timestamps are stored as naive UTC; "today" and "this week" are the
deployer's (TZ), so day boundaries are converted before querying.
"""
import datetime
from collections import Counter
from dataclasses import dataclass

from peewee import fn

from models import Lead, User, hour_bucket, utcnow
from services.core.clock import local_date, utc_midnight
from services.crm.validation import country_name
from services.delivery import outbox
from services.ops import heartbeat

TOP_COUNTRIES = 10


@dataclass(frozen=True)
class Summary:
    leads_today: int
    leads_this_week: int
    leads_total: int
    team_size: int
    outbox: dict               # {status: rows}
    heartbeat_age: float | None  # seconds; None if the scheduler never ran
    heartbeat_stale: bool

    @property
    def success_rate(self):
        """Delivered out of finished messages, or None before any finished."""
        done = self.outbox[outbox.SENT] + self.outbox[outbox.FAILED]
        return self.outbox[outbox.SENT] / done if done else None


def stale_after(settings):
    """The scheduler beats once per send interval; three missed beats mean trouble."""
    return 3 * settings.send_interval_seconds


def summary(settings, now=None):
    now = now or utcnow()
    today = local_date(now, settings.timezone)
    midnight = utc_midnight(today, settings.timezone)
    week_start = utc_midnight(today - datetime.timedelta(days=today.weekday()), settings.timezone)
    age = heartbeat.age_seconds(heartbeat.SCHEDULER, now)
    return Summary(
        leads_today=Lead.select().where(Lead.created_at >= midnight).count(),
        leads_this_week=Lead.select().where(Lead.created_at >= week_start).count(),
        leads_total=Lead.select().count(),
        team_size=User.team().count(),
        outbox=outbox.counts_by_status(),
        heartbeat_age=age,
        heartbeat_stale=age is None or age > stale_after(settings),
    )


def leads_per_day(settings, days=30, now=None):
    """[(local date, leads)] for the last `days` days, oldest first, zeros included."""
    now = now or utcnow()
    first_day = local_date(now, settings.timezone) - datetime.timedelta(days=days - 1)
    since = utc_midnight(first_day, settings.timezone)
    # Grouped by UTC hour in SQL, then by local day here: correct in any zone, DST included.
    bucket = hour_bucket(Lead.created_at)
    rows = (Lead.select(bucket, fn.COUNT(Lead.id)).where(Lead.created_at >= since)
            .group_by(bucket).tuples())
    per_day = Counter()
    for hour, count in rows:
        if isinstance(hour, str):
            hour = datetime.datetime.fromisoformat(hour)
        per_day[local_date(hour, settings.timezone)] += count
    return [(first_day + datetime.timedelta(days=i), per_day[first_day + datetime.timedelta(days=i)])
            for i in range(days)]


NO_COUNTRY = "Not given"


def leads_by_country(limit=TOP_COUNTRIES):
    """[(country name, leads)], the largest first, the rest summed as "Other"; clients who
    wrote in before giving a country are "Not given"."""
    rows = list(Lead.select(Lead.country, fn.COUNT(Lead.id).alias("n"))
                .group_by(Lead.country).order_by(fn.COUNT(Lead.id).desc(), Lead.country).tuples())
    top = [(country_name(code) if code else NO_COUNTRY, count) for code, count in rows[:limit]]
    rest = sum(count for _, count in rows[limit:])
    return top + ([("Other", rest)] if rest else [])
