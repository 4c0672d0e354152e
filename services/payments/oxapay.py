"""OxaPay's merchant API through its official package (`oxapay-python`), pointed at
OXAPAY_API_URL, and the check of its webhooks' signature.

Only what Leadgram uses: create an invoice, read a payment's information. Errors come out
as OxaPayError saying whether trying again later may help (`temporary`).
"""
import datetime
import hashlib
import hmac
from dataclasses import dataclass
from decimal import Decimal

from oxapay_python import OxaPayManager, __version__ as sdk_version
from oxapay_python.exceptions import (
    HttpException,
    OxaPayException,
    RateLimitException,
    ServerErrorException,
    ServiceUnavailableException,
)
from oxapay_python.http import OxaPayClient

from services.core import policy

# The bot waits for the invoice inside its transaction (SQLite's busy timeout is 10 s);
# the scheduler's polling may wait longer.
INVOICE_TIMEOUT = 5
INFORMATION_TIMEOUT = 10
TEMPORARY = (HttpException, RateLimitException, ServerErrorException, ServiceUnavailableException)


class OxaPayError(Exception):
    def __init__(self, message, temporary):
        super().__init__(message)
        self.temporary = temporary


@dataclass(frozen=True)
class Invoice:
    track_id: str
    pay_url: str
    expires_at: datetime.datetime | None   # naive UTC; None when OxaPay did not say


@dataclass(frozen=True)
class Information:
    status: str             # lower case: new, waiting, paying, paid, underpaid, expired…
    amount: Decimal | None  # what the invoice asks
    currency: str
    order_id: str
    paid: str               # what was received, as OxaPay wrote it ("" when nothing)


def _endpoint(timeout, terms=None):
    terms = terms or policy.current()
    client = OxaPayClient(f"{terms.oxapay_api_url}/v1", timeout, sdk_version)
    return OxaPayManager(client=client).payment(terms.oxapay_merchant_api_key)


def _call(request):
    try:
        return request()
    except TEMPORARY as exc:          # the network, 429, 5xx (HttpException: other codes too)
        raise OxaPayError(f"OxaPay is not answering: {exc}", temporary=True) from None
    except OxaPayException as exc:   # 400, 401, 404: our request or our key
        raise OxaPayError(f"OxaPay refused: {exc}", temporary=False) from None
    except ValueError as exc:         # a body that is not JSON
        raise OxaPayError(f"OxaPay answered something unreadable: {exc}", temporary=True) from None


def create_invoice(reference, amount, currency, description, callback_url, lifetime_minutes):
    """An invoice for `amount` (a Decimal) in `currency`, known to OxaPay as `reference`."""
    data = {"amount": float(amount), "currency": currency, "lifetime": lifetime_minutes,
            "order_id": reference, "description": description}
    answer = _call(lambda: _endpoint(INVOICE_TIMEOUT).generate_invoice(
        data, callback_url=callback_url or None))
    track_id, pay_url = str(answer.get("track_id") or ""), str(answer.get("payment_url") or "")
    if not track_id or not pay_url.startswith(("https://", "http://")):
        raise OxaPayError(f"OxaPay's answer has no track_id or payment_url: {answer!r}"[:300],
                          temporary=True)
    return Invoice(track_id, pay_url, _moment(answer.get("expired_at")))


def information(track_id):
    """What OxaPay knows of the payment `track_id` now."""
    answer = _call(lambda: _endpoint(INFORMATION_TIMEOUT).information(track_id))
    return read_information(answer)


def read_information(answer):
    """Information from a payment's information or a webhook's body (the same fields)."""
    return Information(status=str(answer.get("status") or "").strip().lower(),
                       amount=_decimal(answer.get("amount")),
                       currency=str(answer.get("currency") or "").upper(),
                       order_id=str(answer.get("order_id") or ""),
                       paid=_received(answer))


def signature_ok(raw_body, signature, key):
    """Whether `signature` (the HMAC header) is the hex HMAC-SHA512 of the raw body keyed
    with the merchant API key, compared in constant time."""
    if not key or not signature or not isinstance(raw_body, bytes):
        return False
    expected = hmac.new(key.encode(), raw_body, hashlib.sha512).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode("ascii", "replace"))


def _received(answer):
    """The amount received in the invoice's currency: the webhook's `value`, else the sum
    of the transactions' values (payment information)."""
    if answer.get("value") not in (None, ""):
        return str(answer["value"])
    values = [_decimal(tx.get("value")) for tx in answer.get("txs") or () if isinstance(tx, dict)]
    values = [value for value in values if value is not None]
    return str(sum(values)) if values else ""


def _decimal(value):
    try:
        number = Decimal(str(value))
    except (ArithmeticError, ValueError):
        return None
    return number if number.is_finite() else None


def _moment(epoch):
    try:
        return datetime.datetime.fromtimestamp(int(epoch), datetime.UTC).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
