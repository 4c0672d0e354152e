"""Customer profiles (services/shop/profiles.py): each field checked as it is typed (names,
phone, email, gender, date of birth and age, country, the 51 US states, postal codes for
the country and state, usernames, password), and the writes: created, changed and
soft-deleted with their events, the password encrypted at rest and masked in the audit log."""
import datetime
import itertools
import string

import pycountry
import pytest
from cryptography.fernet import Fernet

import models
from models import CustomerProfile, User
from services.core import audit, policy
from services.core.actors import Actor
from services.inbox import clients
from services.shop import profiles
from services.shop.profiles import InvalidProfile, NoSuchProfile, TooManyProfiles

TODAY = datetime.date(2026, 12, 1)
NOW = datetime.datetime(2026, 12, 1, 9, 0)
_telegram_ids = itertools.count(70_000)
VALID = {"first_name": "Ann", "middle_name": None, "last_name": "Lee", "phone": "+16502530000",
         "email": "ann@example.com", "gender": "female", "date_of_birth": "1990-03-25",
         "country": "US", "street": "1600 Amphitheatre Pkwy", "apartment": None,
         "city": "Mountain View", "state": "US-CA", "postal_code": "94043",
         "telegram_username": "ann_lee", "instagram_username": None, "password": None}


def clean(field, text, **values):
    return profiles.clean(field, text, values, TODAY)


def refused(field, text, **values):
    with pytest.raises(InvalidProfile) as caught:
        clean(field, text, **values)
    assert caught.value.field == field and str(caught.value).startswith(profiles.FIELDS[field][0])
    return caught.value.reason


def customer():
    """(client actor, lead) of a Telegram user who wrote in."""
    user = User.create(telegram_id=next(_telegram_ids), first_name="Ann", username=None)
    actor = Actor.client(user)
    return actor, clients.from_telegram(actor, user, NOW)[0]


def raw_password(profile_id):
    return models.db.execute_sql(
        f"SELECT password FROM customer_profile WHERE id = {int(profile_id)}").fetchone()[0]


# Each field as it is typed ----------------------------------------------------------------

@pytest.mark.parametrize("field, typed, stored", [
    ("first_name", "  Zoë  Anne ", "Zoë Anne"),
    ("middle_name", "", None),
    ("last_name", "O'Neil", "O'Neil"),
    ("email", " Ann@Example.COM ", "ann@example.com"),
    ("gender", "Female", "female"),
    ("gender", "", None),
    ("country", "germany", "DE"),
    ("country", "gb", "GB"),
    ("street", " 10  Downing   Street ", "10 Downing Street"),
    ("apartment", "", None),
    ("city", "Mountain View", "Mountain View"),
    ("telegram_username", "@ann_lee", "ann_lee"),
    ("telegram_username", "https://t.me/Ann_Lee", "Ann_Lee"),
    ("instagram_username", "@Ann.Lee_", "ann.lee_"),
    ("instagram_username", "instagram.com/ann.lee/", "ann.lee"),
])
def test_what_is_accepted_and_how_it_is_stored(field, typed, stored):
    assert clean(field, typed) == stored


@pytest.mark.parametrize("field, typed, reason", [
    ("first_name", "", "It cannot be empty."),
    ("first_name", "1234", "A name needs at least one letter."),
    ("last_name", "Lee\u200b", "It cannot contain control characters."),
    ("first_name", "x" * 400, "That is too long (400 characters; at most 320)."),
    ("email", "ann@", "That is not a valid email address"),
    ("gender", "robot", "Choose one of: female, male, other."),
    ("country", "Narnia", "I don't know that country"),
    ("street", "---", "It needs at least one letter or digit."),
    ("city", "x" * 101, "That is too long (101 characters; at most 100)."),
    ("telegram_username", "ann", "A Telegram username has 5 to 32"),
    ("telegram_username", "ann_lee_", "A Telegram username has 5 to 32"),
    ("telegram_username", "1annlee", "A Telegram username has 5 to 32"),
    ("instagram_username", ".ann", "An Instagram username has up to 30"),
    ("instagram_username", "ann..lee", "An Instagram username has up to 30"),
    ("instagram_username", "a" * 31, "An Instagram username has up to 30"),
    ("instagram_username", "ann lee", "An Instagram username has up to 30"),
])
def test_what_is_refused_says_why(field, typed, reason):
    assert refused(field, typed).startswith(reason)


