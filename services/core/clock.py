"""Time zones: the database keeps naive UTC; the team reads and types local time (TZ)."""
import datetime
from zoneinfo import ZoneInfo


def local_time(moment, timezone):
    """A naive-UTC time as the team reads it: "2026-11-23 10:00" in TZ."""
    if moment is None:
        return "—"
    local = moment.replace(tzinfo=datetime.timezone.utc).astimezone(ZoneInfo(timezone))
    return f"{local:%Y-%m-%d %H:%M}"
