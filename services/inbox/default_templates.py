"""The message templates a new Leadgram starts with: `welcome` greets every new client
(services/chat/inbox.py), `quote_followup` is for the rule that chases a quote,
`review_request` for one that asks a shop customer about a completed order. Deployers
edit them in the panel.

Migration 0008 seeds them, and the tests seed them again after emptying the tables.
Plain INSERTs through the database given (as services/followups/defaults.py does for the
rules), so a migration may import this module.
"""
import datetime

DEFAULT_TEMPLATES = {
    "welcome": "Hi {first_name|there}! Thanks for writing to {company}. Someone from the "
               "team will answer you here shortly.",
    "quote_followup": "Hi {first_name|there}, have you had a chance to look at our quote? "
                      "{agent_name|We} will gladly answer any questions.",
    "review_request": "Hi {first_name|there}, your order with {company} is done. How did it "
                      "go? A few words in reply here help us a lot.",
}


def seed_default_templates(database, names=None):
    """Insert the default templates called `names` (all by default) that are missing:
    each migration seeds the ones it introduced."""
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)  # naive UTC
    sql = ("INSERT INTO message_template (name, text, created_at, updated_at) "
           "SELECT {0}, {0}, {0}, {0} WHERE NOT EXISTS "
           "(SELECT 1 FROM message_template WHERE name = {0})".format(database.param))
    for name in names or DEFAULT_TEMPLATES:
        database.execute_sql(sql, (name, DEFAULT_TEMPLATES[name], now, now, name))
