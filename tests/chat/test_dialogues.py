"""Dialogues (services.chat.dialogues): /back and /cancel written once, the same in every flow."""
import pytest

from models import DialogueState, User
from services.chat import activities, dialogues, lead_wizard, router as chat
from services.chat.replies import Reply
from tests.chat.helpers import CTX


def say(user, text):
    return chat.on_text(CTX, User.get_by_id(user.id), text)[-1].text


def _state(user):
    conversation = DialogueState.get_or_none(DialogueState.user == user.id)
    return None if conversation is None else (conversation.flow, conversation.step,
                                              dialogues.data(conversation))


FLOWS = {
    # the dialogue, how to start it, an answer to its first question, what that stores,
    # words of its first question, what /cancel says
    "wizard": (lead_wizard.WIZARD, lambda lead: "/createLead", "ann@example.com",
               {"email": "ann@example.com"}, "<b>email</b>", "Cancelled. Nothing was saved."),
    "log": (activities.LOG, lambda lead: f"/log {lead.id}", "Email", {"type": "email"},
            "What do you want to log", "Cancelled. Nothing was logged."),
}


@pytest.mark.parametrize("flow", FLOWS)
def test_back_and_cancel_behave_the_same_in_both_flows(any_db, make_user, make_lead, flow):
    dialogue, command, answer, stored, first_question, cancelled = FLOWS[flow]
    member = make_user()
    lead = make_lead(owner=member)
    say(member, command(lead))
    assert dialogues.current(member) is dialogue and dialogue.is_active(member)
    start = _state(member)
    back = say(member, "/back")
    assert "This is the first question." in back and first_question in back
    assert _state(member) == start  # stays where it was

    say(member, answer)
    flow_name, step, values = _state(member)
    assert step == dialogue.steps[1] and stored.items() <= values.items()
    back = say(member, "/back")
    assert first_question in back and "first question" not in back
    assert _state(member) == start  # back at the first step, its answer dropped

    assert say(member, "/cancel") == cancelled
    assert _state(member) is None and dialogues.current(member) is None
    assert not dialogue.is_active(member)
    assert say(member, "/cancel") == "Nothing to cancel."
    assert "you are not filling one in now" in say(member, "/back")
    assert dialogue.back(User.get_by_id(member.id)) is dialogue.inactive


def test_back_drops_every_key_a_step_answered(any_db, make_user, make_lead):
    """/log's subject step stores the subject and the description: back drops both."""
    member = make_user()
    lead = make_lead(owner=member)
    say(member, f"/log {lead.id}")
    say(member, "Call")
    say(member, "Pricing\nThey want a quote")
    assert _state(member)[1:] == ("when", {"lead": lead.id, "type": "call", "subject": "Pricing",
                                           "description": "They want a quote"})
    assert "call's subject" in say(member, "/back")
    assert _state(member)[1:] == ("subject", {"lead": lead.id, "type": "call"})


def test_the_wizard_goes_back_from_an_edit_to_its_summary_and_from_the_summary_to_the_last_question(
        any_db, make_user):
    member = make_user()
    say(member, "/createLead")
    for answer in ["ann@example.com", "+44 20 7946 0958", "Ann", "Smith", "gb"]:
        say(member, answer)
    answers = _state(member)[2]
    chat.on_button(CTX, User.get_by_id(member.id), "wiz:edit:phone")
    assert _state(member)[1] == "edit:phone"
    assert "Check the lead" in say(member, "/back")  # the summary, every answer kept
    assert _state(member)[1:] == ("confirm", answers)
    assert "<b>country</b>" in say(member, "/back")
    assert _state(member)[1:] == ("country", {k: v for k, v in answers.items() if k != "country"})


def test_starting_one_dialogue_while_another_is_open_names_the_open_one(any_db, make_user, make_lead):
    member = make_user()
    lead = make_lead(owner=member)
    say(member, "/createLead")
    assert "in the middle of adding a lead" in say(member, f"/log {lead.id}")
    say(member, "/cancel")
    say(member, f"/log {lead.id}")
    assert "in the middle of logging an activity" in say(member, "/createLead")
    assert "Step 1/5" not in say(member, "/createLead")
    assert "What do you want to log" in say(member, f"/log {lead.id}")  # the same one starts again


@pytest.fixture
def abc(any_db):
    """A Dialogue of three steps whose questions show what they were asked with."""
    dialogue = dialogues.Dialogue(
        "test-abc", ("a", "b", "c"), lambda step, values, note="": Reply(f"{note}|{step}|{values}"),
        inactive=Reply("no abc"), cancelled="abc cancelled", doing="testing",
        answers={"b": ("b1", "b2")}, detours_from="c")
    yield dialogue
    dialogues._FLOWS.pop("test-abc")


def test_a_dialogue_steps_back_one_question_at_a_time(abc, make_user):
    user = make_user()
    assert abc.back(user).text == "no abc" and abc.cancel(user).text == "Nothing to cancel."
    abc.go(user, "c", {"a": 1, "b1": 2, "b2": 3, "c": 4})
    assert abc.back(user).text == "|b|{'a': 1, 'c': 4}"  # b is asked again: its answer dropped
    assert abc.back(user).text == "|a|{'c': 4}"
    assert abc.back(user).text == "This is the first question.|a|{'c': 4}"  # and it stays there
    assert DialogueState.get(DialogueState.user == user.id).step == "a"
    abc.go(user, "edit:a", {"a": 1})  # a detour from "c"
    assert abc.back(user).text == "|c|{'a': 1}"
    assert dialogues.current(user) is abc
    assert abc.cancel(user).text == "abc cancelled" and not abc.is_active(user)


def test_the_lead_cards_log_button_does_not_drop_an_open_wizard(any_db, make_user, make_lead):
    member = make_user("admin")
    lead = make_lead(owner=member)
    say(member, "/createLead")
    say(member, "ann@example.com")
    answer = chat.on_button(CTX, User.get_by_id(member.id), f"log:lead:{lead.id}")[0]
    assert "You are in the middle of adding a lead" in answer.text
    assert f"/log {lead.id}" in answer.text
    assert DialogueState.get().flow == lead_wizard.WIZARD.flow  # the wizard is still open
    say(member, "/cancel")
    started = chat.on_button(CTX, User.get_by_id(member.id), f"log:lead:{lead.id}")[0]
    assert "You are in the middle" not in started.text
