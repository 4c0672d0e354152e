"""The dashboard, /health and /metrics."""
import datetime

import pytest
from peewee import OperationalError

import models
from models import Lead, OutboxMessage
from services.crm import leads
from services.delivery import outbox
from services.ops import heartbeat
from tests.panel.conftest import log_in, text_of


@pytest.fixture
def activity(app, make_user):
    sam = make_user("sales", first_name="Sam")
    for n, country in enumerate(["DE", "DE", "FR"]):  # added in the panel: Sam is told of each
        leads.add_lead({"email": f"l{n}@example.com", "phone": f"+1212555{n:04d}",
                        "first_name": "F", "last_name": "L", "country": country})
    OutboxMessage.update(status="sent").where(OutboxMessage.id <= 2).execute()
    OutboxMessage.update(status="failed", last_error="blocked").where(OutboxMessage.id == 3).execute()
    return sam


def test_dashboard_shows_the_figures_and_the_chart_data(browser, activity):
    heartbeat.beat("scheduler")
    page = text_of(browser.get("/"))
    for figure_id, value in [("leads-today", "3"), ("leads-total", "3"), ("team-size", "1"),
                             ("failed", "1"), ("success-rate", "66.7%")]:
        card = page.split(f'id="{figure_id}"', 1)[1]
        assert f'<div class="figure-value">{value}</div>' in card.split("</div>", 2)[0] + "</div>", figure_id
    assert 'class="card h-100 fresh" id="heartbeat"' in page
    assert '"leadsByCountry": [["Germany", 2], ["France", 1]]' in page
    assert '"outboxByStatus": [["sent", 2], ["failed", 1]]' in page
    assert "/static/vendor/chartjs/chart.umd.min.js" in page  # served here, no CDN
    assert "cdn" not in page.lower()


def test_a_stale_or_missing_heartbeat_is_red(browser, activity):
    page = text_of(browser.get("/"))
    assert "Scheduler: never ran" in page and "stale border-danger" in page
    heartbeat.beat("scheduler", now=models.utcnow() - datetime.timedelta(minutes=10))
    page = text_of(browser.get("/"))
    assert 'stale border-danger text-danger" id="heartbeat"' in page and "600s ago" in page


def test_chartjs_is_served_from_the_project(client):
    response = client.get("/static/vendor/chartjs/chart.umd.min.js")
    assert response.status_code == 200 and b"Chart.js v4" in response.data[:200]


def test_health_is_ok_when_the_scheduler_beats(client, activity):
    heartbeat.beat("scheduler")
    response = client.get("/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["pending"] == 0 and body["failed"] == 1
    assert body["scheduler_heartbeat_age_seconds"] < 5 and body["failing_jobs"] == []


def test_health_names_follow_up_jobs_whose_last_run_failed(client):
    heartbeat.beat("scheduler")
    now = models.utcnow()
    models.JobRun.create(name="daily_summary", last_slot=now, last_error="RuntimeError: boom")
    models.JobRun.create(name="cleanup", last_slot=now)
    response = client.get("/health")
    assert response.status_code == 200  # the scheduler and the outbox still work
    assert response.get_json()["failing_jobs"] == ["daily_summary"]


def test_health_is_503_when_the_heartbeat_is_older_than_three_intervals(make_app):
    app = make_app(SEND_INTERVAL_SECONDS="10")
    heartbeat.beat("scheduler", now=models.utcnow() - datetime.timedelta(seconds=31))
    response = app.test_client().get("/health")
    assert response.status_code == 503
    assert response.get_json()["status"] == "stale"
    assert response.get_json()["scheduler_stale_after_seconds"] == 30


@pytest.fixture
def database_down(app, monkeypatch):
    def down(*args, **kwargs):
        raise OperationalError("could not connect to server")
    monkeypatch.setattr(models.db.obj, "execute_sql", down)


def test_health_is_503_when_the_database_is_down(client, database_down):
    response = client.get("/health")
    assert response.status_code == 503
    assert response.get_json() == {"status": "down", "database": "unreachable",
                                   "error": "OperationalError"}


def test_pages_say_so_when_the_database_is_down(browser, database_down):
    response = browser.get("/leads/")
    assert response.status_code == 503
    assert "Leadgram cannot reach its database right now" in text_of(response)


def test_metrics_in_prometheus_text(browser, activity):
    heartbeat.beat("scheduler")
    browser.get("/leads/")
    body = text_of(browser.get("/metrics"))
    assert "leadgram_leads 3.0" in body
    assert 'leadgram_outbox_messages{status="sent"} 2.0' in body
    assert 'leadgram_outbox_messages{status="failed"} 1.0' in body
    assert 'leadgram_outbox_messages{status="cancelled"} 0.0' in body
    assert "leadgram_scheduler_heartbeat_age_seconds " in body
    assert ('leadgram_http_request_duration_seconds_count{endpoint="leads.index_view",'
            'method="GET",status="200"} 1.0') in body


def test_lead_counts_follow_the_deployers_day(make_app, make_user):
    app = make_app(TZ="Pacific/Kiritimati")  # UTC+14: its day starts at 10:00 UTC the day before
    local_midnight_utc = models.utcnow().replace(hour=10, minute=0, second=0, microsecond=0)
    if local_midnight_utc > models.utcnow():
        local_midnight_utc -= datetime.timedelta(days=1)
    make_user("sales")  # told of each lead, added in the panel
    for n, minutes in enumerate([-1, 1]):
        lead = leads.add_lead({"email": f"t{n}@example.com", "phone": f"+1212555{n:04d}",
                               "first_name": "F", "last_name": "L", "country": "DE"})
        Lead.update(created_at=local_midnight_utc + datetime.timedelta(minutes=minutes)).where(
            Lead.id == lead.id).execute()
    client = app.test_client()
    log_in(client)
    page = text_of(client.get("/"))
    card = page.split('id="leads-today"', 1)[1]
    assert '<div class="figure-value">1</div>' in card[:200]
    assert "Pacific/Kiritimati" in page
    assert outbox.counts_by_status()["pending"] == 2


def test_an_unexpected_error_gets_a_page_not_a_stack_trace(browser, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")
    monkeypatch.setattr("services.ops.dashboard.summary", broken)
    browser.application.config["PROPAGATE_EXCEPTIONS"] = False
    response = browser.get("/")
    assert response.status_code == 500
    assert "The panel hit an error it did not expect" in text_of(response)
    assert "boom" not in text_of(response)