@pytest.mark.parametrize("typed, country, stored", [
    ("(650) 253-0000", None, "+16502530000"),          # the shop's country (US) by default
    ("+44 20 7946 0958", None, "+442079460958"),
    ("020 7946 0958", "GB", "+442079460958"),         # the profile's country
    ("+1 650-253-0000", "GB", "+16502530000"),
])
def test_phones_are_stored_in_e164(typed, country, stored):
    assert clean("phone", typed, **({"country": country} if country else {})) == stored


def test_phones_without_a_country_code_are_read_in_the_shops_country(monkeypatch):
    assert refused("phone", "020 7946 0958").startswith("That phone number is not valid")
    monkeypatch.setattr(policy, "_current", policy.Policy(shop_country="GB"))
    assert clean("phone", "020 7946 0958") == "+442079460958"
    assert refused("phone", "call me").startswith("That is not a phone number I can read")


# Dates of birth and ages ----------------------------------------------------------------

@pytest.mark.parametrize("typed", ["1990-03-25", "1990-3-25", "25.03.1990", "25 March 1990",
                                   "25th Mar 1990", "March 25, 1990", "mar 25 1990"])
def test_a_date_of_birth_is_read_in_each_way_it_is_offered(typed):
    assert clean("date_of_birth", typed) == datetime.date(1990, 3, 25)


@pytest.mark.parametrize("typed, reason", [
    ("1990-02-30", "There is no such date"),
    ("31.04.1990", "There is no such date"),
    ("25 Smarch 1990", "Type the date as YYYY-MM-DD"),
    ("03/25/1990", "Type the date as YYYY-MM-DD"),
    ("١٩٩٠-03-25", "Type the date as YYYY-MM-DD"),      # Arabic-Indic digits are no date here
    ("2027-01-01", "A date of birth cannot be in the future."),
])
def test_a_date_that_is_no_real_date_of_birth_is_refused(typed, reason):
    assert refused("date_of_birth", typed).startswith(reason)


def test_ages_from_16_to_120_are_accepted():
    assert clean("date_of_birth", "2010-12-01") == datetime.date(2010, 12, 1)   # 16 today
    assert refused("date_of_birth", "2010-12-02") == "The person must be at least 16 years old."
    assert clean("date_of_birth", "1906-12-02") == datetime.date(1906, 12, 2)   # 119, 120 tomorrow
    assert clean("date_of_birth", "1906-12-01") == datetime.date(1906, 12, 1)   # 120 today
    assert refused("date_of_birth", "1905-12-01").startswith("That would make them older than 120")
    leap_day = "2008-02-29"
    assert profiles.clean("date_of_birth", leap_day, {}, datetime.date(2024, 2, 29)) == datetime.date(
        2008, 2, 29)
    with pytest.raises(InvalidProfile):
        profiles.clean("date_of_birth", leap_day, {}, datetime.date(2024, 2, 28))


# States and postal codes ------------------------------------------------------------------

def test_the_us_states_are_pycountrys_50_states_and_dc_by_name():
    expected = {(s.code, s.name) for s in pycountry.subdivisions.get(country_code="US")
                if s.type in ("State", "District")}
    assert len(profiles.US_STATES) == 51 and set(profiles.US_STATES) == expected
    codes = dict(profiles.US_STATES)
    assert codes["US-DC"] == "District of Columbia" and codes["US-CA"] == "California"
    assert "US-PR" not in codes and "US-GU" not in codes     # outlying areas are no states
    assert [name for _, name in profiles.US_STATES] == sorted(name for _, name in expected)
    assert profiles.states_of("US") == profiles.US_STATES and profiles.states_of("DE") == []


