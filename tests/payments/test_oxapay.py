"""services/payments/oxapay.py against the fake OxaPay over real HTTP: invoices, payment
information, OxaPay's errors as OxaPayError (temporary or not), answers that are not
OxaPay's shape, reading webhook bodies, and the webhook signature. No database."""
import datetime
import hashlib
import hmac
import json
import socket
import threading
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from devtools.fake_oxapay import sign
from services.payments import oxapay
from tests.payments.conftest import KEY, oxapay_settings, switch_on


@pytest.fixture
def api(fake):
    switch_on(oxapay_settings(fake))
    return fake


def invoice(**overrides):
    arguments = dict(reference="LG-abc123", amount=Decimal("12.50"), currency="USD",
                     description="125 tokens · Acme", callback_url="https://crm.example.com/hooks/oxapay",
                     lifetime_minutes=30)
    arguments.update(overrides)
    return oxapay.create_invoice(**arguments)


def test_an_invoice_asks_what_we_mean_and_gives_its_track_id_and_link(api):
    before = datetime.datetime.now(datetime.UTC).replace(tzinfo=None, microsecond=0)
    made = invoice()
    call = api.calls[-1]
    assert (call.method, call.path, call.api_key, call.status) == (
        "POST", "/v1/payment/invoice", KEY, 200)
    assert {key: call.body[key] for key in ("amount", "currency", "lifetime", "order_id",
                                            "description", "callback_url")} == {
        "amount": 12.5, "currency": "USD", "lifetime": 30, "order_id": "LG-abc123",
        "description": "125 tokens · Acme", "callback_url": "https://crm.example.com/hooks/oxapay"}
    assert made.track_id == api.invoices[-1]["track_id"]
    assert made.pay_url == f"{api.base_url}/pay/{made.track_id}"
    lifetime = made.expires_at - before
    assert datetime.timedelta(minutes=29) < lifetime <= datetime.timedelta(minutes=31)
    assert made.expires_at.tzinfo is None


def test_no_callback_url_sends_none(api):
    invoice(callback_url=None)
    assert "callback_url" not in api.calls[-1].body


def test_information_reads_the_status_amount_and_what_was_paid(api):
    made = invoice()
    assert oxapay.information(made.track_id) == oxapay.Information(
        status="new", amount=Decimal("12.5"), currency="USD", order_id="LG-abc123", paid="")
    api.lose_webhooks(made.track_id)
    api.pay(made.track_id, statuses=("paying", "paid"))
    api.wait_for_webhooks()   # until the payment's steps are done (no webhook is sent)
    assert api.webhooks == []
    assert oxapay.information(made.track_id).status == "paid"
    assert api.calls[-1].api_key == KEY and api.calls[-1].method == "GET"
    assert api.calls[-1].path == f"/v1/payment/{made.track_id}"


@pytest.mark.parametrize("status", [429, 500, 502, 503, "drop"])
def test_oxapay_failing_is_temporary(api, status):
    api.fail(status, path="invoice")
    with pytest.raises(oxapay.OxaPayError) as failed:
        invoice()
    assert failed.value.temporary is True
    made = invoice()   # the next one works
    api.fail(status, path="info")
    with pytest.raises(oxapay.OxaPayError) as failed:
        oxapay.information(made.track_id)
    assert failed.value.temporary is True


def test_a_wrong_key_an_unknown_payment_or_a_bad_invoice_is_not_temporary(api, fake):
    made = invoice()
    with pytest.raises(oxapay.OxaPayError) as unknown:
        oxapay.information("999")
    assert unknown.value.temporary is False and "track_id" in str(unknown.value)
    with pytest.raises(oxapay.OxaPayError) as bad:
        invoice(lifetime_minutes=5)   # OxaPay takes 15 to 2880
    assert bad.value.temporary is False
    switch_on(oxapay_settings(fake, oxapay_merchant_api_key="WRONG-KEY"))
    with pytest.raises(oxapay.OxaPayError) as wrong:
        oxapay.information(made.track_id)
    assert wrong.value.temporary is False and "WRONG-KEY" not in str(wrong.value)


def test_nobody_listening_is_temporary():
    with socket.socket() as probe:   # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    switch_on(oxapay_settings(oxapay_api_url=f"http://127.0.0.1:{port}"))
    with pytest.raises(oxapay.OxaPayError) as failed:
        invoice()
    assert failed.value.temporary is True


class _Odd(BaseHTTPRequestHandler):
    """Answers every call with the server's (status, body)."""

    def _answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, body = self.server.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args):
        pass


