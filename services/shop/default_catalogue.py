"""The catalogue a new Leadgram shop starts with: seed 002's nine packages (§8.1, sites
and tokens, regular / subscriber) and the email-confirmation add-on. Admins edit it in
the panel.

Migration 0009 seeds it and the tests seed it again after emptying the tables: plain
INSERTs through the database given, as services/inbox/default_templates.py does.
"""
import datetime

EMAIL_CONFIRMATION = "email_confirmation"
# (sites, regular price, subscriber price), exactly as seed 002's table has them:
# 1200 sites costs what 1000 does.
DEFAULT_PACKAGES = (
    (100, 100, 60),
    (250, 250, 150),
    (550, 550, 350),
    (650, 650, 450),
    (850, 850, 650),
    (1000, 1000, 750),
    (1200, 1000, 750),
    (1350, 1350, 1150),
    (1500, 1550, 1250),
)
EMAIL_CONFIRMATION_PRICES = (50, 30)


def default_rows():
    """The catalogue as (code, name, kind, sites, price, subscriber_price, position)."""
    rows = [(f"sites_{sites}", f"{sites} sites", "package", sites, price, subscriber, index)
            for index, (sites, price, subscriber) in enumerate(DEFAULT_PACKAGES)]
    rows.append((EMAIL_CONFIRMATION, "Email confirmation", "addon", None,
                 *EMAIL_CONFIRMATION_PRICES, len(rows)))
    return rows


def seed_default_packages(database):
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)  # naive UTC
    sql = ("INSERT INTO package (code, name, kind, sites, price, subscriber_price, position, "
           "active, created_at, updated_at) VALUES ({})".format(", ".join([database.param] * 10)))
    for row in default_rows():
        database.execute_sql(sql, (*row, True, now, now))
