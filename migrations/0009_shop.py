"""The shop (issue 12, seed 002): packages, customers' token wallets and their ledger,
customer profiles, orders; the catalogue seeded with seed 002's packages, and a
`review_request` message template for a rule to send after an order is completed.
Team members may now have the role `operator` (a value, no schema change)."""
from peewee import (
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DoubleField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)


def up(migrator, db):
    class Base(Model):
        class Meta:
            database = db

    class Lead(Base):
        class Meta:
            table_name = "lead"

    class User(Base):
        class Meta:
            table_name = "user"

    class Package(Base):
        code = CharField(unique=True)
        name = CharField()
        kind = CharField(default="package")
        sites = IntegerField(null=True)
        price = IntegerField()
        subscriber_price = IntegerField()
        active = BooleanField(default=True)
        position = IntegerField(default=0)
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            table_name = "package"

    class Wallet(Base):
        lead = ForeignKeyField(Lead, unique=True, on_delete="CASCADE")
        balance = IntegerField(default=0)
        premium_until = DateTimeField(null=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()

        class Meta:
            table_name = "wallet"

    class CustomerProfile(Base):
        lead = ForeignKeyField(Lead, on_delete="CASCADE")
        first_name = CharField()
        middle_name = CharField(null=True)
        last_name = CharField()
        phone = CharField(null=True)
        email = CharField(null=True)
        gender = CharField(null=True)
        date_of_birth = DateField(null=True)
        street = CharField(null=True)
        apartment = CharField(null=True)
        city = CharField(null=True)
        state = CharField(null=True)
        postal_code = CharField(null=True)
        country = CharField(max_length=2, default="US")
        telegram_username = CharField(null=True)
        instagram_username = CharField(null=True)
        password = TextField(null=True)   # Fernet token (models.SecretField)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        deleted_at = DateTimeField(null=True)

        class Meta:
            table_name = "customer_profile"

    class Order(Base):
        lead = ForeignKeyField(Lead, on_delete="CASCADE")
        profile = ForeignKeyField(CustomerProfile)
        package = ForeignKeyField(Package)
        package_name = CharField()
        sites = IntegerField(null=True)
        email_confirmation = BooleanField(default=False)
        price = IntegerField()
        subscriber_price = BooleanField(default=False)
        status = CharField(default="pending")
        priority = BooleanField(default=False)
        queue_rank = DoubleField()
        operator = ForeignKeyField(User, null=True, on_delete="SET NULL")
        notes = TextField(default="")
        rerun_of = ForeignKeyField("self", null=True, on_delete="SET NULL")
        created_by_kind = CharField(default="client")
        request_key = CharField(null=True, unique=True)
        created_at = DateTimeField(index=True)
        updated_at = DateTimeField()
        assigned_at = DateTimeField(null=True)
        completed_at = DateTimeField(null=True)
        cancelled_at = DateTimeField(null=True)

        class Meta:
            table_name = "shop_order"
            indexes = ((("status", "priority", "queue_rank"), False), (("lead", "id"), False))

    class LedgerEntry(Base):
        wallet = ForeignKeyField(Wallet, on_delete="CASCADE")
        kind = CharField()
        amount = IntegerField()
        balance_after = IntegerField()
        order = ForeignKeyField(Order, null=True, on_delete="SET NULL")
        reference = CharField(default="")
        actor_kind = CharField()
        actor_label = CharField()
        created_at = DateTimeField(index=True)

        class Meta:
            table_name = "ledger_entry"
            indexes = ((("wallet", "id"), False),)

    db.create_tables([Package, Wallet, CustomerProfile, Order, LedgerEntry])
    db.execute_sql("CREATE INDEX shop_order_operator_id ON shop_order (operator_id, status)")
    from services.inbox.default_templates import seed_default_templates
    from services.shop.default_catalogue import seed_default_packages
    seed_default_packages(db)
    seed_default_templates(db, ("review_request",))
