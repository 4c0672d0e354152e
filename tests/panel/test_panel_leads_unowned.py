"""A lead added in the panel with nobody as its owner (issue 13): the panel's login is the
deployer, not a team member, so the form starts at "Nobody"; the lead then waits on the
dispatchers' /today, and the call its rule made follows the owner it is given."""
import dataclasses
import re

from models import Activity, Lead, RuleAction
from services.core.actors import Actor
from services.crm import pipeline
from services.crm.messages import lead_command
from services.followups import automation
from tests.chat.helpers import CTX, say
from tests.panel.conftest import text_of

CONTACT = {"email": "ada@example.com", "phone": "+44 20 7946 0958", "first_name": "Ada",
           "last_name": "Lovelace", "country": "GB"}


def test_a_panel_lead_nobody_owns_waits_on_today_and_its_call_follows_the_owner(browser, make_user):
    dana, sue = make_user(role="dispatcher", first_name="Dana"), make_user(first_name="Sue")
    form = text_of(browser.get("/leads/new/"))
    assert re.search(r'<option selected value="none">Nobody</option>', form)
    response = browser.post("/leads/new/", data={**CONTACT, "source": "website", "owner_id": "none"})
    assert response.status_code == 302, text_of(response)
    lead = Lead.get()
    assert lead.owner_id is None
    assert f"{lead_command(lead.id)} Ada Lovelace · website" in say(dana, "/today")

    due = RuleAction.get(RuleAction.lead == lead.id).due_at  # an hour after it was added
    automation.run_due(due)
    call = Activity.get(Activity.lead == lead.id)
    assert (call.subject, call.assigned_to_id) == ("Call new website lead", None)
    pipeline.assign(Actor.member(dana), lead.id, sue.id, now=due)
    assert Activity.get_by_id(call.id).assigned_to_id == sue.id
    then = dataclasses.replace(CTX, clock=lambda: due)
    assert "Call new website lead" in say(sue, "/today", then)
    assert "Unassigned leads" not in say(dana, "/today", then)
