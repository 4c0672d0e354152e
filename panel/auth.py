"""Login for the one deployer account: sessions for browsers, HTTP Basic for
scrapers of /metrics, and a throttle on wrong passwords."""
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

FAILED_LOGINS_PER_MINUTE = "5 per minute"
PUBLIC_ENDPOINTS = {"auth.login", "ops.health_check", "static", "admin.static"}

bp = Blueprint("auth", __name__)
login_manager = LoginManager()
limiter = Limiter(get_remote_address, storage_uri="memory://")


class Deployer(UserMixin):
    def __init__(self, username):
        self.id = username


@login_manager.user_loader
def load_user(username):
    credentials = current_app.extensions["leadgram"].credentials
    return Deployer(username) if username == credentials.username else None


class LoginForm(FlaskForm):
    username = StringField("User name", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


def failed_login(response):
    """Only wrong passwords count against the throttle, not successful logins."""
    return response.status_code == 401


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(FAILED_LOGINS_PER_MINUTE, methods=["POST"], deduct_when=failed_login,
               error_message="Too many wrong passwords. Wait a minute and try again.")
def login():
    form = LoginForm()
    if current_user.is_authenticated:
        return redirect(url_for("admin.index"))
    if form.validate_on_submit():
        credentials = current_app.extensions["leadgram"].credentials
        if credentials.check(form.username.data, form.password.data):
            session.clear()
            login_user(Deployer(credentials.username))
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")))
        # Never say which of the two was wrong.
        flash("Wrong user name or password.", "error")
        return render_template("login.html", form=form), 401
    return render_template("login.html", form=form), (400 if request.method == "POST" else 200)


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    session.clear()
    flash("You are logged out.", "success")
    return redirect(url_for("auth.login"))


def require_login():
    """before_request for the whole app: nothing but the login page, /health and
    static files is served without a login (Flask-Admin views included)."""
    if request.endpoint in PUBLIC_ENDPOINTS or current_user.is_authenticated:
        return None
    if request.endpoint == "ops.metrics" and _basic_auth_ok():
        return None
    if request.endpoint == "ops.metrics" or request.accept_mimetypes.best == "application/json":
        return ("Login required.\n", 401,
                {"WWW-Authenticate": 'Basic realm="Leadgram metrics"'})
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _basic_auth_ok():
    auth = request.authorization
    if auth is None or auth.type != "basic":
        return False
    return current_app.extensions["leadgram"].credentials.check(auth.username, auth.password)


def _safe_next(target):
    """Only paths on this site, so the login can't bounce people elsewhere."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return url_for("admin.index")
