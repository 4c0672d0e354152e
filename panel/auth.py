"""Login for the one deployer account: server-side sessions for browsers, a bearer
token (METRICS_TOKEN) for Prometheus on /metrics, and one throttle on every wrong
password or token, whichever way it came."""
import re
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from services.ops import panel_login
from services.ops.panel_login import FailureThrottle, address_key, user_key

PUBLIC_ENDPOINTS = {"auth.login", "ops.health_check", "static", "admin.static"}
# Twilio's webhooks and the email unsubscribe pages (panel/__init__.py: they prove
# themselves by a signature or a signed link).
PUBLIC_BLUEPRINTS = {"twilio_hooks", "oxapay_hooks", "unsubscribe"}
TOO_MANY_PASSWORDS = "Too many wrong passwords. Wait a minute and try again."
TOO_MANY_TOKENS = ("Too many wrong passwords or tokens from this address. "
                   "Wait a minute and try again.\n")
METRICS_LOGIN = ("Log in to the panel, or send METRICS_TOKEN as a bearer token "
                 "(Authorization: Bearer <token>). HTTP Basic is not accepted.\n")
METRICS_CHALLENGE = 'Bearer realm="Leadgram metrics"'
PLAIN_TEXT = {"Content-Type": "text/plain; charset=utf-8"}
# Browsers drop tabs and line breaks anywhere in a URL, and control characters and
# spaces at either end, before they read it.
TAB_OR_LINE_BREAK = re.compile(r"[\t\n\r]")
CONTROL_OR_SPACE = "".join(map(chr, range(0x21)))

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
# One for every way of presenting a secret, so that none of them is an unthrottled oracle.
limiter = FailureThrottle()


class Deployer(UserMixin):
    """The logged-in deployer. `id` is the user name (shown, and recorded as who did
    what); the cookie holds get_id(), the token of the server-side session."""

    def __init__(self, username, session_token):
        self.id = username
        self.session_token = session_token

    def get_id(self):
        return self.session_token


@login_manager.user_loader
def load_user(token):
    """Only a live session opened under the current login: logging out or a new
    password ends it, whoever holds a copy of the cookie."""
    if g.get("database_down"):
        return None
    fingerprint = current_app.extensions["leadgram"].login_fingerprint
    username = panel_login.session_user(token, fingerprint, current_app.permanent_session_lifetime)
    return None if username is None else Deployer(username, token)


def database_down():
    """For the "database unavailable" page: Flask-Login looks the user up again for every
    template it renders, and that lookup needs the database, so this request goes on as
    a visitor's."""
    g.database_down = True


class LoginForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if current_user.is_authenticated:
        return redirect(url_for("admin.index"))
    if not form.validate_on_submit():
        return render_template("login.html", form=form), (400 if request.method == "POST" else 200)
    # Limited per address and per user name: many addresses cannot share out the guesses.
    keys = [address_key(request.remote_addr), user_key(form.username.data)]
    wait = limiter.charge(keys)
    if wait:
        return (render_template("login.html", form=form, error=TOO_MANY_PASSWORDS), 429,
                {"Retry-After": str(wait)})
    credentials = current_app.extensions["leadgram"].credentials
    if not credentials.check(form.username.data, form.password.data):
        # Never say which of the two was wrong.
        flash("Wrong user name or password.", "error")
        return render_template("login.html", form=form), 401
    limiter.refund(keys)
    _start_session(credentials.username)
    return redirect(_safe_next(request.args.get("next")))


def _start_session(username):
    session.clear()
    fingerprint = current_app.extensions["leadgram"].login_fingerprint
    token = panel_login.open_session(username, fingerprint, current_app.permanent_session_lifetime)
    login_user(Deployer(username, token))
    session.permanent = True


@bp.route("/logout", methods=["POST"])
def logout():
    panel_login.close_session(current_user.get_id())
    logout_user()
    session.clear()
    flash("You are logged out.", "success")
    return redirect(url_for("auth.login"))


def require_login():
    """before_request for the whole app: nothing but the login page, /health, static
    files, Twilio's webhooks and the unsubscribe pages is served without a login
    (Flask-Admin views included); /metrics also takes the metrics token."""
    if (request.endpoint in PUBLIC_ENDPOINTS or request.blueprint in PUBLIC_BLUEPRINTS
            or current_user.is_authenticated):
        return None
    if request.endpoint == "ops.metrics":
        return _check_metrics_token()
    if request.accept_mimetypes.best == "application/json":
        return "Login required.\n", 401, PLAIN_TEXT
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _check_metrics_token():
    """None when the request carries METRICS_TOKEN, else the refusal. A wrong token is
    charged to the address, the same budget as the login form's wrong passwords."""
    refusal = METRICS_LOGIN, 401, {**PLAIN_TEXT, "WWW-Authenticate": METRICS_CHALLENGE}
    auth = request.authorization
    if auth is None or auth.type != "bearer":
        return refusal
    keys = [address_key(request.remote_addr)]
    wait = limiter.charge(keys)
    if wait:
        return TOO_MANY_TOKENS, 429, {**PLAIN_TEXT, "Retry-After": str(wait)}
    expected = current_app.extensions["leadgram"].settings.metrics_token
    if not panel_login.metrics_token_ok(auth.token, expected):
        return refusal
    limiter.refund(keys)
    return None


def _safe_next(target):
    """Where to go after the login: `target` read as a browser would read it in the
    Location header, if that is a path on this site; else the dashboard."""
    path = TAB_OR_LINE_BREAK.sub("", target or "").strip(CONTROL_OR_SPACE)
    try:
        parts = urlsplit(path)
    except ValueError:  # "//[": not even a URL
        return url_for("admin.index")
    elsewhere = (parts.scheme or parts.netloc or not path.startswith("/") or path.startswith("//")
                 # Browsers read "\" as "/", and a header cannot carry control characters.
                 or "\\" in path or any(ord(c) < 0x20 or ord(c) == 0x7f for c in path))
    return url_for("admin.index") if elsewhere else path
