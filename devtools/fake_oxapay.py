"""A fake OxaPay (merchant API v1: invoices, payment information, webhooks) for tests and local runs.

A real HTTP server on 127.0.0.1 that answers POST /v1/payment/invoice and GET /v1/payment/<track_id>
(merchant_api_key header, OxaPay's checks and response envelope), then, when a test pays an
invoice, POSTs webhooks to its callback_url signed as OxaPay signs them (header HMAC: hex
HMAC-SHA512 of the raw body keyed with the merchant API key), retrying until the receiver answers
200 with body "ok" (5 attempts in all, like OxaPay, with configurable, short delays). Tests also
script expiry, duplicate and lost webhooks, forged signatures and API faults. Point the product at
it with OXAPAY_API_URL = fake.base_url. See devtools/README.md.
"""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal
from typing import Iterable

from devtools.fake_oxapay_records import Call, Webhook, _Dropped, _Fault
from devtools.fake_oxapay_server import INVOICE, PAYMENT, OxaPayError, Server, check_invoice, envelope
from devtools.loopback_http import StandIn

DEFAULT_KEY = "FAKE00-MERCHA-NTKEY0-000000"
# OxaPay waits ~1 min, 3 min, 30 min, 3 h between its 5 attempts; the fake scales that down.
DEFAULT_RETRY_DELAYS = (0.05, 0.05, 0.05, 0.05)
_FAULT_MESSAGES = {429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
                   503: "Service Unavailable"}
_FINAL = ("paid", "underpaid", "expired", "refunded", "manual_accept")


def sign(body: bytes, key: str) -> str:
    """OxaPay's webhook signature: lowercase hex HMAC-SHA512 of the raw body keyed with the API key."""
    return hmac.new(key.encode("utf-8"), body, hashlib.sha512).hexdigest()


def _callback_status(status: str) -> str:
    """Webhooks carry statuses capitalised ("Paying", "Paid"), payment information lower case."""
    return status.replace("_", " ").title().replace(" ", "_")