def test_a_us_state_is_chosen_by_code_or_name_and_elsewhere_typed_freely():
    assert clean("state", "US-NY", country="US") == "US-NY"
    assert clean("state", "ny", country="US") == "US-NY"
    assert clean("state", "new york", country="US") == "US-NY"
    assert refused("state", "Puerto Rico", country="US").startswith("Choose the state")
    assert refused("state", "", country="US") == "It cannot be empty."
    assert clean("state", "Bavaria", country="DE") == "Bavaria"
    assert clean("state", "", country="DE") is None
    assert profiles.optional("state", {"country": "DE"}) and not profiles.optional("state", {"country": "US"})


@pytest.mark.parametrize("typed, values, stored", [
    ("94043", {"country": "US", "state": "US-CA"}, "94043"),
    ("94043-1351", {"country": "US", "state": "US-CA"}, "94043-1351"),
    ("20500", {"country": "US", "state": "US-DC"}, "20500"),
    ("sw1a 2aa", {"country": "GB"}, "SW1A 2AA"),
    ("EC1Y 8SY", {"country": "GB"}, "EC1Y 8SY"),
    ("10115", {"country": "DE"}, "10115"),
    ("", {"country": "HK"}, None),                   # Hong Kong has none
])
def test_postal_codes_valid_for_their_country_and_state(typed, values, stored):
    assert clean("postal_code", typed, **values) == stored


@pytest.mark.parametrize("typed, values, reason", [
    ("10001", {"country": "US", "state": "US-CA"},   # a New York ZIP code
     "That is not a valid ZIP code for California. For example: 90000."),
    ("9404", {"country": "US", "state": "US-CA"}, "That is not a valid ZIP code for California."),
    ("SW1A", {"country": "GB"}, "That is not a valid postal code for United Kingdom."),
    ("1011", {"country": "DE"}, "That is not a valid postal code for Germany. For example: 26133."),
    ("", {"country": "DE"}, "It cannot be empty."),
    ("999077", {"country": "HK"}, "Hong Kong has no postal codes: press Skip."),
])
def test_a_wrong_postal_code_is_refused_for_its_country_and_state(typed, values, reason):
    assert refused("postal_code", typed, **values).startswith(reason)


def test_a_postal_code_is_only_skipped_where_there_are_none():
    assert not profiles.asked("postal_code", {"country": "HK"})
    assert profiles.asked("postal_code", {"country": "US"})
    assert not profiles.optional("postal_code", {"country": "GB"})
    assert profiles.postal_code_format({"country": "US", "state": "US-NY"}) == ("ZIP code", "10000")


# Passwords ----------------------------------------------------------------------------------

def test_a_password_needs_a_key_to_be_accepted(any_db):
    assert refused("password", "correct horse").startswith("Passwords are kept encrypted")
    assert clean("password", "") is None


def test_a_typed_password_is_6_to_128_characters(any_db, data_key):
    assert clean("password", " correct horse ") == "correct horse"
    assert refused("password", "12345") == "A password has 6 to 128 characters."
    assert refused("password", "x" * 129) == "A password has 6 to 128 characters."
    assert profiles.unseal(profiles.seal("correct horse")) == "correct horse"


def test_generated_passwords_are_14_random_letters_and_digits():
    made = {profiles.generate_password() for _ in range(50)}
    assert len(made) == 50
    for password in made:
        assert len(password) == 14 and set(password) <= set(string.ascii_letters + string.digits)
        assert any(c.isupper() for c in password) and any(c.islower() for c in password)
        assert any(c.isdigit() for c in password)


# Writes ---------------------------------------------------------------------------------

