"""When each long-running process last showed it was alive."""
from models import Heartbeat, utcnow

SCHEDULER = "scheduler"  # the name the scheduler beats under, and the panel and /health read


def beat(name, detail=None, now=None):
    """Record that a process is alive (the admin panel and /health read it)."""
    now = now or utcnow()
    (Heartbeat.insert(name=name, beat_at=now, detail=detail)
     .on_conflict(conflict_target=[Heartbeat.name],
                  update={Heartbeat.beat_at: now, Heartbeat.detail: detail})
     .execute())


def age_seconds(name, now=None):
    """Seconds since `name` last beat, or None if it never has."""
    row = Heartbeat.get_or_none(Heartbeat.name == name)
    if row is None:
        return None
    return max(0.0, ((now or utcnow()) - row.beat_at).total_seconds())
