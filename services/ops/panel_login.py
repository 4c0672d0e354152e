"""Who may use the admin panel: one deployer account from the environment.

The password is checked with bcrypt whether it came as ADMIN_PASSWORD (hashed
once at start) or ADMIN_PASSWORD_HASH, and a wrong user name costs the same
bcrypt work as a wrong password, so timing tells nothing. Wrong passwords and
metrics tokens are throttled (FailureThrottle), and logins are server-side
sessions, so logging out or a new password ends them.
"""
import datetime
import hashlib
import hmac
import ipaddress
import math
import secrets
import threading
import time
from collections import deque

import bcrypt

from models import PanelSession, db, utcnow
from services.core import events
from services.core.actors import Actor
from services.core.config import ConfigError

BCRYPT_MAX_BYTES = 72  # bcrypt ignores (bcrypt 5 refuses) anything longer
MIN_SECRET_KEY_LENGTH = 32
FAILURES_ALLOWED, FAILURE_WINDOW_SECONDS = 5, 60
# A session's last use is written at most this often, not on every request.
SESSION_TOUCH_INTERVAL = datetime.timedelta(minutes=1)
PLACEHOLDER_SECRETS = {"change-me", "changeme", "secret", "dev", "development", "please-change-me"}
LOGIN_HELP = (
    "The admin panel needs a login. Set ADMIN_USERNAME and either ADMIN_PASSWORD or\n"
    "ADMIN_PASSWORD_HASH (make one with `python admin.py hash-password`) in .env."
)


def hash_password(password):
    if not password:
        raise ValueError("The password is empty.")
    if len(password.encode()) > BCRYPT_MAX_BYTES:
        raise ValueError(f"The password is longer than {BCRYPT_MAX_BYTES} bytes, "
                         "which bcrypt cannot use; choose a shorter one.")
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode()


class Credentials:
    def __init__(self, username, password_hash):
        self.username = username
        self._hash = password_hash.encode()

    @classmethod
    def from_settings(cls, settings):
        """The deployer's login, or ConfigError saying what to set."""
        if not settings.admin_username or not (settings.admin_password
                                               or settings.admin_password_hash):
            raise ConfigError(LOGIN_HELP)
        if settings.admin_password_hash:
            try:
                bcrypt.checkpw(b"probe", settings.admin_password_hash.encode())
            except ValueError:
                raise ConfigError("ADMIN_PASSWORD_HASH is not a bcrypt hash; make one with "
                                  "`python admin.py hash-password`.") from None
            return cls(settings.admin_username, settings.admin_password_hash)
        try:
            return cls(settings.admin_username, hash_password(settings.admin_password))
        except ValueError as exc:
            raise ConfigError(f"ADMIN_PASSWORD: {exc}") from None

    def check(self, username, password):
        password = (password or "").encode()
        user_ok = hmac.compare_digest((username or "").encode(), self.username.encode())
        if len(password) > BCRYPT_MAX_BYTES:
            password = b""  # still spend the bcrypt time below
        password_ok = bcrypt.checkpw(password, self._hash)
        return user_ok and password_ok


def secret_key(settings):
    """SECRET_KEY signs sessions; a missing or guessable one is refused unless
    LEADGRAM_ENV=development, where a random key lasts until restart."""
    key = settings.secret_key
    weak = (len(key) < MIN_SECRET_KEY_LENGTH or key.strip().lower() in PLACEHOLDER_SECRETS
            or len(set(key)) < 8)
    if not weak:
        return key
    if settings.development:
        return secrets.token_urlsafe(48)
    what = "is not set" if not key else f"is too weak (needs {MIN_SECRET_KEY_LENGTH}+ random characters)"
    raise ConfigError(
        f"SECRET_KEY {what}. Generate one with\n"
        "  python -c \"import secrets; print(secrets.token_urlsafe(48))\"\n"
        "and put it in .env as SECRET_KEY=... (LEADGRAM_ENV=development skips this check).")


def check_metrics_token(settings):
    """METRICS_TOKEN is optional (without it only a logged-in deployer reads /metrics),
    but a guessable one is refused like a weak SECRET_KEY."""
    token = settings.metrics_token
    if token and (len(token) < MIN_SECRET_KEY_LENGTH or len(set(token)) < 8):
        raise ConfigError(
            f"METRICS_TOKEN is too weak (needs {MIN_SECRET_KEY_LENGTH}+ random characters). "
            "Generate one with\n"
            "  python -c \"import secrets; print(secrets.token_urlsafe(32))\"\n"
            "and put it in .env as METRICS_TOKEN=... (or leave it empty: then only a "
            "logged-in deployer can read /metrics).")


def metrics_token_ok(given, expected):
    """In constant time, so the answer's timing tells nothing about the token."""
    return bool(expected) and hmac.compare_digest((given or "").encode(), expected.encode())


