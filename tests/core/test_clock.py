"""services.core.clock: naive UTC in the database, local time (TZ) for people."""
import datetime as dt

import pytest
from hypothesis import given, strategies as st

from services.core.clock import (
    local_date,
    local_day_end,
    local_time,
    parse_local,
    to_local,
    to_utc,
    utc_midnight,
)

KYIV = "Europe/Kyiv"              # UTC+2, +3 from 29 March to 25 October 2026 (03:00/04:00 local)
NEW_YORK = "America/New_York"     # UTC-5, -4 from 8 March to 1 November 2026 (02:00 local)
AUCKLAND = "Pacific/Auckland"     # UTC+13 in January
SANTIAGO = "America/Santiago"     # skips midnight: 6 September 2026 starts at 01:00
HAVANA = "America/Havana"         # 00:00-00:59 twice on 1 November 2026
# Offsets of every sign and size, half hours and 45 minutes, and a 30-minute DST change.
ZONES = ["UTC", KYIV, NEW_YORK, AUCKLAND, SANTIAGO, HAVANA, "Asia/Kolkata", "Pacific/Chatham",
         "America/St_Johns", "Australia/Lord_Howe", "Pacific/Kiritimati", "Pacific/Pago_Pago"]


def at(text, fold=0):
    return dt.datetime.fromisoformat(text).replace(fold=fold)


# Reading -----------------------------------------------------------------------------

@pytest.mark.parametrize("utc, zone, shown", [
    ("2026-11-23 08:00", KYIV, "2026-11-23 10:00"),
    ("2026-07-01 08:00", KYIV, "2026-07-01 11:00"),
    ("2026-01-15 11:00", AUCKLAND, "2026-01-16 00:00"),
    ("2026-01-16 03:00", NEW_YORK, "2026-01-15 22:00"),
    ("2026-03-02 09:05", "UTC", "2026-03-02 09:05"),
    ("2026-03-02 09:05:59", "Asia/Kolkata", "2026-03-02 14:35"),  # to the minute, not rounded
])
def test_a_stored_time_is_read_in_the_zone(utc, zone, shown):
    assert local_time(at(utc), zone) == shown
    assert to_local(at(utc), zone).strftime("%Y-%m-%d %H:%M") == shown
    assert local_date(at(utc), zone) == dt.date.fromisoformat(shown[:10])


def test_nothing_stays_nothing():
    assert local_time(None, KYIV) == "—"
    assert to_local(None, KYIV) is None
    assert to_utc(None, KYIV) is None
    assert local_date(None, KYIV) is None


def test_to_local_is_aware_and_knows_which_of_two_equal_hours_it_is():
    first, second = to_local(at("2026-10-25 00:30"), KYIV), to_local(at("2026-10-25 01:30"), KYIV)
    assert first.replace(tzinfo=None) == second.replace(tzinfo=None) == at("2026-10-25 03:30")
    assert (first.fold, second.fold) == (0, 1)
    assert (first.utcoffset(), second.utcoffset()) == (dt.timedelta(hours=3), dt.timedelta(hours=2))
    assert local_time(at("2026-10-25 00:30"), KYIV) == local_time(at("2026-10-25 01:30"), KYIV)


# Local to UTC across the changes -------------------------------------------------------

@pytest.mark.parametrize("zone, local, utc", [
    # Clocks skip an hour: the time is read with the offset from before, so an hour later.
    (KYIV, "2026-03-29 03:30", "2026-03-29 01:30"),      # = 04:30 EEST
    (NEW_YORK, "2026-03-08 02:30", "2026-03-08 07:30"),  # = 03:30 EDT
    # Either side of the gap is plain.
    (KYIV, "2026-03-29 02:59", "2026-03-29 00:59"),
    (KYIV, "2026-03-29 04:00", "2026-03-29 01:00"),
    (NEW_YORK, "2026-03-08 01:59", "2026-03-08 06:59"),
    (NEW_YORK, "2026-03-08 03:00", "2026-03-08 07:00"),
    # Clocks go back: a naive time is the first of the two.
    (KYIV, "2026-10-25 03:30", "2026-10-25 00:30"),
    (NEW_YORK, "2026-11-01 01:30", "2026-11-01 05:30"),
])
def test_local_times_around_the_changes(zone, local, utc):
    assert to_utc(at(local), zone) == at(utc)
    assert parse_local(local, zone) == at(utc)
    assert parse_local(local.replace(" ", "T"), zone) == at(utc)


def test_the_fold_picks_the_second_of_two_equal_hours():
    assert to_utc(at("2026-10-25 03:30", fold=1), KYIV) == at("2026-10-25 01:30")
    assert to_utc(at("2026-11-01 01:30", fold=1), NEW_YORK) == at("2026-11-01 06:30")


