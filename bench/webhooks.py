"""Inbound Twilio webhooks stored per second: 1,000 signed POSTs of incoming SMS to
/hooks/twilio/sms through the admin panel's WSGI app (signature check, one insert each:
panel/twilio_hooks.py), on SQLite (the target) and on Postgres when it answers; then the
same over HTTP to a real `python admin.py` (waitress, 8 threads), from 8 senders at once
as Twilio delivers them.

  .venv/bin/python bench/webhooks.py [--webhooks N] [--no-postgres]

See bench/README.md.
"""
import argparse
import concurrent.futures
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

from twilio.request_validator import RequestValidator

from common import ROOT, note, print_table, say
from outbox_speed import each_backend

from models import InboundEvent  # noqa: E402
from panel import create_app  # noqa: E402
from services.core.config import load_settings  # noqa: E402

TARGET_PER_S = 200.0
WEBHOOKS, WARM_UPS = 1000, 20
PUBLIC, PATH = "https://crm.example.com", "/hooks/twilio/sms"
ACCOUNT_SID, AUTH_TOKEN = "AC" + "0" * 31 + "9", "bench-twilio-auth-token"


SENDERS = 8   # Twilio's deliveries overlap; waitress serves 8 at once


def environment(url):
    return {"DATABASE_URL": url, "ADMIN_USERNAME": "bench", "ADMIN_PASSWORD": "bench",
            "SECRET_KEY": secrets.token_urlsafe(30), "TELEGRAM_BOT_TOKEN": "1:x",
            "PUBLIC_BASE_URL": PUBLIC, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_SMS_FROM": "+15005550006"}


def make_app(url):
    return create_app(load_settings(environment(url)))


def signed_requests(count, first=0):
    """(params, headers) of `count` incoming SMS from different numbers, signed as Twilio
    signs them: made before the clock starts."""
    validator = RequestValidator(AUTH_TOKEN)
    made = []
    for n in range(first, first + count):
        params = {"MessageSid": f"SM{n:032x}", "AccountSid": ACCOUNT_SID,
                  "From": f"+1202555{n % 10_000:04d}", "To": "+15005550006",
                  "Body": f"Hello, this is client {n}: do you deliver on Saturdays?",
                  "NumMedia": "0", "NumSegments": "1", "SmsStatus": "received",
                  "ApiVersion": "2010-04-01"}
        made.append((params, {"X-Twilio-Signature":
                              validator.compute_signature(PUBLIC + PATH, params)}))
    return made


def bench_backend(backend, url, count):
    app = make_app(url)
    client = app.test_client()
    warm_ups = signed_requests(WARM_UPS, first=10**6)
    for params, headers in warm_ups:
        post(client, params, headers)
    requests = signed_requests(count)
    started = time.perf_counter()
    for params, headers in requests:
        post(client, params, headers)
    seconds = time.perf_counter() - started
    stored = InboundEvent.select().where(InboundEvent.source == "sms").count() - WARM_UPS
    if stored != count:
        raise RuntimeError(f"{stored} webhooks stored of {count}")
    rate = count / seconds
    ok = rate >= TARGET_PER_S
    say(f"{backend}: stored {count} inbound webhooks in {seconds:.2f} s: {rate:.0f}/s "
        f"(target ≥ {TARGET_PER_S:g}/s){'' if ok else '  MISSED'}")
    note("inbound Twilio webhooks stored/s", backend, f"{rate:.0f}/s", f">= {TARGET_PER_S:g}/s", ok)


def bench_http(backend, url, count):
    """The same, over HTTP to a real admin.py, SENDERS at a time."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, **environment(url), "HOST": "127.0.0.1", "PORT": str(port)}
    panel = subprocess.Popen([sys.executable, "admin.py"], cwd=ROOT, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base)
        before = InboundEvent.select().count()
        requests = signed_requests(count + WARM_UPS, first=2 * 10**6)
        with concurrent.futures.ThreadPoolExecutor(SENDERS) as senders:
            list(senders.map(lambda r: http_post(base, *r), requests[:WARM_UPS]))
            started = time.perf_counter()
            list(senders.map(lambda r: http_post(base, *r), requests[WARM_UPS:]))
            seconds = time.perf_counter() - started
    finally:
        panel.terminate()
        panel.wait(timeout=15)
    stored = InboundEvent.select().count() - before
    if stored != count + WARM_UPS:
        raise RuntimeError(f"{stored} webhooks stored of {count + WARM_UPS}")
    rate = count / seconds
    ok = rate >= TARGET_PER_S
    say(f"{backend}: over HTTP, {SENDERS} at once: {count} stored in {seconds:.2f} s: "
        f"{rate:.0f}/s (target ≥ {TARGET_PER_S:g}/s){'' if ok else '  MISSED'}")
    note("inbound webhooks stored/s, HTTP to admin.py", backend, f"{rate:.0f}/s",
         f">= {TARGET_PER_S:g}/s", ok)


def _wait_for(base, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/login", timeout=2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("admin.py did not start")


def http_post(base, params, headers):
    request = urllib.request.Request(base + PATH, urllib.parse.urlencode(params).encode(),
                                     headers, method="POST")
    with urllib.request.urlopen(request, timeout=15) as response:
        if response.status != 200:
            raise RuntimeError(f"{PATH} answered {response.status}")


def post(client, params, headers):
    response = client.post(PATH, data=params, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"{PATH} answered {response.status_code}: "
                           f"{response.get_data(as_text=True)[:200]}")


def bench_webhooks(count=WEBHOOKS, postgres=True):
    say(f"\n== webhooks: {count:,} signed inbound SMS through the panel's app ==")
    for backend, url in each_backend("inbound Twilio webhooks stored/s", postgres):
        bench_backend(backend, url, count)
        bench_http(backend, url, count)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Inbound Twilio webhooks stored per second "
                                                 "(bench/README.md).")
    parser.add_argument("--webhooks", type=int, default=WEBHOOKS,
                        help=f"signed POSTs to time (default {WEBHOOKS:,})")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    if args.webhooks < 100:
        parser.error("--webhooks must be at least 100")
    bench_webhooks(args.webhooks, not args.no_postgres)
    print_table()
    return 0


if __name__ == "__main__":
    sys.exit(main())
