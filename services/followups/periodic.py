"""Periodic jobs that run once per time slot, whoever runs them and whenever.

A job's slots are either every N minutes (aligned to the epoch) or one local time a
day in TZ. `run_due` runs every job whose latest slot has not run yet. The slot is
claimed in the database first (JobRun), so with two schedulers each slot runs once,
and a job missed while the scheduler was down runs once when it is back, not once
per missed slot. A failing job is logged and recorded; the others still run.
The clock is passed in, so tests drive it.
"""
import datetime
import logging
from dataclasses import dataclass

from peewee import IntegrityError

from models import JobRun, db, drop_connection
from services.core.clock import local_date, to_utc

log = logging.getLogger("leadgram.periodic")
EPOCH = datetime.datetime(2000, 1, 3)  # a Monday, midnight UTC


@dataclass(frozen=True)
class Job:
    name: str
    run: object                  # callable(now)
    every: datetime.timedelta = None
    daily_at: datetime.time = None
    # A daily job first seen at 15:00 waits for tomorrow rather than running now.
    run_on_first_sight: bool = True

    def latest_slot(self, now, timezone="UTC"):
        """The most recent time (naive UTC, <= now) this job was meant to run."""
        if self.every is not None:
            return EPOCH + ((now - EPOCH) // self.every) * self.every
        local_day = local_date(now, timezone)
        for day in (local_day, local_day - datetime.timedelta(days=1)):
            slot = to_utc(datetime.datetime.combine(day, self.daily_at), timezone)
            if slot <= now:
                return slot
        raise AssertionError("a local day has a slot in the last two days")


def every(name, run, minutes):
    return Job(name, run, every=datetime.timedelta(minutes=minutes))


def daily(name, run, at):
    hour, minute = (int(part) for part in at.split(":"))
    return Job(name, run, daily_at=datetime.time(hour, minute), run_on_first_sight=False)


def _claim(job, slot, now):
    """True when this process should run `slot` of `job` (and nobody else will)."""
    try:
        with db.atomic():
            JobRun.insert(name=job.name, last_slot=slot, started_at=now).execute()
        return job.run_on_first_sight
    except IntegrityError:
        pass
    return bool(JobRun.update(last_slot=slot, started_at=now)
                .where(JobRun.name == job.name, JobRun.last_slot < slot).execute())


def run_due(jobs, now, timezone="UTC"):
    """Run each job whose latest slot has not run; returns {name: what it returned}."""
    ran = {}
    known = {name: row.last_slot for name, row in status().items()}
    for job in jobs:
        slot = job.latest_slot(now, timezone)
        if job.name in known and known[job.name] >= slot:
            continue  # the common case, without a write
        try:
            if not _claim(job, slot, now):
                continue
        except Exception:
            log.exception("could not check job %s", job.name)
            drop_connection()
            continue
        error = None
        try:
            ran[job.name] = job.run(now)
        except Exception as exc:  # noqa: BLE001 - one job's failure must not stop the rest
            log.exception("job %s failed", job.name)
            drop_connection()
            error = f"{type(exc).__name__}: {exc}"[:2000]
        try:
            (JobRun.update(finished_at=now, last_error=error)
             .where(JobRun.name == job.name).execute())
        except Exception:
            log.exception("could not record job %s", job.name)
            drop_connection()
    return ran


def status():
    """{job name: JobRun} for the admin panel."""
    return {row.name: row for row in JobRun.select()}
