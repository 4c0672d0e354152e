"""What every table shares: the database it lives in, and the values its columns hold."""
from peewee import Model, TextField

from database import db

ROLES = ("admin", "dispatcher", "sales", "operator")
# The values these columns hold; services/crm/pipeline.py says how stages may change.
LEAD_STAGES = ("new", "contacted", "qualified", "transferred", "lost")
SALES_STAGES = ("new", "kyc", "agreement", "paid")
# Still being worked: these lead stages, or a transferred lead whose sale is not paid.
OPEN_LEAD_STAGES = ("new", "contacted", "qualified")
SOURCES = ("website", "referral", "partner", "telegram", "other")
PRIORITIES = ("low", "normal", "high", "urgent")
ACTIVITY_TYPES = ("call", "email", "meeting", "quote_sent", "follow_up", "note", "status_change")
OUTCOMES = ("successful", "no_answer", "voicemail", "callback_requested", "not_interested",
            "converted")
GENDERS = ("female", "male", "other")
# How a client can be reached (seed 001); `value` is normalised, unique within its kind.
CONTACT_KINDS = ("email", "phone", "telegram", "whatsapp", "other")


class SearchKeyField(TextField):
    """Columns the services derive for searching (services/core/search.py: fold) and write
    with what they derive from: no fact of their own, so a change's record
    (services/core/events.py, the audit log) leaves them out."""
    derived = True


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False
