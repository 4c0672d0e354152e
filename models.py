"""The schema and query helpers shared by every Leadgram process; `bind` connects a process
(database.py holds the connection and the migrations, and its names are importable from
here too). `python admin.py migrate` brings the database named by DATABASE_URL up to date
(every process also does this on start).
"""
from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DecimalField,
    DoubleField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    Model,
    OperationalError,
    TextField,
)

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
    wrong one every record holding a secret would fail to load, so one is read back now."""
    secrets = (
        Lead.select(Lead.passport_number, Lead.tax_pin)
        .where(Lead.passport_number.is_null(False) | Lead.tax_pin.is_null(False)),
        CustomerProfile.select(CustomerProfile.password)
        .where(CustomerProfile.password.is_null(False)),
    )
    for query in secrets:
        if not has_data_key():
            if query.exists():
                raise MissingDataKey("DATA_ENCRYPTION_KEY is not set, but the database holds "
                                     "encrypted data (clients' passport numbers and tax PINs, "
                                     "customer profiles' passwords). Set the key they were "
                                     "encrypted with.")
            continue
        # Reading decrypts: MissingDataKey for a key these were not encrypted with.
        list(query.limit(1).tuples())


class BaseModel(Model):
    class Meta:
        database = db
        legacy_table_names = False


class User(BaseModel):
    """Everyone who has talked to the bot; `role` is set for team members only."""
    telegram_id = BigIntegerField(unique=True)
    username = CharField(null=True)
    first_name = CharField(null=True)
    last_name = CharField(null=True)
    role = CharField(null=True)
    notify = BooleanField(default=True)
    unreachable = BooleanField(default=False)
    unreachable_reason = TextField(null=True)
    last_message_sent_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    joined_at = DateTimeField(null=True)

    @property
    def is_team(self):
        return self.role is not None

    @property
    def display_name(self):
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return name or (f"@{self.username}" if self.username else f"user {self.telegram_id}")

    @classmethod
    def team(cls):
        return cls.select().where(cls.role.is_null(False)).order_by(cls.id)

    @classmethod
    def lead_recipients(cls):
        """Team members who want lead notifications and can be reached; operators fulfil
        the shop's orders and hear about those instead."""
        return cls.team().where(cls.notify == True, cls.unreachable == False,  # noqa: E712
                                cls.role != "operator")


class Invite(BaseModel):
    token = CharField(unique=True)
    role = CharField()
    created_by = ForeignKeyField(User, backref="invites_created")
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_by = ForeignKeyField(User, null=True, backref="invites_used")
    used_at = DateTimeField(null=True)


class Lead(BaseModel):
    """A lead is also the client record (seed 001): one person, one row. How to reach
    them lives in Contact rows, the only place an email or phone is stored."""
    first_name = CharField()
    last_name = CharField(default="")
    middle_name = CharField(null=True)
    country = CharField(max_length=2, index=True, default="")   # "" until known
    gender = CharField(null=True)
    date_of_birth = DateField(null=True)
    address = TextField(null=True)
    passport_number = SecretField(null=True)
    tax_pin = SecretField(null=True)
    comments = TextField(null=True)
    # None: added by the deployer in the admin panel, or a client who wrote in.
    created_by = ForeignKeyField(User, null=True, backref="leads")
    created_at = DateTimeField(default=utcnow, index=True)
    # Pipeline (seed 004): `stage` until transfer, then `sales_stage` too.
    stage = CharField(default="new", index=True)
    sales_stage = CharField(null=True)
    source = CharField(default="other")
    business_domain = CharField(null=True)
    priority = CharField(default="normal")
    value = DecimalField(max_digits=12, decimal_places=2, default=0)
    owner = ForeignKeyField(User, null=True, backref="owned_leads", on_delete="SET NULL")
    assigned_at = DateTimeField(null=True)
    # Stale detection: the last activity or stage change, and when lead.stale last fired.
    last_activity_at = DateTimeField(default=utcnow, index=True)
    stale_event_at = DateTimeField(null=True)
    # The client sent /stop: nothing automated reaches them until they write again.
    opted_out_at = DateTimeField(null=True)

    def contact(self, kind):
        """The value of this lead's first contact of `kind`, or None."""
        return (Contact.select(Contact.value)
                .where(Contact.lead == self.id, Contact.kind == kind)
                .order_by(Contact.id).scalar())

    @property
    def email(self):
        return self.contact("email")

    @property
    def phone(self):
        return self.contact("phone")

    @property
    def full_name(self):
        return " ".join(part for part in (self.first_name, self.last_name) if part)

    @classmethod
    def open(cls):
        """Leads still being worked: not lost, and not a paid sale (as `is_open`)."""
        return cls.select().where(cls.stage.in_(OPEN_LEAD_STAGES)
                                  | ((cls.stage == "transferred") & (cls.sales_stage != "paid")))

    @property
    def is_open(self):
        return self.stage in OPEN_LEAD_STAGES or (
            self.stage == "transferred" and self.sales_stage != "paid")

    @property
    def stage_label(self):
        return f"{self.stage} / sales: {self.sales_stage}" if self.sales_stage else self.stage


