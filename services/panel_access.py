"""Who may use the admin panel: one deployer account from the environment.

The password is checked with bcrypt whether it came as ADMIN_PASSWORD (hashed
once at start) or ADMIN_PASSWORD_HASH, and a wrong user name costs the same
bcrypt work as a wrong password, so timing tells nothing.
"""
import hmac
import secrets

import bcrypt

from services.config import ConfigError

BCRYPT_MAX_BYTES = 72  # bcrypt ignores (bcrypt 5 refuses) anything longer
MIN_SECRET_KEY_LENGTH = 32
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
