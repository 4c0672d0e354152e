"""Figures for the admin dashboard, /health and /metrics.

Timestamps are stored as naive UTC; "today" and "this week" are the
deployer's (TZ), so day boundaries are converted before querying.
"""
import datetime
from collections import Counter
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from peewee import fn

from models import Lead, User, hour_bucket, utcnow
from services.ops import heartbeat
from services.delivery import outbox
from services.crm.validation import country_name

SCHEDULER = "scheduler"  # the heartbeat the scheduler writes
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
    today = _local(now, settings.timezone).date()
    midnight = utc_midnight(today, settings.timezone)
    week_start = utc_midnight(today - datetime.timedelta(days=today.weekday()), settings.timezone)
    age = heartbeat.age_seconds(SCHEDULER, now)
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
    zone = ZoneInfo(settings.timezone)
    first_day = _local(now, settings.timezone).date() - datetime.timedelta(days=days - 1)
    since = utc_midnight(first_day, settings.timezone)
    # Grouped by UTC hour in SQL, then by local day here: correct in any zone, DST included.
    bucket = hour_bucket(Lead.created_at)
    rows = (Lead.select(bucket, fn.COUNT(Lead.id)).where(Lead.created_at >= since)
            .group_by(bucket).tuples())
    per_day = Counter()
    for hour, count in rows:
        if isinstance(hour, str):
            hour = datetime.datetime.fromisoformat(hour)
        local = hour.replace(tzinfo=datetime.timezone.utc).astimezone(zone)
        per_day[local.date()] += count
    return [(first_day + datetime.timedelta(days=i), per_day[first_day + datetime.timedelta(days=i)])
            for i in range(days)]


def leads_by_country(limit=TOP_COUNTRIES):
    """[(country name, leads)], the largest first, the rest summed as "Other"."""
    rows = list(Lead.select(Lead.country, fn.COUNT(Lead.id).alias("n"))
                .group_by(Lead.country).order_by(fn.COUNT(Lead.id).desc(), Lead.country).tuples())
    top = [(country_name(code), count) for code, count in rows[:limit]]
    rest = sum(count for _, count in rows[limit:])
    return top + ([("Other", rest)] if rest else [])


def _local(now, timezone):
    return now.replace(tzinfo=datetime.timezone.utc).astimezone(ZoneInfo(timezone))


def utc_midnight(day, timezone, days_later=0):
    """The start of local `day` (plus `days_later`) as naive UTC, to compare
    with stored timestamps."""
    day += datetime.timedelta(days=days_later)
    midnight = datetime.datetime.combine(day, datetime.time(), tzinfo=ZoneInfo(timezone))
    return midnight.astimezone(datetime.timezone.utc).replace(tzinfo=None)
