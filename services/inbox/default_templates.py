"""The message templates a new Leadgram starts with: `welcome` greets every new client
(services/chat/inbox.py), `quote_followup` is for the rule that chases a quote. Deployers
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
}


def seed_default_templates(database):
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)  # naive UTC
    sql = ("INSERT INTO message_template (name, text, created_at, updated_at) "
           "VALUES ({})".format(", ".join([database.param] * 4)))
    for name, text in DEFAULT_TEMPLATES.items():
        database.execute_sql(sql, (name, text, now, now))