def test_an_aware_time_is_converted_as_it_is():
    aware = dt.datetime(2026, 5, 4, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
    assert to_utc(aware, KYIV) == at("2026-05-04 21:30")


# Day boundaries ------------------------------------------------------------------------

@pytest.mark.parametrize("zone, day, midnight", [
    (AUCKLAND, "2026-01-16", "2026-01-15 11:00"),   # east of UTC: the day starts the day before
    (NEW_YORK, "2026-01-15", "2026-01-15 05:00"),   # west: the same day, later
    (KYIV, "2026-07-01", "2026-06-30 21:00"),
    ("UTC", "2026-03-02", "2026-03-02 00:00"),
    (SANTIAGO, "2026-09-06", "2026-09-06 04:00"),   # no 00:00 that day: it starts at 01:00
    (HAVANA, "2026-11-01", "2026-11-01 04:00"),     # two 00:00s: the first
])
def test_utc_midnight_is_when_the_local_day_starts(zone, day, midnight):
    assert utc_midnight(dt.date.fromisoformat(day), zone) == at(midnight)
    assert local_date(at(midnight), zone) == dt.date.fromisoformat(day)
    assert local_date(at(midnight) - dt.timedelta(minutes=1), zone) < dt.date.fromisoformat(day)


@pytest.mark.parametrize("zone, day, hours", [
    (KYIV, "2026-03-29", 23), (KYIV, "2026-10-25", 25), (KYIV, "2026-10-26", 24),
    (NEW_YORK, "2026-03-08", 23), (NEW_YORK, "2026-11-01", 25), (AUCKLAND, "2026-04-05", 25),
])
def test_days_later_counts_local_days_so_change_days_are_short_or_long(zone, day, hours):
    start = dt.date.fromisoformat(day)
    length = utc_midnight(start, zone, days_later=1) - utc_midnight(start, zone)
    assert length == dt.timedelta(hours=hours)
    assert utc_midnight(start, zone, days_later=7) == utc_midnight(start + dt.timedelta(days=7), zone)


@pytest.mark.parametrize("zone, now, end", [
    (AUCKLAND, "2026-01-15 10:59", "2026-01-15 11:00"),  # 23:59 on the 15th there
    (AUCKLAND, "2026-01-15 11:00", "2026-01-16 11:00"),  # 00:00 on the 16th: a whole day left
    (NEW_YORK, "2026-01-16 04:30", "2026-01-16 05:00"),  # 23:30 on the 15th there
    (NEW_YORK, "2026-01-16 05:00", "2026-01-17 05:00"),
    (NEW_YORK, "2026-03-08 12:00", "2026-03-09 04:00"),  # the day clocks go forward
    (KYIV, "2026-10-25 12:00", "2026-10-25 22:00"),      # the day clocks go back
    ("UTC", "2026-03-02 09:00", "2026-03-03 00:00"),
])
def test_local_day_end_is_the_next_local_midnight(zone, now, end):
    assert local_day_end(at(now), zone) == at(end)


# Typed times ---------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "2026-12-03 15:30",      # as the bot asks
    "2026-12-03T15:30",      # as the panel's datetime-local input sends
    "  2026-12-03 \n 15:30 ", "2026-12-3 15:30", "2026-12-03T15:30:00", "2026-12-03 15:30\x00",
])
def test_the_bot_and_the_panel_read_the_same_times(text):
    assert parse_local(text, KYIV) == at("2026-12-03 13:30")


def test_a_date_alone_is_its_midnight():
    assert parse_local("2026-12-03", NEW_YORK) == at("2026-12-03 05:00")


@pytest.mark.parametrize("text, shown", [
    ("tomorrow", "'tomorrow'"), ("", "''"), (None, "''"), ("  ", "''"), ("15:30", "'15:30'"),
    ("2026-13-01 10:00", "'2026-13-01 10:00'"), ("2026-02-30 10:00", "'2026-02-30 10:00'"),
    ("2026-12-03 24:00", "'2026-12-03 24:00'"), ("x" * 60, repr("x" * 40)),
])
def test_an_unreadable_time_says_how_to_write_one(text, shown):
    with pytest.raises(ValueError) as refused:
        parse_local(text, KYIV)
    assert str(refused.value) == f"Write the due time like 2026-05-04 14:30 (in {KYIV}), got {shown}."


@pytest.mark.parametrize("text", [
    "0001-01-01 00:00", "1999-12-31 23:59", "3000-01-01 00:00", "9999-12-31 23:59",
    "2026-12-03T15:30+02:00", "2026-12-03T15:30Z",
])
def test_a_time_out_of_range_or_with_its_own_offset_is_refused(text):
    for zone in (KYIV, NEW_YORK):  # year 1 east of UTC and 9999 west of it would overflow
        with pytest.raises(ValueError, match=f"in {zone} between the years 2000 and 2999"):
            parse_local(text, zone)


def test_the_years_at_the_edges_are_read():
    assert parse_local("2000-01-01 00:00", KYIV) == at("1999-12-31 22:00")
    assert parse_local("2999-12-31 23:59", NEW_YORK) == at("3000-01-01 04:59")


# Properties ----------------------------------------------------------------------------

zones = st.sampled_from(ZONES)
moments = st.datetimes(min_value=dt.datetime(2000, 1, 2), max_value=dt.datetime(2999, 12, 30))


@given(moments, zones)
def test_a_stored_time_survives_the_round_trip(moment, zone):
    local = to_local(moment, zone)
    assert to_utc(local, zone) == moment
    assert to_utc(local.replace(tzinfo=None), zone) == moment  # the fold says which hour
    assert local_date(moment, zone) == local.date()
    assert local_time(moment, zone) == f"{local:%Y-%m-%d %H:%M}"


@given(moments, zones)
def test_a_typed_time_reads_back_the_same_unless_the_clocks_skipped_it(local, zone):
    local = local.replace(second=0, microsecond=0, fold=0)
    back = to_local(to_utc(local, zone), zone).replace(tzinfo=None)
    assert back == local or dt.timedelta(0) < back - local <= dt.timedelta(hours=1)
    assert parse_local(f"{local:%Y-%m-%d %H:%M}", zone) == to_utc(local, zone)
    assert parse_local(f"{local:%Y-%m-%dT%H:%M}", zone) == to_utc(local, zone)


@given(moments, zones)
def test_a_moment_lies_within_its_local_day(moment, zone):
    day = local_date(moment, zone)
    assert utc_midnight(day, zone) <= moment < local_day_end(moment, zone)
    assert local_day_end(moment, zone) == utc_midnight(day, zone, days_later=1)
