"""Client conversations in the panel (issue 11): the list with unread badges, search and
the status filter; one conversation's bubbles, delivery states, composer, templates and
the poll for newer messages; logins, CSRF and escaping. Files, the profile, contacts and
odd input: test_conversation_files_and_profile.py. On SQLite and Postgres."""
import datetime
import re

import pytest

import models
from models import Contact, Conversation, Lead, Message, OutboxMessage, User
from services.crm import contacts
from services.delivery.telegram import TelegramTransport
from services.inbox import conversations, reads, sending, templates
from tests.fuzz_values import ODD_VALUES
from tests.panel.conftest import USERNAME, csrf_token, log_in, text_of
from tests.panel.inbox_helpers import (
    CONTACT,
    DOCUMENT,
    LOCATION,
    PANEL,
    PHOTO,
    XSS,
    client_ids,
    conversation_of,
    flashes,
    inbound,
    make_client,
    page_of,
    rows_of,
)

# Logins -------------------------------------------------------------------------------

ROUTES = [("GET", "/conversations/"), ("GET", "/conversations/1"),
          ("GET", "/conversations/1/messages?after=0"), ("GET", "/conversations/1/file/1/0"),
          ("GET", "/conversations/1/profile"), ("POST", "/conversations/1/profile"),
          ("POST", "/conversations/1/send"), ("POST", "/conversations/1/template"),
          ("POST", "/conversations/1/close"), ("POST", "/conversations/1/contacts"),
          ("POST", "/conversations/1/contacts/1/remove")]


def test_every_route_needs_a_login(client, monkeypatch):
    user, lead = make_client()
    inbound(user, lead, "Hi", attachments=[PHOTO])
    monkeypatch.setattr(TelegramTransport, "get_file", lambda self, file_id: pytest.fail("fetched"))
    for method, url in ROUTES:
        response = client.open(url, method=method, data={"text": "x", "template": "welcome",
                                                         "kind": "phone", "value": "+442079460958"})
        assert response.status_code == 302, (method, url)
        assert response.location.startswith("/login?next="), (method, url, response.location)
    assert OutboxMessage.select().count() == 0 and Message.select().count() == 1
    assert Conversation.get().status == "open"


def test_the_menu_links_the_conversations_next_to_leads(browser):
    page = text_of(browser.get("/"))
    assert re.search(r'href="/conversations/">\s*Conversations</a>', page)
    assert page.index('href="/leads/"') < page.index('href="/conversations/"')


# The list ------------------------------------------------------------------------------

def test_the_list_shows_an_unread_badge_until_the_conversation_is_opened(browser, make_user):
    owner = make_user("sales", first_name="Sam", last_name="Lee")
    eve, eve_lead = make_client()
    bob, bob_lead = make_client("Bob", "Hill", "bob")
    Lead.update(owner=owner).where(Lead.id == eve_lead.id).execute()
    inbound(bob, bob_lead, "First from Bob")
    inbound(eve, eve_lead, "One")
    inbound(eve, eve_lead, "Two, with a photo", attachments=[PHOTO])
    page = text_of(browser.get("/conversations/"))
    assert rows_of(page) == [("Eve Stone", "2"), ("Bob Hill", "1")]  # newest first
    assert "📎 photo Two, with a photo" in page and "Owner: Sam Lee" in page and "No owner yet" in page

    page_of(browser, eve_lead)
    assert rows_of(text_of(browser.get("/conversations/"))) == [("Eve Stone", None), ("Bob Hill", "1")]
    # The mark is this login's: a member's read state is their own.
    assert reads.unread_counts(f"panel:{USERNAME}", [conversation_of(eve_lead).id]) == {
        conversation_of(eve_lead).id: 0}
    assert reads.unread_counts("member:1", [conversation_of(eve_lead).id]) == {conversation_of(eve_lead).id: 2}