# --- Throttling wrong passwords and tokens ------------------------------------------

class FailureThrottle:
    """Wrong secrets (passwords, the metrics token) counted per key over a sliding window:
    a key with `limit` of them in the last `window` seconds waits. Kept in the panel
    process's memory, behind a lock, because waitress answers from several threads.

    A try is charged before its secret is checked and refunded when the secret was
    right, so a burst of parallel guesses cannot all slip in before the first failure
    is counted.
    """

    def __init__(self, limit=FAILURES_ALLOWED, window=FAILURE_WINDOW_SECONDS, clock=time.monotonic):
        self.limit, self.window, self._clock = limit, window, clock
        self._charges = {}  # key -> deque of charge times, oldest first
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def charge(self, keys):
        """Count one try against every key and return 0; or, when any key has used up
        its tries, count nothing and return the seconds until it may try again."""
        with self._lock:
            now = self._clock()
            self._sweep(now)
            wait = max((self._wait(key, now) for key in keys), default=0)
            if wait == 0:
                for key in keys:
                    self._charges.setdefault(key, deque()).append(now)
            return wait

    def refund(self, keys):
        """Take back a try's charge: its secret was right."""
        with self._lock:
            for key in keys:
                charges = self._charges.get(key)
                if charges:
                    charges.pop()

    def reset(self):
        with self._lock:
            self._charges.clear()

    def _wait(self, key, now):
        charges = self._charges.get(key, ())
        while charges and charges[0] <= now - self.window:
            charges.popleft()
        if len(charges) < self.limit:
            return 0
        return math.ceil(charges[-self.limit] + self.window - now)

    def _sweep(self, now):
        """Forget keys with no recent charge, once a window, so that guessing with
        ever new user names cannot fill the memory."""
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.window
        for key in list(self._charges):
            charges = self._charges[key]
            while charges and charges[0] <= now - self.window:
                charges.popleft()
            if not charges:
                del self._charges[key]


def address_key(address):
    """The throttle's key for a client address. One IPv6 user usually holds a whole /64,
    so that counts as one address; IPv4 addresses seen as IPv6 (::ffff:a.b.c.d, on a
    dual-stack socket) count as themselves."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return f"address:{address}"
    if ip.version == 6 and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.version == 6:
        return f"address:{ipaddress.ip_network((ip, 64), strict=False)}"
    return f"address:{ip}"


def user_key(username):
    """The throttle's key for a typed user name: hashed, so a huge one costs no memory."""
    return "user:" + hashlib.sha256((username or "").encode()).hexdigest()


# --- Server-side sessions -------------------------------------------------------------

def login_fingerprint(settings, key):
    """Names the configured login without revealing it. Sessions opened under another
    login are refused, so a new password (and a restart) ends every session.

    Taken from the configured values, not Credentials' hash: a plain ADMIN_PASSWORD gets
    a fresh salt at every start, and a restart must not log anyone out. Keyed with
    SECRET_KEY, so the stored value is no help in guessing the password.
    """
    configured = settings.admin_password_hash or settings.admin_password
    login = f"{settings.admin_username}\0{configured}".encode()
    return hmac.new(key.encode(), login, hashlib.sha256).hexdigest()


def open_session(username, fingerprint, lifetime, now=None):
    """A new session; returns the token for the signed cookie. Sessions that expired or
    belong to an old login are deleted on the way, as nobody can use them any more."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    with db.atomic():
        PanelSession.delete().where((PanelSession.expires_at <= now)
                                    | (PanelSession.fingerprint != fingerprint)).execute()
        PanelSession.create(id=token, username=username, fingerprint=fingerprint, created_at=now,
                            last_seen_at=now, expires_at=now + lifetime)
        events.emit("panel.logged_in", Actor.panel(username), "panel_session", None,
                    {"expires_at": (None, now + lifetime)}, now=now)
    return token


def session_user(token, fingerprint, lifetime, now=None):
    """The user name of the live session `token` opened under this login, or None.
    Using a session keeps it alive for another `lifetime`, as the cookie does."""
    now = now or utcnow()
    row = PanelSession.get_or_none((PanelSession.id == token)
                                   & (PanelSession.fingerprint == fingerprint)
                                   & (PanelSession.expires_at > now))
    if row is None:
        return None
    if now - row.last_seen_at >= SESSION_TOUCH_INTERVAL:
        (PanelSession.update(last_seen_at=now, expires_at=now + lifetime)
         .where(PanelSession.id == token).execute())
    return row.username


def close_session(token):
    with db.atomic():
        row = PanelSession.get_or_none(PanelSession.id == token)
        if row is not None:
            row.delete_instance()
            events.emit("panel.logged_out", Actor.panel(row.username), "panel_session", None)
