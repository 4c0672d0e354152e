"""The SMS and WhatsApp transport (services/delivery/twilio_messages.py) against the fake
Twilio: what it sends, and how each of Twilio's answers maps onto a DeliveryError kind."""
import json
import logging

import pytest

from services.delivery.transport import (
    MISCONFIGURED,
    PERMANENT,
    RETRY_AFTER,
    TRANSIENT,
    DeliveryError,
)
from services.delivery.twilio_messages import TwilioTransport, _HttpClient
from tests.twilio.conftest import (
    ANN,
    AUTH_TOKEN,
    PUBLIC,
    SMS_FROM,
    TEMPLATE_SID,
    WHATSAPP_FROM,
    claimed,
    twilio_settings,
)


def refused(transport, message):
    with pytest.raises(DeliveryError) as raised:
        transport.send(message)
    return raised.value


def test_sends_an_sms_with_its_status_callback(fake):
    transport = TwilioTransport("sms", twilio_settings(fake))
    receipt = transport.send(claimed("Hello Ann, your order ships today"))
    assert transport.channel == "sms"
    assert receipt.provider_id.startswith("SM") and receipt.status == "queued"
    call = fake.calls[-1]
    assert call.params == {"To": ANN, "From": SMS_FROM, "Body": "Hello Ann, your order ships today",
                           "StatusCallback": f"{PUBLIC}/hooks/twilio/status"}
    assert fake.message(receipt.provider_id)["to"] == ANN


def test_sends_a_whatsapp_message_on_the_whatsapp_channel(fake):
    receipt = TwilioTransport("whatsapp", twilio_settings(fake)).send(
        claimed("Hi from WhatsApp", channel="whatsapp"))
    message = fake.message(receipt.provider_id)
    assert (message["to"], message["from"], message["body"]) == (
        f"whatsapp:{ANN}", f"whatsapp:{WHATSAPP_FROM}", "Hi from WhatsApp")


def test_a_whatsapp_template_goes_by_its_content_sid_without_a_body(fake):
    fake.template(TEMPLATE_SID, "Your order {{1}} ships on {{2}}")
    headers = json.dumps({"content_sid": TEMPLATE_SID,
                          "content_variables": {"1": "#1042", "2": "Friday"}})
    receipt = TwilioTransport("whatsapp", twilio_settings(fake)).send(
        claimed("Your order #1042 ships on Friday", channel="whatsapp", headers=headers))
    params = fake.calls[-1].params
    assert "Body" not in params
    assert params["ContentSid"] == TEMPLATE_SID
    assert json.loads(params["ContentVariables"]) == {"1": "#1042", "2": "Friday"}
    assert fake.message(receipt.provider_id)["body"] == "Your order #1042 ships on Friday"


def test_a_messaging_service_sends_instead_of_a_number(fake):
    service = "MG" + "c" * 32
    receipt = TwilioTransport("sms", twilio_settings(fake, twilio_sms_from=service)).send(claimed())
    assert fake.calls[-1].params["MessagingServiceSid"] == service
    assert "From" not in fake.calls[-1].params
    assert receipt.status == "accepted"


def test_no_public_url_no_status_callback(fake):
    TwilioTransport("sms", twilio_settings(fake, public_base_url="")).send(claimed())
    assert "StatusCallback" not in fake.calls[-1].params


def test_the_status_callbacks_reach_the_public_url(fake, serve):
    """Twilio calls back where PUBLIC_BASE_URL says: here a local server standing in."""
    from flask import Flask, request
    app, seen = Flask(__name__), []

    @app.post("/hooks/twilio/status")
    def hook():
        seen.append(dict(request.form))
        return ""
    served = serve(app)
    receipt = TwilioTransport("sms", twilio_settings(fake, public_base_url=served.url)).send(claimed())
    fake.wait_for_callbacks()
    assert [(s["MessageSid"], s["MessageStatus"]) for s in seen] == [
        (receipt.provider_id, "queued"), (receipt.provider_id, "sent"),
        (receipt.provider_id, "delivered")]


def test_the_real_default_url_is_twilios_own():
    transport = TwilioTransport("sms", twilio_settings())
    assert transport._client.api.base_url == "https://api.twilio.com"
    assert transport.parameters(claimed())["to"] == ANN


def test_429_retries_after_a_while(fake):
    fake.fail(429)
    error = refused(TwilioTransport("sms", twilio_settings(fake)), claimed())
    assert error.kind == RETRY_AFTER
    assert 5 <= error.retry_after <= 30
    assert error.description.startswith("Twilio 20429: Too Many Requests")