def test_the_list_reads_each_page_in_a_fixed_number_of_queries(browser, make_user):
    """No query per row of the panel's own: owners come in one query; only the service's
    unread count is per conversation."""
    def queries_for_list():
        seen = []
        original = models.db.obj.execute_sql

        def counting(sql, *args, **kwargs):
            seen.append(sql)
            return original(sql, *args, **kwargs)
        models.db.obj.execute_sql = counting
        try:
            assert browser.get("/conversations/").status_code == 200
        finally:
            del models.db.obj.execute_sql
        return len(seen)

    def add_clients(n):
        for _ in range(n):
            user, lead = make_client(f"C{next(client_ids)}", "X", None)
            Lead.update(owner=make_user("sales")).where(Lead.id == lead.id).execute()
            inbound(user, lead, "hi")
    add_clients(2)
    few = queries_for_list()
    add_clients(6)
    many = queries_for_list()
    assert many - few <= 6, (few, many)  # reads.unread_counts: one per conversation


def test_search_by_name_or_any_contact(browser):
    eve, eve_lead = make_client()
    bob, bob_lead = make_client("Bob", "Hill", "bob")
    contacts.add(PANEL, eve_lead.id, "phone", "+44 20 7946 0958")
    contacts.add(PANEL, bob_lead.id, "email", "Bob.Hill@Example.com")
    for user, lead in ((eve, eve_lead), (bob, bob_lead)):
        inbound(user, lead)

    def found(text):
        return [name for name, _ in rows_of(text_of(browser.get("/conversations/", query_string={
            "search": text})))]
    assert found("eve st") == ["Eve Stone"]
    assert found("HILL") == ["Bob Hill"]
    assert found("+44 20 7946 0958") == ["Eve Stone"]  # typed as people write it
    assert found("7946") == ["Eve Stone"]
    assert found("bob.hill@example") == ["Bob Hill"]
    assert found("%_") == []
    assert "No open conversation matches “nobody”" in text_of(
        browser.get("/conversations/?search=nobody"))


def test_the_status_filter_shows_open_closed_or_all(browser):
    eve, eve_lead = make_client()
    bob, bob_lead = make_client("Bob", "Hill", "bob")
    inbound(eve, eve_lead)
    inbound(bob, bob_lead)
    conversations.close(PANEL, conversation_of(bob_lead).id)

    def names(query):
        return [name for name, _ in rows_of(text_of(browser.get(f"/conversations/{query}")))]
    assert names("") == ["Eve Stone"]
    assert names("?status=closed") == ["Bob Hill"]
    assert names("?status=all") == ["Bob Hill", "Eve Stone"]
    assert names("?status=closed&search=eve") == []
    page = text_of(browser.get("/conversations/?status=%3Cb%3Eodd"))
    assert "&lt;b&gt;odd is not a status; showing open conversations." in page
    assert [name for name, _ in rows_of(page)] == ["Eve Stone"]


def test_the_list_pages(browser):
    for n in range(23):
        user, lead = make_client(f"Client{n:02d}", "X", None)
        inbound(user, lead, now=datetime.datetime(2026, 1, 1) + datetime.timedelta(minutes=n))
    first = text_of(browser.get("/conversations/"))
    assert len(rows_of(first)) == 20 and rows_of(first)[0][0] == "Client22 X" and "Page 1 of 2" in first
    second = text_of(browser.get("/conversations/?page=1"))
    assert [name for name, _ in rows_of(second)] == ["Client02 X", "Client01 X", "Client00 X"]
    assert "x is not a page number" in text_of(browser.get("/conversations/?page=x"))


# One conversation -----------------------------------------------------------------------

