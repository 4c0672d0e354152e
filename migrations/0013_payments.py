"""Crypto top-ups and Premium alerts (issue 15).

- `payment`: an OxaPay invoice for tokens, stored before the customer sees its link.
- `ledger_entry.payment_id`: the top-up a purchase credits; unique, so a payment is
  credited once however often OxaPay (or the scheduler's polling) reports it paid.
- `wallet.premium_warned_for` / `premium_ended_for`: the Premium period each alert was
  sent for, so each goes once per period; an index on `premium_until` for finding them
  (and the active subscribers).
"""
from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, Model, TextField
from playhouse.migrate import migrate


def up(migrator, db):
    class Lead(Model):
        class Meta:
            database = db
            table_name = "lead"

    class Payment(Model):
        lead = ForeignKeyField(Lead, on_delete="CASCADE")
        reference = CharField(unique=True)
        track_id = CharField(null=True, unique=True)
        tokens = IntegerField()
        amount_cents = IntegerField()
        currency = CharField(default="USD")
        status = CharField(default="new")
        provider_status = CharField(null=True)
        paid_amount = CharField(null=True)
        pay_url = TextField(null=True)
        expires_at = DateTimeField()
        next_check_at = DateTimeField(null=True)
        checks = IntegerField(default=0)
        last_error = TextField(null=True)
        request_key = CharField(null=True, unique=True)
        created_at = DateTimeField()
        updated_at = DateTimeField()
        paid_at = DateTimeField(null=True)

        class Meta:
            database = db
            table_name = "payment"
            indexes = ((("status", "next_check_at"), False), (("created_at",), False),
                       (("paid_at",), False), (("lead", "id"), False))

    db.create_tables([Payment])
    migrate(
        migrator.add_column("wallet", "premium_warned_for", DateTimeField(null=True)),
        migrator.add_column("wallet", "premium_ended_for", DateTimeField(null=True)),
        migrator.add_index("wallet", ("premium_until",)),
        migrator.add_column("ledger_entry", "payment_id",
                            ForeignKeyField(Payment, null=True, unique=True,
                                            on_delete="SET NULL", field=Payment.id)),
        migrator.add_index("ledger_entry", ("kind", "payment_id")),
    )