def test_a_saved_profile_keeps_its_password_encrypted_and_the_audit_log_masks_it(any_db, data_key):
    actor, lead = customer()
    profile = profiles.save(actor, lead.id, {**VALID, "password": "correct horse"}, now=NOW)
    stored = raw_password(profile.id)
    assert stored and stored != "correct horse" and "correct horse" not in stored
    assert CustomerProfile.get_by_id(profile.id).password == "correct horse"
    assert profiles.masked(profile) == "•••"
    assert "Password: •••" in profiles.summary_lines(profile)
    assert "Password: correct horse" in profiles.summary_lines(profile, reveal=True)
    assert "correct horse" not in "\n".join(profiles.summary_lines(profile))

    profiles.save(actor, lead.id, {"password": "battery staple"}, profile_id=profile.id, now=NOW)
    created, updated = reversed(list(audit.entries(entity="customer_profile", entity_id=profile.id)))
    assert (created.event, updated.event) == ("customer_profile.created", "customer_profile.updated")
    assert audit.changes_of(created)["password"] == (None, audit.MASK)
    assert audit.changes_of(created)["city"] == (None, "Mountain View")
    assert audit.changes_of(updated) == {"password": (audit.MASK, audit.MASK)}
    assert "horse" not in created.changes + updated.changes and "staple" not in updated.changes


def test_only_admins_reveal_a_profiles_password_and_each_time_is_audited(any_db, data_key,
                                                                           make_user):
    actor, lead = customer()
    profile = profiles.save(actor, lead.id, {**VALID, "password": "correct horse"}, now=NOW)
    for who in (actor, Actor.member(make_user("operator")), Actor.member(make_user("dispatcher"))):
        with pytest.raises(NoSuchProfile):
            profiles.reveal_password(who, profile.id)
    assert profiles.reveal_password(Actor.member(make_user("admin")), profile.id) == "correct horse"
    assert profiles.reveal_password(Actor.panel(), profile.id) == "correct horse"
    seen = [e for e in audit.entries(entity="customer_profile", entity_id=profile.id)
            if e.event == "customer_profile.password_revealed"]
    assert [e.actor_kind for e in seen] == ["panel", "member"]
    assert all("horse" not in e.changes for e in seen)
    with pytest.raises(NoSuchProfile):
        profiles.reveal_password(Actor.panel(), profile.id + 1)


def test_without_a_key_a_profile_saves_without_a_password_and_refuses_one(any_db):
    actor, lead = customer()
    with pytest.raises(InvalidProfile) as caught:
        profiles.save(actor, lead.id, {**VALID, "password": "correct horse"}, now=NOW)
    assert caught.value.field == "password" and "DATA_ENCRYPTION_KEY" in caught.value.reason
    assert CustomerProfile.select().count() == 0
    profile = profiles.save(actor, lead.id, VALID, now=NOW)
    assert profile.password is None and raw_password(profile.id) is None


def test_saving_checks_every_field_again_and_stores_them_cleaned(any_db):
    actor, lead = customer()
    with pytest.raises(InvalidProfile) as caught:
        profiles.save(actor, lead.id, {**VALID, "email": None}, now=NOW)
    assert caught.value.field == "email"
    with pytest.raises(InvalidProfile) as caught:
        profiles.save(actor, lead.id, {**VALID, "postal_code": "10001"}, now=NOW)
    assert caught.value.field == "postal_code"
    profile = profiles.save(actor, lead.id, {**VALID, "phone": "(650) 253-0000",
                                             "date_of_birth": datetime.date(1990, 3, 25)}, now=NOW)
    assert (profile.phone, profile.date_of_birth, profile.lead_id) == (
        "+16502530000", datetime.date(1990, 3, 25), lead.id)
    assert profile.full_name == "Ann Lee"


def test_an_update_writes_and_audits_only_what_changed(any_db, data_key):
    actor, lead = customer()
    profile = profiles.save(actor, lead.id, {**VALID, "password": "correct horse"}, now=NOW)
    before = raw_password(profile.id)
    later = NOW + datetime.timedelta(days=1)
    updated = profiles.save(actor, lead.id, {"city": "Palo Alto", "postal_code": "94301"},
                            profile_id=profile.id, now=later)
    assert (updated.city, updated.postal_code, updated.updated_at) == ("Palo Alto", "94301", later)
    assert raw_password(profile.id) == before          # not encrypted and written again
    last = audit.entries(entity="customer_profile", entity_id=profile.id).first()
    assert audit.changes_of(last) == {"city": ("Mountain View", "Palo Alto"),
                                      "postal_code": ("94043", "94301")}
    # A new state makes the old ZIP code wrong: it is saved only with a new one.
    with pytest.raises(InvalidProfile) as caught:
        profiles.save(actor, lead.id, {"state": "US-NY"}, profile_id=profile.id, now=later)
    assert caught.value.field == "postal_code"