def test_the_history_shows_bubbles_with_times_in_tz_and_delivery_states(make_app):
    browser = make_app(TZ="Europe/Kyiv").test_client()
    log_in(browser)
    user, lead = make_client()
    conversation = conversation_of(lead) or conversations.open_for(lead)
    at = datetime.datetime(2026, 3, 1, 10, 0)
    inbound(user, lead, "Can I pay by card?", now=at)
    states = {}
    for n, (status, error) in enumerate([("sent", None), ("failed", "Forbidden: bot was blocked"),
                                         ("expired", None), ("pending", None)]):
        message = sending.send_text(PANEL, conversation.id, f"Reply {status}",
                                    now=at + datetime.timedelta(minutes=n + 1))
        OutboxMessage.update(status=status, last_error=error,
                             sent_at=at if status == "sent" else None).where(
            OutboxMessage.id == message.outbox_id).execute()
        states[status] = message.id
    page = page_of(browser, lead)
    bubbles = re.findall(r'<li class="chat-row chat-row-(in|out)" id="m(\d+)"', page)
    assert [d for d, _ in bubbles] == ["in", "out", "out", "out", "out"]
    assert "Can I pay by card?" in page and "12:00" in page  # 10:00 UTC is 12:00 in Kyiv
    assert 'title="2026-03-01 12:00 (Europe/Kyiv)"' in page and "2026-03-01</span>" in page

    def state_of(message_id):
        return re.search(rf'<li[^>]*id="m{message_id}".*?(<span class="delivery.*?)</div>', page, re.S).group(1)
    assert "✓ sent" in state_of(states["sent"]) and "data-pending" not in state_of(states["sent"])
    assert "✗ failed" in state_of(states["failed"]) and "Forbidden: bot was blocked" in state_of(states["failed"])
    assert "✗ expired" in state_of(states["expired"])
    assert "queued" in state_of(states["pending"]) and "data-pending" in state_of(states["pending"])
    assert f"admin panel ({USERNAME})" in page and "Eve Stone" in page


def test_attachments_link_to_the_file_route_a_map_or_show_as_text(browser):
    user, lead = make_client()
    message = inbound(user, lead, "See these", attachments=[PHOTO, DOCUMENT, LOCATION, CONTACT])
    page = page_of(browser, lead)
    base = f"/conversations/{conversation_of(lead).id}/file/{message.id}"
    assert f'<img class="bubble-photo" src="{base}/0"' in page
    assert f'href="{base}/1">📎 document quote.pdf</a>' in page and "2.0 KB" in page
    assert "https://www.openstreetmap.org/?mlat=50.450100&amp;mlon=30.523400#map=16/50.450100/30.523400" in page
    assert f"{base}/2" not in page and f"{base}/3" not in page
    assert "👤 contact · Bob · +44 20 7946 0958" in page


def test_sending_from_the_composer_queues_it_for_the_clients_telegram_chat(browser):
    user, lead = make_client()
    inbound(user, lead)
    conversation = conversation_of(lead)
    response = browser.post(f"/conversations/{conversation.id}/send", data={"text": "  We can help!  "})
    assert response.status_code == 302
    assert response.location == f"/conversations/{conversation.id}#composer"
    row = OutboxMessage.get()
    assert (row.recipient_id, row.conversation_id, row.text, row.status) == (
        user.id, conversation.id, "We can help!", "pending")
    message = Message.get(Message.direction == "out")
    assert (message.text, message.outbox_id, message.sender_kind, message.sender_label) == (
        "We can help!", row.id, "panel", f"admin panel ({USERNAME})")
    page = text_of(browser.get(response.location))
    assert "We can help!" in page and re.search(rf'id="m{message.id}"', page)


