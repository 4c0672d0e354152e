"""`python admin.py` behind an HTTPS reverse proxy (BEHIND_HTTPS_PROXY=true), through the
real waitress: the proxy's X-Forwarded-For picks the login throttle's bucket and
X-Forwarded-Proto makes the request https, but only when they come from TRUSTED_PROXY
(issue 9). The tests play the proxy themselves, from 127.0.0.1."""
import os
import re
import subprocess
import sys
import time

import bcrypt
import pytest
import requests

from tests.conftest import ROOT
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.e2e

USERNAME, PASSWORD = "admin", "proxy-test-password"
PASSWORD_HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()  # cheap: many tries
PUBLIC_HOST = "panel.example"


@pytest.fixture
def start_panel(sqlite_url, tmp_path):
    """Starts `python admin.py` behind the given TRUSTED_PROXY; returns its base URL."""
    started = []

    def start(trusted_proxy):
        port = free_port()
        # Nothing from the developer's .env: every panel setting is given here.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ADMIN_", "LEADGRAM_"))}
        env.update(DATABASE_URL=sqlite_url, ADMIN_USERNAME=USERNAME, ADMIN_PASSWORD="",
                   ADMIN_PASSWORD_HASH=PASSWORD_HASH, SECRET_KEY="proxy-" + "s3cr3t-key-" * 4,
                   METRICS_TOKEN="", HOST="127.0.0.1", PORT=str(port), BEHIND_HTTPS_PROXY="true",
                   TRUSTED_PROXY=trusted_proxy, PYTHONUNBUFFERED="1")
        log = open(tmp_path / f"admin.{len(started)}.log", "w")
        process = subprocess.Popen([sys.executable, "admin.py"], cwd=ROOT, env=env, stdout=log,
                                   stderr=subprocess.STDOUT)
        started.append((process, log.name))
        base = f"http://127.0.0.1:{port}"
        wait_until_listening(base, process)
        return base
    yield start
    for process, log_path in started:
        process.terminate()
        process.wait(timeout=10)
        print(open(log_path).read()[-3000:])  # pytest shows it when the test failed


def wait_until_listening(base, process, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"admin.py exited with {process.returncode}"
        try:
            requests.get(f"{base}/login", timeout=2)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"admin.py not listening within {timeout}s")


class LoginForm:
    """The login form as a browser holds it: the session cookie and the form's CSRF token.
    The cookie is sent by hand: it is Secure, and the tests talk plain http to waitress."""

    def __init__(self, base, **headers):
        self.base = base
        page = requests.get(f"{base}/login", headers=headers, timeout=5)
        self.set_cookie = page.headers["Set-Cookie"]
        self.cookie = self.set_cookie.split(";", 1)[0]
        self.token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                               page.text).group(1)

    def submit(self, username=USERNAME, password="wrong", **headers):
        return requests.post(f"{self.base}/login", headers={"Cookie": self.cookie, **headers},
                             data={"csrf_token": self.token, "username": username,
                                   "password": password},
                             allow_redirects=False, timeout=5)


def test_each_forwarded_client_address_has_its_own_throttle(start_panel):
    form = LoginForm(start_panel(trusted_proxy="127.0.0.1"))
    # A different user name each time, so that only the per-address budget could run out.
    codes = [form.submit(username=f"guess{n}", **{"X-Forwarded-For": f"203.0.113.{n}"}).status_code
             for n in range(100)]
    assert codes == [401] * 100
    # The address the proxy appended is the one counted, whatever the client claimed before it.
    codes = [form.submit(username=f"again{n}",
                         **{"X-Forwarded-For": f"10.{n}.0.1, 198.51.100.7"}).status_code
             for n in range(6)]
    assert codes == [401] * 5 + [429]
    assert form.submit(password=PASSWORD, **{"X-Forwarded-For": "198.51.100.8"}).status_code == 302


def test_a_forwarded_https_request_is_treated_as_https(start_panel):
    base = start_panel(trusted_proxy="127.0.0.1")
    proxied = {"X-Forwarded-For": "203.0.113.50", "X-Forwarded-Proto": "https",
               "X-Forwarded-Host": PUBLIC_HOST}
    form = LoginForm(base, **proxied)
    assert "Secure" in form.set_cookie and "HttpOnly" in form.set_cookie
    # Flask-WTF checks the Referer of https form posts only: this refusal shows the request
    # counted as https, and the accepted post below that the forwarded host counted too.
    refused = form.submit(password=PASSWORD, **proxied)
    assert refused.status_code == 400
    assert "did not come from this panel" in refused.text
    elsewhere = form.submit(password=PASSWORD, Referer="https://evil.example/login", **proxied)
    assert elsewhere.status_code == 400
    accepted = form.submit(password=PASSWORD, Referer=f"https://{PUBLIC_HOST}/login", **proxied)
    assert accepted.status_code == 302 and accepted.headers["Location"] == "/"


def test_forwarded_headers_from_anyone_but_the_trusted_proxy_are_ignored(start_panel):
    form = LoginForm(start_panel(trusted_proxy="192.0.2.1"))
    # A claimed https is plain http: no Referer check.
    assert form.submit(password=PASSWORD, **{"X-Forwarded-Proto": "https"}).status_code == 302
    # Every claimed address is counted as the real peer, 127.0.0.1.
    codes = [form.submit(username=f"guess{n}", **{"X-Forwarded-For": f"203.0.113.{n}"}).status_code
             for n in range(6)]
    assert codes == [401] * 5 + [429]
