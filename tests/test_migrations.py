"""Starting processes on an empty or older database brings it up to date, even all at once."""
import datetime
import os
import subprocess
import sys

import pytest

import models
from services.chat import dialogues, lead_wizard
from services.core import audit
from services.crm import contacts, leads
from tests.conftest import MIGRATIONS_TABLE, ROOT


def migrate_concurrently(url, count=4):
    env = dict(os.environ, DATABASE_URL=url)
    procs = [subprocess.Popen([sys.executable, "admin.py", "migrate"], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(count)]
    return [(p.wait(timeout=60), p.stdout.read()) for p in procs]


@pytest.fixture
def empty_postgres_url(postgres_url):
    models.db.initialize(models.open_database(postgres_url))
    models.db.execute_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    models.db.close()
    return postgres_url


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_simultaneous_starts_on_an_empty_database(backend, tmp_path, request):
    url = (f"sqlite:///{tmp_path / 'fresh.db'}" if backend == "sqlite"
           else request.getfixturevalue("empty_postgres_url"))
    results = migrate_concurrently(url)
    assert [code for code, _ in results] == [0] * 4, results
    applied = sum(out.count("applied migration 0001_initial") for _, out in results)
    assert applied == 1, results
    models.bind(url)
    assert models.migrate() == []
    assert models.User.table_exists() and models.OutboxMessage.table_exists()
    models.db.close()


def test_bad_database_url_is_refused_clearly(tmp_path):
    env = dict(os.environ, DATABASE_URL="mysql://nope")
    result = subprocess.run([sys.executable, "admin.py", "migrate"], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "DATABASE_URL must start with sqlite:/// or postgresql://" in result.stderr


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_upgrading_from_the_first_release_keeps_every_row(backend, tmp_path, request):
    from playhouse.migrations import Runner
    url = (f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite"
           else request.getfixturevalue("empty_postgres_url"))
    models.db.initialize(models.open_database(url))
    Runner(models.db.obj, str(models.MIGRATIONS_DIR)).up(target="0001_initial")
    creator = models.User.insert(telegram_id=7, role="admin", notify=True, unreachable=False,
                                 created_at=models.utcnow()).execute()
    added = models.utcnow() - datetime.timedelta(days=30)
    models.db.execute_sql(
        "INSERT INTO lead (email, phone, first_name, last_name, country, created_by_id, created_at) "
        "VALUES ('a@b.co', '+442079460958', 'Ada', 'L', 'GB', {p}, {p})".format(
            p="%s" if models.is_postgres() else "?"), (creator, added))
    assert models.migrate() == ["0002_admin_panel", "0003_lead_search_index", "0004_pipeline",
                                "0005_panel_sessions", "0006_shared_pacing_and_durable_replies",
                                "0007_audit_log", "0008_client_inbox", "0009_shop",
                                "0010_search_keys", "0011_menu_updates",
                                "0012_channels", "0013_payments"]
    if models.is_postgres():
        assert "lead_search_trgm" in {i.name for i in models.db.get_indexes("lead")}
    lead = models.Lead.get()
    assert (lead.email, lead.created_by.telegram_id) == ("a@b.co", 7)
    # Issue 4: an old lead starts the pipeline at "new", quiet since it was added.
    assert (lead.stage, lead.source, lead.priority, lead.owner) == ("new", "other", "normal", None)
    assert lead.last_activity_at == added and lead.value == 0
    assert models.FollowUpRule.select().count() == 8
    leads.add_lead({"email": "c@d.co", "phone": "+12125550000", "first_name": "Pan",
                    "last_name": "El", "country": "US"})
    assert models.Lead.select().count() == 2 and models.Contact.select().count() == 4
    models.db.close()


# Issue 11: from the schema of migration 0007 (leads with their own email and phone, the
# wizards' dialogues in `conversation`) to contacts, `dialogue_state` and the inbox tables.
BEFORE_0008 = "0007_audit_log"
OLD_LEADS = [("ada@example.com", "+442079460958", "Ada", "Lovelace", "GB"),
             ("grace@example.org", "+12125550101", "Grace", "Hopper", "US"),
             ("linus@example.fi", "+358401234567", "Linus", "T", "FI")]


def _insert(table, **values):
    """A row in the old schema, by SQL (models.py describes the new one); its id."""
    columns = ", ".join(f'"{name}"' for name in values)
    marks = ", ".join([models.db.obj.param] * len(values))
    cursor = models.db.execute_sql(
        f'INSERT INTO "{table}" ({columns}) VALUES ({marks}) RETURNING id', list(values.values()))
    return cursor.fetchone()[0]


def _counts():
    return {table: models.db.execute_sql(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
            for table in models.db.get_tables() if table != MIGRATIONS_TABLE}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_upgrading_from_0007_moves_email_and_phone_to_contacts_and_keeps_dialogues(
        backend, tmp_path, request):
    from playhouse.migrations import Runner
    url = (f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite"
           else request.getfixturevalue("empty_postgres_url"))
    models.db.initialize(models.open_database(url))
    Runner(models.db.obj, str(models.MIGRATIONS_DIR)).up(target=BEFORE_0008)
    now = models.utcnow().replace(microsecond=0)
    user = {"notify": True, "unreachable": False, "created_at": now}
    admin = _insert("user", telegram_id=7, role="admin", first_name="Ann", **user)
    member = _insert("user", telegram_id=8, role="sales", first_name="Sam", joined_at=now, **user)
    old_leads = {}
    for n, (email, phone, first, last, country) in enumerate(OLD_LEADS):
        lead_id = _insert("lead", email=email, phone=phone, first_name=first, last_name=last,
                          country=country, created_by_id=admin, created_at=now, stage="new",
                          source="website", priority="normal", value=1500 * n,
                          owner_id=member if n else None, last_activity_at=now)
        old_leads[lead_id] = (email, phone, first, last, country)
    # Sam is half-way through /createLead: the email is in, the phone is asked next.
    _insert("conversation", user_id=member, flow=lead_wizard.FLOW, step="phone",
            data='{"email": "new@example.com"}', updated_at=now)
    _insert("outbox", key="lead:1:to:1", recipient_id=admin, text="<b>New lead #1</b>",
            parse_mode="HTML", status="sent", attempts=1, parts_sent=1, next_attempt_at=now,
            sent_at=now, created_at=now)
    _insert("outbox", key="reply:99:0", recipient_id=member, text="Which phone?",
            parse_mode="HTML", status="pending", attempts=0, parts_sent=0, next_attempt_at=now,
            created_at=now, reply_markup='{"inline_keyboard": []}', expires_at=now)
    _insert("audit_log", at=now, actor_kind="member", actor_ref=str(admin), actor_label="Ann",
            event="lead.created", entity="lead", entity_id=1,
            changes='{"email": [null, "ada@example.com"]}')
    before = _counts()

    assert models.migrate() == ["0008_client_inbox", "0009_shop", "0010_search_keys",
                                "0011_menu_updates", "0012_channels", "0013_payments"]

    after = _counts()
    renamed = {"conversation": "dialogue_state"}
    for table, rows in before.items():  # nothing lost
        assert after[renamed.get(table, table)] == rows, table
    assert after["contact"] == 2 * len(OLD_LEADS)
    assert after["conversation"] == after["message"] == after["conversation_read"] == 0
    for lead_id, (email, phone, first, last, country) in old_leads.items():
        lead = models.Lead.get_by_id(lead_id)
        assert (lead.email, lead.phone, lead.first_name, lead.last_name, lead.country) == (
            email, phone, first, last, country)
        assert [(c.kind, c.value) for c in contacts.of(lead_id)] == [("email", email),
                                                                     ("phone", phone)]
        assert contacts.find_lead("email", email.upper()).id == lead_id
        assert (lead.middle_name, lead.passport_number) == (None, None)
    assert models.Lead.get_by_id(2).value == 1500 and models.Lead.get_by_id(2).owner_id == member
    if models.is_postgres():
        assert "contact_search_trgm" in {i.name for i in models.db.get_indexes("contact")}
        assert "lead_search_trgm" in {i.name for i in models.db.get_indexes("lead")}

    # The dialogue goes on where it was, through services/chat/dialogues.py.
    sam = models.User.get_by_id(member)
    assert dialogues.current(sam) is lead_wizard.WIZARD
    assert dialogues.data(lead_wizard.WIZARD.get(sam)) == {"email": "new@example.com"}
    assert "first name" in lead_wizard.answer(sam, "+44 20 7946 0000").text
    assert dialogues.data(lead_wizard.WIZARD.get(sam)) == {"email": "new@example.com",
                                                           "phone": "+442079460000"}
    dialogues.save(models.User.get_by_id(admin), lead_wizard.FLOW, "email", {})  # new ids work
    assert models.DialogueState.select().count() == 2

    sent, pending = models.OutboxMessage.select().order_by(models.OutboxMessage.id)
    assert (sent.key, sent.status, sent.text, sent.conversation_id) == (
        "lead:1:to:1", "sent", "<b>New lead #1</b>", None)
    assert (pending.status, pending.reply_markup) == ("pending", '{"inline_keyboard": []}')
    [entry] = audit.entries(entity="lead", entity_id=1)
    assert audit.changes_of(entry) == {"email": (None, "ada@example.com")}

    # New clients and the inbox's tables work on the upgraded schema.
    pan = leads.add_lead({"first_name": "Pan"})
    assert pan.id == len(OLD_LEADS) + 1 and pan.email is None and pan.country == ""
    with pytest.raises(leads.DuplicateLead):
        leads.add_lead({"first_name": "Copy", "email": "ADA@example.com"})
    models.Conversation.create(lead=pan)
    assert models.MessageTemplate.select().count() >= 1
    models.db.close()


# Issue 12: the shop's tables come empty but for the catalogue, and the template a
# deployer edited stays as they left it while the new `review_request` joins it.
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_upgrading_from_0008_adds_the_shop_and_keeps_edited_templates(backend, tmp_path, request):
    from playhouse.migrations import Runner
    url = (f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite"
           else request.getfixturevalue("empty_postgres_url"))
    models.db.initialize(models.open_database(url))
    Runner(models.db.obj, str(models.MIGRATIONS_DIR)).up(target="0008_client_inbox")
    models.db.execute_sql("UPDATE message_template SET text = 'Hello from us' "
                          "WHERE name = 'welcome'")
    before = _counts()
    assert models.migrate() == ["0009_shop", "0010_search_keys", "0011_menu_updates",
                                "0012_channels", "0013_payments"]
    after = _counts()
    assert all(after[table] == rows for table, rows in before.items()
               if table != "message_template")
    assert after["message_template"] == before["message_template"] + 1
    assert models.MessageTemplate.get(name="welcome").text == "Hello from us"
    assert models.MessageTemplate.get(name="review_request").text.startswith("Hi {first_name")
    catalogue = [(p.code, p.sites, p.price, p.subscriber_price, p.kind)
                 for p in models.Package.select().order_by(models.Package.position)]
    assert catalogue[0] == ("sites_100", 100, 100, 60, "package")
    assert catalogue[6] == ("sites_1200", 1200, 1000, 750, "package")
    assert catalogue[8] == ("sites_1500", 1500, 1550, 1250, "package")
    assert catalogue[9] == ("email_confirmation", None, 50, 30, "addon")
    assert len(catalogue) == 10
    assert after["wallet"] == after["shop_order"] == after["ledger_entry"] == 0
    models.db.close()


# Issue 13: the folded search columns, filled for the rows there are, in batches (more
# leads than one batch holds), so /find diaz finds a Díaz added before the upgrade.
OLD_NAMES = [("José", "Díaz"), ("ÉLODIE", "Ørsted"), ("Дмитрий", "Ёлкин"), ("Hans", "Straße")]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_upgrading_from_0009_fills_the_search_columns_of_every_row(backend, tmp_path, request):
    from playhouse.migrations import Runner
    url = (f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite"
           else request.getfixturevalue("empty_postgres_url"))
    models.db.initialize(models.open_database(url))
    Runner(models.db.obj, str(models.MIGRATIONS_DIR)).up(target="0009_shop")
    now = models.utcnow().replace(microsecond=0)
    names = OLD_NAMES + [(f"Filler{n}", "Example") for n in range(1200)]
    with models.db.atomic():
        for n, (first, last) in enumerate(names):
            lead_id = _insert("lead", first_name=first, last_name=last, country="", created_at=now,
                              stage="new", source="other", priority="normal", value=0,
                              last_activity_at=now)
            _insert("contact", lead_id=lead_id, kind="email", value=f"lead{n}@example.com",
                    created_at=now)
    _insert("contact", lead_id=1, kind="other", value="Skype: José.Díaz", created_at=now)
    _insert("customer_profile", lead_id=2, first_name="Zoë", last_name="Łukasiewicz",
            country="US", created_at=now, updated_at=now)
    before = _counts()

    assert models.migrate()[0] == "0010_search_keys"   # then any later ones

    assert {table: rows for table, rows in _counts().items() if table in before} == before
    assert [lead.search_name for lead in models.Lead.select().order_by(models.Lead.id).limit(5)] == [
        "jose diaz", "elodie orsted", "дмитрии елкин", "hans strasse", "filler0 example"]
    assert models.Lead.select().where(models.Lead.search_name == "").count() == 0
    assert models.Contact.select().where(models.Contact.search_value == "").count() == 0
    assert models.CustomerProfile.get().search_name == "zoe lukasiewicz"
    assert [lead.id for lead in leads.search("diaz")] == [1]
    assert [lead.id for lead in leads.search("skype: jose.diaz")] == [1]
    assert [lead.id for lead in leads.search("ÉLODIE ORSTED")] == [2]
    assert {lead.id for lead in models.Lead.select().where(leads.matching("ЁЛКИН"))} == {3}
    assert [lead.id for lead in leads.search("filler1199")] == [len(names)]
    if models.is_postgres():  # the trigram indexes read the folded columns now
        definitions = {name: sql for name, sql in models.db.execute_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE %s", ("%search_trgm",))}
        assert "search_name gin_trgm_ops" in definitions["lead_search_trgm"]
        assert "search_value gin_trgm_ops" in definitions["contact_search_trgm"]
    models.db.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_upgrading_from_0011_moves_a_telegram_stop_to_the_contact(backend, tmp_path, request):
    """Issue 14: consent is per channel, so a lead's /stop becomes its Telegram contact's;
    outbox rows may go to an address, with no Telegram recipient."""
    from playhouse.migrations import Runner
    url = (f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite"
           else request.getfixturevalue("empty_postgres_url"))
    models.db.initialize(models.open_database(url))
    Runner(models.db.obj, str(models.MIGRATIONS_DIR)).up(target="0011_menu_updates")
    now = models.utcnow().replace(microsecond=0)
    stopped, kept = (_insert("lead", first_name=name, last_name="", country="", created_at=now,
                             stage="new", source="telegram", priority="normal", value=0,
                             last_activity_at=now, search_name=name.lower(),
                             opted_out_at=now if name == "Stopped" else None)
                     for name in ("Stopped", "Kept"))
    for lead_id, value in ((stopped, "101"), (kept, "102")):
        _insert("contact", lead_id=lead_id, kind="telegram", value=value, created_at=now,
                search_value=value)
    _insert("contact", lead_id=stopped, kind="email", value="s@example.com", created_at=now,
            search_value="s@example.com")
    before = _counts()

    assert models.migrate() == ["0012_channels", "0013_payments"]

    assert {table: rows for table, rows in _counts().items() if table in before} == before
    opted = {(c.lead_id, c.kind): c.opted_out_at for c in models.Contact.select()}
    assert opted == {(stopped, "telegram"): now, (kept, "telegram"): None,
                     (stopped, "email"): None}
    row = models.OutboxMessage.create(key="k", recipient=None, text="hi", channel="email",
                                      address="s@example.com")
    assert models.OutboxMessage.get_by_id(row.id).recipient_id is None
    models.db.close()
