"""The shop (seed 002): customers are clients (leads) with a token wallet; they register
profiles, order packages paid in tokens, and operators fulfil the orders from a queue."""
from peewee import (
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DoubleField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from database import SecretField, utcnow
from schema.base import BaseModel, SearchKeyField
from schema.crm import Lead, User
from schema.payments import Payment

ORDER_STATUSES = ("pending", "processing", "assigned", "completed", "cancelled")
OPEN_ORDER_STATUSES = ("pending", "processing", "assigned")
QUEUED_ORDER_STATUSES = ("pending", "processing")   # waiting for an operator
# purchase: tokens bought (a Payment); subscription: Premium paid from the balance.
LEDGER_KINDS = ("purchase", "order", "refund", "adjustment", "bonus", "subscription")


class Package(BaseModel):
    """A catalogue line: a package of `sites`, or an add-on (the email confirmation)."""
    code = CharField(unique=True)           # "sites_100", "email_confirmation"
    name = CharField()                      # as customers read it: "100 sites"
    kind = CharField(default="package")     # package | addon
    sites = IntegerField(null=True)
    price = IntegerField()                  # tokens, regular customers
    subscriber_price = IntegerField()       # tokens, Premium subscribers
    active = BooleanField(default=True)
    position = IntegerField(default=0)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class Wallet(BaseModel):
    """A customer's tokens. `balance` changes only with a LedgerEntry in the same
    transaction (services/shop/wallet.py), so it always equals the ledger's sum."""
    lead = ForeignKeyField(Lead, unique=True, backref="wallets", on_delete="CASCADE")
    balance = IntegerField(default=0)
    premium_until = DateTimeField(null=True, index=True)   # a Premium subscriber until then
    # The premium_until each alert was sent for: once per period (services/shop/premium.py).
    premium_warned_for = DateTimeField(null=True)
    premium_ended_for = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class CustomerProfile(BaseModel):
    """A person a customer orders for (seed 002's customer_profiles): one customer may
    hold several. The password is one the team uses on their behalf: encrypted, never
    hashed."""
    lead = ForeignKeyField(Lead, backref="customer_profiles", on_delete="CASCADE")
    first_name = CharField()
    middle_name = CharField(null=True)
    last_name = CharField()
    search_name = SearchKeyField(default="")   # "first last" as search compares it (fold)
    phone = CharField(null=True)            # E.164
    email = CharField(null=True)
    gender = CharField(null=True)
    date_of_birth = DateField(null=True)
    street = CharField(null=True)
    apartment = CharField(null=True)
    city = CharField(null=True)
    state = CharField(null=True)            # ISO 3166-2 subdivision code, "US-CA"
    postal_code = CharField(null=True)
    country = CharField(max_length=2, default="US")
    telegram_username = CharField(null=True)
    instagram_username = CharField(null=True)
    password = SecretField(null=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)
    deleted_at = DateTimeField(null=True)   # kept for the orders made for it

    class Meta:
        table_name = "customer_profile"

    @property
    def full_name(self):
        return " ".join(p for p in (self.first_name, self.middle_name, self.last_name) if p)


class Order(BaseModel):
    """An order of a package for a profile, paid in tokens (services/shop/orders.py)."""
    lead = ForeignKeyField(Lead, backref="orders", on_delete="CASCADE")
    profile = ForeignKeyField(CustomerProfile, backref="orders")
    package = ForeignKeyField(Package, backref="orders")
    package_name = CharField()              # as ordered, kept if the catalogue changes
    sites = IntegerField(null=True)
    email_confirmation = BooleanField(default=False)
    price = IntegerField()                  # tokens charged (0 for a free rerun)
    subscriber_price = BooleanField(default=False)
    status = CharField(default="pending")   # ORDER_STATUSES
    priority = BooleanField(default=False)  # a subscriber's: queued first
    queue_rank = DoubleField()              # FIFO within a priority; admins move orders
    operator = ForeignKeyField(User, null=True, backref="orders_taken", on_delete="SET NULL")
    notes = TextField(default="")
    rerun_of = ForeignKeyField("self", null=True, backref="reruns", on_delete="SET NULL")
    created_by_kind = CharField(default="client")
    # The confirmation that placed it (e.g. the pressed Telegram message): pressing
    # Confirm twice places one order.
    request_key = CharField(null=True, unique=True)
    created_at = DateTimeField(default=utcnow, index=True)
    updated_at = DateTimeField(default=utcnow)
    assigned_at = DateTimeField(null=True)
    completed_at = DateTimeField(null=True)
    cancelled_at = DateTimeField(null=True)

    class Meta:
        table_name = "shop_order"
        indexes = ((("status", "priority", "queue_rank"), False), (("lead", "id"), False))


class LedgerEntry(BaseModel):
    """One change of a wallet: never edited, never deleted."""
    wallet = ForeignKeyField(Wallet, backref="entries", on_delete="CASCADE")
    kind = CharField()                      # LEDGER_KINDS
    amount = IntegerField()                 # + credit, - debit
    balance_after = IntegerField()
    order = ForeignKeyField(Order, null=True, backref="ledger", on_delete="SET NULL")
    # The top-up it credits; unique, so a payment is credited once whatever repeats it.
    payment = ForeignKeyField(Payment, null=True, unique=True, backref="ledger",
                              on_delete="SET NULL")
    reference = CharField(default="")       # "order #12", a payment id, a reason
    actor_kind = CharField()
    actor_label = CharField()               # who, as people read it
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "ledger_entry"
        indexes = ((("wallet", "id"), False), (("kind", "payment"), False))
