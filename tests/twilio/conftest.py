"""SMS and WhatsApp tests: the fake Twilio (devtools/fake_twilio.py), settings pointing at
it, and the webhook blueprint served over real HTTP on loopback."""
import dataclasses
from types import SimpleNamespace

import pytest
from flask import Flask
from twilio.request_validator import RequestValidator

from devtools.fake_twilio import FakeTwilio
from panel import twilio_hooks
from services.core.config import load_settings
from services.delivery import channels
from services.delivery.outbox import Claimed
from tests.serving import Served

ACCOUNT_SID, AUTH_TOKEN = "AC" + "0" * 31 + "7", "twilio-test-auth-token-f00d"
SMS_FROM, WHATSAPP_FROM = "+15005550006", "+14155238886"
ANN, BOB = "+12025550123", "+447911123456"
PUBLIC = "https://crm.example.com"
TEMPLATE_SID = "HX" + "b" * 32


def twilio_settings(fake=None, **values):
    """Settings with Twilio on: the fake's account and URL, when given."""
    base = dict(twilio_account_sid=fake.account_sid if fake else ACCOUNT_SID,
                twilio_auth_token=fake.auth_token if fake else AUTH_TOKEN,
                twilio_sms_from=SMS_FROM, twilio_whatsapp_from=WHATSAPP_FROM,
                public_base_url=PUBLIC)
    if fake is not None:
        base["twilio_api_url"] = fake.base_url
    base.update(values)
    return dataclasses.replace(load_settings({}), **base)


def claimed(text="Hello", channel="sms", address=ANN, headers=None, id=1):
    """An outbox row as the sender hands it to a transport."""
    return Claimed(id=id, worker="test", recipient_id=None, chat_id=None, text=text,
                   parse_mode="plain", attempts=0, parts_sent=0, channel=channel,
                   address=address, headers=headers)


@pytest.fixture
def fake():
    with FakeTwilio(ACCOUNT_SID, AUTH_TOKEN, callback_delay=0.005) as server:
        yield server


def hooks_app(settings):
    """A bare Flask app with the webhook blueprint, as admin.py's panel carries it."""
    app = Flask(__name__)
    app.extensions["leadgram"] = SimpleNamespace(settings=settings)
    app.register_blueprint(twilio_hooks.bp)
    return app


def signed(path, params, token=AUTH_TOKEN, base=PUBLIC):
    """The X-Twilio-Signature header Twilio would send for `path` under `base`."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(base + path, params)}


@pytest.fixture(autouse=True)
def fresh_ok_note():
    """panel/twilio_hooks.py notes a working webhook at most once a minute per process;
    each test starts as a new process would."""
    channels._noted_ok.clear()
    yield


@pytest.fixture
def serve():
    started = []

    def start(app):
        started.append(Served(app))
        return started[-1]
    yield start
    for served in started:
        served.stop()
