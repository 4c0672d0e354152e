"""The admin panel's Flask and Flask-Admin adapters, and `create_app`, the app factory
(as in flaskr) that assembles them; `python admin.py` serves it with waitress.

Views turn HTTP requests into calls on `services/`; they hold no business rules.
What several views share lives in panel/base.py; views do not import each other.
Any WSGI server can serve `create_app()`; behind a reverse proxy that server must apply
the proxy's X-Forwarded-* headers, as `python admin.py` has waitress do.
"""
import datetime
import logging
from dataclasses import dataclass

from flask import Flask, render_template
from flask_admin import Admin
from flask_admin.menu import MenuLink
from flask_admin.theme import Bootstrap4Theme
from flask_wtf.csrf import CSRFError, CSRFProtect
from peewee import OperationalError
from prometheus_client import CollectorRegistry

from models import (
    Activity,
    AuditEntry,
    FollowUpRule,
    Lead,
    MessageTemplate,
    Order,
    OutboxMessage,
    Package,
    Payment,
    RuleAction,
    User,
    bind,
    drop_connection,
)
from panel import auth, ops, oxapay_hooks, twilio_hooks, unsubscribe_views
from panel.activity_views import ActivityView
from panel.audit_views import AuditView
from panel.base import local_time
from panel.board_views import BoardView
from panel.broadcast_views import BroadcastView
from panel.channel_views import ChannelView
from panel.conversation_views import ConversationView
from panel.customer_views import CustomerView
from panel.dashboard_views import DashboardView
from panel.lead_views import LeadView
from panel.order_views import OrderView
from panel.outbox_views import OutboxView
from panel.package_views import PackageView
from panel.payment_views import PaymentView
from panel.pipeline_views import LeadPipelineView, PipelineView
from panel.rule_views import RuleActionView, RuleView
from panel.team_views import MemberView
from panel.template_views import TemplateView
from services import subscriptions
from services.core import policy
from services.core.config import load_settings
from services.crm import contacts
from services.crm.validation import display_phone
from services.ops.panel_login import (
    Credentials,
    check_metrics_token,
    login_fingerprint,
    secret_key,
)

log = logging.getLogger("leadgram.admin")
SESSION_HOURS = 12
SECURITY_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # Everything is served from here: no CDN, no third-party scripts.
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; "
                                "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; "
                                "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
}


@dataclass
class Panel:
    """What the views need from the app, kept in app.extensions["leadgram"]."""
    settings: object
    credentials: Credentials
    login_fingerprint: str   # sessions opened under another login are refused
    metrics: CollectorRegistry = None


def create_app(settings=None):
    """The panel on the database named by the settings (default: the environment).

    Raises ConfigError (with what to set) or DatabaseUnavailable.
    """
    settings = settings or load_settings()
    credentials = Credentials.from_settings(settings)
    key = secret_key(settings)
    check_metrics_token(settings)
    panel = Panel(settings, credentials, login_fingerprint(settings, key))
    app = Flask(__name__, template_folder="templates", static_folder="static")
    app.config.update(
        SECRET_KEY=key,
        SESSION_COOKIE_NAME="leadgram_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.behind_https_proxy,
        PERMANENT_SESSION_LIFETIME=datetime.timedelta(hours=SESSION_HOURS),
        WTF_CSRF_TIME_LIMIT=SESSION_HOURS * 3600,  # a form open all day still submits
        MAX_CONTENT_LENGTH=1024 * 1024,
    )
    bind(settings.database_url, settings.data_encryption_key)
    policy.configure(settings)  # transfer gate, stale days, TZ: the same in every process
    subscriptions.register()
    app.extensions["leadgram"] = panel
    app.add_template_filter(local_time)
    app.add_template_filter(display_phone, "phone")   # {{ lead.phone|phone }}
    app.add_template_filter(contacts.shown, "contact")

    csrf = CSRFProtect(app)
    auth.login_manager.init_app(app)
    app.register_blueprint(auth.bp)
    app.register_blueprint(ops.bp)
    # Called by Twilio, OxaPay and clients' mail programs: each request proves itself (a
    # signature, a signed unsubscribe link) instead of a login and a CSRF token.
    for outside in (twilio_hooks.bp, oxapay_hooks.bp, unsubscribe_views.bp):
        app.register_blueprint(outside)
        csrf.exempt(outside)
    app.before_request(auth.require_login)
    panel.metrics = ops.install_metrics(app)
    _install_admin(app)
    _install_error_pages(app)
    return app


def _install_admin(app):
    admin = Admin(app, name="Leadgram", url="/",
                  theme=Bootstrap4Theme(base_template="panel_master.html", fluid=True),
                  index_view=DashboardView(name="Dashboard", url="/"))
    admin.add_view(LeadView(Lead, name="Leads", endpoint="leads"))
    admin.add_view(BoardView(name="Board", endpoint="board", url="/board"))
    admin.add_view(ConversationView(name="Conversations", endpoint="conversations",
                                    url="/conversations"))
    admin.add_view(LeadPipelineView(name="Lead pipeline", endpoint="lead_pipeline", url="/lead"))
    admin.add_view(PipelineView(name="Pipeline", endpoint="pipeline", url="/pipeline"))
    admin.add_view(ActivityView(Activity, name="Activities", endpoint="activities",
                                category="Follow-ups"))
    admin.add_view(RuleView(FollowUpRule, name="Rules", endpoint="rules", category="Follow-ups"))
    admin.add_view(RuleActionView(RuleAction, name="Automation log", endpoint="automation",
                                  category="Follow-ups"))
    admin.add_view(MemberView(User, name="Team & users", endpoint="members"))
    admin.add_view(BroadcastView(name="Broadcasts", endpoint="broadcast", url="/broadcast"))
    admin.add_view(TemplateView(MessageTemplate, name="Templates", endpoint="templates"))
    admin.add_view(OutboxView(OutboxMessage, name="Outbox", endpoint="outbox"))
    admin.add_view(ChannelView(name="Channels", endpoint="channels", url="/channels"))
    admin.add_view(AuditView(AuditEntry, name="Audit log", endpoint="audit"))
    if policy.current().shop:  # SHOP, as create_app configured the policy: no shop, no pages
        admin.add_view(OrderView(Order, name="Orders", endpoint="orders", category="Shop"))
        admin.add_view(CustomerView(Lead, name="Customers", endpoint="customers", category="Shop"))
        admin.add_view(PackageView(Package, name="Packages", endpoint="packages", category="Shop"))
        admin.add_view(PaymentView(Payment, name="Payments", endpoint="payments", category="Shop"))
        admin.add_link(MenuLink(name="Reconciliation", endpoint="payments.reconciliation_view",
                                category="Shop"))


def _install_error_pages(app):
    @app.errorhandler(CSRFError)
    def csrf_refused(exc):
        return render_template("error.html", title="Form expired", message=(
            "This form expired or did not come from this panel. Go back, reload the page "
            "and try again.")), 400

    @app.errorhandler(OperationalError)
    def database_down(exc):
        log.error("database error: %s", exc)
        drop_connection()
        auth.database_down()
        return render_template("error.html", title="Database unavailable", message=(
            "Leadgram cannot reach its database right now. Nothing was changed; "
            "try again in a moment.")), 503

    @app.errorhandler(500)
    def server_error(exc):
        return render_template("error.html", title="Something went wrong", message=(
            "The panel hit an error it did not expect; the details are in its log. "
            "Try again, and if it keeps happening, report what you did.")), 500

    @app.teardown_request
    def release_connection(exc):
        if exc is not None:
            drop_connection()

    @app.after_request
    def security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
