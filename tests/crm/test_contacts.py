"""Contacts (services/crm/contacts.py): one normalised value per way to reach a client,
unique within its kind, on SQLite and Postgres."""
import threading

import pytest
from hypothesis import given, settings, strategies as st

from models import CONTACT_KINDS, AuditEntry, Contact, Lead, db
from services.core import audit
from services.core.actors import Actor
from services.crm import contacts, leads

PANEL = Actor.panel("boss")


@pytest.mark.parametrize("kind, typed, stored", [
    ("email", "  Ada.Lovelace@Example.COM ", "ada.lovelace@example.com"),
    ("phone", "+44 20 7946 0958", "+442079460958"),
    ("phone", "+1 (415) 555-2671", "+14155552671"),
    ("whatsapp", "+44 (0)20 7946-0958", "+442079460958"),   # a WhatsApp id is a phone
    ("telegram", " 0012345 ", "12345"),
    ("telegram", "9" * 20, "9" * 20),
    ("other", "  skype:  ada.l  ", "skype: ada.l"),
])
def test_each_kind_is_normalised(kind, typed, stored):
    assert contacts.normalise(kind, typed) == stored


@pytest.mark.parametrize("kind, typed", [
    ("email", "not-an-email"), ("email", ""), ("phone", "020 7946 0958"), ("phone", "+44 1"),
    ("whatsapp", "hello"), ("telegram", "@ada"), ("telegram", "²"), ("telegram", "٣"),
    ("telegram", "-5"), ("telegram", "1" * 21), ("telegram", ""), ("other", "   "),
    ("other", "x" * 201), ("fax", "+442079460958"), ("email", None),
])
def test_what_is_no_contact_is_refused_saying_so(kind, typed):
    with pytest.raises(contacts.InvalidContact) as refused:
        contacts.normalise(kind, typed)
    assert str(refused.value)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CONTACT_KINDS + ("fax",)),
       st.one_of(st.text(), st.text(alphabet="+0123456789 ()-@.abcxyz"),
                 st.emails().map(str.upper), st.none(), st.integers()))
def test_normalise_never_raises_anything_but_invalid_contact(kind, typed):
    try:
        value = contacts.normalise(kind, typed)
    except contacts.InvalidContact:
        return
    assert isinstance(value, str) and value and value == contacts.normalise(kind, value)


def test_a_contact_is_unique_within_its_kind_and_the_refusal_names_the_holder(any_db, make_lead):
    ada, bob = make_lead(first_name="Ada", last_name="L"), make_lead()
    contacts.add(PANEL, ada.id, "telegram", "4242")
    with pytest.raises(contacts.DuplicateContact) as taken:
        contacts.add(PANEL, bob.id, "email", ada.email.upper())
    assert taken.value.lead.id == ada.id and taken.value.kind == "email"
    assert f"#{ada.id} Ada L" in str(taken.value)
    with pytest.raises(contacts.DuplicateContact):
        contacts.add(PANEL, bob.id, "telegram", " 04242")
    # The same value in another kind is another way to reach someone: fine.
    contacts.add(PANEL, bob.id, "whatsapp", ada.phone)
    contacts.add(PANEL, bob.id, "other", ada.email)
    assert [c.kind for c in contacts.of(bob.id)] == ["email", "phone", "whatsapp", "other"]
    # A lead given a contact it has already keeps the one it has.
    again = contacts.add(PANEL, ada.id, "telegram", "4242")
    assert Contact.select().where(Contact.kind == "telegram").count() == 1
    assert again.lead_id == ada.id
    with pytest.raises(LookupError):
        contacts.add(PANEL, 999, "telegram", "1")


def test_find_lead_by_any_spelling(any_db, make_lead):
    ada = make_lead(email="ada@example.com", phone="+442079460958")
    contacts.add(PANEL, ada.id, "telegram", "777")
    contacts.add(PANEL, ada.id, "whatsapp", "+1 415 555 2671")
    for kind, typed in [("email", " ADA@Example.com"), ("phone", "+44 (20) 7946-0958"),
                        ("phone", "+442079460958"), ("telegram", "0777"),
                        ("whatsapp", "+14155552671")]:
        assert contacts.find_lead(kind, typed).id == ada.id, (kind, typed)
    for kind, typed in [("email", "eve@example.com"), ("phone", "+14155552671"),
                        ("telegram", "778"), ("email", "not an email"), ("nope", "777")]:
        assert contacts.find_lead(kind, typed) is None, (kind, typed)


