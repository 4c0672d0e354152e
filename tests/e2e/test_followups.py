"""Follow-ups and the pipeline through the real bot and scheduler processes.

The bot runs on the real clock. Rule actions due a day later are run here with
services.followups.automation.run_due and an injected clock, on the processes' database; the
real scheduler then delivers what they queued.
"""
import datetime

import pytest

from models import Activity, Lead, RuleAction, StageChange, User, utcnow
from services.core.actors import Actor
from services.crm import activities, leads
from services.followups import automation
from tests.e2e.conftest import ADMIN_ID, button_labels

pytestmark = pytest.mark.e2e
CALLBACK_RULE = "Callback requested: call back next day"


def lead_of(member):
    return leads.create_lead(member, email="ann@example.com", phone="+442079460958",
                             first_name="Ann", last_name="Smith", country="GB")


def test_done_with_callback_requested_brings_the_callback_next_day(processes, emulator, chat_with):
    processes.start("bot.py")
    processes.start("scheduler.py")
    ada = chat_with(ADMIN_ID, "Ada")
    ada.send("/start", replies=2)
    member = User.get(User.telegram_id == ADMIN_ID)
    lead = lead_of(member)
    call = activities.log(Actor.member(member), lead.id, "call", "First call",
                          due_at=utcnow() - datetime.timedelta(hours=1))

    agenda = ada.ask("/today", "To do")
    assert f"#{call.id}" in agenda["text"] and "First call · /lead_1 Ann Smith" in agenda["text"]
    question = ada.press(agenda, f"✅ Done #{call.id}: First call", contains="How did it go?")
    assert "Callback requested" in button_labels(question)
    answer = ada.press(question, "Callback requested", contains="✅ Done")
    assert "Follow-up scheduled: Return customer callback, " in answer["text"]

    done = Activity.get_by_id(call.id)
    assert (done.outcome, done.completed_by_id) == ("callback_requested", member.id)
    follow_up = RuleAction.get(RuleAction.lead == lead.id, RuleAction.status == "pending")
    assert follow_up.rule.name == CALLBACK_RULE
    assert follow_up.due_at == done.completed_at + datetime.timedelta(hours=24)
    assert f"{follow_up.due_at:%Y-%m-%d %H:%M} UTC" in answer["text"]

    # A day and an hour later the rule's action comes due; the real scheduler delivers it.
    assert automation.run_due(now=done.completed_at + datetime.timedelta(hours=25))["done"] == 1
    emulator.wait_for_message(ADMIN_ID, "New follow-up for you: Return customer callback")
    callback = Activity.get(Activity.subject == "Return customer callback")
    assert (callback.lead_id, callback.assigned_to_id, callback.completed_at) == (lead.id, member.id, None)
    # It is due at that later "now"; the bot's clock has not moved, so move its due time back
    # by the same 25 hours, which is what the bot sees when the day has really passed.
    Activity.update(due_at=callback.due_at - datetime.timedelta(hours=25)).where(
        Activity.id == callback.id).execute()
    agenda = ada.ask("/today", "Return customer callback")
    assert f"✅ Done #{callback.id}: Return customer callback" in button_labels(agenda)
    assert "First call" not in agenda["text"]  # done, so off the list


def test_stage_change_from_buttons_is_recorded_with_the_member(processes, emulator, chat_with):
    processes.start("bot.py")
    ada = chat_with(ADMIN_ID, "Ada")
    ada.send("/start", replies=2)
    member = User.get(User.telegram_id == ADMIN_ID)
    lead = lead_of(member)
    menu = ada.ask(f"/stage {lead.id}", "Move it to")
    assert "Lead #1 Ann Smith is new" in menu["text"]
    assert button_labels(menu) == ["contacted", "lost"]
    moved = ada.press(menu, "contacted", contains="moved from")
    assert "Lead #1 Ann Smith moved from new to contacted" in moved["text"]
    assert moved["message_id"] == menu["message_id"] and button_labels(moved) == []
    change = StageChange.get(StageChange.lead == lead.id)
    assert (change.from_stage, change.to_stage, change.changed_by_id, change.actor) == (
        "new", "contacted", member.id, "Ada (admin)")
    assert Lead.get_by_id(lead.id).stage == "contacted"
    assert "stage: new → contacted — Ada (admin)" in ada.ask(f"/lead {lead.id}", "Timeline")["text"]
