"""What a service answers a person with, and how those answers are kept until
they are sent: as outbox rows written in the transaction of the update they
answer, so a bot that dies after the commit still sends them when it is back."""
import datetime
import json
from dataclasses import dataclass, field

from models import utcnow
from services.delivery import outbox

# A reply answers something the person just did. One still unsent after two
# minutes (the bot was down that long) would arrive after they have given up or
# asked again, and its buttons may offer a step that has moved on: it is dropped.
REPLY_MAX_AGE = datetime.timedelta(minutes=2)


@dataclass
class Reply:
    text: str                                     # HTML parse mode, user data escaped
    buttons: list = field(default_factory=list)   # rows of (label, callback data or Link)
    replace: bool = False                         # edit the message whose button was pressed
    # An emoji set as a reaction on the person's message instead of sending `text` (which
    # still says what it means): an acknowledgement that takes no message of the chat's
    # one-a-second allowance.
    reaction: str = None


def queue(recipient, update_id, replies, pressed_message_id=None, now=None,
          message_id=None):
    """Store the replies to update `update_id` for `recipient` (a User), in order.

    `pressed_message_id`: the message whose button was pressed. A reply with
    `replace` edits it; otherwise its keyboard is removed first, so it cannot
    be pressed twice. `message_id`: the person's message the update brought, which a
    reply with a `reaction` reacts to. Returns how many rows were stored.
    """
    now = now or utcnow()
    rows = []
    if pressed_message_id and not all(reply.replace for reply in replies):
        rows.append(("", None, pressed_message_id, None))
    for reply in replies:
        if reply.reaction:
            if message_id:
                rows.append(("", None, message_id, reply.reaction))
            continue
        edits = pressed_message_id if reply.replace else None
        rows.append((reply.text, keyboard(reply.buttons), edits, None))
    for number, (text, markup, edits, reaction) in enumerate(rows):
        outbox.enqueue(f"reply:{update_id}:{number}", recipient, text, reply_markup=markup,
                       edit_message_id=edits, reaction=reaction, expires_at=now + REPLY_MAX_AGE,
                       next_attempt_at=now)
    return len(rows)


class Link(str):
    """A button's target that is a web page (the Pay link of a top-up), not callback data."""


def keyboard(rows):
    """Telegram's InlineKeyboardMarkup (JSON) for rows of (label, callback data or Link)."""
    if not rows:
        return None
    return json.dumps({"inline_keyboard": [
        [{"text": label, "url" if isinstance(data, Link) else "callback_data": str(data)}
         for label, data in row] for row in rows]})
