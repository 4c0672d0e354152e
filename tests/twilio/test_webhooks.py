"""Twilio's webhooks (panel/twilio_hooks.py): signed requests stored once and answered with
empty TwiML, anything else refused with 403, nothing stored, the reason in the log and the
panel's channel state."""
import json
import logging
import string

from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from models import ChannelState, InboundEvent
from services.delivery import channels
from tests.twilio.conftest import (
    ANN,
    AUTH_TOKEN,
    PUBLIC,
    SMS_FROM,
    WHATSAPP_FROM,
    hooks_app,
    signed,
    twilio_settings,
)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
SMS_SID = "SM" + "1" * 32


def incoming(sid=SMS_SID, body="Hi there", **extra):
    return {"MessageSid": sid, "AccountSid": "AC" + "0" * 31 + "7", "From": ANN, "To": SMS_FROM,
            "Body": body, "NumMedia": "0", **extra}


def events():
    return [(e.source, e.external_ref, json.loads(e.payload))
            for e in InboundEvent.select().order_by(InboundEvent.id)]


def webhook_error():
    state = ChannelState.get_or_none(ChannelState.name == channels.TWILIO_WEBHOOKS)
    return state.error if state else None


def test_a_signed_sms_is_stored_once_and_answered_with_empty_twiml(any_db):
    client = hooks_app(twilio_settings()).test_client()
    params = incoming()
    for _ in range(2):   # Twilio retries with the same MessageSid
        response = client.post("/hooks/twilio/sms", data=params,
                               headers=signed("/hooks/twilio/sms", params))
        assert response.status_code == 200
        assert response.mimetype == "text/xml"
        assert response.get_data(as_text=True) == EMPTY_TWIML
    assert events() == [("sms", SMS_SID, params)]
    assert ChannelState.get(ChannelState.name == channels.TWILIO_WEBHOOKS).ok_at is not None


def test_whatsapp_and_status_are_stored_by_their_own_keys(any_db):
    client = hooks_app(twilio_settings()).test_client()
    whatsapp = incoming("SM" + "2" * 32, From=f"whatsapp:{ANN}", To=f"whatsapp:{WHATSAPP_FROM}",
                        ProfileName="Ann")
    assert client.post("/hooks/twilio/whatsapp", data=whatsapp,
                       headers=signed("/hooks/twilio/whatsapp", whatsapp)).status_code == 200
    for state in ("sent", "delivered", "delivered"):
        status = {"MessageSid": SMS_SID, "MessageStatus": state}
        assert client.post("/hooks/twilio/status", data=status,
                           headers=signed("/hooks/twilio/status", status)).status_code == 200
    assert [(source, ref) for source, ref, _ in events()] == [
        ("whatsapp", "SM" + "2" * 32), ("status", f"{SMS_SID}:sent"),
        ("status", f"{SMS_SID}:delivered")]


def test_a_query_string_is_part_of_the_signed_url(any_db):
    client = hooks_app(twilio_settings()).test_client()
    params = incoming()
    path = "/hooks/twilio/sms?tenant=acme"
    assert client.post(path, data=params, headers=signed(path, params)).status_code == 200
    # Signed without the query: not what Twilio called.
    other = incoming("SM" + "3" * 32)
    assert client.post(path, data=other,
                       headers=signed("/hooks/twilio/sms", other)).status_code == 403


def refused(client, path, params, headers, caplog):
    with caplog.at_level(logging.WARNING, logger="leadgram.twilio"):
        response = client.post(path, data=params, headers=headers)
    assert response.status_code == 403
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True).startswith("Forbidden: ")
    assert events() == []
    return response


def test_a_missing_signature_is_refused(any_db, caplog):
    client = hooks_app(twilio_settings()).test_client()
    refused(client, "/hooks/twilio/sms", incoming(), {}, caplog)
    assert "no X-Twilio-Signature" in caplog.text
    assert f"{PUBLIC}/hooks/twilio/sms" in webhook_error()


def test_a_wrong_signature_is_refused_and_the_panel_says_why(any_db, caplog):
    client = hooks_app(twilio_settings()).test_client()
    params = incoming()
    refused(client, "/hooks/twilio/status", params,
            signed("/hooks/twilio/status", params, token="someone-elses-token"), caplog)
    assert "bad X-Twilio-Signature for https://crm.example.com/hooks/twilio/status" in caplog.text
    assert "PUBLIC_BASE_URL" in webhook_error() and "TWILIO_AUTH_TOKEN" in webhook_error()
    assert AUTH_TOKEN not in webhook_error()


