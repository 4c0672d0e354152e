"""Clients, messages and page readers shared by the panel's conversation tests."""
import re

from models import User
from services.core.actors import Actor
from services.inbox import clients, conversations
from tests.panel.conftest import USERNAME, text_of

XSS = "<script>alert(1)</script>"
PHOTO = {"kind": "photo", "file_id": "PHOTO-ID", "width": 800, "height": 600}
DOCUMENT = {"kind": "document", "file_id": "DOC-ID", "file_name": "quote.pdf", "file_size": 2048}
LOCATION = {"kind": "location", "latitude": 50.4501, "longitude": 30.5234}
CONTACT = {"kind": "contact", "phone_number": "+442079460958", "first_name": "Bob"}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
PANEL = Actor.panel(USERNAME)
PROFILE_FIELDS = ("first_name", "middle_name", "last_name", "gender", "date_of_birth", "address",
                  "passport_number", "tax_pin", "comments")


client_ids = iter(range(70_000, 80_000))


def make_client(first="Eve", last="Stone", username="eve", **fields):
    """A client who wrote to the bot: their Telegram account and their lead."""
    user = User.create(telegram_id=next(client_ids), first_name=first, last_name=last, username=username,
                       **fields)
    lead, _ = clients.from_telegram(Actor.client(user), user)
    return user, lead


def inbound(user, lead, text="Hello", attachments=(), now=None):
    return conversations.record_inbound(Actor.client(user), lead, text, attachments=attachments,
                                        now=now)


def conversation_of(lead):
    return conversations.of_lead(lead.id)


def page_of(browser, lead, **query):
    return text_of(browser.get(f"/conversations/{conversation_of(lead).id}", query_string=query))


def rows_of(page):
    """The conversation list's rows, as (name, unread badge or None)."""
    rows = re.findall(r'<a class="list-group-item[^>]*>(.*?)</a>', page, re.S)
    found = []
    for row in rows:
        name = re.search(r'class="conversation-name">\s*(.*?)\s*<', row, re.S).group(1)
        badge = re.search(r'unread-badge"\s*title="Unread messages">([^<]*)<', row)
        found.append((name, badge.group(1) if badge else None))
    return found


def flashes(page):
    return " ".join(" ".join(m.split()) for m in re.findall(
        r'<div class="alert alert-\w+ alert-dismissable">.*?</button>(.*?)</div>', page, re.S))


