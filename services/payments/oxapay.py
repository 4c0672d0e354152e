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
    except (ValueError, AttributeError, TypeError) as exc:
        # Not JSON, or JSON that is no object: the package reads the body with .get().
        raise OxaPayError(f"OxaPay answered something unreadable: {exc}"[:300],
                          temporary=True) from None


def _answer(answer, *needed):
    """`answer` when it is an object holding the `needed` fields, else OxaPayError (a proxy
    or an outage page answering 200 for OxaPay)."""
    if not isinstance(answer, dict) or not all(answer.get(name) for name in needed):
        raise OxaPayError(f"OxaPay's answer is not what it sends: {answer!r}"[:300],
                          temporary=True)
    return answer


def create_invoice(reference, amount, currency, description, callback_url, lifetime_minutes):
    """An invoice for `amount` (a Decimal) in `currency`, known to OxaPay as `reference`."""
    data = {"amount": float(amount), "currency": currency, "lifetime": lifetime_minutes,
            "order_id": reference, "description": description}
    answer = _answer(_call(lambda: _endpoint(INVOICE_TIMEOUT).generate_invoice(
        data, callback_url=callback_url or None)))
    track_id, pay_url = str(answer.get("track_id") or ""), str(answer.get("payment_url") or "")
    if not track_id or not pay_url.startswith(("https://", "http://")):
        raise OxaPayError(f"OxaPay's answer has no track_id or payment_url: {answer!r}"[:300],
                          temporary=True)
    return Invoice(track_id, pay_url, _moment(answer.get("expired_at")))


def information(track_id):
    """What OxaPay knows of the payment `track_id` now."""
    answer = _answer(_call(lambda: _endpoint(INFORMATION_TIMEOUT).information(track_id)),
                     "status")
    return read_information(answer)


def read_information(answer):
    """Information from a payment's information or a webhook's body (the same fields).
    Whatever the fields hold, the text is fit for a query (no NUL, which Postgres
    refuses; no lone surrogate, which no driver can encode) and short."""
    if not isinstance(answer, dict):
        answer = {}
    return Information(status=_text(answer.get("status")).lower(),
                       amount=_decimal(answer.get("amount")),
                       currency=_text(answer.get("currency"), 10).upper(),
                       order_id=_text(answer.get("order_id"), 100),
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
        return _text(answer["value"])
    txs = answer.get("txs")
    values = [_decimal(tx.get("value")) for tx in txs if isinstance(tx, dict)] \
        if isinstance(txs, list) else []
    values = [value for value in values if value is not None]
    try:
        return _text(sum(values)) if values else ""
    except ArithmeticError:   # past Decimal's exponent range: no amount anyone paid
        return ""


def _text(value, limit=50):
    """`value` as one short line of text ("" for None): no control characters, lone
    surrogates replaced."""
    if value is None:
        return ""
    text = str(value).encode("utf-8", "replace").decode("utf-8")
    return "".join(char for char in text if char.isprintable()).strip()[:limit]


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