def test_a_deleted_profile_is_kept_for_its_orders_but_gone_for_the_customer(any_db):
    actor, lead = customer()
    kept = profiles.save(actor, lead.id, VALID, now=NOW)
    doomed = profiles.save(actor, lead.id, {**VALID, "first_name": "Bob"}, now=NOW)
    assert [p.id for p in profiles.of_customer(lead.id)] == [kept.id, doomed.id]
    profiles.delete(actor, doomed.id, now=NOW)
    assert [p.id for p in profiles.of_customer(lead.id)] == [kept.id]
    assert CustomerProfile.get_by_id(doomed.id).deleted_at == NOW
    with pytest.raises(NoSuchProfile):
        profiles.get_for(lead.id, doomed.id)
    with pytest.raises(NoSuchProfile):
        profiles.delete(actor, doomed.id, now=NOW)
    with pytest.raises(NoSuchProfile):
        profiles.save(actor, lead.id, {"city": "Palo Alto"}, profile_id=doomed.id, now=NOW)
    entry = audit.entries(entity="customer_profile", entity_id=doomed.id).first()
    assert entry.event == "customer_profile.deleted"
    assert audit.changes_of(entry) == {"deleted_at": (None, "2026-12-01 09:00:00")}


def test_a_client_keeps_only_their_own_profiles_and_admins_anyones(any_db, make_user):
    ann, ann_lead = customer()
    bob, bob_lead = customer()
    profile = profiles.save(ann, ann_lead.id, VALID, now=NOW)
    with pytest.raises(NoSuchProfile):
        profiles.delete(bob, profile.id, now=NOW)
    with pytest.raises(NoSuchProfile):
        profiles.save(bob, ann_lead.id, VALID, now=NOW)
    with pytest.raises(NoSuchProfile):
        profiles.get_for(bob_lead.id, profile.id)
    with pytest.raises(NoSuchProfile):
        profiles.save(Actor.member(make_user(role="sales")), ann_lead.id, VALID, now=NOW)
    profiles.save(Actor.panel(), ann_lead.id, {"city": "Palo Alto", "postal_code": "94301"},
                  profile_id=profile.id, now=NOW)
    profiles.delete(Actor.member(make_user(role="admin")), profile.id, now=NOW)
    assert profiles.of_customer(ann_lead.id) == []


def test_a_customer_has_at_most_max_profiles(any_db, monkeypatch):
    monkeypatch.setattr(profiles, "MAX_PROFILES", 2)
    actor, lead = customer()
    first = profiles.save(actor, lead.id, VALID, now=NOW)
    profiles.save(actor, lead.id, VALID, now=NOW)
    with pytest.raises(TooManyProfiles):
        profiles.save(actor, lead.id, VALID, now=NOW)
    profiles.delete(actor, first.id, now=NOW)
    assert profiles.save(actor, lead.id, VALID, now=NOW).id


def test_a_stored_password_needs_its_key_to_start(tmp_path):
    """Profile passwords count as encrypted data at start (models.check_data_key), as the
    clients' passport numbers do (tests/crm/test_profile.py)."""
    url = f"sqlite:///{tmp_path / 'secret.db'}"
    key = Fernet.generate_key().decode()
    models.bind(url, key)
    _, lead = customer()
    profiles.save(Actor.panel(), lead.id, {**VALID, "password": "correct horse"}, now=NOW)
    models.db.close()
    with pytest.raises(models.MissingDataKey, match=r"customer_profile\.password"):
        models.bind(url)
    models.db.close()
    with pytest.raises(models.MissingDataKey, match="not the key this data was encrypted with"):
        models.bind(url, Fernet.generate_key().decode())
    models.db.close()
    models.bind(url, key)
    assert CustomerProfile.get().password == "correct horse"
    models.db.close()
    models.use_data_key("")
