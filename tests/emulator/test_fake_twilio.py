"""The fake Twilio (devtools/fake_twilio.py) driven by the official `twilio` client, and its webhooks
received by a plain http.server the test runs."""
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from devtools.fake_twilio import FakeTwilio
from devtools.fake_twilio_server import segments

SID, TOKEN = "AC" + "0" * 31 + "1", "secret-token"
SMS_FROM, WA_FROM = "+15005550006", "whatsapp:+14155238886"
ANN = "+447700900123"
TEMPLATE = "HX" + "a" * 32


@pytest.fixture
def fake():
    with FakeTwilio(SID, TOKEN, callback_delay=0.005) as server:
        yield server


@pytest.fixture
def client(fake):
    client = Client(SID, TOKEN)
    client.api.base_url = fake.base_url  # what the product does with TWILIO_API_URL
    return client


class _Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.server.received.append((self.path, dict(parse_qsl(body, keep_blank_values=True)),
                                     self.headers.get("X-Twilio-Signature")))
        self.send_response(self.server.answer)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def app():
    """The application's webhook endpoint: records (path, params, signature) and answers `answer`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.received, server.answer = [], 204
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _error(call) -> TwilioRestException:
    with pytest.raises(TwilioRestException) as raised:
        call()
    return raised.value


def test_the_official_client_creates_and_fetches_an_sms(fake, client):
    message = client.messages.create(to=ANN, from_=SMS_FROM, body="Hello Ann")
    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert (message.status, message.direction, message.account_sid) == ("queued", "outbound-api", SID)
    assert (message.to, message.from_, message.body, message.num_segments) == (ANN, SMS_FROM, "Hello Ann", "1")
    assert message.price is None and message.error_code is None and message.date_created.tzinfo is not None
    assert message.uri == f"/2010-04-01/Accounts/{SID}/Messages/{message.sid}.json"
    assert fake.messages[0]["sid"] == message.sid
    assert fake.calls[0].params == {"To": ANN, "From": SMS_FROM, "Body": "Hello Ann"}
    assert fake.calls[0].status == 201
    assert client.messages(message.sid).fetch().body == "Hello Ann"
    assert _error(client.messages("SM" + "f" * 32).fetch).status == 404


def test_whatsapp_free_text_template_media_and_messaging_service(fake, client):
    text = client.messages.create(to="whatsapp:" + ANN, from_=WA_FROM, body="Hi")
    assert (text.to, text.from_, text.num_segments) == ("whatsapp:" + ANN, WA_FROM, "1")
    fake.template(TEMPLATE, "Your order {{1}} ships on {{2}}")
    template = client.messages.create(to="whatsapp:" + ANN, from_=WA_FROM, content_sid=TEMPLATE,
                                      content_variables='{"1": "#42", "2": "Monday"}')
    assert template.body == "Your order #42 ships on Monday"
    mms = client.messages.create(to=ANN, from_=SMS_FROM, media_url=["https://x.test/a.jpg", "https://x.test/b.png"])
    assert mms.sid.startswith("MM") and mms.num_media == "2"
    assert fake.calls[-1].params["MediaUrl"] == ["https://x.test/a.jpg", "https://x.test/b.png"]
    service = client.messages.create(to=ANN, messaging_service_sid="MG" + "b" * 32, body="x")
    assert (service.status, service.from_, service.messaging_service_sid) == ("accepted", None, "MG" + "b" * 32)


@pytest.mark.parametrize("body, parts", [
    ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("€" * 80, 1), ("€" * 81, 2),            # extension characters take two septets
    ("a" * 152 + "€" + "a" * 10, 2),         # ...and are not split: 152 + (2 + 10)
    ("я" * 70, 1), ("я" * 71, 2), ("я" * 134, 2), ("я" * 135, 3),
    ("😀" * 35, 1), ("😀" * 36, 2),           # a surrogate pair is two UCS-2 units
    ("a" * 159 + "é", 1), ("a" * 69 + "ć", 1), ("a" * 70 + "ć", 2),
])
def test_segments(body, parts):
    assert segments(body) == parts


def test_the_message_resource_counts_segments(client):
    for body, parts in [("a" * 160, "1"), ("a" * 161, "2"), ("ж" * 70, "1"), ("ж" * 71, "2")]:
        assert client.messages.create(to=ANN, from_=SMS_FROM, body=body).num_segments == parts


@pytest.mark.parametrize("params, status, code", [
    ({"to": "", "from_": SMS_FROM, "body": "x"}, 400, 21604),
    ({"to": "07700900123", "from_": SMS_FROM, "body": "x"}, 400, 21211),
    ({"to": "+1", "from_": SMS_FROM, "body": "x"}, 400, 21211),
    ({"to": ANN, "from_": SMS_FROM}, 400, 21602),
    ({"to": ANN, "from_": SMS_FROM, "body": "a" * 1601}, 400, 21617),
    ({"to": "whatsapp:" + ANN, "from_": SMS_FROM, "body": "x"}, 400, 21910),
    ({"to": ANN, "body": "x"}, 400, 21603),
    ({"to": "whatsapp:" + ANN, "from_": WA_FROM, "content_sid": TEMPLATE, "content_variables": "[1]"}, 400, 21656),
])
def test_twilio_checks(client, params, status, code):
    error = _error(lambda: client.messages.create(**params))
    assert (error.status, error.code) == (status, code)
    assert error.uri.endswith("/Messages.json")


def test_1600_characters_are_allowed(client):
    assert client.messages.create(to=ANN, from_=SMS_FROM, body="a" * 1600).num_segments == "11"


def test_wrong_credentials_get_401_with_twilios_error_shape(fake):
    wrong = Client(SID, "not-the-token")
    wrong.api.base_url = fake.base_url
    error = _error(lambda: wrong.messages.create(to=ANN, from_=SMS_FROM, body="x"))
    assert (error.status, error.code) == (401, 20003) and error.msg.endswith(": Authenticate")
    assert fake.calls[-1].response == {"code": 20003, "message": "Authenticate",
                                       "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}
    assert fake.messages == []


def test_scripted_faults(fake, client):
    fake.fail(429)
    error = _error(lambda: client.messages.create(to=ANN, from_=SMS_FROM, body="x"))
    assert (error.status, error.code) == (429, 20429)
    assert client.messages.create(to=ANN, from_=SMS_FROM, body="x").status == "queued"  # once only
    fake.fail(503, times=2, to="+15551234567")
    assert client.messages.create(to=ANN, from_=SMS_FROM, body="x").status == "queued"  # another number
    for _ in range(2):
        assert _error(lambda: client.messages.create(to="+15551234567", from_=SMS_FROM, body="x")).code == 20503
    fake.fail(500)
    assert _error(lambda: client.messages.create(to=ANN, from_=SMS_FROM, body="x")).status == 500
    assert [call.status for call in fake.calls] == [429, 201, 201, 503, 503, 500]
    assert len(fake.messages) == 2


def test_a_slow_network(fake, client):
    fake.delay(0.2)
    client.http_client.timeout = 0.05
    with pytest.raises(Exception, match="(?i)timed? ?out"):
        client.messages.create(to=ANN, from_=SMS_FROM, body="x")
    fake.delay(0)


def _valid(url, params, signature, token=TOKEN):
    return RequestValidator(token).validate(url, params, signature)


def test_status_callbacks_arrive_in_order_and_signed(fake, client, app):
    url = app.url + "/hooks/twilio/status?x=1"
    message = client.messages.create(to=ANN, from_=SMS_FROM, body="x", status_callback=url)
    fake.wait_for_callbacks()
    assert [params["MessageStatus"] for _, params, _ in app.received] == ["queued", "sent", "delivered"]
    for path, params, signature in app.received:
        assert path == "/hooks/twilio/status?x=1"
        assert (params["MessageSid"], params["AccountSid"], params["To"], params["From"]) == (
            message.sid, SID, ANN, SMS_FROM)
        assert params["ApiVersion"] == "2010-04-01" and "ErrorCode" not in params
        assert _valid(url, params, signature)
        assert not _valid(url, params, signature, token="wrong-token")
        assert not _valid(url, {**params, "MessageStatus": "failed"}, signature)
    assert [callback.status for callback in fake.callbacks] == [204, 204, 204]
    assert client.messages(message.sid).fetch().status == "delivered"


def test_scripted_outcomes_and_the_applications_answers(fake, client, app):
    fake.outcome(["sent", "undelivered"], to=ANN, error_code=30003)
    fake.outcome(["queued", "sent", "delivered", "read"], to="whatsapp:" + ANN)
    app.answer = 500
    sms = client.messages.create(to=ANN, from_=SMS_FROM, body="x", status_callback=app.url + "/s")
    whatsapp = client.messages.create(to="whatsapp:" + ANN, from_=WA_FROM, body="y", status_callback=app.url + "/s")
    callbacks = fake.wait_for_callbacks()
    by_sid = {sid: [c.params["MessageStatus"] for c in callbacks if c.params["MessageSid"] == sid]
              for sid in (sms.sid, whatsapp.sid)}
    assert by_sid == {sms.sid: ["sent", "undelivered"], whatsapp.sid: ["queued", "sent", "delivered", "read"]}
    failed = [c for c in callbacks if c.params["MessageStatus"] == "undelivered"][0]
    assert failed.params["ErrorCode"] == "30003" and {c.status for c in callbacks} == {500}
    assert fake.message(sms.sid)["error_code"] == 30003 and fake.message(whatsapp.sid)["status"] == "read"


def test_an_unreachable_callback_is_recorded(fake, client):
    client.messages.create(to=ANN, from_=SMS_FROM, body="x", status_callback="http://127.0.0.1:9/status")
    assert [c.status for c in fake.wait_for_callbacks()] == [None, None, None]


def test_inbound_sms_and_whatsapp_are_signed(fake, app):
    url = app.url + "/hooks/twilio/sms"
    assert fake.send_inbound(url, ANN, SMS_FROM, "Hello") == 204
    assert fake.send_inbound(url, ANN, SMS_FROM, "look", media=[("https://x.test/m.jpg", "image/jpeg")]) == 204
    assert fake.send_inbound(app.url + "/hooks/twilio/whatsapp", ANN, WA_FROM, "Hi", channel="whatsapp",
                             profile_name="Ann") == 204
    (_, sms, sms_sig), (_, mms, mms_sig), (path, wa, wa_sig) = app.received
    assert sms["MessageSid"].startswith("SM") and sms["Body"] == "Hello" and sms["NumMedia"] == "0"
    assert (sms["From"], sms["To"], sms["AccountSid"]) == (ANN, SMS_FROM, SID)
    assert _valid(url, sms, sms_sig) and not _valid(url, sms, sms_sig, token="wrong")
    assert mms["MessageSid"].startswith("MM") and mms["NumMedia"] == "1"
    assert (mms["MediaUrl0"], mms["MediaContentType0"]) == ("https://x.test/m.jpg", "image/jpeg")
    assert _valid(url, mms, mms_sig)
    assert (wa["From"], wa["To"], wa["ProfileName"], wa["WaId"]) == ("whatsapp:" + ANN, WA_FROM, "Ann", ANN[1:])
    assert _valid(app.url + path, wa, wa_sig)


def test_twilio_retries_and_forged_requests(fake, app):
    url = app.url + "/hooks/twilio/sms"
    app.answer = 503
    assert fake.send_inbound(url, ANN, SMS_FROM, "Hello") == 503
    app.answer = 200
    assert fake.retry_inbound() == 200
    assert fake.send_inbound(url, ANN, SMS_FROM, "Hello", message_sid=fake.inbound[0].params["MessageSid"]) == 200
    first, retry, again = app.received
    assert first[1]["MessageSid"] == retry[1]["MessageSid"] == again[1]["MessageSid"]
    assert first == retry and _valid(url, again[1], again[2])
    fake.send_inbound(url, ANN, SMS_FROM, "forged", auth_token="stolen?")
    assert not _valid(url, app.received[-1][1], app.received[-1][2])
    assert [record.status for record in fake.inbound] == [503, 200, 200, 200]


def test_behind_a_proxy_the_public_url_is_signed(fake, app):
    fake.forward("https://crm.example.com", app.url)
    public = "https://crm.example.com/hooks/twilio/sms"
    assert fake.send_inbound(public, ANN, SMS_FROM, "Hello") == 204
    path, params, signature = app.received[0]
    assert path == "/hooks/twilio/sms" and _valid(public, params, signature)
    assert not _valid(app.url + path, params, signature)


def test_the_raw_wire(fake):
    """What any HTTP client sees: form parameters, Basic auth, JSON replies; and a dropped connection."""
    import requests

    messages = f"{fake.base_url}/2010-04-01/Accounts/{SID}/Messages.json"
    reply = requests.post(messages, data={"From": SMS_FROM, "Body": "x"}, auth=(SID, TOKEN), timeout=5)
    assert (reply.status_code, reply.json()["code"]) == (400, 21604)
    other = messages.replace(SID, "AC" + "9" * 32)
    assert requests.post(other, data={"To": ANN}, auth=(SID, TOKEN), timeout=5).json()["code"] == 20404
    assert requests.post(messages, data={"To": ANN}, timeout=5).status_code == 401
    fake.fail("drop")
    with pytest.raises(requests.ConnectionError):
        requests.post(messages, data={"To": ANN, "From": SMS_FROM, "Body": "x"}, auth=(SID, TOKEN), timeout=5)
    assert fake.calls[-1].status is None
    assert fake.client().messages.create(to=ANN, from_=SMS_FROM, body="ok").status == "queued"
