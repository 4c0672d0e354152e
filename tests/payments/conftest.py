"""Top-up payments (services/payments, panel/oxapay_hooks.py): the fake OxaPay over real
HTTP, the webhook blueprint in a bare Flask app (test client, or served on loopback for
the fake's webhooks), settings with OxaPay on, customers with wallets, and OxaPay's
webhook bodies signed as it signs them. On SQLite and Postgres (any_db)."""
import dataclasses
import datetime
import json
from decimal import Decimal
from types import SimpleNamespace

import pytest
from flask import Flask

import models
from devtools.fake_oxapay import FakeOxaPay, sign
from models import LedgerEntry, Payment
from panel import oxapay_hooks
from services.core import events, policy
from services.core.config import load_settings
from services.delivery import channels
from services.payments import oxapay, topups
from services.shop import wallet
from tests.panel.conftest import make_app, panel_database_url  # noqa: F401 - the full panel
from tests.serving import Served
from tests.shop.conftest import new_customer

KEY = "TEST15-MERCHA-NTKEY1-HOOKS0"
HOOK = topups.HOOK_PATH
NOW = datetime.datetime(2026, 5, 4, 10, 0)
# The fake retries an unanswered webhook 4 times, this far apart (OxaPay: minutes to hours).
RETRY_DELAYS = (0.02, 0.02, 0.02, 0.02)


def oxapay_settings(fake=None, **values):
    """Settings with top-ups on (the merchant key; the fake's URL, when given)."""
    base = dict(oxapay_merchant_api_key=KEY, public_base_url="https://crm.example.com")
    if fake is not None:
        base["oxapay_api_url"] = fake.base_url
    base.update(values)
    return dataclasses.replace(load_settings({}), **base)


def switch_on(settings):
    """Every process's policy from `settings` (restored after the test: tests/conftest.py)."""
    return policy.configure(settings)


def hooks_app(settings, close_connections=False):
    """A bare Flask app with the webhook blueprint, as admin.py's panel carries it.
    close_connections: served from threads that end, each closes what it opened."""
    app = Flask(__name__)
    app.extensions["leadgram"] = SimpleNamespace(settings=settings)
    app.register_blueprint(oxapay_hooks.bp)
    if close_connections:
        app.teardown_request(lambda exc: models.db.close())
    return app


@pytest.fixture(autouse=True)
def fresh_ok_note():
    """The webhook notes a working webhook at most once a minute per process; each test
    starts as a new process would."""
    channels._noted_ok.clear()
    yield


@pytest.fixture
def fake():
    with FakeOxaPay(KEY, retry_delays=RETRY_DELAYS, step_delay=0.005) as server:
        yield server


@pytest.fixture
def on(any_db, fake):
    """OxaPay on, pointed at the fake; invoices call back a URL nobody serves."""
    settings = oxapay_settings(fake)
    switch_on(settings)
    return settings


@pytest.fixture
def client(on):
    """The webhook through Flask's test client, with OxaPay's key."""
    return hooks_app(on).test_client()


@pytest.fixture
def stand(any_db, fake):
    """The whole loop over real HTTP: the fake OxaPay, and the webhook served where the
    invoices' callback_url (PUBLIC_BASE_URL + /hooks/oxapay) points."""
    settings = oxapay_settings(fake)
    served = Served(hooks_app(settings, close_connections=True))
    settings = dataclasses.replace(settings, public_base_url=served.url)
    switch_on(settings)
    yield SimpleNamespace(fake=fake, settings=settings, url=served.url + HOOK,
                          client=hooks_app(settings).test_client())
    served.stop()


def customer(tokens=0):
    """(client actor, lead) of a new Telegram customer holding `tokens`."""
    actor, lead, _ = new_customer(tokens=tokens)
    return actor, lead


def stored_payment(lead, tokens=250, cents=2500, status="waiting", track_id="T-1", now=NOW,
                   lifetime=datetime.timedelta(hours=1), **fields):
    """A payment row as topups.create leaves it (without asking OxaPay)."""
    fields.setdefault("reference", f"LG-{track_id.lower()}")
    fields.setdefault("next_check_at", now + datetime.timedelta(minutes=2))
    return Payment.create(lead=lead, tokens=tokens, amount_cents=cents, currency="USD",
                          status=status, track_id=track_id, pay_url=f"https://pay.example/{track_id}",
                          expires_at=now + lifetime, created_at=now, updated_at=now, **fields)


def webhook_body(payment, status="Paid", amount=None, value=None, currency="USD", **extra):
    """OxaPay's webhook JSON for `payment` (the fields the fake sends)."""
    asked = Decimal(payment.amount_cents) / 100 if amount is None else Decimal(str(amount))
    received = asked if value is None else Decimal(str(value))
    body = {"track_id": payment.track_id, "status": status, "type": "invoice",
            "module_name": "OxaPay", "amount": float(asked), "value": float(received),
            "sent_value": float(received), "currency": currency, "order_id": payment.reference,
            "email": "", "note": "", "fee_paid_by_payer": 0, "under_paid_coverage": 0,
            "description": f"{payment.tokens} tokens", "date": 1777888000, "txs": []}
    body.update(extra)
    return body


def raw(body):
    return body if isinstance(body, bytes) else json.dumps(body).encode()


def post(client, body, key=KEY, signature=None, headers=None):
    """POST `body` (a dict, or bytes as they are) to the webhook, signed with `key`
    (signature: that header instead; "" none)."""
    data = raw(body)
    header = sign(data, key) if signature is None else signature
    sent = {"Content-Type": "application/json", **(headers or {})}
    if header:
        sent["HMAC"] = header
    return client.post(HOOK, data=data, headers=sent)


def report(status, amount="25.00", currency="USD", order_id="", paid=""):
    """What OxaPay says of a payment, as services/payments/oxapay.py reads it."""
    return oxapay.Information(status=status, amount=None if amount is None else Decimal(amount),
                              currency=currency, order_id=order_id, paid=paid)


def credits(payment):
    """The ledger rows crediting `payment`."""
    return list(LedgerEntry.select().where(LedgerEntry.payment == payment.id))


def reload(payment):
    return Payment.get_by_id(payment.id)


def balance(lead):
    return wallet.balance(lead.id)


def text(response):
    return response.get_data(as_text=True)


@pytest.fixture
def emitted():
    """The payment events emitted during the test, in order."""
    seen = []
    for name in ("payment.created", "payment.status_changed"):
        events.subscribe(name, seen.append)
    yield seen
    for name in ("payment.created", "payment.status_changed"):
        events.unsubscribe(name, seen.append)