def test_429_honours_retry_after(fake):
    transport = TwilioTransport("sms", twilio_settings(fake))
    fake.fail(429)
    real = transport._http.request

    def with_header(*args, **kwargs):
        response = real(*args, **kwargs)
        response.headers = {**dict(response.headers or {}), "Retry-After": "42"}
        return response
    transport._http.request = with_header
    error = refused(transport, claimed())
    assert (error.kind, error.retry_after) == (RETRY_AFTER, 42.0)


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient(fake, status):
    fake.fail(status)
    error = refused(TwilioTransport("sms", twilio_settings(fake)), claimed())
    assert error.kind == TRANSIENT
    assert error.description.startswith(f"Twilio 20{status}")


def test_a_dropped_connection_is_transient_and_the_next_send_works(fake):
    transport = TwilioTransport("sms", twilio_settings(fake))
    transport.send(claimed())            # a kept-alive connection, then cut
    fake.fail("drop")
    error = refused(transport, claimed())
    assert error.kind == TRANSIENT
    assert "could not be reached" in error.description
    assert transport.send(claimed()).provider_id.startswith("SM")


def test_nothing_listening_is_transient(fake):
    url = fake.base_url
    fake.stop()
    error = refused(TwilioTransport("sms", twilio_settings(twilio_api_url=url)), claimed())
    assert error.kind == TRANSIENT


def test_a_twilio_that_does_not_answer_in_time_is_transient(fake):
    fake.delay(1.0)
    transport = TwilioTransport("sms", twilio_settings(fake),
                                http_client=_HttpClient(pool_connections=True, timeout=0.2))
    error = refused(transport, claimed())
    assert error.kind == TRANSIENT and "Timeout" in error.description


def test_a_wrong_token_is_misconfigured_and_never_shown(fake, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-token-0123456789abcdef"
    error = refused(TwilioTransport("sms", twilio_settings(fake, twilio_auth_token=wrong)),
                    claimed())
    assert error.kind == MISCONFIGURED
    assert "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN" in error.description
    assert "Twilio 20003" in error.description
    assert wrong not in error.description and wrong not in caplog.text
    assert AUTH_TOKEN not in caplog.text


def test_the_token_is_scrubbed_from_any_error_text(fake):
    fake.fail(400, code=21211, message=f"echoing {AUTH_TOKEN} back")
    error = refused(TwilioTransport("sms", twilio_settings(fake)), claimed())
    assert AUTH_TOKEN not in error.description and "***" in error.description


@pytest.mark.parametrize("channel, sender, setting", [
    ("sms", "not a number!", "TWILIO_SMS_FROM"),
    ("whatsapp", "12345", "TWILIO_WHATSAPP_FROM"),
])
def test_a_bad_sender_is_misconfigured_naming_the_setting(fake, channel, sender, setting):
    values = {"twilio_sms_from" if channel == "sms" else "twilio_whatsapp_from": sender}
    error = refused(TwilioTransport(channel, twilio_settings(fake, **values)),
                    claimed(channel=channel))
    assert error.kind == MISCONFIGURED
    assert "Twilio 21212" in error.description and setting in error.description


@pytest.mark.parametrize("code, status", [(21606, 400), (21659, 400)])
def test_senders_twilio_does_not_let_us_use_are_misconfigured(fake, code, status):
    fake.fail(status, code=code, message="The From phone number is not a valid number for this account")
    error = refused(TwilioTransport("sms", twilio_settings(fake)), claimed())
    assert error.kind == MISCONFIGURED and f"Twilio {code}" in error.description


def test_an_invalid_number_is_permanent_with_twilios_reason(fake):
    error = refused(TwilioTransport("sms", twilio_settings(fake)), claimed(address="07911 123456"))
    assert error.kind == PERMANENT
    assert error.description == "Twilio 21211: Invalid 'To' Phone Number: 07911 123456"


@pytest.mark.parametrize("code, message", [
    (21610, "Attempt to send to unsubscribed recipient"),
    (21614, "'To' number is not a valid mobile number"),
    (63016, "Failed to send freeform message because you are outside the allowed window."),
])
def test_refusals_of_the_message_are_permanent(fake, code, message):
    fake.fail(400, code=code, message=message)
    error = refused(TwilioTransport("whatsapp", twilio_settings(fake)), claimed(channel="whatsapp"))
    assert (error.kind, error.description) == (PERMANENT, f"Twilio {code}: {message}")


def test_a_body_over_twilios_limit_is_permanent(fake):
    error = refused(TwilioTransport("sms", twilio_settings(fake)), claimed("x" * 1601))
    assert error.kind == PERMANENT and "Twilio 21617" in error.description


def test_a_row_without_a_number_is_permanent_without_calling_twilio(fake):
    error = refused(TwilioTransport("sms", twilio_settings(fake)), claimed(address=None))
    assert error.kind == PERMANENT and fake.calls == []


def test_only_sms_and_whatsapp():
    with pytest.raises(ValueError):
        TwilioTransport("email", twilio_settings())
