"""The services behind the admin panel, on SQLite and Postgres."""
import datetime

import pytest

from models import Broadcast, Lead, OutboxMessage, User, utcnow
from services import broadcasts, dashboard, health, heartbeat, leads, outbox, team
from services.config import load_settings

NOW = datetime.datetime(2026, 11, 20, 12, 0)  # a Friday


def settings(**env):
    return load_settings({"SEND_INTERVAL_SECONDS": "10", **env})


def add(n, creator=None, country="DE", created_at=None):
    lead = leads.add_lead({"email": f"l{n}@example.com", "phone": f"+1212555{n:04d}",
                           "first_name": "F", "last_name": f"L{n}", "country": country},
                          created_by=creator)
    if created_at:
        Lead.update(created_at=created_at).where(Lead.id == lead.id).execute()
    return lead


def test_broadcast_send_is_one_transaction_with_its_messages(any_db, make_user):
    make_user("admin", first_name="Ann")
    make_user("sales", first_name="Sam")
    make_user("sales", first_name="Off", unreachable=True)
    broadcast = broadcasts.send("<b>Hi</b> &amp; welcome", "role:sales", False, created_by="boss")
    assert broadcast.recipients == 1
    (message,) = OutboxMessage.select().where(OutboxMessage.broadcast == broadcast)
    assert message.key == f"broadcast:{broadcast.id}:to:{message.recipient_id}"
    assert message.text == "<b>Hi</b> &amp; welcome"
    with pytest.raises(broadcasts.BroadcastError, match="Nobody can receive it"):
        broadcasts.send("hi", "role:dispatcher", False, created_by="boss")
    assert Broadcast.select().count() == 1  # the refused one left nothing behind


def test_broadcast_progress_counts_each_status(any_db, make_user):
    for n in range(4):
        make_user("sales")
    first = broadcasts.send("one", "team", False, created_by="boss")
    second = broadcasts.send("two", "team", False, created_by="boss")
    ids = [m.id for m in first.messages]
    OutboxMessage.update(status="sent").where(OutboxMessage.id.in_(ids[:2])).execute()
    OutboxMessage.update(status="failed").where(OutboxMessage.id == ids[2]).execute()
    outbox.cancel([ids[3]])
    progress = broadcasts.progress([first.id, second.id])
    assert progress[first.id] == broadcasts.Progress(sent=2, failed=1, waiting=0, cancelled=1)
    assert progress[first.id].success_rate == pytest.approx(2 / 3)
    assert progress[second.id].waiting == 4 and progress[second.id].success_rate is None


def test_retry_and_cancel_touch_only_the_right_statuses(any_db, make_user):
    sam = make_user("sales")
    for n in range(3):
        outbox.enqueue(f"k{n}", sam, "x")
    a, b, c = [m.id for m in OutboxMessage.select().order_by(OutboxMessage.id)]
    OutboxMessage.update(status="failed", attempts=10, last_error="boom").where(OutboxMessage.id == a).execute()
    OutboxMessage.update(status="sent").where(OutboxMessage.id == b).execute()
    assert outbox.retry([a, b, c]) == 1
    assert outbox.cancel([a, b, c]) == 2  # a is pending again, c was pending
    assert outbox.counts_by_status() == {"pending": 0, "sending": 0, "sent": 1, "failed": 0,
                                         "cancelled": 2, "expired": 0}
    assert outbox.claim_batch(10) == []


def test_leads_per_day_in_the_deployers_zone(any_db, make_user):
    kyiv = settings(TZ="Europe/Kyiv")  # UTC+2 in November
    add(1, created_at=datetime.datetime(2026, 11, 19, 21, 30))  # 23:30 on the 19th in Kyiv
    add(2, created_at=datetime.datetime(2026, 11, 19, 22, 30))  # 00:30 on the 20th in Kyiv
    add(3, created_at=datetime.datetime(2026, 10, 1, 12, 0))    # older than 30 days
    days = dashboard.leads_per_day(kyiv, now=NOW)
    assert len(days) == 30 and days[-1] == (datetime.date(2026, 11, 20), 1)
    assert days[-2] == (datetime.date(2026, 11, 19), 1)
    assert sum(n for _, n in days) == 2
    utc_days = dashboard.leads_per_day(settings(), now=NOW)
    assert utc_days[-2] == (datetime.date(2026, 11, 19), 2)


