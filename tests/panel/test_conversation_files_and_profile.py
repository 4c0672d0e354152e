"""The panel's conversation page, continued: files fetched from Telegram, the client's
profile and contacts, closing, and odd values in every path, query and form field. On
SQLite and Postgres."""
import datetime
import itertools
import re
from urllib.parse import quote

import pytest
from cryptography.fernet import Fernet

from models import Contact, Lead
from services.crm import contacts, profile
from services.delivery.telegram import TelegramTransport
from services.delivery.transport import PERMANENT, DeliveryError
from tests.fuzz_values import ODD_VALUES
from tests.panel.conftest import log_in, text_of
from tests.panel.inbox_helpers import (
    CONTACT,
    DOCUMENT,
    LOCATION,
    PANEL,
    PHOTO,
    PNG,
    PROFILE_FIELDS,
    conversation_of,
    flashes,
    inbound,
    make_client,
    page_of,
)

# Files ---------------------------------------------------------------------------------

@pytest.fixture
def fake_files(monkeypatch):
    """The transport's get_file, answering from a dict of file_id -> (bytes, type)."""
    files, asked = {"PHOTO-ID": (PNG, "image/png"), "DOC-ID": (b"%PDF-1.4", "application/pdf"),
                    "HTML-ID": (b"<script>alert(1)</script>", "text/html")}, []

    def get_file(self, file_id):
        asked.append(file_id)
        if file_id not in files:
            raise DeliveryError(PERMANENT, "Bad Request: invalid file_id")
        return files[file_id]
    monkeypatch.setattr(TelegramTransport, "get_file", get_file)
    return asked


def test_a_photo_is_served_as_itself_and_other_files_as_downloads(browser, fake_files):
    user, lead = make_client()
    html_file = {"kind": "document", "file_id": "HTML-ID", "file_name": 'pa"ge\r\n.html'}
    message = inbound(user, lead, "", attachments=[PHOTO, DOCUMENT, html_file])
    base = f"/conversations/{conversation_of(lead).id}/file/{message.id}"
    photo = browser.get(f"{base}/0")
    assert photo.status_code == 200 and photo.data == PNG
    assert photo.headers["Content-Type"] == "image/png"
    assert photo.headers["X-Content-Type-Options"] == "nosniff"
    assert not photo.headers.get("Content-Disposition", "inline").startswith("attachment")
    assert "private" in photo.headers["Cache-Control"]
    document = browser.get(f"{base}/1")
    assert document.data == b"%PDF-1.4" and document.headers["Content-Type"] == "application/octet-stream"
    assert document.headers["Content-Disposition"] == "attachment; filename=quote.pdf"
    page = browser.get(f"{base}/2")
    assert page.headers["Content-Type"] == "application/octet-stream"
    assert page.headers["Content-Disposition"].startswith("attachment;")
    assert "\r" not in page.headers["Content-Disposition"] and '"pa"' not in page.headers["Content-Disposition"]
    assert fake_files == ["PHOTO-ID", "DOC-ID", "HTML-ID"]


def test_a_file_that_is_not_there_is_a_404_and_a_telegram_failure_an_error_page(browser, fake_files):
    user, lead = make_client()
    message = inbound(user, lead, "", attachments=[PHOTO, LOCATION, CONTACT,
                                                   {"kind": "voice", "file_id": "GONE-ID"}])
    other_user, other_lead = make_client("Bob", "Hill", "bob")
    other = inbound(other_user, other_lead, "", attachments=[PHOTO])
    conversation = conversation_of(lead).id
    for path in (f"{message.id}/1", f"{message.id}/2", f"{message.id}/4", f"{message.id}/99",
                 f"{message.id}/-1", f"{message.id}/x", f"{other.id}/0", "999/0", "x/0"):
        response = browser.get(f"/conversations/{conversation}/file/{path}")
        assert response.status_code == 404, path
        assert "No such file" in text_of(response)
    failed = browser.get(f"/conversations/{conversation}/file/{message.id}/3")
    assert failed.status_code == 502
    assert "Telegram did not give this file (Bad Request: invalid file_id)" in text_of(failed)
    assert fake_files == ["GONE-ID"]


