"""HTTP front end of the fake OxaPay (devtools/fake_oxapay.py): api.oxapay.com's merchant API v1.

Serves POST /v1/payment/invoice (generate an invoice) and GET /v1/payment/<track_id> (payment
information), authenticated by the `merchant_api_key` header, JSON in and out, every answer in
OxaPay's envelope {"data", "message", "error", "status", "version"}. Also GET /pay/<track_id>, a
stand-in for the payment page behind payment_url. Holds the checks of a new invoice.
"""
from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from devtools.loopback_http import TrackedHandler, TrackedServer

if TYPE_CHECKING:
    from devtools.fake_oxapay import FakeOxaPay

API_VERSION = "1.0.0"
SUCCESS_MESSAGE = "Operation completed successfully!"
INVOICE = "/v1/payment/invoice"
PAYMENT = re.compile(r"/v1/payment/([^/]+)")
PAY_PAGE = re.compile(r"/pay/([^/]+)")

# What an invoice may be priced in: OxaPay's fiat list (short) and its accepted cryptocurrencies.
CURRENCIES = frozenset({
    "USD", "EUR", "GBP", "CAD", "AUD", "CHF", "JPY", "CNY", "INR", "RUB", "TRY", "AED", "BRL",
    "BTC", "ETH", "USDT", "USDC", "BNB", "TRX", "LTC", "DOGE", "TON", "SOL", "XMR", "BCH", "DAI",
    "SHIB", "POL", "NOT", "DOGS", "XRP",
})
TO_CURRENCIES = frozenset({"USDT"})
MIN_LIFETIME, MAX_LIFETIME, DEFAULT_LIFETIME = 15, 2880, 60
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class OxaPayError(Exception):
    """An API error reply: HTTP status plus OxaPay's error object (type, key, message)."""

    def __init__(self, status: int, type_: str, key: str, message: str) -> None:
        super().__init__(message)
        self.status, self.type, self.key, self.message = status, type_, key, message

    def payload(self) -> dict:
        return envelope({}, self.status, self.message, {"type": self.type, "key": self.key, "message": self.message})


def envelope(data: dict, status: int = 200, message: str = SUCCESS_MESSAGE, error: dict | None = None) -> dict:
    return {"data": data, "message": message, "error": error or {}, "status": status, "version": API_VERSION}


def _invalid(key: str, message: str) -> OxaPayError:
    return OxaPayError(400, "validation_error", key, message)


def _number(body: dict, key: str) -> Decimal | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise _invalid(key, f"The {key.replace('_', ' ')} field must be a number.")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _invalid(key, f"The {key.replace('_', ' ')} field must be a number.") from None
    if not number.is_finite():
        raise _invalid(key, f"The {key.replace('_', ' ')} field must be a number.")
    return number


def _url(body: dict, key: str) -> None:
    value = body.get(key)
    if value is None:
        return
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise _invalid(key, f"The {key.replace('_', ' ')} field must be a valid URL.")


def check_invoice(body: dict) -> dict:
    """OxaPay's checks of a new invoice; raises OxaPayError (400), returns the invoice's settings
    with defaults filled. A missing callback_url is allowed (no webhooks then)."""
    amount = _number(body, "amount")
    if amount is None:
        raise _invalid("amount", "The amount field is required.")
    if amount <= 0:
        raise _invalid("amount", "The amount field must be greater than 0.")
    currency = body.get("currency", "USD")
    if not isinstance(currency, str) or currency.upper() not in CURRENCIES:
        raise _invalid("currency", "The selected currency is invalid.")
    lifetime = body.get("lifetime", DEFAULT_LIFETIME)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int):
        raise _invalid("lifetime", "The lifetime field must be an integer.")
    if not MIN_LIFETIME <= lifetime <= MAX_LIFETIME:
        raise _invalid("lifetime", f"The lifetime field must be between {MIN_LIFETIME} and {MAX_LIFETIME}.")
    fee = body.get("fee_paid_by_payer", 0)
    if fee not in (0, 1) or isinstance(fee, bool):
        raise _invalid("fee_paid_by_payer", "The selected fee paid by payer is invalid.")
    coverage = _number(body, "under_paid_coverage")
    if coverage is not None and not 0 <= coverage <= 60:
        raise _invalid("under_paid_coverage", "The under paid coverage field must be between 0 and 60.")
    to_currency = body.get("to_currency")
    if to_currency is not None and (not isinstance(to_currency, str) or to_currency.upper() not in TO_CURRENCIES):
        raise _invalid("to_currency", "The selected to currency is invalid.")
    for key in ("auto_withdrawal", "mixed_payment", "sandbox"):
        if key in body and not isinstance(body[key], bool):
            raise _invalid(key, f"The {key.replace('_', ' ')} field must be true or false.")
    _url(body, "callback_url")
    _url(body, "return_url")
    email = body.get("email")
    if email is not None and (not isinstance(email, str) or not EMAIL.fullmatch(email)):
        raise _invalid("email", "The email field must be a valid email address.")
    for key in ("order_id", "description", "thanks_message"):
        if key in body and body[key] is not None and not isinstance(body[key], str):
            raise _invalid(key, f"The {key.replace('_', ' ')} field must be a string.")
    return {
        "amount": body["amount"], "currency": currency.upper(), "lifetime": lifetime, "fee_paid_by_payer": fee,
        "under_paid_coverage": body.get("under_paid_coverage", 0),
        "to_currency": to_currency.upper() if to_currency else "",
        "auto_withdrawal": body.get("auto_withdrawal", False), "mixed_payment": body.get("mixed_payment", False),
        "callback_url": body.get("callback_url") or "", "return_url": body.get("return_url") or "",
        "email": email or "", "order_id": body.get("order_id") or "", "description": body.get("description") or "",
        "thanks_message": body.get("thanks_message") or "", "sandbox": body.get("sandbox", False),
    }


class Server(TrackedServer):
    def __init__(self, address: tuple[str, int], fake: FakeOxaPay) -> None:
        self.fake = fake
        super().__init__(address, Handler)


class Handler(TrackedHandler):
    server: Server

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        page = PAY_PAGE.fullmatch(path)
        if page and self.command == "GET":
            text = self.server.fake.payment_page(page.group(1))
            self._send(200 if text else 404, (text or "Not Found").encode("utf-8"), "text/html; charset=utf-8")
            return
        status, payload = self.server.fake.handle(self.command, path, self.headers.get("merchant_api_key"), raw)
        if status is None:  # a scripted "drop": close without answering
            self.close_connection = True
            return
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json")

    do_POST = do_GET
    do_PUT = do_GET
    do_DELETE = do_GET

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True