def test_a_template_is_sent_with_the_clients_name_filled_in(make_app):
    browser = make_app(COMPANY_NAME="Acme & Co").test_client()
    log_in(browser)
    user, lead = make_client()
    inbound(user, lead)
    welcome = templates.get(templates.WELCOME) or templates.save(
        PANEL, templates.WELCOME, "Hi {first_name|there}! Thanks for writing to {company}.")
    conversation = conversation_of(lead)
    page = page_of(browser, lead)
    assert f'<option value="{welcome.name}"' in page
    response = browser.post(f"/conversations/{conversation.id}/template", data={"template": "welcome"})
    assert response.status_code == 302
    row = OutboxMessage.get()
    assert row.recipient_id == user.id and row.text.startswith("Hi Eve!") and "Acme &amp; Co" in row.text
    assert Message.get(Message.direction == "out").text.startswith("Hi Eve!")
    page = text_of(browser.post(f"/conversations/{conversation.id}/template",
                                data={"template": "no_such"}, follow_redirects=True))
    assert "There is no template named no_such." in flashes(page)
    assert OutboxMessage.select().count() == 1


def test_what_cannot_be_sent_is_flashed_not_a_server_error(browser):
    user, lead = make_client("O'Neil <b>&", "Smith", "oneil")
    inbound(user, lead)
    conversation = conversation_of(lead)
    url = f"/conversations/{conversation.id}/send"
    page = text_of(browser.post(url, data={"text": "   "}, follow_redirects=True))
    assert "There is nothing to send." in flashes(page)
    page = text_of(browser.post(url, data={"text": "x" * 5000}, follow_redirects=True))
    assert "That is too long for one message (5000 characters; at most 4096)." in flashes(page)
    User.update(unreachable=True, unreachable_reason="blocked the bot").where(User.id == user.id).execute()
    response = browser.post(url, data={"text": "Hello?"}, follow_redirects=True)
    assert response.status_code == 200
    # The service's message is for Telegram's HTML; the panel shows the name as typed, escaped once.
    assert ("Not sent: O&#39;Neil &lt;b&gt;&amp; Smith cannot be reached on Telegram (blocked the bot)."
            in flashes(text_of(response)))
    assert 'id="send-problem"' in text_of(response)
    Contact.delete().where(Contact.kind == "telegram").execute()
    page = text_of(browser.post(url, data={"text": "Hello?"}, follow_redirects=True))
    assert "has no contact on a channel that is set up" in flashes(page)
    assert OutboxMessage.select().count() == 0 and Message.select().count() == 1


def test_an_unknown_conversation_is_a_404_page_or_a_message(browser):
    response = browser.get("/conversations/999")
    assert response.status_code == 404 and "There is no conversation #999." in text_of(response)
    assert browser.get("/conversations/%C2%B2").status_code == 404
    assert browser.get("/conversations/999/profile").status_code == 404
    assert browser.get("/conversations/999/messages?after=0").status_code == 404
    response = browser.post("/conversations/999/send", data={"text": "x"}, follow_redirects=True)
    assert "There is no conversation #999." in flashes(text_of(response))


def test_every_form_needs_its_csrf_token(make_app):
    client = make_app(csrf=True).test_client()
    assert log_in(client, csrf_token=csrf_token(client, "/login")).status_code == 302
    user, lead = make_client()
    inbound(user, lead)
    conversation = conversation_of(lead)
    page = page_of(client, lead)
    forms = [f for f in re.findall(r"<form .*?</form>", page, re.S) if 'method="post"' in f]
    assert len(forms) >= 5 and all('name="csrf_token"' in f for f in forms)
    base = f"/conversations/{conversation.id}"
    for path in ("/send", "/template", "/close", "/contacts", "/contacts/1/remove", "/profile"):
        response = client.post(base + path, data={"text": "Hi", "template": "welcome", "kind": "phone",
                                                  "value": "+442079460958", "first_name": "X"})
        assert response.status_code == 400 and "Form expired" in text_of(response), path
    assert OutboxMessage.select().count() == 0 and Conversation.get().status == "open"
    assert Contact.select().count() == 1 and Lead.get().first_name == "Eve"
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post(base + "/send", data={"text": "Hi", "csrf_token": token}).status_code == 302
    assert OutboxMessage.select().count() == 1