def test_get_file_asks_getfile_then_downloads_the_path(monkeypatch):
    """The transport's get_file against a fake HTTP layer: the token never leaks."""
    transport = TelegramTransport("https://api.example", "1:SECRET")
    calls = []

    class Answer:
        def __init__(self, status, body, content_type=None):
            self.status_code, self.body = status, body
            self.headers = {"Content-Type": content_type} if content_type else {}

        def json(self):
            import json
            return json.loads(self.body)

        def iter_content(self, size):
            yield self.body

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(transport, "_call", lambda method, params: calls.append((method, params))
                        or {"file_path": "photos/file_1.jpg"})
    monkeypatch.setattr("services.delivery.telegram.requests.get",
                        lambda url, **kw: calls.append(url) or Answer(200, b"JPEG", "application/octet-stream"))
    assert transport.get_file("F1") == (b"JPEG", "image/jpeg")
    assert calls == [("getFile", {"file_id": "F1"}), "https://api.example/file/bot1:SECRET/photos/file_1.jpg"]
    monkeypatch.setattr("services.delivery.telegram.requests.get",
                        lambda url, **kw: Answer(404, b'{"ok":false,"error_code":404,"description":"Not Found"}'))
    with pytest.raises(DeliveryError) as failure:
        transport.get_file("F1")
    assert "SECRET" not in str(failure.value)


# Profile, contacts, closing ------------------------------------------------------------

@pytest.fixture
def keyed_app(make_app):
    """A panel with DATA_ENCRYPTION_KEY; the secrets go again afterwards, since the next
    test binds the same Postgres database without the key (and then refuses to start)."""
    yield make_app(DATA_ENCRYPTION_KEY=Fernet.generate_key().decode())
    Lead.update(passport_number=None, tax_pin=None).execute()


def test_the_profile_is_edited_through_edit_lead_with_secrets_masked_on_the_page(keyed_app):
    browser = keyed_app.test_client()
    log_in(browser)
    user, lead = make_client()
    contacts.add(PANEL, lead.id, "email", "eve@example.com")
    inbound(user, lead)
    conversation = conversation_of(lead)
    form = {"first_name": "Eve", "middle_name": "Maria", "last_name": "Stone-Hill", "gender": "female",
            "date_of_birth": "1990-04-23", "address": "1 High St\nLondon", "passport_number": "AB 1234567",
            "tax_pin": "", "comments": "Prefers mornings"}
    response = browser.post(f"/conversations/{conversation.id}/profile", data=form)
    assert response.status_code == 302 and response.location == f"/conversations/{conversation.id}"
    saved = Lead.get_by_id(lead.id)
    assert (saved.middle_name, saved.last_name, saved.gender, saved.date_of_birth, saved.address,
            saved.passport_number, saved.tax_pin, saved.comments) == (
        "Maria", "Stone-Hill", "female", datetime.date(1990, 4, 23), "1 High St\nLondon", "AB 1234567",
        None, "Prefers mornings")
    assert saved.email == "eve@example.com" and len(contacts.of(lead.id)) == 2  # contacts kept
    page = page_of(browser, lead)
    assert "Profile saved." in flashes(page) and "Eve Maria Stone-Hill" in page
    assert "AB 1234567" not in page and profile.masked("AB 1234567") == "•••• 567" and "•••• 567" in page
    edit = text_of(browser.get(f"/conversations/{conversation.id}/profile"))
    assert re.search(r'type="password" id="passport_number" name="passport_number"\s+value="AB 1234567"', edit)
    assert 'data-reveal="passport_number"' in edit

    bad = browser.post(f"/conversations/{conversation.id}/profile", data={**form, "date_of_birth": "23/04/1990",
                                                                          "comments": "changed"})
    assert bad.status_code == 200
    assert "Date of birth: Type a date as YYYY-MM-DD" in text_of(bad) and 'value="23/04/1990"' in text_of(bad)
    assert Lead.get_by_id(lead.id).comments == "Prefers mornings"
    bad = browser.post(f"/conversations/{conversation.id}/profile", data={**form, "first_name": ""})
    assert bad.status_code == 200 and "First name" in flashes(text_of(bad))


