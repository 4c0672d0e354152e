"""Buying tokens (seed 002 §3.3): a quote in US dollars at TOKEN_PRICE_USD, the packs on
offer, and a payment with its OxaPay invoice.

`create` writes the payment row (status "new", our reference) before it asks OxaPay for
the invoice and stores the invoice's track_id and Pay link on it; the caller shows the
link only after that. In the bot all of it is one transaction with the answer, so the
link is only ever sent for a payment that is stored; outside one, the "new" row commits
first. The tokens are credited later, once, by services/payments/settlement.py.
"""
import datetime
import secrets
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from peewee import IntegrityError

from models import Lead, Payment, db, utcnow
from services.core import events, policy
from services.core.inputs import parse_bounded_int
from services.core.markup import usd
from services.payments import messages, oxapay, polling

CURRENCY = "USD"
HOOK_PATH = "/hooks/oxapay"     # admin.py's webhook (panel/oxapay_hooks.py)


class TopUpError(ValueError):
    """A top-up refused; the message says why in plain English."""


class InvoiceFailed(TopUpError):
    def __init__(self, payment):
        super().__init__(messages.INVOICE_FAILED)
        self.payment = payment


@dataclass(frozen=True)
class Quote:
    tokens: int
    cents: int                  # US cents, rounded up

    @property
    def usd(self):
        return Decimal(self.cents) / 100

    @property
    def price(self):
        """"$12.50"."""
        return usd(self.cents)


def quote(tokens):
    """What `tokens` (a number, or text a customer wrote) cost; TopUpError when they are
    not a whole number within TOPUP_MIN_TOKENS..TOPUP_MAX_TOKENS."""
    terms = policy.current()
    high = terms.topup_max_tokens    # its price fits amount_cents (services/core/config.py)
    count = tokens if type(tokens) is int else parse_bounded_int(
        str(tokens).strip().replace(",", "").replace("_", ""), 1, high)
    if count is None or not terms.topup_min_tokens <= count <= high:
        raise TopUpError(messages.BAD_AMOUNT.format(low=terms.topup_min_tokens, high=high))
    cents = (Decimal(count) * terms.token_price_usd * 100).to_integral_value(ROUND_CEILING)
    return Quote(count, int(cents))


def packs():
    return [quote(tokens) for tokens in policy.current().topup_packs]


def available():
    return policy.current().payments


def create(actor, lead_id, tokens, request_key=None, now=None):
    """A payment of `tokens` for the lead, with its invoice: the Payment (status
    "waiting", `pay_url` set). The same `request_key` (a pressed button) gives back the
    payment it made (InvoiceFailed again if that one failed; status "new", no pay_url
    yet, while the first press still waits for OxaPay). TopUpError when top-ups are off
    or the amount is refused, InvoiceFailed (the payment kept as "failed") when OxaPay
    does not make the invoice."""
    terms = policy.current()
    if not terms.payments:
        raise TopUpError(messages.PAYMENTS_OFF)
    priced = quote(tokens)
    now = now or utcnow()
    lifetime = datetime.timedelta(minutes=terms.oxapay_lifetime_minutes)
    with db.atomic():
        if request_key is not None:
            made = Payment.get_or_none(Payment.request_key == request_key)
            if made is not None:
                return _again(made)
        lead = Lead.get_by_id(lead_id)
        try:
            with db.atomic():   # a savepoint: the caller's transaction goes on after a clash
                payment = Payment.create(lead=lead, reference=f"LG-{secrets.token_hex(6)}",
                                         tokens=priced.tokens, amount_cents=priced.cents,
                                         currency=CURRENCY, expires_at=now + lifetime,
                                         request_key=request_key, created_at=now, updated_at=now)
        except IntegrityError:
            # The same press at the same moment (Postgres: both found none, the other's
            # row committed first): that one is this payment.
            made = None if request_key is None else Payment.get_or_none(
                Payment.request_key == request_key)
            if made is None:
                raise
            return _again(made)
        events.emit("payment.created", actor, "payment", payment.id,
                    {"status": (None, "new"), "tokens": (None, priced.tokens),
                     "amount_cents": (None, priced.cents)}, payment=payment, lead=lead, now=now)
    try:
        invoice = oxapay.create_invoice(
            payment.reference, priced.usd, CURRENCY, f"{priced.tokens} tokens · {terms.company}",
            callback_url=f"{terms.public_base_url}{HOOK_PATH}" if terms.public_base_url else None,
            lifetime_minutes=terms.oxapay_lifetime_minutes)
    except oxapay.OxaPayError as exc:
        _change(actor, payment, now, status="failed", last_error=str(exc)[:500])
        raise InvoiceFailed(Payment.get_by_id(payment.id)) from None
    payment.expires_at = invoice.expires_at or payment.expires_at
    _change(actor, payment, now, status="waiting", track_id=invoice.track_id,
            pay_url=invoice.pay_url, expires_at=payment.expires_at,
            next_check_at=polling.next_check(payment, now))
    return Payment.get_by_id(payment.id)


def _again(payment):
    """The payment a press made before: the same answer again (InvoiceFailed when OxaPay
    made no invoice for it; a new press asks anew)."""
    if payment.status == "failed":
        raise InvoiceFailed(payment)
    return payment


def _change(actor, payment, now, **values):
    with db.atomic():
        changes = events.changed(payment, values)
        Payment.update(updated_at=now, **values).where(Payment.id == payment.id).execute()
        events.emit("payment.status_changed", actor, "payment", payment.id,
                    {key: changes[key] for key in ("status",) if key in changes},
                    payment=Payment.get_by_id(payment.id), lead=payment.lead, entry=None,
                    source="invoice", now=now)