class Contact(BaseModel):
    """One way to reach a client: services/crm/contacts.py normalises and writes them."""
    lead = ForeignKeyField(Lead, backref="contacts", on_delete="CASCADE")
    kind = CharField()        # CONTACT_KINDS
    value = CharField()       # E.164 phone, case-folded email, Telegram user id…
    label = CharField(null=True)   # as shown: "@username" for Telegram
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("kind", "value"), True),)


class LeadScore(BaseModel):
    """An advisory score (services/crm/scoring.py); the newest one per lead counts."""
    lead = ForeignKeyField(Lead, backref="scores", on_delete="CASCADE")
    score = FloatField()
    recommendation = CharField()
    reason = TextField()
    model = CharField()       # "local" or the LLM's model name
    signature = CharField()   # hash of the signals, so an LLM answer is reused for an hour
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("lead", "created_at"), False),)


class StageChange(BaseModel):
    """Audit log: every stage change, who made it, from and to."""
    lead = ForeignKeyField(Lead, backref="stage_changes", on_delete="CASCADE")
    pipeline = CharField()    # "lead" or "sales"
    from_stage = CharField(null=True)
    to_stage = CharField()
    changed_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    actor = CharField()       # readable: a member's name, "admin panel" or a rule
    changed_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("lead", "changed_at"), False),)


class FollowUpRule(BaseModel):
    """A follow-up rule (services/followups/rules.py): when `event` happens and every
    condition holds, run the actions. Conditions and actions are JSON lists."""
    name = CharField(unique=True)
    description = TextField(default="")
    event = CharField()
    conditions = TextField(default="[]")
    actions = TextField(default="[]")
    priority = IntegerField(default=100)   # smaller runs first
    active = BooleanField(default=True, index=True)
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)


class Activity(BaseModel):
    """A call, meeting, note… on a lead (seed 003)."""
    lead = ForeignKeyField(Lead, backref="activities", on_delete="CASCADE")
    type = CharField()
    subject = CharField(max_length=200)
    description = TextField(null=True)
    assigned_to = ForeignKeyField(User, null=True, backref="activities", on_delete="SET NULL")
    created_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    rule = ForeignKeyField(FollowUpRule, null=True, backref="activities", on_delete="SET NULL")
    scheduled_at = DateTimeField(null=True)
    due_at = DateTimeField(null=True)
    completed_at = DateTimeField(null=True)
    completed_by = ForeignKeyField(User, null=True, on_delete="SET NULL")
    outcome = CharField(null=True)
    reminded_at = DateTimeField(null=True)          # "due in 30 minutes" sent
    overdue_notified_at = DateTimeField(null=True)  # "overdue" sent
    created_at = DateTimeField(default=utcnow)

    @property
    def is_open(self):
        return self.completed_at is None


# The overdue and "today" queries read only open activities: partial indexes.
Activity.add_index(Activity.index(Activity.due_at).where(Activity.completed_at.is_null()))
Activity.add_index(Activity.index(Activity.assigned_to, Activity.due_at)
                   .where(Activity.completed_at.is_null()))
Activity.add_index(Activity.index(Activity.lead, Activity.created_at))


