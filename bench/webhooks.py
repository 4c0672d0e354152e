"""Inbound Twilio webhooks stored per second: 1,000 signed POSTs of incoming SMS to
/hooks/twilio/sms through the admin panel's WSGI app (signature check, one insert each:
panel/twilio_hooks.py), on SQLite (the target) and on Postgres when it answers.

  .venv/bin/python bench/webhooks.py [--webhooks N] [--no-postgres]

See bench/README.md.
"""
import argparse
import secrets
import sys
import time

from twilio.request_validator import RequestValidator

from common import note, print_table, say
from outbox_speed import each_backend

from models import InboundEvent  # noqa: E402
from panel import create_app  # noqa: E402
from services.core.config import load_settings  # noqa: E402

TARGET_PER_S = 200.0
WEBHOOKS, WARM_UPS = 1000, 20
PUBLIC, PATH = "https://crm.example.com", "/hooks/twilio/sms"
ACCOUNT_SID, AUTH_TOKEN = "AC" + "0" * 31 + "9", "bench-twilio-auth-token"


def make_app(url):
    settings = load_settings({
        "DATABASE_URL": url, "ADMIN_USERNAME": "bench", "ADMIN_PASSWORD": "bench",
        "SECRET_KEY": secrets.token_urlsafe(30), "TELEGRAM_BOT_TOKEN": "1:x",
        "PUBLIC_BASE_URL": PUBLIC, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_SMS_FROM": "+15005550006"})
    return create_app(settings)


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


def post(client, params, headers):
    response = client.post(PATH, data=params, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"{PATH} answered {response.status_code}: "
                           f"{response.get_data(as_text=True)[:200]}")


def bench_webhooks(count=WEBHOOKS, postgres=True):
    say(f"\n== webhooks: {count:,} signed inbound SMS through the panel's app ==")
    for backend, url in each_backend("inbound Twilio webhooks stored/s", postgres):
        bench_backend(backend, url, count)


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
