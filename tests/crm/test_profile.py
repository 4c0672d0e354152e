"""A client's profile (services/crm/profile.py): what is accepted, what is refused, the
passport number and tax PIN encrypted at rest and masked in the audit log, and a
database holding them refusing to start without the key."""
import datetime
import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from hypothesis import given, settings, strategies as st

import models
from models import AuditEntry, Lead, OutboxMessage
from services.core import audit
from services.core.actors import Actor
from services.crm import contacts, leads, profile
from services.crm.profile import InvalidProfile, clean_profile
from tests.conftest import ROOT

PANEL = Actor.panel("boss")
TODAY = datetime.date(2026, 3, 15)
FULL = {"middle_name": "  Augusta ", "gender": "Female", "date_of_birth": "1815-12-10",
        "address": "12 St James's Square\r\nLondon  ", "passport_number": " 925 076-473 ",
        "tax_pin": "AB123456C", "comments": "Prefers letters.\n\nNo calls after 6pm."}


def test_every_field_is_cleaned():
    assert clean_profile(FULL, today=datetime.date(1900, 1, 1)) == {
        "middle_name": "Augusta", "gender": "female", "date_of_birth": datetime.date(1815, 12, 10),
        "address": "12 St James's Square\nLondon", "passport_number": "925 076-473",
        "tax_pin": "AB123456C", "comments": "Prefers letters.\n\nNo calls after 6pm."}


def test_every_field_is_optional_and_only_given_fields_are_returned():
    blanks = dict.fromkeys(profile.FIELDS, "  ")
    assert clean_profile(blanks) == dict.fromkeys(profile.FIELDS)
    assert clean_profile({"gender": None, "email": "not mine"}) == {"gender": None}
    assert clean_profile({}) == {}


@pytest.mark.parametrize("field, value", [
    ("date_of_birth", "2026-03-15"),                   # born today
    ("date_of_birth", "1896-03-15"),                   # 130 today
    ("date_of_birth", datetime.date(1990, 5, 1)),
    ("date_of_birth", datetime.datetime(1990, 5, 1, 12)),
    ("gender", "OTHER"),
    ("address", "a" * profile.MAX_ADDRESS),
    ("passport_number", "X" * profile.MAX_DOCUMENT),
    ("passport_number", "АА 123456"),                   # Cyrillic series letters
    ("tax_pin", "1234567890"),
    ("comments", "é" * profile.MAX_COMMENTS),
    ("comments", "tab\tand\nnewline"),
    ("middle_name", "Anne Marie"),
])
def test_accepted(field, value):
    assert field in clean_profile({field: value}, today=TODAY)


@pytest.mark.parametrize("field, value, reason", [
    ("gender", "unknown", "Choose one of: female, male, other"),
    ("date_of_birth", "2026-03-16", "cannot be in the future"),
    ("date_of_birth", "1896-03-14", "older than 130"),
    ("date_of_birth", "1990-13-01", "YYYY-MM-DD"),
    ("date_of_birth", "1990-02-30", "YYYY-MM-DD"),
    ("date_of_birth", "01/02/1990", "YYYY-MM-DD"),
    ("date_of_birth", "19900102", "YYYY-MM-DD"),       # fromisoformat would take it
    ("date_of_birth", "1990-W01-1", "YYYY-MM-DD"),
    ("date_of_birth", "١٩٩٠-٠١-٠٢", "YYYY-MM-DD"),      # Arabic-Indic digits
    ("date_of_birth", 1990, "as text"),
    ("address", "a" * (profile.MAX_ADDRESS + 1), "at most 500"),
    ("address", "bell\x07", "control characters"),
    ("address", "nul\x00", "control characters"),
    ("comments", "c" * (profile.MAX_COMMENTS + 1), "at most 5000"),
    ("comments", "zero\u200bwidth", "control characters"),
    ("passport_number", "X" * (profile.MAX_DOCUMENT + 1), "at most 64"),
    ("passport_number", "AB#123", "letters, digits, spaces and dashes"),
    ("passport_number", "AB\x00123", "control characters"),
    ("passport_number", "AB²", "letters, digits, spaces and dashes"),
    ("tax_pin", "- -", "at least one letter or digit"),
    ("tax_pin", ["1"], "as text"),
    ("middle_name", "A\x00", "control characters"),
    ("middle_name", "123", "at least one letter"),
    ("middle_name", "m" * 101, "limited to 100"),
])
def test_refused_naming_the_field(field, value, reason):
    with pytest.raises(InvalidProfile) as refused:
        clean_profile({"gender": "male", field: value}, today=TODAY)
    assert refused.value.field == field and reason in refused.value.reason
    assert str(refused.value).startswith(profile.LABELS[field] + ": ")


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(profile.FIELDS),
       st.one_of(st.text(), st.text(alphabet="0123456789-WT:/ \x00"), st.none(), st.integers(),
                 st.dates(), st.text(st.characters(categories=("Cc", "Cf", "Zs", "Nd")))))
