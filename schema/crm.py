"""The team, leads (the client records) and their contacts, the pipeline, activities and
the follow-up rules."""
from peewee import (
    BigIntegerField,
    BooleanField,
    CharField,
    DateField,
    DateTimeField,
    DecimalField,
    FloatField,
    ForeignKeyField,
    IntegerField,
    TextField,
)

from database import SecretField, utcnow
from schema.base import OPEN_LEAD_STAGES, BaseModel, SearchKeyField


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
    # "first last" as search compares it (services/core/search.py: fold), written with them.
    search_name = SearchKeyField(default="")
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
    search_value = SearchKeyField(default="")   # `value` as search compares it (fold)
    label = CharField(null=True)   # as shown: "@username" for Telegram
    created_at = DateTimeField(default=utcnow)
    # The client opted out of messages on this contact's channel (Telegram's /stop, SMS or
    # WhatsApp STOP, an email's unsubscribe link): services/inbox/consent.py.
    opted_out_at = DateTimeField(null=True)

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