@pytest.fixture
def odd():
    """An HTTP server answering what the test sets in `.answer`, as OXAPAY_API_URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Odd)
    server.answer = (200, b"{}")
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    switch_on(oxapay_settings(oxapay_api_url=f"http://127.0.0.1:{server.server_address[1]}"))
    yield server
    server.shutdown()
    server.server_close()


NOT_OXAPAYS = [(200, b"<html>maintenance</html>"), (200, b"[]"), (200, b'"data"'), (200, b"null"),
               (200, b'{"data": []}'), (200, b'{"data": "x"}'), (200, b'{"data": 5}'),
               (502, b"<html>bad gateway</html>"), (400, b"[1]"), (503, b"null"), (418, b"{}"),
               (401, b'{"error": []}')]


@pytest.mark.parametrize("answer", NOT_OXAPAYS)
def test_an_answer_that_is_not_oxapays_is_an_error_never_a_crash(odd, answer):
    odd.answer = answer
    for call in (invoice, lambda: oxapay.information("123")):
        with pytest.raises(oxapay.OxaPayError) as failed:
            call()
        assert isinstance(failed.value.temporary, bool)


@pytest.mark.parametrize("data", [
    {}, {"track_id": "1", "payment_url": "javascript:alert(1)"},
    {"track_id": "", "payment_url": "https://pay.example/1"}, {"track_id": None, "payment_url": None}])
def test_an_invoice_without_a_track_id_or_web_link_is_a_temporary_error(odd, data):
    odd.answer = (200, json.dumps({"data": data}).encode())
    with pytest.raises(oxapay.OxaPayError) as failed:
        invoice()
    assert failed.value.temporary is True


@pytest.mark.parametrize("data", [{}, {"track_id": "123"}, {"status": ""}, {"status": None}])
def test_information_without_a_status_is_a_temporary_error(odd, data):
    odd.answer = (200, json.dumps({"data": data}).encode())
    with pytest.raises(oxapay.OxaPayError) as failed:
        oxapay.information("123")
    assert failed.value.temporary is True


# ------------------------------------------------------------------ webhook bodies


def test_a_webhook_body_is_read_case_insensitively():
    body = {"track_id": "1", "status": "Paying", "amount": 12.5, "value": 12.49,
            "currency": "usd", "order_id": "LG-1", "txs": [{"value": 99}]}
    assert oxapay.read_information(body) == oxapay.Information(
        status="paying", amount=Decimal("12.5"), currency="USD", order_id="LG-1", paid="12.49")
    assert oxapay.read_information({**body, "status": "Manual_Accept"}).status == "manual_accept"


def test_without_a_value_the_transactions_are_summed():
    body = {"status": "paid", "txs": [{"value": "5.5"}, {"value": 7}, {"value": "x"}, "odd"]}
    assert oxapay.read_information(body).paid == "12.5"
    assert oxapay.read_information({"status": "paid", "txs": []}).paid == ""


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(),
              st.text(max_size=30), st.sampled_from(["1e999999999", "sNaN", "\x00", "\ud800",
                                                     "-Infinity", "25.00", "Paid"])),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=10)
FIELDS = ("status", "amount", "currency", "order_id", "value", "txs")


@hypothesis_settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, st.dictionaries(st.sampled_from(FIELDS), json_values | st.lists(
    st.dictionaries(st.just("value"), json_values), max_size=3))))
def test_any_body_reads_as_clean_short_text(body):
    info = oxapay.read_information(body)
    for text, limit in ((info.status, 50), (info.currency, 10), (info.order_id, 100),
                        (info.paid, 50)):
        assert isinstance(text, str) and len(text) <= limit
        assert text.isprintable() and "\x00" not in text
        text.encode("utf-8")   # no lone surrogate
    assert info.amount is None or (isinstance(info.amount, Decimal) and info.amount.is_finite())


# ------------------------------------------------------------------ signatures


def test_the_signature_is_hmac_sha512_of_the_raw_body_with_the_key():
    body = json.dumps({"track_id": "1", "status": "Paid"}).encode()
    expected = hmac.new(KEY.encode(), body, hashlib.sha512).hexdigest()
    assert sign(body, KEY) == expected
    assert oxapay.signature_ok(body, expected, KEY)
    assert oxapay.signature_ok(body, expected.upper(), KEY)        # hex is hex
    assert oxapay.signature_ok(body, f" {expected}\n", KEY)        # header whitespace


@pytest.mark.parametrize("body, signature, key", [
    (b"{}", sign(b"{}", "other"), KEY),          # another key
    (b"{} ", sign(b"{}", KEY), KEY),             # the body changed
    (b"{}", sign(b"{}", KEY)[:-2], KEY),         # cut short
    (b"{}", sign(b"{}", KEY) + "00", KEY),       # too long
    (b"{}", hashlib.sha512(b"{}").hexdigest(), KEY),   # a plain hash, no key
    (b"{}", hmac.new(KEY.encode(), b"{}", hashlib.sha256).hexdigest(), KEY),
    (b"{}", "", KEY), (b"{}", None, KEY), (b"{}", "é" * 128, KEY), (b"{}", "ü" + sign(b"{}", KEY)[1:], KEY),
    (b"{}", sign(b"{}", ""), ""),               # no key set: nothing verifies
    ("{}", sign(b"{}", KEY), KEY),               # text, not the raw bytes
    (None, sign(b"", KEY), KEY),
])
def test_anything_else_is_not_signed(body, signature, key):
    assert oxapay.signature_ok(body, signature, key) is False


@hypothesis_settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200), signature=st.text(max_size=140), key=st.text(max_size=40))
def test_a_signature_check_never_raises(body, signature, key):
    valid = bool(key) and signature.strip().lower() == sign(body, key)
    assert oxapay.signature_ok(body, signature, key) is valid
