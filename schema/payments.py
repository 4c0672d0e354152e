"""Crypto top-ups (issue 15): a customer buys tokens through an OxaPay invoice.

A Payment row is written before the customer sees the Pay link, and its tokens reach the
wallet only through the ledger row that names it (LedgerEntry.payment, unique: credited
once whatever OxaPay repeats).
"""
from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from database import utcnow
from schema.base import BaseModel
from schema.crm import Lead

# new: stored, invoice not made yet · waiting: invoice made, nothing paid · paying: OxaPay
# sees a payment confirming · paid: credited · underpaid, expired, failed: nothing credited.
PAYMENT_STATUSES = ("new", "waiting", "paying", "paid", "underpaid", "expired", "failed")
PENDING_PAYMENT_STATUSES = ("new", "waiting", "paying")
FINAL_PAYMENT_STATUSES = ("paid", "underpaid", "expired", "failed")


class Payment(BaseModel):
    lead = ForeignKeyField(Lead, backref="payments", on_delete="CASCADE")
    reference = CharField(unique=True)        # the order_id OxaPay knows it by: "LG-<hex>"
    track_id = CharField(null=True, unique=True)   # OxaPay's id, once the invoice is made
    tokens = IntegerField()
    amount_cents = IntegerField()             # what the invoice asks, in cents of `currency`
    currency = CharField(default="USD")
    status = CharField(default="new")         # PAYMENT_STATUSES
    provider_status = CharField(null=True)    # OxaPay's own word, as it last said it
    paid_amount = CharField(null=True)        # what OxaPay says was paid, as it wrote it
    pay_url = TextField(null=True)
    expires_at = DateTimeField()
    next_check_at = DateTimeField(null=True)  # when the scheduler asks OxaPay; None: never again
    checks = IntegerField(default=0)          # how often it asked
    last_error = TextField(null=True)
    request_key = CharField(null=True, unique=True)  # the pressed button: one invoice
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    paid_at = DateTimeField(null=True)

    class Meta:
        table_name = "payment"
        indexes = ((("status", "next_check_at"), False), (("created_at",), False),
                   (("paid_at",), False), (("lead", "id"), False))
