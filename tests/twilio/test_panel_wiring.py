"""The webhooks inside the real admin panel (admin.py's app): exempt from the login and
CSRF, and from nothing else."""
import pytest

from models import InboundEvent
from tests.panel.conftest import make_app, panel_database_url  # noqa: F401 - fixtures
from tests.twilio.conftest import ACCOUNT_SID, ANN, AUTH_TOKEN, PUBLIC, SMS_FROM, signed

TWILIO_ENV = {"PUBLIC_BASE_URL": PUBLIC, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
              "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_SMS_FROM": SMS_FROM}
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@pytest.fixture
def panel(make_app):  # noqa: F811 - the imported fixture
    return make_app(csrf=True, **TWILIO_ENV).test_client()


def test_a_signed_webhook_needs_no_login_and_no_csrf_token(panel):
    params = {"MessageSid": "SM" + "a" * 32, "From": ANN, "To": SMS_FROM, "Body": "Hi"}
    response = panel.post("/hooks/twilio/sms", data=params,
                          headers=signed("/hooks/twilio/sms", params))
    assert response.status_code == 200
    assert response.get_data(as_text=True) == EMPTY_TWIML
    assert InboundEvent.select().count() == 1
    assert response.headers["X-Content-Type-Options"] == "nosniff"   # the panel's headers


def test_an_unsigned_webhook_is_refused_not_sent_to_the_login(panel):
    response = panel.post("/hooks/twilio/status", data={"MessageSid": "SM1",
                                                        "MessageStatus": "sent"})
    assert response.status_code == 403
    assert InboundEvent.select().count() == 0


def test_the_rest_of_the_panel_still_needs_a_login(panel):
    assert panel.get("/conversations/").status_code == 302


def test_the_panels_size_limit_still_holds(panel):
    params = {"MessageSid": "SM" + "b" * 32, "Body": "x" * (2 * 1024 * 1024)}
    assert panel.post("/hooks/twilio/sms", data=params,
                      headers=signed("/hooks/twilio/sms", params)).status_code == 413