def test_what_people_typed_is_escaped_everywhere(browser):
    user, lead = make_client(XSS, "<img src=x onerror=alert(2)>", None)
    contacts.add(PANEL, lead.id, "other", "<svg onload=alert(3)>")
    inbound(user, lead, "<b>bold?</b> " + XSS,
            attachments=[{**DOCUMENT, "file_name": "<i>evil</i>.pdf"}, {**CONTACT, "first_name": XSS}])
    conversation = conversation_of(lead)
    pages = [text_of(browser.get("/conversations/")), page_of(browser, lead),
             text_of(browser.get(f"/conversations/{conversation.id}/messages?after=0")),
             text_of(browser.get(f"/conversations/{conversation.id}/profile"))]
    for page in pages:
        for raw in (XSS, "<img src=x", "<svg", "<b>bold", "<i>evil"):
            assert raw not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]
    assert "&lt;b&gt;bold?&lt;/b&gt;" in pages[1] and "&lt;i&gt;evil&lt;/i&gt;.pdf" in pages[1]
    assert "&lt;svg onload=alert(3)&gt;" in pages[1] and "&lt;i&gt;evil&lt;/i&gt;.pdf" in pages[2]


# The poll ------------------------------------------------------------------------------

def test_the_poll_returns_only_newer_messages_and_changed_delivery_states(browser):
    user, lead = make_client()
    conversation = conversations.open_for(lead)
    first = inbound(user, lead, "First")
    reply = sending.send_text(PANEL, conversation.id, "Our reply")
    newer = inbound(user, lead, "Newer <b>one</b>")
    url = f"/conversations/{conversation.id}/messages"
    response = browser.get(url, query_string={"after": reply.id, "pending": [reply.id, "x"]})
    assert response.status_code == 200 and response.headers["X-Leadgram-Fragment"] == "messages"
    fragment = text_of(response)
    assert re.findall(r'data-message-id="(\d+)"', fragment) == [str(newer.id)]
    assert "Newer &lt;b&gt;one&lt;/b&gt;" in fragment and "First" not in fragment
    assert re.search(rf'data-state-for="{reply.id}" data-pending="{reply.id}"', fragment)
    assert reads.unread_counts(f"panel:{USERNAME}", [conversation.id]) == {conversation.id: 0}
    OutboxMessage.update(status="sent", sent_at=models.utcnow()).where(
        OutboxMessage.id == reply.outbox_id).execute()
    fragment = text_of(browser.get(url, query_string={"after": newer.id, "pending": reply.id}))
    assert "data-message-id" not in fragment
    assert re.search(rf'data-state-for="{reply.id}"[^>]*>✓ sent', fragment)
    everything = text_of(browser.get(url, query_string={"after": "0"}))
    assert re.findall(r'data-message-id="(\d+)"', everything) == [str(first.id), str(reply.id), str(newer.id)]
    assert text_of(browser.get(url, query_string={"after": "abc"})).count("data-message-id") == 3


def test_older_messages_are_a_page_away_and_only_the_newest_page_polls_and_marks_read(browser):
    eve, eve_lead = make_client()
    ids = [inbound(eve, eve_lead, f"message {n}").id for n in range(130)]
    conversation_id = conversation_of(eve_lead).id
    page = text_of(browser.get(f"/conversations/{conversation_id}"))
    first_shown = ids[-100]
    assert "data-poll-url" in page and f"before={first_shown}" in page
    assert f'id="m{first_shown}"' in page and f'id="m{first_shown - 1}"' not in page
    older = text_of(browser.get(f"/conversations/{conversation_id}", query_string={"before": first_shown}))
    assert "data-poll-url" not in older and "Newest messages" in older
    assert f'id="m{ids[0]}"' in older and f'id="m{first_shown}"' not in older
    for odd in ODD_VALUES:
        assert browser.get(f"/conversations/{conversation_id}", query_string={"before": odd}).status_code == 200
