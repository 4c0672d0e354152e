"""Heartbeats: when each process last showed it was alive."""
from models import Heartbeat
from services.ops import heartbeat


def test_heartbeat_records_the_latest_beat(any_db):
    heartbeat.beat("scheduler", "started")
    first = Heartbeat.get_by_id("scheduler").beat_at
    heartbeat.beat("scheduler", "sent=1")
    [row] = Heartbeat.select()
    assert row.beat_at >= first and row.detail == "sent=1"
