"""Readable in the chat (issue 13): phone numbers in international format wherever a
lead is shown, and /find whatever the case and accents. On SQLite and Postgres."""
from models import OutboxMessage
from services.crm import leads
from tests.chat.helpers import press, say

STORED, SHOWN = "+442079460958", "+44 20 7946 0958"


def add(creator, first_name, last_name, n=1, phone=STORED):
    return leads.create_lead(creator, email=f"lead{n}@example.com", phone=phone,
                             first_name=first_name, last_name=last_name, country="GB")


def test_the_card_the_lists_and_the_notification_show_phones_in_international_format(
        any_db, admin, make_user):
    member = make_user()
    lead = add(admin, "Ann", "Smith")
    for text in (say(admin, f"/lead {lead.id}"), say(admin, "/leads"), say(admin, "/find smith"),
                 OutboxMessage.get(OutboxMessage.recipient == member.id).text):
        assert SHOWN in text and STORED not in text, text


def test_the_wizard_summary_shows_the_phone_as_people_read_it(any_db, admin):
    for answer in ("/createLead", "ann@example.com", "+4420 79460958", "Ann", "Smith"):
        say(admin, answer)
    summary = say(admin, "gb")
    assert f"Phone: {SHOWN}" in summary
    press(admin, "wiz:save")
    assert leads.get(1).phone == STORED   # stored as E.164 all the same


def test_find_ignores_case_and_accents(any_db, admin):
    diaz = add(admin, "José", "Díaz", n=1, phone="+442079460001")
    elodie = add(admin, "élodie", "Ørsted", n=2, phone="+442079460002")
    greek = add(admin, "Σωκράτης", "Παπαδόπουλος", n=3, phone="+442079460003")
    assert f"/lead_{diaz.id} José Díaz" in say(admin, "/find diaz")
    assert f"/lead_{elodie.id} élodie Ørsted" in say(admin, "/find ÉLODIE orsted")
    assert f"/lead_{greek.id}" in say(admin, "/find ΣΩΚΡΑΤΗΣ")
    assert "No leads match" in say(admin, "/find dias")
