"""The fake OxaPay (devtools/fake_oxapay.py) driven with plain `requests`, and its webhooks received
by a plain http.server the test runs, verified the way the product must verify them."""
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from devtools.fake_oxapay import FakeOxaPay, sign

KEY = "TEST01-MERCHA-NTKEY1-ABCDEF"
HOOK_PATH = "/hooks/oxapay"


@pytest.fixture
def fake():
    with FakeOxaPay(KEY, retry_delays=(0.01, 0.01, 0.01, 0.01), step_delay=0.005) as server:
        yield server


class _Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.received.append((self.path, raw, self.headers.get("HMAC")))
            status, text = self.server.answers.pop(0) if self.server.answers else (200, "ok")
        data = text.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def app():
    """The product's webhook endpoint: records (path, raw body, HMAC header); answers the scripted
    (status, body) pairs in `answers`, then 200 "ok"."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.received, server.answers, server.lock = [], [], threading.Lock()
    server.url = f"http://127.0.0.1:{server.server_address[1]}{HOOK_PATH}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _create(fake, key=KEY, **body):
    body = {"amount": 10, "currency": "USD", "lifetime": 30, **body}
    return requests.post(fake.base_url + "/v1/payment/invoice", json=body, headers={"merchant_api_key": key},
                         timeout=5)


def _info(fake, track_id, key=KEY):
    return requests.get(f"{fake.base_url}/v1/payment/{track_id}", headers={"merchant_api_key": key}, timeout=5)


def _invoice(fake, **body) -> str:
    response = _create(fake, **body)
    assert response.status_code == 200, response.text
    return response.json()["data"]["track_id"]


def _verified(raw: bytes, header: str | None) -> bool:
    """What the product does: HMAC-SHA512 of the raw body, compared in constant time."""
    expected = hmac.new(KEY.encode(), raw, hashlib.sha512).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)


def test_create_and_read_an_invoice(fake):
    response = _create(fake, order_id="topup-1", description="100 tokens", email="ann@example.com",
                       fee_paid_by_payer=1, under_paid_coverage=2.5, return_url="https://crm.example.com/ok",
                       thanks_message="Thanks", mixed_payment=True, sandbox=False)
    assert response.status_code == 200
    reply = response.json()
    assert set(reply) == {"data", "message", "error", "status", "version"}
    assert (reply["status"], reply["error"], reply["version"]) == (200, {}, "1.0.0")
    data = reply["data"]
    assert set(data) == {"track_id", "payment_url", "expired_at", "date"}
    assert data["track_id"].isdigit() and data["expired_at"] - data["date"] == 30 * 60
    assert abs(data["date"] - time.time()) < 5
    assert data["payment_url"] == f"{fake.base_url}/pay/{data['track_id']}"
    assert requests.get(data["payment_url"], timeout=5).status_code == 200

    info = _info(fake, data["track_id"])
    assert info.status_code == 200 and info.json()["status"] == 200
    payment = info.json()["data"]
    assert (payment["track_id"], payment["type"], payment["status"]) == (data["track_id"], "invoice", "new")
    assert (payment["amount"], payment["currency"], payment["lifetime"]) == (10, "USD", 30)
    assert (payment["order_id"], payment["description"], payment["email"]) == ("topup-1", "100 tokens",
                                                                                "ann@example.com")
    assert (payment["fee_paid_by_payer"], payment["under_paid_coverage"], payment["mixed_payment"]) == (1, 2.5, True)
    assert (payment["expired_at"], payment["date"], payment["txs"]) == (data["expired_at"], data["date"], [])
    assert payment["callback_url"] == ""  # no callback_url is allowed
    assert fake.invoices == [payment]
    assert [(call.method, call.path, call.status) for call in fake.calls] == [
        ("POST", "/v1/payment/invoice", 200), ("GET", f"/v1/payment/{data['track_id']}", 200)]
    assert fake.calls[0].body["order_id"] == "topup-1" and fake.calls[0].api_key == KEY


def test_defaults_and_lifetime_bounds(fake):
    response = requests.post(fake.base_url + "/v1/payment/invoice", json={"amount": 1.5},
                             headers={"merchant_api_key": KEY}, timeout=5)
    data = response.json()["data"]
    assert data["expired_at"] - data["date"] == 60 * 60
    assert fake.invoice(data["track_id"])["currency"] == "USD"
    for lifetime in (15, 2880):
        assert _create(fake, lifetime=lifetime).status_code == 200
    assert _create(fake, currency="usdt").status_code == 200


@pytest.mark.parametrize("key", [None, "", "WRONG-KEY"])
def test_a_wrong_or_missing_merchant_key_gets_401(fake, key):
    track_id = _invoice(fake)
    headers = {} if key is None else {"merchant_api_key": key}
    for response in (requests.post(fake.base_url + "/v1/payment/invoice", json={"amount": 1}, headers=headers,
                                   timeout=5),
                     requests.get(f"{fake.base_url}/v1/payment/{track_id}", headers=headers, timeout=5)):
        reply = response.json()
        assert response.status_code == 401 and reply["status"] == 401 and reply["data"] == {}
        assert reply["error"]["key"] == "merchant_api_key" and reply["error"]["message"] == reply["message"]
    assert len(fake.invoices) == 1


@pytest.mark.parametrize("body, key", [
    ({"amount": None}, "amount"), ({"amount": 0}, "amount"), ({"amount": -5}, "amount"),
    ({"amount": "ten"}, "amount"), ({"lifetime": 14}, "lifetime"), ({"lifetime": 2881}, "lifetime"),
    ({"lifetime": 20.5}, "lifetime"), ({"currency": "XYZ"}, "currency"), ({"currency": 5}, "currency"),
    ({"under_paid_coverage": 61}, "under_paid_coverage"), ({"fee_paid_by_payer": 2}, "fee_paid_by_payer"),
    ({"callback_url": "not a url"}, "callback_url"), ({"return_url": "ftp://x"}, "return_url"),
    ({"email": "nobody"}, "email"), ({"to_currency": "BTC"}, "to_currency"), ({"sandbox": "yes"}, "sandbox"),
])
def test_invalid_invoices_get_400_with_the_field(fake, body, key):
    response = _create(fake, **body)
    reply = response.json()
    assert response.status_code == 400 and reply["status"] == 400 and reply["data"] == {}
    assert reply["error"]["key"] == key and reply["error"]["type"] and reply["error"]["message"]
    assert fake.invoices == []


def test_an_unknown_track_id_and_unknown_paths(fake):
    response = _info(fake, "999")
    assert response.status_code == 404 and response.json()["error"]["key"] == "track_id"
    assert requests.get(fake.base_url + "/v1/nothing", timeout=5).status_code == 404
    assert requests.get(fake.base_url + "/v1/payment/invoice", headers={"merchant_api_key": KEY},
                        timeout=5).status_code == 405
    response = requests.post(fake.base_url + "/v1/payment/invoice", data=b"[1, 2]",
                             headers={"merchant_api_key": KEY}, timeout=5)
    assert response.status_code == 400


def test_paying_then_paid_webhooks_are_signed_and_in_order(fake, app):
    track_id = _invoice(fake, callback_url=app.url, order_id="topup-7", amount=25, currency="USDT")
    fake.pay(track_id)
    hooks = fake.wait_for_webhooks(2)
    fake.wait_for_webhooks()
    assert [(hook.status, hook.attempt, hook.http_status, hook.ok) for hook in hooks] == [
        ("Paying", 1, 200, True), ("Paid", 1, 200, True)]
    assert [path for path, _, _ in app.received] == [HOOK_PATH, HOOK_PATH]
    for (_, raw, header), hook in zip(app.received, hooks):
        assert raw == hook.body and header == hook.signature == sign(raw, KEY)
        assert _verified(raw, header)
    paid = json.loads(app.received[1][1])
    assert (paid["track_id"], paid["status"], paid["type"]) == (track_id, "Paid", "invoice")
    assert (paid["amount"], paid["currency"], paid["order_id"], paid["value"]) == (25, "USDT", "topup-7", 25.0)
    assert isinstance(paid["date"], int) and paid["txs"][0]["status"] == "confirmed"
    assert json.loads(app.received[0][1])["txs"][0]["status"] == "confirming"
    payment = _info(fake, track_id).json()["data"]
    assert payment["status"] == "paid"
    assert payment["txs"][0]["amount"] == 25.0 and payment["txs"][0]["status"] == "confirmed"


def test_webhooks_are_retried_until_200_ok(fake, app):
    app.answers[:] = [(500, "error"), (200, "received"), (403, "ok")]
    track_id = _invoice(fake, callback_url=app.url)
    fake.pay(track_id, statuses=("paid",))
    fake.wait_for_webhooks()
    assert [(hook.attempt, hook.http_status, hook.response_body, hook.ok) for hook in fake.webhooks] == [
        (1, 500, "error", False), (2, 200, "received", False), (3, 403, "ok", False), (4, 200, "ok", True)]
    assert len({raw for _, raw, _ in app.received}) == 1  # the same body, retried


def test_oxapay_gives_up_after_five_attempts(fake, app):
    app.answers[:] = [(500, "")] * 10
    track_id = _invoice(fake, callback_url=app.url)
    fake.pay(track_id, statuses=("paying", "paid"))
    fake.wait_for_webhooks()
    time.sleep(0.05)
    by_status = {status: [hook.attempt for hook in fake.webhooks if hook.status == status]
                 for status in ("Paying", "Paid")}
    assert by_status == {"Paying": [1, 2, 3, 4, 5], "Paid": [1, 2, 3, 4, 5]}
    assert fake.invoice(track_id)["status"] == "paid"  # the status does not wait for the webhooks


def test_an_unreachable_callback_is_recorded_and_retried():
    with FakeOxaPay(KEY, retry_delays=(0.01,), step_delay=0) as fake:
        track_id = _invoice(fake, callback_url="http://127.0.0.1:9/hooks/oxapay")
        fake.pay(track_id, statuses=("paid",))
        hooks = fake.wait_for_webhooks()
    assert [(hook.attempt, hook.http_status, hook.ok) for hook in hooks] == [(1, None, False), (2, None, False)]


def test_an_underpaid_invoice(fake, app):
    track_id = _invoice(fake, callback_url=app.url, amount=10)
    fake.pay(track_id, amount=9.5)
    fake.wait_for_webhooks()
    assert [hook.status for hook in fake.webhooks] == ["Paying", "Underpaid"]
    assert fake.webhooks[-1].payload["value"] == 9.5
    assert _info(fake, track_id).json()["data"]["status"] == "underpaid"
    covered = _invoice(fake, callback_url=app.url, amount=10, under_paid_coverage=5)
    fake.pay(covered, statuses=("paid",), amount=9.6)
    fake.wait_for_webhooks()
    assert fake.webhooks[-1].status == "Paid" and fake.invoice(covered)["status"] == "paid"


def test_expiry(fake, app):
    quiet, loud = _invoice(fake, callback_url=app.url), _invoice(fake, callback_url=app.url)
    fake.expire(quiet)
    assert _info(fake, quiet).json()["data"]["status"] == "expired"
    fake.wait_for_webhooks()
    assert fake.webhooks == []  # v1 documents webhooks for paying and paid only
    fake.expire(loud, webhook=True)
    hooks = fake.wait_for_webhooks(1)
    assert hooks[0].status == "Expired" and _verified(app.received[0][1], app.received[0][2])


def test_duplicate_deliveries_repeat_the_body_and_signature(fake, app):
    track_id = _invoice(fake, callback_url=app.url)
    fake.pay(track_id)
    fake.wait_for_webhooks(2)
    duplicate = fake.deliver_again(track_id)
    assert (duplicate.kind, duplicate.status, duplicate.ok) == ("duplicate", "Paid", True)
    assert app.received[-1][1:] == app.received[-2][1:]
    again = fake.deliver_again(track_id, index=0)
    assert again.status == "Paying" and again.body == fake.webhooks[0].body
    assert [json.loads(raw)["status"] for _, raw, _ in app.received] == ["Paying", "Paid", "Paid", "Paying"]


def test_lost_webhooks_leave_the_status_to_polling(fake, app):
    lost, heard = _invoice(fake, callback_url=app.url), _invoice(fake, callback_url=app.url)
    fake.lose_webhooks(lost)
    fake.pay(lost)
    fake.pay(heard, statuses=("paid",))
    fake.wait_for_webhooks()
    assert [hook.track_id for hook in fake.webhooks] == [heard]
    assert _info(fake, lost).json()["data"]["status"] == "paid"
    fake.lose_webhooks()  # every invoice
    other = _invoice(fake, callback_url=app.url)
    fake.pay(other)
    fake.wait_for_webhooks()
    assert len(app.received) == 1 and fake.invoice(other)["status"] == "paid"
    fake.lose_webhooks(lost=False)
    fake.lose_webhooks(lost, lost=False)
    with pytest.raises(KeyError):
        fake.deliver_again(lost)


def test_forged_webhooks_fail_verification_and_change_nothing(fake, app):
    track_id = _invoice(fake, callback_url=app.url)
    forged = fake.forged(track_id, "paid")
    assert forged.kind == "forged" and forged.status == "Paid"
    path, raw, header = app.received[0]
    assert header == sign(raw, "forged-key") and not _verified(raw, header)
    fake.forged(track_id, signature=None)
    assert app.received[1][2] is None and not _verified(app.received[1][1], None)
    fake.forged(track_id, signature="0" * 128, url=app.url + "?x=1")
    assert app.received[2][0] == HOOK_PATH + "?x=1"
    assert fake.invoice(track_id)["status"] == "new"
    with pytest.raises(ValueError):
        fake.forged(_invoice(fake))  # no callback_url and no url


def test_scripted_api_faults(fake):
    fake.fail(503)
    response = _create(fake)
    assert response.status_code == 503 and response.json()["status"] == 503 and response.json()["error"]
    track_id = _invoice(fake)
    fake.fail(429, times=2, path="info")
    assert _create(fake).status_code == 200
    assert [_info(fake, track_id).status_code for _ in range(3)] == [429, 429, 200]
    fake.fail("drop")
    with pytest.raises(requests.ConnectionError):
        _create(fake)
    assert _create(fake).status_code == 200
    assert [call.status for call in fake.calls] == [503, 200, 200, 429, 429, 200, None, 200]
    with pytest.raises(ValueError):
        fake.fail(500, path="payout")


def test_stop_drops_pending_retries(app):
    app.answers[:] = [(500, "")] * 10
    fake = FakeOxaPay(KEY, retry_delays=(5, 5, 5, 5), step_delay=0).start()
    fake.pay(_invoice(fake, callback_url=app.url), statuses=("paid",))
    fake.wait_for_webhooks(1)
    started = time.monotonic()
    fake.stop()
    assert time.monotonic() - started < 2 and len(fake.webhooks) == 1
    with pytest.raises(RuntimeError):
        _ = fake.base_url