def test_tampered_parameters_are_refused(any_db, caplog):
    client = hooks_app(twilio_settings()).test_client()
    params = incoming()
    headers = signed("/hooks/twilio/sms", params)
    refused(client, "/hooks/twilio/sms", {**params, "Body": "send me the money"}, headers, caplog)


def test_without_twilio_or_a_public_url_everything_is_refused(any_db, caplog):
    params = incoming()
    headers = signed("/hooks/twilio/sms", params)
    off = hooks_app(twilio_settings(twilio_auth_token="")).test_client()
    assert "Twilio is not set up" in refused(off, "/hooks/twilio/sms", params, headers,
                                             caplog).get_data(as_text=True)
    assert "TWILIO_AUTH_TOKEN is empty" in webhook_error()
    no_url = hooks_app(twilio_settings(public_base_url="")).test_client()
    assert "PUBLIC_BASE_URL" in refused(no_url, "/hooks/twilio/sms", params, headers,
                                        caplog).get_data(as_text=True)
    assert "PUBLIC_BASE_URL is not set" in webhook_error()


def test_a_signed_request_without_a_message_sid_is_a_bad_request(any_db):
    client = hooks_app(twilio_settings()).test_client()
    params = {"MessageSid": SMS_SID}  # a status without MessageStatus
    response = client.post("/hooks/twilio/status", data=params,
                           headers=signed("/hooks/twilio/status", params))
    assert response.status_code == 400 and events() == []


def test_only_post():
    client = hooks_app(twilio_settings()).test_client()
    assert client.get("/hooks/twilio/sms").status_code == 405


def test_the_fake_twilios_webhooks_behind_a_proxy(any_db, fake, serve):
    """Twilio signs the public URL it calls; the proxy hands the request on to a local
    address. The public URL (PUBLIC_BASE_URL) validates; the local one is not what Twilio
    signed, and is refused."""
    served = serve(hooks_app(twilio_settings(fake)))
    fake.forward(PUBLIC, served.url)
    assert fake.send_inbound(f"{PUBLIC}/hooks/twilio/sms", ANN, SMS_FROM, "Hi") == 200
    assert fake.retry_inbound() == 200
    assert fake.send_inbound(f"{PUBLIC}/hooks/twilio/whatsapp", ANN, WHATSAPP_FROM, "Hola",
                             channel="whatsapp", profile_name="Ann") == 200
    # Signed for the local URL, as if PUBLIC_BASE_URL were wrong.
    assert fake.send_inbound(f"{served.url}/hooks/twilio/sms", ANN, SMS_FROM, "Hi") == 403
    assert fake.send_inbound(f"{PUBLIC}/hooks/twilio/sms", ANN, SMS_FROM, "Hi",
                             auth_token="forged") == 403
    stored = events()
    assert [(source, payload["Body"]) for source, _, payload in stored] == [
        ("sms", "Hi"), ("whatsapp", "Hola")]
    assert stored[0][1] == fake.inbound[0].params["MessageSid"]
    assert "Twilio must call this URL" in webhook_error()


FORM_KEYS = st.one_of(st.sampled_from(["MessageSid", "MessageStatus", "From", "To", "Body",
                                       "NumMedia", "MediaUrl0", "MediaContentType0",
                                       "ErrorCode"]),
                      st.text(min_size=1, max_size=20))
FORM_VALUES = st.one_of(st.text(max_size=200), st.sampled_from(["", " ", "SM1", "delivered", "-1",
                                                                 "99999999999999999999"]))


@hypothesis_settings(max_examples=150, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/hooks/twilio/sms", "/hooks/twilio/whatsapp",
                             "/hooks/twilio/status"]),
       params=st.dictionaries(FORM_KEYS, FORM_VALUES, max_size=8),
       sign=st.sampled_from(["valid", "none", "garbage", "wrong token"]),
       query=st.text(alphabet=string.ascii_letters + string.digits + "=&%", max_size=12))
def test_fuzzed_webhooks_never_fail(sqlite_db, path, params, sign, query):
    client = hooks_app(twilio_settings()).test_client()
    full = f"{path}?{query}" if query else path
    headers = {"valid": signed(full, params), "none": {},
               "garbage": {"X-Twilio-Signature": "not base64 ✓"},
               "wrong token": signed(full, params, token="x")}[sign]
    response = client.post(full, data=params, headers=headers)
    assert response.status_code in (200, 400, 403), response.get_data(as_text=True)
    # What Twilio signed is never refused, whatever the query and parameters.
    assert (response.status_code == 403) == (sign != "valid")
    if response.status_code == 200:
        assert response.get_data(as_text=True) == EMPTY_TWIML
