"""Time zones: the database keeps naive UTC; the team reads and types local time (TZ).

Every conversion between the two is here; `zone` is a zone name such as "Europe/Kyiv".
"""
import datetime
from zoneinfo import ZoneInfo

from services.core.inputs import plain_text

UTC = datetime.timezone.utc
TYPED_FORMAT = "%Y-%m-%d %H:%M"  # how the bot asks for a time
# Typed years outside this range are mistakes, and near year 1 or 9999 the shift to
# UTC would overflow.
FIRST_YEAR, LAST_YEAR = 2000, 2999


def to_local(moment, zone):
    """A naive-UTC `moment` as an aware datetime in `zone`; None stays None."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).astimezone(ZoneInfo(zone))


def to_utc(local, zone):
    """A local time in `zone` as naive UTC; None stays None.

    A naive `local` is what the clock on the wall shows in `zone`. When the clocks go
    back, its fold picks the hour (0, the default: the first of the two); a time the
    clocks skip is read with the offset from before the change, so it lands the length
    of the gap later (02:30 on a spring-forward night is 03:30). An aware `local`
    already says which moment it is.
    """
    if local is None:
        return None
    if local.tzinfo is None:
        local = local.replace(tzinfo=ZoneInfo(zone))
    return local.astimezone(UTC).replace(tzinfo=None)


def local_time(moment, zone):
    """A naive-UTC time as the team reads it: "2026-11-23 10:00" in `zone`; "—" for None."""
    if moment is None:
        return "—"
    return f"{to_local(moment, zone):%Y-%m-%d %H:%M}"


def local_date(moment, zone):
    """The date in `zone` at a naive-UTC `moment`; None stays None."""
    local = to_local(moment, zone)
    return None if local is None else local.date()


def utc_midnight(day, zone, days_later=0):
    """The start of local `day` (plus `days_later`) as naive UTC, to compare with
    stored timestamps."""
    day += datetime.timedelta(days=days_later)
    return to_utc(datetime.datetime.combine(day, datetime.time()), zone)


def local_day_end(now, zone):
    """The next local midnight after naive-UTC `now`, as naive UTC."""
    return utc_midnight(local_date(now, zone), zone, days_later=1)


def parse_local(text, zone):
    """A date and time typed in `zone` as naive UTC; ValueError saying what to write.

    The bot asks for "YYYY-MM-DD HH:MM" (spacing loose, and strptime also takes
    "2026-5-4 9:05"); the panel's datetime-local input sends ISO 8601
    ("2026-05-04T14:30"). Both are read everywhere, so the bot and the panel agree.
    """
    text = plain_text(text or "").strip()
    local = _read(" ".join(text.split()))
    if local is None:
        raise ValueError(f"Write the due time like 2026-05-04 14:30 (in {zone}), "
                         f"got {text[:40]!r}.")
    if local.tzinfo is not None or not FIRST_YEAR <= local.year <= LAST_YEAR:
        raise ValueError(f"The due time must be a date and time in {zone} between the "
                         f"years {FIRST_YEAR} and {LAST_YEAR}.")
    return to_utc(local, zone)


def _read(text):
    try:
        return datetime.datetime.strptime(text, TYPED_FORMAT)
    except ValueError:
        pass
    try:
        return datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