def test_add_and_remove_are_audited_and_remove_only_the_leads_own(any_db, make_lead):
    ada, bob = make_lead(), make_lead()
    added = contacts.add(PANEL, ada.id, "telegram", "12345", label="@ada")
    assert (added.value, added.label) == ("12345", "@ada")
    assert not contacts.remove(PANEL, bob.id, added.id)       # not Bob's
    assert contacts.remove(PANEL, ada.id, added.id)
    assert not contacts.remove(PANEL, ada.id, added.id)       # gone already
    entries = list(audit.entries(entity="lead", entity_id=ada.id))
    assert [(e.event, e.actor_ref, audit.changes_of(e)) for e in reversed(entries)] == [
        ("contact.added", "boss", {"telegram": (None, "12345")}),
        ("contact.removed", "boss", {"telegram": ("12345", None)})]
    assert contacts.find_lead("telegram", "12345") is None


def test_a_refused_contact_writes_nothing(any_db, make_lead):
    ada, bob = make_lead(), make_lead()
    with pytest.raises(contacts.DuplicateContact):
        contacts.add(PANEL, bob.id, "email", ada.email)
    with pytest.raises(contacts.InvalidContact):
        contacts.add(PANEL, bob.id, "phone", "12")
    assert Contact.select().where(Contact.lead == bob.id).count() == 2
    assert not AuditEntry.select().where(AuditEntry.event == "contact.added").exists()


def test_a_contact_saved_between_the_check_and_the_insert_is_refused_too(
        any_db, make_lead, monkeypatch):
    """The IntegrityError path: the check saw nothing (another writer had not committed
    yet), the unique index refuses the insert, and the refusal still names the holder."""
    ada, bob = make_lead(), make_lead()
    checked = []
    real_check = contacts._refuse_taken

    def check_before_the_other_commits(kind, value, lead_id):
        if not checked:
            checked.append(value)
            return None
        return real_check(kind, value, lead_id)
    monkeypatch.setattr(contacts, "_refuse_taken", check_before_the_other_commits)
    with pytest.raises(contacts.DuplicateContact) as taken:
        contacts.add(PANEL, bob.id, "email", ada.email)
    assert taken.value.lead.id == ada.id and checked == [ada.email]
    assert Contact.select().where(Contact.lead == bob.id).count() == 2
    assert not AuditEntry.select().where(AuditEntry.event == "contact.added").exists()


def test_two_writers_adding_one_contact_at_once(any_db, make_lead):
    """Another connection inserts the same telegram id and commits while this one is
    adding it: SQLite makes this one wait for the lock (then its check sees the row);
    Postgres lets it check, then its insert waits on the unique index and fails."""
    ada, bob = make_lead(), make_lead()
    inserted, release = threading.Event(), threading.Event()
    problems = []

    def other_writer():
        try:
            with db.atomic():
                Contact.create(lead=ada.id, kind="telegram", value="31337")
                inserted.set()
                release.wait(5)
        except Exception as exc:  # noqa: BLE001 - reported below
            problems.append(exc)
            inserted.set()
        finally:
            db.close()
    thread = threading.Thread(target=other_writer)
    thread.start()
    assert inserted.wait(5)
    threading.Timer(0.5, release.set).start()
    with pytest.raises(contacts.DuplicateContact) as taken:
        contacts.add(PANEL, bob.id, "telegram", "31337")
    thread.join(10)
    assert problems == [] and taken.value.lead.id == ada.id
    assert contacts.find_lead("telegram", "31337").id == ada.id


def test_a_lead_saved_between_the_check_and_the_insert_is_refused(any_db, make_lead, monkeypatch):
    """add_lead's IntegrityError path: nothing of the new lead is kept."""
    ada = make_lead()
    real_check, calls = leads._refuse_duplicates, []

    def late_check(values, except_id=None):
        calls.append(1)
        if len(calls) > 1:
            real_check(values, except_id)
    monkeypatch.setattr(leads, "_refuse_duplicates", late_check)
    with pytest.raises(leads.DuplicateLead) as taken:
        leads.add_lead({"first_name": "Copy", "phone": ada.phone})
    assert (taken.value.field, taken.value.lead.id) == ("phone", ada.id)
    assert Lead.select().count() == 1 and Contact.select().count() == 2


def test_firsts_reads_the_first_of_each_kind_for_many_leads(any_db, make_lead, monkeypatch):
    monkeypatch.setattr(contacts, "FIRSTS_CHUNK", 2)  # several queries
    made = [make_lead() for _ in range(5)]
    contacts.add(PANEL, made[0].id, "email", "second@example.com")
    found = contacts.firsts([lead.id for lead in made] + [999], ("email", "phone"))
    assert set(found) == {lead.id for lead in made}
    assert all(found[lead.id] == {"email": lead.email, "phone": lead.phone} for lead in made)
    assert found[made[0].id]["email"] != "second@example.com"
    assert contacts.firsts([]) == {}