class RuleAction(BaseModel):
    """One action of one rule, for one event: run at once or when due, exactly once.

    Also the automation log: `status` and `result` say what happened and why.
    """
    key = CharField(unique=True)
    rule = ForeignKeyField(FollowUpRule, backref="runs", on_delete="CASCADE")
    action_index = IntegerField()
    action = TextField()      # the action as it was when the event happened (JSON)
    event = CharField()
    payload = TextField()     # the event's own fields (JSON)
    lead = ForeignKeyField(Lead, null=True, backref="rule_actions", on_delete="CASCADE")
    depth = IntegerField(default=0)
    due_at = DateTimeField()
    status = CharField(default="pending")
    result = TextField(null=True)
    executed_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("status", "due_at"), False),)


class JobRun(BaseModel):
    """The last time slot each periodic job ran for, shared by every scheduler."""
    name = CharField(primary_key=True)
    last_slot = DateTimeField()
    started_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)
    last_error = TextField(null=True)


class Conversation(BaseModel):
    """A client's one conversation with the team, across channels (services/inbox)."""
    lead = ForeignKeyField(Lead, unique=True, backref="conversation", on_delete="CASCADE")
    status = CharField(default="open")       # open | closed; a client's message reopens it
    last_message_id = BigIntegerField(null=True)   # newest Message, for previews
    last_message_at = DateTimeField(null=True)     # set at creation: the lists sort by it
    last_inbound_id = BigIntegerField(null=True)   # the client's newest: unread past a mark
    created_at = DateTimeField(default=utcnow)
    closed_at = DateTimeField(null=True)

    # Migration 0008 indexes (status, last_message_at DESC, id DESC): the lists' order.


class Broadcast(BaseModel):
    """A message the deployer sent from the admin panel: one outbox row per recipient."""
    text = TextField()
    audience = CharField()
    test_mode = BooleanField(default=False)
    recipients = IntegerField(default=0)
    created_by = CharField()
    created_at = DateTimeField(default=utcnow)


class OutboxMessage(BaseModel):
    """One message to one recipient; the scheduler moves it
    pending -> sending -> sent | failed (or back to pending to retry), and
    the panel may cancel a pending one."""
    key = CharField(unique=True)
    recipient = ForeignKeyField(User, backref="outbox")
    broadcast = ForeignKeyField(Broadcast, null=True, backref="messages", on_delete="CASCADE")
    text = TextField()
    parse_mode = CharField(default="HTML")
    status = CharField(default="pending")
    attempts = IntegerField(default=0)
    parts_sent = IntegerField(default=0)
    next_attempt_at = DateTimeField(default=utcnow)
    claimed_by = CharField(null=True)
    claimed_at = DateTimeField(null=True)
    sent_at = DateTimeField(null=True)
    last_error = TextField(null=True)
    created_at = DateTimeField(default=utcnow)
    # Bot replies (services/chat/replies.py): buttons as JSON, the message a reply edits,
    # and when an unsent reply is too late to send.
    reply_markup = TextField(null=True)
    edit_message_id = BigIntegerField(null=True)
    expires_at = DateTimeField(null=True)
    reaction = CharField(null=True)   # set this emoji on `edit_message_id` instead of editing it
    # Client conversations (services/inbox): the conversation a row is about (a relay to
    # the client, or a notification a member may answer with Telegram's reply), the id
    # Telegram gave the sent message, and for relayed media the message to copy.
    conversation = ForeignKeyField(Conversation, null=True, backref="outbox",
                                   on_delete="CASCADE")
    sent_message_id = BigIntegerField(null=True)
    copy_from_chat_id = BigIntegerField(null=True)
    copy_message_id = BigIntegerField(null=True)

    class Meta:
        table_name = "outbox"
        indexes = ((("status", "next_attempt_at", "id"), False),
                   (("recipient", "sent_message_id"), False))


class SendPace(BaseModel):
    """The next free send slot of a channel (seconds since the epoch), shared by every
    process that sends on it: services/delivery/pacing.py."""
    name = CharField(primary_key=True)
    next_slot = DoubleField(default=0.0)

    class Meta:
        table_name = "send_pace"


class DialogueState(BaseModel):
    """A user's unfinished multi-step dialogue (e.g. the lead wizard)."""
    user = ForeignKeyField(User, unique=True, backref="dialogue", on_delete="CASCADE")
    flow = CharField()
    step = CharField()
    data = TextField(default="{}")
    updated_at = DateTimeField(default=utcnow)