def test_clean_profile_never_raises_anything_but_invalid_profile(field, value):
    try:
        cleaned = clean_profile({field: value})
    except InvalidProfile as refused:
        assert refused.field == field and refused.reason
        return
    assert set(cleaned) == {field}
    again = cleaned[field]
    if isinstance(again, str):
        assert clean_profile({field: again}) == cleaned   # clean is stable


@pytest.mark.parametrize("value, shown", [
    ("AB1234567", "•••• 567"), ("925076473123", "•••• 3123"), ("123456", "•••• 56"),
    ("12345", "•••"), ("1", "•••"), ("", ""), (None, "")])
def test_masked_shows_at_most_the_last_four(value, shown):
    assert profile.masked(value) == shown


# Stored encrypted, audited masked ---------------------------------------------------------

def raw_column(lead_id, column):
    return models.db.execute_sql(f"SELECT {column} FROM lead WHERE id = {int(lead_id)}").fetchone()[0]


def test_passport_and_tax_pin_are_encrypted_at_rest(any_db, data_key):
    lead = leads.add_lead({"first_name": "Ada"}, profile={
        "passport_number": "925076473", "tax_pin": "AB123456C", "gender": "female"})
    for column, plain in (("passport_number", "925076473"), ("tax_pin", "AB123456C")):
        stored = raw_column(lead.id, column)
        assert plain not in stored
        assert Fernet(data_key).decrypt(stored.encode()).decode() == plain
    reread = Lead.get_by_id(lead.id)
    assert (reread.passport_number, reread.tax_pin, reread.gender) == (
        "925076473", "AB123456C", "female")


def test_the_audit_log_masks_them_on_create_edit_and_delete(any_db, data_key):
    lead = leads.add_lead({"first_name": "Ada"}, profile={
        "passport_number": "925076473", "date_of_birth": "1990-05-01"}, actor=PANEL)
    leads.edit_lead(PANEL, lead.id, {"first_name": "Ada"}, profile={
        "passport_number": "111222333", "tax_pin": "AB123456C", "comments": "VIP"})
    leads.delete_leads(PANEL, [lead.id])
    created, updated, deleted = reversed(list(audit.entries(entity="lead", entity_id=lead.id)))
    assert audit.changes_of(created)["passport_number"] == (None, audit.MASK)
    assert audit.changes_of(created)["date_of_birth"] == (None, "1990-05-01")
    assert audit.changes_of(updated) == {"passport_number": (audit.MASK, audit.MASK),
                                         "tax_pin": (None, audit.MASK), "comments": (None, "VIP")}
    assert audit.changes_of(deleted)["tax_pin"] == (audit.MASK, None)
    logged = " ".join(entry.changes for entry in AuditEntry.select())
    assert "925076473" not in logged and "111222333" not in logged and "AB123456C" not in logged


def test_an_edit_keeps_the_profile_it_is_not_given(any_db, data_key):
    lead = leads.add_lead({"first_name": "Ada"}, profile={"passport_number": "925076473"})
    before = raw_column(lead.id, "passport_number")
    leads.edit_lead(PANEL, lead.id, {"first_name": "Ada", "last_name": "Lovelace"})
    leads.edit_lead(PANEL, lead.id, {"first_name": "Ada", "last_name": "Lovelace"},
                    profile={"passport_number": "925 076473".replace(" ", "")})
    assert raw_column(lead.id, "passport_number") == before   # unchanged: not written again
    leads.edit_lead(PANEL, lead.id, {"first_name": "Ada"}, profile={"passport_number": ""})
    assert Lead.get_by_id(lead.id).passport_number is None
    assert raw_column(lead.id, "passport_number") is None


