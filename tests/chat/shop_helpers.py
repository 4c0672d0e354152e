"""The shop in chat tests: clients writing and pressing with SHOP on, their profiles and
tokens, and checks that every answer is one Telegram accepts. Shared by
test_shop_client.py, test_ordering.py and test_operator_queue.py."""
import dataclasses
import itertools

from devtools.telegram_formatting import parse
from models import User
from services.chat import router as chat
from services.chat.inbox import Incoming
from services.core.actors import Actor
from services.inbox import clients
from services.shop import profiles, wallet
from tests.chat.helpers import CTX, NOW

SHOP = dataclasses.replace(CTX, shop=True)
_message_ids = itertools.count(1)
PROFILE = {"first_name": "Ann", "last_name": "Lee", "phone": "+1 415 555 2671",
           "email": "ann@example.com", "date_of_birth": "1990-03-03", "country": "US",
           "street": "1 Main St", "city": "San Francisco", "state": "CA", "postal_code": "94105"}


def accepted(answer):
    """What Telegram would refuse: bad HTML, an empty text or label, data over 64 bytes."""
    assert answer.text.strip(), answer
    parse(answer.text, "HTML")
    for row in answer.buttons:
        for label, data in row:
            assert label.strip() and 0 < len(data.encode()) <= 64, (label, data)
    return answer


def writes(user, text=None, ctx=SHOP, attachments=()):
    """All the answers to a client's (or member's) private message."""
    incoming = Incoming(message_id=next(_message_ids), text=text, attachments=list(attachments))
    return [accepted(a) for a in chat.on_message(ctx, User.get_by_id(user.id), incoming,
                                                   user.telegram_id)]


def says(user, text, ctx=SHOP):
    """The last answer to `text`."""
    return writes(user, text, ctx)[-1]


def presses(user, data, ctx=SHOP, pressed_message_id=None):
    return accepted(chat.on_button(ctx, User.get_by_id(user.id), data, pressed_message_id)[0])


def lead_of(user):
    return clients.from_telegram(Actor.client(user), user, NOW)[0]


def add_profile(user, **values):
    return profiles.save(Actor.panel(), lead_of(user).id, {**PROFILE, **values}, now=NOW)


def fund(user, amount, reason="Paid by bank transfer"):
    return wallet.adjust(Actor.panel(), lead_of(user).id, amount, reason, now=NOW)


def button(answer, starting):
    """The data of the button whose label starts with `starting`."""
    found = [data for row in answer.buttons for label, data in row if label.startswith(starting)]
    assert len(found) == 1, (starting, answer.buttons)
    return found[0]