class ProcessedUpdate(BaseModel):
    """Telegram update ids already handled, so a redelivered update is skipped."""
    update_id = BigIntegerField(primary_key=True)
    processed_at = DateTimeField(default=utcnow, index=True)


class Heartbeat(BaseModel):
    name = CharField(primary_key=True)
    beat_at = DateTimeField()
    detail = TextField(null=True)


class PanelSession(BaseModel):
    """A login to the admin panel; its id is the token in the signed session cookie.
    Logging out deletes the row, and a row made under other credentials (the password
    changed) is refused, so a copied cookie stops working: services/ops/panel_login.py."""
    id = CharField(primary_key=True)
    username = CharField()
    fingerprint = CharField()   # of the login it was opened with
    created_at = DateTimeField(default=utcnow)
    last_seen_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()


class AuditEntry(BaseModel):
    """One write by the bot, the panel, a rule or a scheduled job: services/core/audit.py."""
    at = DateTimeField(default=utcnow, index=True)
    actor_kind = CharField()             # member | panel | rule | job | system
    actor_ref = CharField(null=True)     # member id, panel login, rule id or job name
    actor_label = CharField()            # as people read it, kept if the actor goes
    event = CharField()                  # "lead.stage_changed": entity and action
    entity = CharField()
    entity_id = BigIntegerField(null=True)
    changes = TextField(default="{}")    # JSON {field: [before, after]}, secrets masked

    class Meta:
        table_name = "audit_log"
        indexes = ((("entity", "entity_id", "at"), False),
                   (("actor_kind", "actor_ref", "at"), False))

    @property
    def action(self):
        return self.event.rpartition(".")[2]


class Message(BaseModel):
    """One message of a conversation, never edited. An outbound one is delivered by its
    outbox row, whose status, sent time and error are the message's."""
    conversation = ForeignKeyField(Conversation, backref="messages", on_delete="CASCADE")
    direction = CharField()                  # in | out
    sender_kind = CharField()                # client | member | panel | rule | system
    sender = ForeignKeyField(User, null=True, on_delete="SET NULL")   # the member
    sender_label = CharField()               # as people read it, kept if the sender goes
    transport = CharField(default="telegram")
    text = TextField(null=True)
    attachments = TextField(default="[]")    # JSON: services/inbox/attachments.py
    external_id = BigIntegerField(null=True)  # the channel's id of an inbound message
    outbox = ForeignKeyField(OutboxMessage, null=True, on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)
    read_at = DateTimeField(null=True)       # inbound: first read by someone on the team

    class Meta:
        indexes = ((("conversation", "id"), False),)


class ConversationRead(BaseModel):
    """How far one reader ("member:<id>" or "panel:<login>") has read a conversation, and
    when that member was last notified of it (a burst notifies once a minute)."""
    conversation = ForeignKeyField(Conversation, backref="reads", on_delete="CASCADE")
    reader = CharField()
    last_read_id = BigIntegerField(default=0)
    notified_at = DateTimeField(null=True)

    class Meta:
        table_name = "conversation_read"
        indexes = ((("conversation", "reader"), True), (("reader",), False))


class MessageTemplate(BaseModel):
    """A canned message with placeholders: services/inbox/templates.py."""
    name = CharField(unique=True)
    text = TextField()
    created_at = DateTimeField(default=utcnow)
    updated_at = DateTimeField(default=utcnow)

    class Meta:
        table_name = "message_template"


# The shop (seed 002): customers are clients (leads) with a token wallet; they register
# profiles, order packages paid in tokens, and operators fulfil the orders from a queue.
ORDER_STATUSES = ("pending", "processing", "assigned", "completed", "cancelled")
OPEN_ORDER_STATUSES = ("pending", "processing", "assigned")
QUEUED_ORDER_STATUSES = ("pending", "processing")   # waiting for an operator
LEDGER_KINDS = ("purchase", "order", "refund", "adjustment", "bonus")


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
    premium_until = DateTimeField(null=True)   # a Premium subscriber until then
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
    reference = CharField(default="")       # "order #12", a payment id, a reason
    actor_kind = CharField()
    actor_label = CharField()               # who, as people read it
    created_at = DateTimeField(default=utcnow, index=True)

    class Meta:
        table_name = "ledger_entry"
        indexes = ((("wallet", "id"), False),)
