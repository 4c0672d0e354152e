"""The dashboard figures, the health report and heartbeat ages, on SQLite and Postgres."""
import datetime

from models import utcnow
from services.core.config import load_settings
from services.crm import leads
from services.ops import dashboard, health, heartbeat

NOW = datetime.datetime(2026, 11, 20, 12, 0)  # a Friday


def settings(**env):
    return load_settings({"SEND_INTERVAL_SECONDS": "10", **env})


def test_leads_per_day_in_the_deployers_zone(add_lead, any_db, make_user):
    kyiv = settings(TZ="Europe/Kyiv")  # UTC+2 in November
    add_lead(1, created_at=datetime.datetime(2026, 11, 19, 21, 30))  # 23:30 on the 19th in Kyiv
    add_lead(2, created_at=datetime.datetime(2026, 11, 19, 22, 30))  # 00:30 on the 20th in Kyiv
    add_lead(3, created_at=datetime.datetime(2026, 10, 1, 12, 0))    # older than 30 days
    days = dashboard.leads_per_day(kyiv, now=NOW)
    assert len(days) == 30 and days[-1] == (datetime.date(2026, 11, 20), 1)
    assert days[-2] == (datetime.date(2026, 11, 19), 1)
    assert sum(n for _, n in days) == 2
    utc_days = dashboard.leads_per_day(settings(), now=NOW)
    assert utc_days[-2] == (datetime.date(2026, 11, 19), 2)


def test_summary_counts_today_and_this_week(add_lead, any_db, make_user):
    make_user("sales")  # told of each lead, added in the panel
    add_lead(1, created_at=NOW - datetime.timedelta(hours=1))          # today
    add_lead(2, created_at=datetime.datetime(2026, 11, 16, 0, 5))      # Monday
    add_lead(3, created_at=datetime.datetime(2026, 11, 15, 23, 55))    # last Sunday
    heartbeat.beat("scheduler", now=NOW - datetime.timedelta(seconds=5))
    summary = dashboard.summary(settings(), now=NOW)
    assert (summary.leads_today, summary.leads_this_week, summary.leads_total) == (1, 2, 3)
    assert summary.team_size == 1 and summary.outbox["pending"] == 3
    assert summary.heartbeat_age == 5 and not summary.heartbeat_stale
    assert summary.success_rate is None


def test_leads_by_country_keeps_the_top_and_sums_the_rest(add_lead, any_db):
    codes = ["DE"] * 3 + ["FR"] * 2 + ["US", "GB", "PL"]
    for n, code in enumerate(codes):
        add_lead(n, country=code)
    assert dashboard.leads_by_country(limit=2) == [("Germany", 3), ("France", 2), ("Other", 3)]


def test_leads_without_a_country_have_a_label_too(add_lead, any_db):
    add_lead(1, country="DE"), add_lead(2, country="DE")
    leads.add_lead({"first_name": "Client"})  # wrote in, no country yet
    assert dashboard.leads_by_country() == [("Germany", 2), ("Not given", 1)]


def test_the_chart_gets_ten_countries_and_other_at_most(add_lead, any_db):
    # The dashboard draws a labelled bar for each row: ten countries and one "Other".
    codes = ["DE"] * 3 + "FR GB US PL ES IT NL SE BR IN JP ZA MX".split()
    for n, code in enumerate(codes):
        add_lead(n, country=code)
    rows = dashboard.leads_by_country()
    assert len(rows) == 11 and rows[0] == ("Germany", 3) and rows[-1] == ("Other", 4)
    assert sum(count for _, count in rows) == len(codes)


def test_health_report(any_db):
    healthy, details = health.report(settings())
    assert not healthy and details["status"] == "stale"
    heartbeat.beat("scheduler")
    healthy, details = health.report(settings())
    assert healthy and details["pending"] == 0


def test_heartbeat_age(any_db):
    assert heartbeat.age_seconds("scheduler") is None
    heartbeat.beat("scheduler", now=utcnow() - datetime.timedelta(seconds=30))
    assert 29 < heartbeat.age_seconds("scheduler") < 40
