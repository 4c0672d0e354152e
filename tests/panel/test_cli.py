"""`python admin.py` as a deployer runs it: clear refusals, and the hash-password helper."""
import os
import subprocess
import sys

import bcrypt

from tests.conftest import ROOT

SAFE_KEY = "k" + "0123456789abcdef" * 3


def run(args, env, stdin=None):
    # A fresh environment without .env's values leaking in from the developer's checkout.
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("ADMIN_", "SECRET_KEY", "LEADGRAM_ENV", "PORT"))}
    return subprocess.run([sys.executable, "admin.py", *args], cwd=ROOT, input=stdin,
                          env={**base, **env}, capture_output=True, text=True, timeout=60)


def test_refuses_to_start_without_a_login_and_says_what_to_set(sqlite_url, tmp_path):
    result = run([], {"DATABASE_URL": sqlite_url, "SECRET_KEY": SAFE_KEY, "ADMIN_USERNAME": "",
                      "ADMIN_PASSWORD": "", "ADMIN_PASSWORD_HASH": ""})
    assert result.returncode == 2
    assert "ADMIN_USERNAME and either ADMIN_PASSWORD" in result.stderr
    assert "hash-password" in result.stderr


def test_refuses_a_weak_secret_key(sqlite_url):
    result = run(["--check-config"], {"DATABASE_URL": sqlite_url, "ADMIN_USERNAME": "a",
                                      "ADMIN_PASSWORD": "b", "SECRET_KEY": "secret"})
    assert result.returncode == 2 and "SECRET_KEY is too weak" in result.stderr


def test_check_config_passes_with_a_safe_setup(sqlite_url):
    result = run(["--check-config"], {"DATABASE_URL": sqlite_url, "ADMIN_USERNAME": "a",
                                      "ADMIN_PASSWORD": "b", "SECRET_KEY": SAFE_KEY})
    assert result.returncode == 0, result.stderr


def test_a_weak_metrics_token_is_refused(sqlite_url):
    result = run(["--check-config"], {"DATABASE_URL": sqlite_url, "ADMIN_USERNAME": "a",
                                      "ADMIN_PASSWORD": "b", "SECRET_KEY": SAFE_KEY,
                                      "METRICS_TOKEN": "prometheus"})
    assert result.returncode == 2 and "METRICS_TOKEN is too weak" in result.stderr
    assert "secrets.token_urlsafe" in result.stderr


def test_a_trusted_proxy_must_be_an_ip_address(sqlite_url):
    result = run(["--check-config"], {"DATABASE_URL": sqlite_url, "ADMIN_USERNAME": "a",
                                      "ADMIN_PASSWORD": "b", "SECRET_KEY": SAFE_KEY,
                                      "BEHIND_HTTPS_PROXY": "true", "TRUSTED_PROXY": "localhost"})
    assert result.returncode == 2
    assert "TRUSTED_PROXY must be an IP address, like 127.0.0.1" in result.stderr


def test_a_bad_port_is_refused(sqlite_url):
    result = run([], {"DATABASE_URL": sqlite_url, "ADMIN_USERNAME": "a", "ADMIN_PASSWORD": "b",
                      "SECRET_KEY": SAFE_KEY, "PORT": "70000"})
    assert result.returncode == 2 and "PORT must be at most 65535" in result.stderr


def test_hash_password_prints_a_bcrypt_hash():
    result = run(["hash-password"], {}, stdin="hunter2 is long enough\n")
    assert result.returncode == 0
    hashed = result.stdout.strip()
    assert bcrypt.checkpw(b"hunter2 is long enough", hashed.encode())
    assert "ADMIN_PASSWORD_HASH" in result.stderr


def test_hash_password_refuses_what_bcrypt_cannot_use():
    assert "empty" in run(["hash-password"], {}, stdin="\n").stderr
    too_long = run(["hash-password"], {}, stdin="x" * 73 + "\n")
    assert too_long.returncode == 2 and "longer than 72 bytes" in too_long.stderr


def test_unknown_arguments_print_the_usage():
    result = run(["--frobnicate"], {})
    assert result.returncode == 2 and "python admin.py hash-password" in result.stderr


def test_port_prints_the_port_the_panel_listens_on():
    """`make start` hands it to honcho, which gives the panel PORT itself."""
    assert run(["port"], {"PORT": "8123"}).stdout == "8123\n"
    refused = run(["port"], {"PORT": "http"})
    assert refused.returncode == 2 and "PORT must be a whole number" in refused.stderr