def test_summary_counts_today_and_this_week(any_db, make_user):
    sam = make_user("sales")
    add(1, sam, created_at=NOW - datetime.timedelta(hours=1))          # today
    add(2, sam, created_at=datetime.datetime(2026, 11, 16, 0, 5))      # Monday
    add(3, sam, created_at=datetime.datetime(2026, 11, 15, 23, 55))    # last Sunday
    heartbeat.beat("scheduler", now=NOW - datetime.timedelta(seconds=5))
    summary = dashboard.summary(settings(), now=NOW)
    assert (summary.leads_today, summary.leads_this_week, summary.leads_total) == (1, 2, 3)
    assert summary.team_size == 1 and summary.outbox["pending"] == 3
    assert summary.heartbeat_age == 5 and not summary.heartbeat_stale
    assert summary.success_rate is None


def test_leads_by_country_keeps_the_top_and_sums_the_rest(any_db):
    codes = ["DE"] * 3 + ["FR"] * 2 + ["US", "GB", "PL"]
    for n, code in enumerate(codes):
        add(n, country=code)
    assert dashboard.leads_by_country(limit=2) == [("Germany", 3), ("France", 2), ("Other", 3)]


def test_health_report(any_db):
    healthy, details = health.report(settings())
    assert not healthy and details["status"] == "stale"
    heartbeat.beat("scheduler")
    healthy, details = health.report(settings())
    assert healthy and details["pending"] == 0


def test_lead_update_and_delete(any_db, make_user):
    sam = make_user("sales")
    one, two = add(1, sam), add(2, sam)
    with pytest.raises(leads.DuplicateLead):
        leads.update_lead(one.id, {"email": two.email, "phone": one.phone, "first_name": "A",
                                   "last_name": "B", "country": "FR"})
    updated = leads.update_lead(one.id, {"email": "A@X.org", "phone": one.phone, "first_name": "A",
                                         "last_name": "B", "country": "france"})
    assert (updated.email, updated.country, updated.created_by.id) == ("a@x.org", "FR", sam.id)
    assert leads.delete_leads([one.id, two.id, 999]) == 2
    with pytest.raises(LookupError):
        leads.update_lead(one.id, {"email": "c@x.org", "phone": "+12125550099", "first_name": "A",
                                   "last_name": "B", "country": "FR"})


def test_change_role_guards_admins(any_db, make_user):
    boss, ann = make_user("admin", telegram_id=1), make_user("admin")
    customer = make_user(None)
    with pytest.raises(team.TeamError, match="ADMIN_TELEGRAM_IDS"):
        team.change_role(boss.id, None, admin_ids={1})
    team.change_role(ann.id, "sales", admin_ids={1})
    with pytest.raises(team.TeamError, match="at least one admin"):
        team.change_role(boss.id, "sales")
    team.change_role(customer.id, "dispatcher")
    assert User.get_by_id(customer.id).joined_at is not None
    with pytest.raises(team.TeamError, match="Unknown role"):
        team.change_role(customer.id, "owner")


def test_heartbeat_age(any_db):
    assert heartbeat.age_seconds("scheduler") is None
    heartbeat.beat("scheduler", now=utcnow() - datetime.timedelta(seconds=30))
    assert 29 < heartbeat.age_seconds("scheduler") < 40


def test_broadcast_text_loses_nul_characters(any_db, make_user):
    make_user("admin")
    draft = broadcasts.prepare("Hel\x00lo", "team")
    assert draft.html == "Hello" and draft.length == 5
