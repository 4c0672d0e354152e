"""A client conversation in a real browser: headless Chromium against `python admin.py`
(waitress), files fetched from the Bot API emulator. The deployer opens a client's
conversation, answers from the composer, and sees the client's next message and the
delivery state arrive without a reload (the page polls every 3 s)."""
import datetime

import pytest

from models import Message, OutboxMessage, User, utcnow
from services.core.actors import Actor
from services.crm import contacts
from services.inbox import clients, conversations, sending
from tests.e2e import test_admin_browser as admin_browser
from tests.e2e.conftest import PANEL_USER, wait_until

pytestmark = pytest.mark.e2e

browser = admin_browser.browser  # headless Chromium at /usr/bin/chromium, or a skip saying why
ARTIFACTS = admin_browser.ARTIFACTS
CLIENT_ID, OTHER_ID = 700_001, 700_002
POLL_WAIT_MS = 12_000  # a 3 s poll, with room for a slow machine


def a_client(user_id, first, last, username):
    user = User.create(telegram_id=user_id, first_name=first, last_name=last, username=username)
    lead, _ = clients.from_telegram(Actor.client(user), user)
    return user, lead


def test_deployer_answers_a_client_and_sees_the_reply_arrive(browser, processes, emulator):
    # The data, before the panel starts: a client who wrote (text, a photo Telegram holds,
    # a document, a location) and got an answer, and another client.
    olga, lead = a_client(CLIENT_ID, "Olga", "Petrenko", "olga_p")
    contacts.add(Actor.panel("setup"), lead.id, "phone", "+380 44 123 4567")
    contacts.add(Actor.panel("setup"), lead.id, "email", "olga@example.com")
    photo = emulator.user_sends_media(CLIENT_ID, "photo", width=640, height=420)["message"]["photo"][-1]
    earlier = utcnow() - datetime.timedelta(hours=3)
    client = Actor.client(olga)
    conversations.record_inbound(client, lead, "Hello! I'd like a quote for 20 units.", now=earlier)
    conversations.record_inbound(
        client, lead, "Here is our shop front <b>(not bold)</b>",
        attachments=[{"kind": "photo", "file_id": photo["file_id"], "width": photo["width"],
                      "height": photo["height"]}], now=earlier + datetime.timedelta(minutes=1))
    conversation = conversations.of_lead(lead.id)
    answer = sending.send_text(Actor.panel(PANEL_USER), conversation.id,
                               "Thanks Olga, a colleague will send the quote today.",
                               now=earlier + datetime.timedelta(minutes=5))
    OutboxMessage.update(status="sent", sent_at=earlier + datetime.timedelta(minutes=5)).where(
        OutboxMessage.id == answer.outbox_id).execute()
    conversations.record_inbound(
        client, lead, "Great. The spec sheet and where we are:",
        attachments=[{"kind": "document", "file_id": "DOC-NOT-FETCHED", "file_name": "spec sheet.pdf",
                      "file_size": 48_213},
                     {"kind": "location", "latitude": 50.4501, "longitude": 30.5234}],
        now=earlier + datetime.timedelta(minutes=9))
    other, other_lead = a_client(OTHER_ID, "Ben", "Oduya", None)
    conversations.record_inbound(Actor.client(other), other_lead, "Do you ship to Lagos?",
                                 now=earlier + datetime.timedelta(minutes=30))

    base = processes.panel_url
    panel = processes.start("admin.py", TZ="Europe/Kyiv")
    admin_browser.wait_for_page(base, panel, "/login")  # no scheduler: /health would wait

    page = admin_browser.logged_in(browser, base, "/conversations/")
    seen = admin_browser.Recorder(page)

    # The list: newest first, unread badges; the search finds Olga by her phone as typed.
    rows = page.locator("#conversations .conversation-row")
    assert rows.count() == 2
    assert "Ben Oduya" in rows.nth(0).inner_text() and "Olga Petrenko" in rows.nth(1).inner_text()
    # Unread for this login: what came after its own answer.
    assert rows.nth(1).locator(".unread-badge").inner_text().strip() == "1"
    assert rows.nth(0).locator(".unread-badge").inner_text().strip() == "1"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "conversations-list.png"), full_page=True)
    page.fill("input[name=search]", "044 123 4567")
    page.press("input[name=search]", "Enter")
    page.wait_for_url("**search=*")
    assert rows.count() == 1 and "Olga Petrenko" in rows.first.inner_text()
    rows.first.click()
    page.wait_for_url(f"{base}/conversations/{conversation.id}")

    # The history: bubbles in and out, escaped text, the photo fetched through the emulator.
    history = page.locator("#chat-list")
    assert history.locator(".chat-row-in").count() == 3 and history.locator(".chat-row-out").count() == 1
    assert "Here is our shop front <b>(not bold)</b>" in history.inner_text()
    assert history.locator(".bubble b").count() == 0
    assert "✓ sent" in history.locator(".chat-row-out").inner_text()
    page.wait_for_function("() => { const img = document.querySelector('img.bubble-photo');"
                           " return img && img.complete && img.naturalWidth === 640; }")
    assert [d.status for d in emulator.downloads] == [200]

    # Answer from the composer: the message and its outbox row for Olga's Telegram chat.
    page.evaluate("window.notReloaded = true")
    page.fill("#composer-text", "We can do 20 units by Friday.")
    page.click("#send-button")
    page.wait_for_load_state()
    sent = page.locator(".chat-row-out", has_text="We can do 20 units by Friday.")
    sent.wait_for()
    assert "queued" in sent.inner_text()
    row = OutboxMessage.get(OutboxMessage.text == "We can do 20 units by Friday.")
    assert (row.recipient_id, row.conversation_id, row.status) == (olga.id, conversation.id, "pending")
    assert Message.get(Message.outbox == row.id).direction == "out"

    # The client writes again, and the bot delivers the answer: both show up without a reload.
    page.evaluate("window.notReloaded = true")
    newer = conversations.record_inbound(client, lead, "Perfect, thank you! 👍")
    OutboxMessage.update(status="sent", sent_at=utcnow()).where(OutboxMessage.id == row.id).execute()
    page.wait_for_selector(f"#m{newer.id}", timeout=POLL_WAIT_MS)
    assert "Perfect, thank you! 👍" in page.inner_text(f"#m{newer.id}")
    page.wait_for_function("el => el.textContent.includes('✓ sent')",
                           arg=sent.locator(".delivery").element_handle(), timeout=POLL_WAIT_MS)
    assert page.evaluate("window.notReloaded") is True
    # Shown on an open page means read by this login.
    wait_until(lambda: Message.get_by_id(newer.id).read_at is not None, message="the new message read")

    page.screenshot(path=str(ARTIFACTS / "conversation.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.locator("#chat-list").wait_for()
    page.screenshot(path=str(ARTIFACTS / "conversation-phone.png"), full_page=True)
    # Nothing wider than the phone's screen: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    assert seen.errors == []
    assert seen.failed == []
    assert seen.outside_requests() == []
    assert any(f"/conversations/{conversation.id}/messages?after=" in u for u in seen.urls)
    page.close()