class FakeOxaPay(StandIn):
    server_class = Server  # start(), stop(), base_url, `with`: devtools/loopback_http.py
    thread_name = "fake OxaPay"

    def __init__(self, merchant_api_key: str = DEFAULT_KEY, *, host: str = "127.0.0.1", port: int = 0,
                 retry_delays: Iterable[float] = DEFAULT_RETRY_DELAYS, step_delay: float = 0.01,
                 webhook_timeout: float = 5.0) -> None:
        """retry_delays: seconds before each retry of a webhook not answered 200 + "ok" (one attempt
        plus one retry per delay; OxaPay's own are 60, 180, 1800, 10800). step_delay: seconds before
        each status change of pay() (and between them)."""
        self.merchant_api_key = merchant_api_key
        self.retry_delays = tuple(retry_delays)
        self.step_delay = step_delay
        self.webhook_timeout = webhook_timeout
        self._address = (host, port)
        self._server: Server | None = None
        self._cond = threading.Condition()
        self._invoices: dict[str, dict] = {}
        self._calls: list[Call] = []
        self._webhooks: list[Webhook] = []
        self._faults: list[_Fault] = []
        self._lost: set[str] = set()
        self._lose_all = False
        self._pending = 0
        self._workers: list[threading.Thread] = []
        self._stopping = False
        self._track_ids = itertools.count(100_000_001 + secrets.randbelow(10_000_000) * 10)

    # ------------------------------------------------------------ scripting

    def pay(self, track_id: str, statuses: Iterable[str] = ("paying", "paid"), amount=None, *,
            currency: str | None = None, network: str = "Tron Network") -> None:
        """The payer pays: each status in turn (step_delay apart, in a background thread) becomes the
        invoice's status, with a signed webhook to its callback_url. amount: what was received (in
        the invoice currency; default the full amount); short of the amount less the invoice's
        under_paid_coverage percent, "paid" becomes "underpaid"."""
        with self._cond:
            invoice = self._invoice(track_id)
            received = Decimal(str(invoice["amount"] if amount is None else amount))
            floor = Decimal(str(invoice["amount"])) * (1 - Decimal(str(invoice["under_paid_coverage"])) / 100)
            steps = [status.lower() for status in statuses]
            steps = ["underpaid" if status == "paid" and received < floor else status for status in steps]
            self._spawn(self._run_payment, track_id, steps, received, currency or invoice["currency"], network)

    def expire(self, track_id: str, *, webhook: bool = False) -> None:
        """The invoice's lifetime ends unpaid: status "expired" (no webhook unless webhook=True: OxaPay's
        v1 documents webhooks for paying and paid)."""
        with self._cond:
            invoice = self._invoice(track_id)
            invoice["status"] = "expired"
            if webhook and invoice["callback_url"] and not self._is_lost(track_id):
                self._spawn(self._deliver, track_id, self._payload(invoice), invoice["callback_url"], "delivery")

    def set_status(self, track_id: str, status: str) -> None:
        """Set an invoice's status silently (refunding, refunded, manual_accept...)."""
        with self._cond:
            self._invoice(track_id)["status"] = status

    def deliver_again(self, track_id: str, index: int = -1) -> Webhook:
        """POST an invoice's last webhook (or its index-th) again, same body and signature: a
        duplicate delivery. Synchronous, one attempt; returns the record."""
        with self._cond:
            firsts = [hook for hook in self._webhooks
                      if hook.track_id == track_id and hook.kind == "delivery" and hook.attempt == 1]
            if not firsts:
                raise KeyError(f"no webhook was sent for {track_id}")
            previous = firsts[index]
        record = self._post(previous.url, previous.track_id, previous.body, previous.payload, previous.signature,
                            attempt=1, kind="duplicate")
        self._record(record)
        return record

    def lose_webhooks(self, track_id: str | None = None, lost: bool = True) -> None:
        """Status changes of this invoice (of every invoice, without track_id) happen without any
        webhook, as if OxaPay's calls never arrived: the product must poll. lost=False ends it."""
        with self._cond:
            if track_id is None:
                self._lose_all = lost
            elif lost:
                self._lost.add(track_id)
            else:
                self._lost.discard(track_id)

    def forged(self, track_id: str, status: str = "paid", *, key: str = "forged-key", signature: str | None = "",
               url: str | None = None, amount=None) -> Webhook:
        """POST a webhook OxaPay did not send: the invoice's payload with `status`, signed with `key`
        (or with `signature` as given; None: no HMAC header). The fake's own state does not change.
        Synchronous, one attempt; returns the record."""
        with self._cond:
            invoice = dict(self._invoice(track_id))
            invoice["status"] = status
            payload = self._payload(invoice, None if amount is None else Decimal(str(amount)))
            url = url or invoice["callback_url"]
        if not url:
            raise ValueError(f"invoice {track_id} has no callback_url: pass url=")
        body = json.dumps(payload).encode("utf-8")
        record = self._post(url, track_id, body, payload, sign(body, key) if signature == "" else signature,
                            attempt=1, kind="forged")
        self._record(record)
        return record

    def fail(self, status: int | str = 500, *, times: int = 1, path: str | None = None) -> None:
        """The next `times` API calls (path "invoice" or "info" only, if given) fail with this HTTP
        status (429, 500, 503...) in OxaPay's envelope. status="drop" closes the connection unanswered."""
        if path not in (None, "invoice", "info"):
            raise ValueError("path must be 'invoice', 'info' or None")
        with self._cond:
            self._faults.append(_Fault(status, times, path))

    # ------------------------------------------------------------ inspection

    @property
    def invoices(self) -> list[dict]:
        """Created invoices (current state, as payment information shows them), oldest first."""
        with self._cond:
            return [self._information(invoice) for invoice in self._invoices.values()]

    def invoice(self, track_id: str) -> dict:
        with self._cond:
            return self._information(self._invoice(track_id))

    @property
    def calls(self) -> list[Call]:
        with self._cond:
            return list(self._calls)

    @property
    def webhooks(self) -> list[Webhook]:
        """Every webhook POST, in order (retries, duplicates and forged ones included)."""
        with self._cond:
            return list(self._webhooks)

    def wait_for_webhooks(self, count: int | None = None, timeout: float = 5.0) -> list[Webhook]:
        """Wait until `count` webhook POSTs were made (default: until none is pending, retries
        included); returns them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (len(self._webhooks) < count) if count is not None else self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._webhooks)} webhooks made, {self._pending} pending")
                self._cond.wait(left)
            return list(self._webhooks)

    def payment_page(self, track_id: str) -> str | None:
        """The text of the fake payment page behind payment_url (None: unknown invoice)."""
        with self._cond:
            invoice = self._invoices.get(track_id)
            if invoice is None:
                return None
            return (f"<!doctype html><title>OxaPay (fake) {track_id}</title>"
                    f"<p>Invoice {track_id}: {invoice['amount']} {invoice['currency']}, {invoice['status']}</p>")

    # ------------------------------------------------------------ the API

    def handle(self, method: str, path: str, api_key: str | None, raw: bytes) -> tuple[int | None, dict | None]:
        """Answer one API call (called by the HTTP server); records it in `calls`."""
        body = None
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            pass
        try:
            status, payload = 200, self._dispatch(method, path, api_key, raw, body)
        except OxaPayError as error:
            status, payload = error.status, error.payload()
        except _Dropped:
            status, payload = None, None
        with self._cond:
            self._calls.append(Call(method, path, api_key, body if isinstance(body, dict) else None, status,
                                    payload, time.monotonic()))
        return status, payload

    def _dispatch(self, method: str, path: str, api_key: str | None, raw: bytes, body) -> dict:
        info = None if path == INVOICE else PAYMENT.fullmatch(path)
        if path != INVOICE and not info:
            raise OxaPayError(404, "not_found", "", "Not Found")
        if (path == INVOICE and method != "POST") or (path != INVOICE and method != "GET"):
            raise OxaPayError(405, "method_not_allowed", "", "Method Not Allowed")
        self._scripted_fault("invoice" if path == INVOICE else "info")
        if not api_key:
            raise OxaPayError(401, "authentication_error", "merchant_api_key", "Merchant API key is required.")
        if not hmac.compare_digest(api_key.encode("utf-8"), self.merchant_api_key.encode("utf-8")):
            raise OxaPayError(401, "authentication_error", "merchant_api_key", "Invalid merchant API key.")
        if info:
            with self._cond:
                invoice = self._invoices.get(info.group(1))
                if invoice is None:
                    raise OxaPayError(404, "not_found", "track_id", "Invalid track_id.")
                return envelope(self._information(invoice))
        if raw and not isinstance(body, dict):
            raise OxaPayError(400, "validation_error", "", "The request body must be a JSON object.")
        return envelope(self._create(check_invoice(body or {})))

    def _scripted_fault(self, path: str) -> None:
        with self._cond:
            for fault in self._faults:
                if fault.times > 0 and fault.path in (None, path):
                    fault.times -= 1
                    if fault.status == "drop":
                        raise _Dropped
                    status = int(fault.status)
                    raise OxaPayError(status, "server_error" if status >= 500 else "request_error", "",
                                      _FAULT_MESSAGES.get(status, "Error"))

    def _create(self, settings: dict) -> dict:
        now = int(time.time())
        with self._cond:
            track_id = str(next(self._track_ids))
            invoice = dict(settings, track_id=track_id, type="invoice", status="new", date=now,
                           expired_at=now + settings["lifetime"] * 60, txs=[])
            self._invoices[track_id] = invoice
        return {"track_id": track_id, "payment_url": f"{self.base_url}/pay/{track_id}",
                "expired_at": invoice["expired_at"], "date": now}

    # ------------------------------------------------------------ state

    def _invoice(self, track_id: str) -> dict:
        invoice = self._invoices.get(str(track_id))
        if invoice is None:
            raise KeyError(f"no invoice {track_id}")
        if invoice["status"] in ("new", "waiting") and time.time() >= invoice["expired_at"]:
            invoice["status"] = "expired"
        return invoice

    def _information(self, invoice: dict) -> dict:
        """An invoice as GET /v1/payment/<track_id> shows it."""
        invoice = self._invoice(invoice["track_id"])
        keys = ("track_id", "type", "amount", "currency", "status", "mixed_payment", "callback_url", "description",
                "email", "fee_paid_by_payer", "lifetime", "order_id", "under_paid_coverage", "return_url",
                "thanks_message", "expired_at", "date")
        return dict({key: invoice[key] for key in keys},
                    txs=[{key: value for key, value in tx.items() if not key.startswith("_")} for tx in invoice["txs"]])

    def _is_lost(self, track_id: str) -> bool:
        return self._lose_all or track_id in self._lost

    def _payload(self, invoice: dict, received: Decimal | None = None) -> dict:
        """The webhook body for an invoice in its current status."""
        txs = []
        for tx in invoice["txs"]:
            txs.append({"status": tx["status"], "tx_hash": tx["tx_hash"], "sent_amount": tx["amount"],
                        "received_amount": tx["amount"], "value": tx["_value"], "sent_value": tx["_value"],
                        "currency": tx["currency"], "network": tx["network"], "sender_address": tx["_sender"],
                        "address": tx["address"], "rate": tx["_rate"], "confirmations": tx["confirmations"],
                        "auto_convert_amount": tx["auto_convert"]["amount"],
                        "auto_convert_currency": tx["auto_convert"]["currency"], "date": tx["date"]})
        value = float(received) if received is not None else sum((tx["_value"] for tx in invoice["txs"]), 0.0)
        return {"track_id": invoice["track_id"], "status": _callback_status(invoice["status"]), "type": "invoice",
                "module_name": "OxaPay", "amount": invoice["amount"], "value": value, "sent_value": value,
                "currency": invoice["currency"], "order_id": invoice["order_id"], "email": invoice["email"],
                "note": "", "fee_paid_by_payer": invoice["fee_paid_by_payer"],
                "under_paid_coverage": invoice["under_paid_coverage"], "description": invoice["description"],
                "date": int(time.time()), "txs": txs}

    # ------------------------------------------------------------ webhooks

    def _spawn(self, target, *args) -> None:
        """Run target(*args) in a tracked background thread (caller holds the lock)."""
        self._pending += 1

        def run() -> None:
            try:
                target(*args)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

        worker = threading.Thread(target=run, name="fake-oxapay-webhooks", daemon=True)
        self._workers = [thread for thread in self._workers if thread.is_alive()] + [worker]
        worker.start()

    def _sleep(self, seconds: float) -> bool:
        """Wait, unless the fake stops; True if it is stopping."""
        with self._cond:
            return self._cond.wait_for(lambda: self._stopping, seconds)

    def _run_payment(self, track_id: str, steps: list[str], received: Decimal, currency: str, network: str) -> None:
        for status in steps:
            if self._sleep(self.step_delay):
                return
            with self._cond:
                invoice = self._invoices[track_id]
                invoice["status"] = status
                if status in ("paying", "paid", "underpaid", "manual_accept") and not invoice["txs"]:
                    invoice["txs"].append(self._transaction(received, currency, network))
                if invoice["txs"]:
                    confirmed = status in _FINAL
                    invoice["txs"][0].update(status="confirmed" if confirmed else "confirming",
                                             confirmations=1 if confirmed else 0)
                url = invoice["callback_url"]
                if not url or self._is_lost(track_id):
                    continue
                payload = self._payload(invoice)
            self._deliver(track_id, payload, url, "delivery", first_only=True)

    def _transaction(self, received: Decimal, currency: str, network: str) -> dict:
        return {"tx_hash": secrets.token_hex(32), "amount": float(received), "currency": currency,
                "network": network, "address": "T" + secrets.token_hex(16), "status": "confirming",
                "confirmations": 0, "auto_convert": {"processed": False, "amount": 0, "currency": ""},
                "auto_withdrawal": {"processed": False}, "date": int(time.time()),
                "_value": float(received), "_rate": 1, "_sender": "T" + secrets.token_hex(16)}

    def _deliver(self, track_id: str, payload: dict, url: str, kind: str, first_only: bool = False) -> None:
        """POST a webhook, then retry it (retry_delays apart) until answered 200 + "ok". With first_only,
        the retries go on in another thread so that the next status is not held up by them."""
        body = json.dumps(payload).encode("utf-8")
        signature = sign(body, self.merchant_api_key)
        record = self._post(url, track_id, body, payload, signature, attempt=1, kind=kind)
        self._record(record)
        if record.ok or not self.retry_delays:
            return
        if first_only:
            with self._cond:
                if not self._stopping:
                    self._spawn(self._retry, url, track_id, body, payload, signature, kind)
            return
        self._retry(url, track_id, body, payload, signature, kind)

    def _retry(self, url: str, track_id: str, body: bytes, payload: dict, signature: str, kind: str) -> None:
        for attempt, delay in enumerate(self.retry_delays, start=2):
            if self._sleep(delay):
                return
            record = self._post(url, track_id, body, payload, signature, attempt=attempt, kind=kind)
            self._record(record)
            if record.ok:
                return

    def _record(self, record: Webhook) -> None:
        with self._cond:
            self._webhooks.append(record)
            self._cond.notify_all()

    def _post(self, url: str, track_id: str, body: bytes, payload: dict, signature: str | None, *, attempt: int,
              kind: str) -> Webhook:
        headers = {"Content-Type": "application/json", "User-Agent": "OxaPay-Webhook (fake)"}
        if signature is not None:
            headers["HMAC"] = signature
        request = urllib.request.Request(url, body, headers, method="POST")
        text = ""
        try:
            with urllib.request.urlopen(request, timeout=self.webhook_timeout) as response:
                status: int | None = response.status
                text = response.read(4096).decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            status = error.code
            try:
                text = error.read(4096).decode("utf-8", "replace")
            except OSError:
                pass
        except OSError:
            status = None
        return Webhook(url, track_id, payload["status"], body, payload, signature, attempt, kind, status, text,
                       status == 200 and text.strip() == "ok", time.monotonic())
