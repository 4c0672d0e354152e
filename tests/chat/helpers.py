"""Talking to services.chat as a team member, on a fixed clock: shared by the chat tests."""
import datetime

from models import Lead, User
from services.chat import router as chat
from services.chat.router import ChatContext
from services.core.actors import Actor
from services.crm import activities, leads, pipeline

NOW = datetime.datetime(2026, 12, 1, 9, 0)  # a Tuesday, 09:00 UTC
CTX = ChatContext(bot_username="leadgram_bot", admin_ids=frozenset({1}), clock=lambda: NOW)
HOUR = datetime.timedelta(hours=1)
TRICKY = "<b>O'Neil & Co</b>"


def fits_telegram(answer):
    """Telegram refuses callback data over 64 bytes."""
    assert all(len(data.encode()) <= 64 for row in answer.buttons for _, data in row), answer
    return answer


def reply(user, text, ctx=CTX):
    return fits_telegram(chat.on_text(ctx, User.get_by_id(user.id), text)[-1])


def say(user, text, ctx=CTX):
    return reply(user, text, ctx).text


def press(user, data, ctx=CTX):
    return fits_telegram(chat.on_button(ctx, User.get_by_id(user.id), data)[0])


def labels(answer):
    return [label for row in answer.buttons for label, _ in row]


def data_of(answer, label):
    return next(data for row in answer.buttons for text, data in row if text == label)


def make_lead(owner, n=1, first_name="Ann", source="website", **details):
    lead = leads.add_lead({"email": f"lead{n}@example.com", "phone": f"+1415555{2600 + n}",
                           "first_name": first_name, "last_name": "Smith", "country": "US"},
                          created_by=owner, details={"source": source, **details}, owner=owner)
    # Made an hour before the test's clock, so scores see a fresh lead.
    Lead.update(created_at=NOW - HOUR, last_activity_at=NOW - HOUR).where(Lead.id == lead.id).execute()
    return Lead.get_by_id(lead.id)


def plan(member, lead, subject, due_at, assigned_to=None, by=None):
    return activities.log(Actor.member(by or member), lead.id, "call", subject, due_at=due_at,
                          assigned_to=assigned_to, now=NOW - 3 * HOUR)


def move(lead, *stages):
    for stage in stages:
        pipeline.change_stage(Actor.panel(), lead.id, stage, now=NOW - HOUR)
