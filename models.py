"""The schema's front door and query helpers shared by every Leadgram process: every
table and value is importable from here (the tables live in schema/, one module per
capability; the connection, the migrations and the data key in database.py), and `bind`
connects a process. `python admin.py migrate` brings the database named by DATABASE_URL
up to date (every process also does this on start).
"""
import functools
import operator

from peewee import OperationalError

# The connection, re-exported: every process and service reaches the database as models.*.
from database import (  # noqa: F401
    MIGRATION_LOCK_ID,
    MIGRATIONS_DIR,
    PROJECT_ROOT,
    DatabaseUnavailable,
    MissingDataKey,
    SecretField,
    check_writable,
    db,
    drop_connection,
    for_change,
    has_data_key,
    hour_bucket,
    is_postgres,
    migrate,
    open_database,
    transaction_intact,
    use_data_key,
    utcnow,
)
from schema.base import (  # noqa: F401
    ACTIVITY_TYPES,
    CONTACT_KINDS,
    GENDERS,
    LEAD_STAGES,
    OPEN_LEAD_STAGES,
    OUTCOMES,
    PRIORITIES,
    ROLES,
    SALES_STAGES,
    SOURCES,
    BaseModel,
)
from schema.crm import (  # noqa: F401
    Activity,
    Contact,
    FollowUpRule,
    Invite,
    JobRun,
    Lead,
    LeadScore,
    RuleAction,
    StageChange,
    User,
)
from schema.messaging import (  # noqa: F401
    AuditEntry,
    Broadcast,
    ChannelState,
    Conversation,
    ConversationRead,
    DialogueState,
    Heartbeat,
    InboundEvent,
    Message,
    MessageTemplate,
    OutboxMessage,
    PanelSession,
    ProcessedUpdate,
    SendPace,
)
from schema.payments import (  # noqa: F401
    FINAL_PAYMENT_STATUSES,
    PAYMENT_STATUSES,
    PENDING_PAYMENT_STATUSES,
    Payment,
)
from schema.shop import (  # noqa: F401
    LEDGER_KINDS,
    OPEN_ORDER_STATUSES,
    ORDER_STATUSES,
    QUEUED_ORDER_STATUSES,
    CustomerProfile,
    LedgerEntry,
    Order,
    Package,
    Wallet,
)


def bind(url, data_key=""):
    """Point the shared proxy at `url`, bring the schema up to date and install the key
    of encrypted columns (MissingDataKey when it is needed and missing)."""
    database = open_database(url)
    db.initialize(database)
    use_data_key(data_key)
    try:
        migrate()
        check_writable()
        check_data_key()
    except OperationalError as exc:
        where = url.rsplit("@", 1)[-1]  # never print a password
        raise DatabaseUnavailable(f"cannot use the database at {where}: {exc}".strip()) from None
    return database


def check_data_key():
    """Refuse to run without the right key once encrypted data exists: it could neither be
    shown nor kept. Without such data no key is needed (until someone enters some); with a
    wrong one every record holding a secret would fail to load, so one is read back now.
    Every SecretField of every table counts, so a new one needs no change here."""
    for model, fields in _encrypted_columns():
        held = model.select(*fields).where(
            functools.reduce(operator.or_, (field.is_null(False) for field in fields)))
        if not has_data_key():
            if held.exists():
                raise MissingDataKey(
                    "DATA_ENCRYPTION_KEY is not set, but the database holds encrypted data "
                    f"({', '.join(f'{model._meta.table_name}.{f.name}' for f in fields)}). "
                    "Set the key they were encrypted with.")
            continue
        # Reading decrypts: MissingDataKey for a key these were not encrypted with.
        list(held.limit(1).tuples())


def _encrypted_columns():
    """(table, its SecretFields) for each table that has some."""
    for model in BaseModel.__subclasses__():
        fields = [f for f in model._meta.sorted_fields if isinstance(f, SecretField)]
        if fields:
            yield model, fields
