"""Hand-offs through the real bot and scheduler (issue 13): an admin hears who joined
with their invite; a new lead's Take it has one winner; removing a member asks first,
hands their lead over, tells who got it and resets the removed member's command menu."""
import pytest

from models import Lead, User
from services.crm import leads
from tests.e2e.conftest import ADMIN_ID, button_labels, join_team, wait_until

pytestmark = pytest.mark.e2e
MAX, EVE = 700001, 700002


def test_take_it_has_one_winner_and_removal_hands_the_lead_over(processes_any_db, emulator,
                                                                 chat_with):
    processes_any_db.start("bot.py")
    processes_any_db.start("scheduler.py")
    admin, max_, eve = chat_with(ADMIN_ID, "Ada"), chat_with(MAX, "Max"), chat_with(EVE, "Eve")
    assert "as admin" in admin.send("/start", replies=2)["text"]
    join_team(admin, max_)  # waits for "Max joined the team with your invite, as sales."
    join_team(admin, eve)
    wait_until(lambda: f"chat:{MAX}" in emulator.commands, message="Max's menu set")

    lead = leads.add_lead({"first_name": "Zoë", "last_name": "<Panel>", "email": "z@example.com"})
    cards = [emulator.wait_for_message(chat.user_id, f"New lead #{lead.id}") for chat in (max_, eve)]
    assert all(button_labels(card) == ["Open", "Take it"] for card in cards)
    assert "Zoë <Panel>" in cards[0]["text"] and "Owner: nobody yet" in cards[0]["text"]
    won = max_.press(cards[0], "Take it", contains="is yours now")
    assert "Stage…" in button_labels(won)
    assert "Max already took" in eve.press(cards[1], "Take it", contains="already took")["text"]
    assert Lead.get_by_id(lead.id).owner.telegram_id == MAX

    team = admin.ask("/team", "Press a member")
    choices = admin.press(team, "Max (sales)", contains="Max is")
    asked = admin.press(choices, "Remove from team", contains="Remove Max from the team?")
    assert "1 open lead and 0 open activities" in asked["text"]
    assert User.get(User.telegram_id == MAX).role == "sales"  # asked, not done yet
    done = admin.press(asked, "All to Eve (sales)", contains="no longer on the team")
    assert "has been told" in done["text"]
    assert Lead.get_by_id(lead.id).owner.telegram_id == EVE
    told = emulator.wait_for_message(EVE, "Max left the team")
    assert f"/lead_{lead.id} Zoë <Panel>" in told["text"]
    emulator.wait_for_message(MAX, "You are no longer on the team")
    wait_until(lambda: f"chat:{MAX}" not in emulator.commands, message="Max's menu reset")
    # Someone off the team who writes is a client (CLIENT_INBOX is on by default).
    assert "Thanks for writing" in max_.ask("/leads", "Thanks for writing")["text"]