def test_contacts_are_added_and_removed_with_refusals_flashed(browser):
    user, lead = make_client()
    other_user, other_lead = make_client("Bob", "Hill", "bob")
    contacts.add(PANEL, other_lead.id, "phone", "+442079460958")
    inbound(user, lead)
    conversation = conversation_of(lead)
    url = f"/conversations/{conversation.id}/contacts"
    response = browser.post(url, data={"kind": "email", "value": " Eve@Example.com "})
    assert response.status_code == 302 and response.location.endswith("#contacts")
    page = text_of(browser.get(response.location))
    assert "Added email eve@example.com." in flashes(page) and "eve@example.com" in page
    page = text_of(browser.post(url, data={"kind": "phone", "value": "+44 20 7946 0958"}, follow_redirects=True))
    assert f"A lead with this phone already exists: #{other_lead.id} Bob Hill." in flashes(page)
    page = text_of(browser.post(url, data={"kind": "email", "value": "not an email"}, follow_redirects=True))
    assert flashes(page).startswith("Email:")
    page = text_of(browser.post(url, data={"kind": "fax", "value": "1"}, follow_redirects=True))
    assert "A contact is one of: email, phone, telegram, whatsapp, other." in flashes(page)
    assert [c.kind for c in contacts.of(lead.id)] == ["email", "telegram"]

    email = Contact.get(Contact.lead == lead.id, Contact.kind == "email")
    response = browser.post(f"{url}/{email.id}/remove", follow_redirects=True)
    assert "Contact removed." in flashes(text_of(response))
    assert [c.kind for c in contacts.of(lead.id)] == ["telegram"]
    bobs = Contact.get(Contact.lead == other_lead.id, Contact.kind == "phone")
    page = text_of(browser.post(f"{url}/{bobs.id}/remove", follow_redirects=True))
    assert "That contact is not this client&#39;s" in flashes(page)
    assert Contact.get_or_none(Contact.id == bobs.id) is not None


def test_close_closes_and_a_client_message_reopens(browser):
    user, lead = make_client()
    inbound(user, lead)
    conversation = conversation_of(lead)
    page = text_of(browser.post(f"/conversations/{conversation.id}/close", follow_redirects=True))
    assert "Conversation closed." in flashes(page) and conversation_of(lead).status == "closed"
    assert 'id="close-button"' not in page
    page = text_of(browser.post(f"/conversations/{conversation.id}/close", follow_redirects=True))
    assert "This conversation was already closed." in flashes(page)
    inbound(user, lead, "Me again")
    assert conversation_of(lead).status == "open"


# Odd input -----------------------------------------------------------------------------

def test_odd_values_in_every_path_part_query_and_form_field_never_break_a_page(browser, fake_files):
    """The fuzz test of test_bad_input.py reaches no conversation (its seed has none);
    here every route runs against a real one, with each odd value everywhere."""
    user, lead = make_client()
    message = inbound(user, lead, "Hi", attachments=[PHOTO, LOCATION])
    conversation = conversation_of(lead).id
    routes = [r for r in browser.application.url_map.iter_rules() if r.endpoint.startswith("conversations.")]
    assert len(routes) == 10
    errors = []
    for rule, value in itertools.product(routes, ODD_VALUES):
        for real_conversation in (True, False):
            arguments = {name: value for name in rule.arguments}
            if real_conversation:
                arguments.update(conversation_id=str(conversation))
                if "message_id" in arguments:
                    arguments["message_id"] = str(message.id)
            path = re.sub(r"<(?:\w+:)?(\w+)>",
                          lambda m, given=arguments: quote(given[m.group(1)], safe="") or "%20", rule.rule)
            query = dict.fromkeys(("after", "pending", "status", "search", "page"), value)
            for method in sorted(rule.methods & {"GET", "POST"}):
                form = None if method == "GET" else dict.fromkeys(
                    ("text", "template", "kind", "value", *PROFILE_FIELDS), value)
                response = browser.open(path, method=method, query_string=query, data=form)
                if response.status_code >= 500:
                    errors.append((rule.endpoint, method, value, response.status_code))
    assert errors == []


