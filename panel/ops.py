"""/health for monitors (no login) and /metrics for Prometheus (METRICS_TOKEN)."""
import time

from flask import Blueprint, Response, current_app, g, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from models import Lead
from services.delivery import outbox
from services.ops import health, heartbeat

bp = Blueprint("ops", __name__)


@bp.route("/health")
def health_check():
    healthy, details = health.report(current_app.extensions["leadgram"].settings)
    return jsonify(details), (200 if healthy else 503)


@bp.route("/metrics")
def metrics():
    """For a logged-in deployer or METRICS_TOKEN: panel/auth.py checks which."""
    registry = current_app.extensions["leadgram"].metrics
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class DatabaseCollector:
    """Figures read from the database at scrape time, so every process's work counts."""

    def collect(self):
        leads = GaugeMetricFamily("leadgram_leads", "Leads created and not deleted")
        leads.add_metric([], Lead.select().count())
        yield leads
        messages = GaugeMetricFamily("leadgram_outbox_messages",
                                     "Outbox messages by status (sent and failed included)",
                                     labels=["status"])
        for status, count in outbox.counts_by_status().items():
            messages.add_metric([status], count)
        yield messages
        seconds = heartbeat.age_seconds(heartbeat.SCHEDULER)
        age = GaugeMetricFamily("leadgram_scheduler_heartbeat_age_seconds",
                                "Seconds since the scheduler last beat (-1: never)")
        age.add_metric([], -1 if seconds is None else seconds)
        yield age


def install_metrics(app):
    """A registry per app (tests build many apps) with the request-latency histogram."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector())
    latency = Histogram("leadgram_http_request_duration_seconds", "Admin panel request latency",
                        ["method", "endpoint", "status"], registry=registry)

    @app.before_request
    def start_timer():
        g.request_started = time.perf_counter()

    @app.after_request
    def observe(response):
        started = g.pop("request_started", None)
        if started is not None:
            latency.labels(request.method, request.endpoint or "none",
                           str(response.status_code)).observe(time.perf_counter() - started)
        return response

    return registry
