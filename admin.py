"""The admin panel process: Flask + Flask-Admin, served by waitress.

    python admin.py                  serve on PORT (default 8000)
    python admin.py --check-config   say whether the panel could start, and why not
    python admin.py hash-password    print a bcrypt hash for ADMIN_PASSWORD_HASH
    python admin.py init-env         create .env from .env.example with a random
                                     SECRET_KEY, admin password and DATA_ENCRYPTION_KEY
                                     (used by `make run`)
    python admin.py migrate          bring the database (DATABASE_URL) up to date
    python admin.py port             print the port the panel listens on (PORT), for
                                     `make start`, which hands it to honcho

The app itself is `panel.create_app()`, the app factory (panel/__init__.py); any WSGI
server can serve it, and behind a reverse proxy that server must apply the proxy's
X-Forwarded-* headers, as `python admin.py` has waitress do.
"""
import getpass
import logging
import secrets
import sys

from cryptography.fernet import Fernet

from models import DatabaseUnavailable, bind
from panel import create_app
from services.core.config import PROJECT_ROOT, ConfigError, load_settings
from services.ops.panel_login import hash_password

log = logging.getLogger("leadgram.admin")
# The headers waitress takes from TRUSTED_PROXY (and removes from anyone else's requests).
PROXY_HEADERS = {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}


def _hash_password_command():
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("The two passwords differ.", file=sys.stderr)
            return 2
    else:
        password = sys.stdin.readline().rstrip("\n")
    try:
        print(hash_password(password))
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print("Put it in .env as ADMIN_PASSWORD_HASH=<the line above> (and remove ADMIN_PASSWORD).",
          file=sys.stderr)
    return 0


def _init_env_command():
    target, example = PROJECT_ROOT / ".env", PROJECT_ROOT / ".env.example"
    if target.exists():
        print(f"{target} already exists; leaving it alone.", file=sys.stderr)
        return 0
    password = secrets.token_urlsafe(12)
    generated = {"SECRET_KEY": secrets.token_urlsafe(48), "ADMIN_PASSWORD": password,
                 "DATA_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    lines = [f"{line.split('=', 1)[0]}={generated[line.split('=', 1)[0]]}"
             if line.split("=", 1)[0] in generated else line
             for line in example.read_text().splitlines()]
    target.touch(mode=0o600)
    target.write_text("\n".join(lines) + "\n")
    print(f"Created {target}. Admin panel login: admin / {password}")
    return 0


def _migrate_command():
    """Every process also migrates at start; this is for deploy scripts and `make run`."""
    try:
        settings = load_settings()
        bind(settings.database_url, settings.data_encryption_key)
    except (ConfigError, ValueError, DatabaseUnavailable) as exc:
        print(f"Cannot migrate: {exc}", file=sys.stderr)
        return 2
    print("database is up to date:", settings.database_url.split("@")[-1])
    return 0


def _port_command():
    """honcho gives the first Procfile process PORT itself (5000 unless told): told this,
    it gives the panel the port the settings say, environment over .env."""
    try:
        print(load_settings().port)
    except ConfigError as exc:
        print(f"No port: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s admin %(levelname)s %(message)s")
    args = argv[1:]
    if args == ["hash-password"]:
        return _hash_password_command()
    if args == ["init-env"]:
        return _init_env_command()
    if args == ["migrate"]:
        return _migrate_command()
    if args == ["port"]:
        return _port_command()
    if args not in ([], ["--check-config"]):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        settings = load_settings()
        app = create_app(settings)
    except (ConfigError, DatabaseUnavailable, ValueError) as exc:
        print(f"Leadgram admin panel cannot start:\n{exc}", file=sys.stderr)
        return 2
    if args:
        print("admin panel settings are fine")
        return 0
    import waitress
    log.info("admin panel on http://%s:%d/", settings.host, settings.port)
    if settings.behind_https_proxy:
        log.info("behind an HTTPS proxy: X-Forwarded-* count from %s only", settings.trusted_proxy)
    waitress.serve(app, host=settings.host, port=settings.port, threads=8, ident="Leadgram",
                   **_proxy_options(settings))
    return 0


def _proxy_options(settings):
    """Behind the HTTPS proxy, waitress itself applies the proxy's X-Forwarded-For
    (the client's address, which the login throttle counts), -Proto (https: Secure
    cookies, Flask-WTF's Referer check) and -Host, and only when TRUSTED_PROXY sent
    them; it removes them from anyone else's requests. The app has no ProxyFix of its
    own: one layer, so the headers are never applied twice."""
    if not settings.behind_https_proxy:
        return {}
    return {"trusted_proxy": settings.trusted_proxy, "trusted_proxy_count": 1,
            "trusted_proxy_headers": PROXY_HEADERS, "clear_untrusted_proxy_headers": True}


if __name__ == "__main__":
    sys.exit(main(sys.argv))
