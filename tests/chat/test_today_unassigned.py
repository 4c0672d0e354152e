"""Hand-offs in chat (issue 13): leads nobody owns on the dispatchers' /today, and
assignments on the /lead timeline. The clock is fixed; every backend."""
from models import Lead
from services.core.actors import Actor
from services.crm import activities, leads, pipeline
from services.crm.messages import lead_command
from tests.chat.helpers import HOUR, NOW, TRICKY, say


def panel_lead(n, first_name="Ann", source="website"):
    """A lead added in the admin panel with the owner left at "Nobody"."""
    lead = leads.add_lead({"email": f"p{n}@example.com", "phone": f"+1415555{3000 + n}",
                           "first_name": first_name, "last_name": "Smith", "country": "US"},
                          details={"source": source})
    Lead.update(created_at=NOW - HOUR, last_activity_at=NOW - HOUR).where(Lead.id == lead.id).execute()
    return lead


def section(text, title):
    return text.split(f"<b>{title}</b>")[1].split("\n\n")[0] if f"<b>{title}</b>" in text else ""


def test_dispatchers_and_admins_see_the_leads_nobody_owns_on_today(any_db, admin, make_user):
    dana, sue = make_user(role="dispatcher", first_name="Dana"), make_user(first_name="Sue")
    tricky = panel_lead(1, first_name=TRICKY)
    newer = panel_lead(2)
    owned = panel_lead(3)
    pipeline.assign(Actor.member(dana), owned.id, sue.id, now=NOW)
    lost = panel_lead(4)
    Lead.update(stage="lost").where(Lead.id == lost.id).execute()
    for member in (dana, admin):
        listed = section(say(member, "/today"), "Unassigned leads")
        assert listed.strip().splitlines() == [
            f"{lead_command(newer.id)} Ann Smith · website",
            f"{lead_command(tricky.id)} &lt;b&gt;O'Neil &amp; Co&lt;/b&gt; Smith · website"]
    assert "Unassigned leads" not in say(sue, "/today")  # a salesperson sees only theirs


def test_the_unassigned_leads_are_the_newest_ten_and_a_count_of_the_rest(any_db, make_user):
    dana = make_user(role="dispatcher")
    made = [panel_lead(n, source="other") for n in range(activities.UNOWNED_LIMIT + 3)]
    listed = section(say(dana, "/today"), "Unassigned leads").strip().splitlines()
    assert listed[:-1] == [f"{lead_command(lead.id)} Ann Smith · other"
                           for lead in reversed(made[3:])]
    assert listed[-1] == "…and 3 more."


def test_the_lead_timeline_shows_an_assignment_and_who_made_it(any_db, make_user):
    dana, sue = make_user(role="dispatcher", first_name="Dana"), make_user(first_name="Sue")
    lead = panel_lead(1, source="other")
    pipeline.assign(Actor.member(dana), lead.id, sue.id, now=NOW)
    text = say(dana, f"/lead {lead.id}")
    assert "assignment: Assigned to Sue — Dana (dispatcher)" in text
    assert "note:" not in text