def test_a_bad_profile_field_saves_nothing_of_the_edit(any_db, data_key, make_lead):
    lead = make_lead(first_name="Ada")
    with pytest.raises(InvalidProfile):
        leads.edit_lead(PANEL, lead.id, {"first_name": "Changed", "email": lead.email},
                        profile={"gender": "robot"})
    with pytest.raises(InvalidProfile):
        leads.add_lead({"first_name": "New"}, profile={"date_of_birth": "tomorrow"})
    assert Lead.get_by_id(lead.id).first_name == "Ada" and Lead.select().count() == 1
    assert not AuditEntry.select().exists()


def test_without_the_key_a_passport_number_is_refused_under_its_field(any_db):
    with pytest.raises(InvalidProfile) as refused:
        leads.add_lead({"first_name": "Ada"}, profile={"tax_pin": "AB123456C"})
    assert refused.value.field == "tax_pin" and "DATA_ENCRYPTION_KEY" in str(refused.value)
    lead = leads.add_lead({"first_name": "Ada"}, profile={"address": "London"})  # no secret
    with pytest.raises(InvalidProfile, match="DATA_ENCRYPTION_KEY"):
        leads.edit_lead(PANEL, lead.id, {"first_name": "Ada"},
                        profile={"passport_number": "925076473"})
    assert Lead.select().count() == 1 and raw_column(lead.id, "passport_number") is None


# A client needs only a first name -----------------------------------------------------------

def test_a_client_with_only_a_first_name_is_added_and_found_by_its_contacts(any_db, make_user):
    make_user("admin", first_name="Ann")
    lead = leads.add_lead({"first_name": "Zoe", "last_name": " ", "email": "", "phone": None,
                           "country": ""}, actor=PANEL)
    saved = Lead.get_by_id(lead.id)
    assert (saved.first_name, saved.last_name, saved.country, saved.email, saved.phone) == (
        "Zoe", "", "", None, None)
    card = OutboxMessage.get().text
    assert "Name: Zoe" in card and "Email: —" in card and "Country: —" in card
    contacts.add(PANEL, lead.id, "telegram", "5550001")
    assert contacts.find_lead("telegram", "5550001").id == lead.id
    other = leads.add_lead({"first_name": "Yan", "phone": "+44 20 7946 0958"})
    assert contacts.find_lead("phone", "+442079460958").id == other.id
    assert [lead.id for lead in leads.search("7946 0958")] == [other.id]
    assert {found.id for found in Lead.select().where(leads.matching("zoe"))} == {lead.id}
    with pytest.raises(leads.InvalidLead, match="First name"):
        leads.add_lead({"first_name": " ", "email": "x@example.com"})


def test_search_by_an_email_does_not_match_every_contact_with_its_digits(any_db, make_lead):
    """"ada2@…" once also matched any contact holding a 2."""
    two, _other = make_lead(email="ada2@example.com"), make_lead(phone="+14155552222")
    assert [lead.id for lead in leads.search("ada2@example.com")] == [two.id]
    assert {lead.id for lead in Lead.select().where(leads.matching("ADA2@"))} == {two.id}


# Encrypted data needs its key to start --------------------------------------------------------

def test_a_database_with_encrypted_data_refuses_to_start_without_the_key(tmp_path):
    url = f"sqlite:///{tmp_path / 'secret.db'}"
    key = Fernet.generate_key().decode()
    models.bind(url, key)
    leads.add_lead({"first_name": "Ada"}, profile={"passport_number": "925076473"})
    models.db.close()
    with pytest.raises(models.MissingDataKey, match="DATA_ENCRYPTION_KEY is not set"):
        models.bind(url)
    models.db.close()
    with pytest.raises(models.MissingDataKey, match="not the key this data was encrypted with"):
        models.bind(url, Fernet.generate_key().decode())   # another key: refused at start too
    models.db.close()
    models.bind(url, key)   # with its key it starts, and reads the number
    assert Lead.get().passport_number == "925076473"
    models.db.close()
    models.use_data_key("")

    env = {**os.environ, "DATABASE_URL": url, "DATA_ENCRYPTION_KEY": ""}
    result = subprocess.run([sys.executable, "admin.py", "migrate"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result
    assert "DATA_ENCRYPTION_KEY" in result.stderr and "Traceback" not in result.stderr
    env["DATA_ENCRYPTION_KEY"] = key
    assert subprocess.run([sys.executable, "admin.py", "migrate"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60).returncode == 0


def test_without_encrypted_data_no_key_is_needed(tmp_path):
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    models.bind(url)
    leads.add_lead({"first_name": "Ada"}, profile={"gender": "female"})
    models.db.close()
    models.bind(url).close()
