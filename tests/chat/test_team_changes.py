"""Safer team management (issue 13): removing a member asks first, then hands their open
leads and activities over and tells who got them; menus follow roles at once; an admin
hears when their invite is used."""
import json

from models import Activity, Lead, OutboxMessage, User
from services.core.actors import Actor
from services.crm import team
from tests.chat.helpers import NOW, data_of, labels, make_lead, move, plan, press, say


def rows_to(member, key_start):
    return list(OutboxMessage.select().where(OutboxMessage.recipient == member.id,
                                             OutboxMessage.key.startswith(key_start))
                .order_by(OutboxMessage.id))


def test_removing_asks_first_and_offers_who_takes_over(any_db, admin, make_user):
    leaving, eve = make_user(first_name="Max"), make_user(first_name="Eve")
    make_user(role="operator", first_name="Olga")
    make_lead(leaving, 1), make_lead(leaving, 2)
    plan(leaving, Lead.get(), "Call", NOW)
    asked = press(admin, f"team:{leaving.id}:remove")
    assert asked.text == ("Remove Max from the team? They have 2 open leads and 1 open activity. "
                          "Who takes them over?")
    assert labels(asked) == ["Share them out (round robin)", "All to Ada (admin)",
                             "All to Eve (sales)", "✖️ Keep them"]
    assert User.get_by_id(leaving.id).role == "sales"
    assert "Press a member" in press(admin, data_of(asked, "✖️ Keep them")).text
    assert User.get_by_id(leaving.id).role == "sales" and eve.role == "sales"


def test_a_member_without_work_is_removed_after_a_plain_yes(any_db, admin, make_user):
    idle = make_user(first_name="Idle")
    asked = press(admin, f"team:{idle.id}:remove")
    assert "They have no open leads or activities." in asked.text
    assert "no longer on the team" in press(admin, data_of(asked, "Yes, remove")).text
    assert User.get_by_id(idle.id).role is None


def test_round_robin_shares_open_leads_and_activities_follow_their_lead(any_db, admin, make_user):
    leaving = make_user(first_name="Max")
    eve, sam = make_user(first_name="Eve"), make_user(first_name="Sam")
    first, second, third = (make_lead(leaving, n) for n in (1, 2, 3))
    lost = make_lead(leaving, 4)
    move(lost, "lost")
    call = plan(leaving, second, "Call back", NOW)
    on_lost = plan(leaving, lost, "Last try", NOW)
    press(admin, f"team:{leaving.id}:remove:rr")
    owners = {lead.id: Lead.get_by_id(lead.id).owner_id for lead in (first, second, third, lost)}
    assert owners[lost.id] == leaving.id  # a lost lead is not handed over
    assert sorted(owners[x.id] for x in (first, second, third)).count(leaving.id) == 0
    assert {owners[first.id], owners[second.id]} == {eve.id, sam.id}
    assert Activity.get_by_id(call.id).assigned_to_id == owners[second.id]
    assert Activity.get_by_id(on_lost.id).assigned_to_id in (eve.id, sam.id)
    got = rows_to(User.get_by_id(owners[second.id]), "handover:")
    assert len(got) == 1 and got[0].text.startswith("🔁 Max left the team; you now have")
    assert f"/lead_{second.id} Ann Smith" in got[0].text
    assert rows_to(eve, "assign:") == [] and rows_to(sam, "assign:") == []  # one message each


def test_everything_can_go_to_one_chosen_member(any_db, admin, make_user):
    leaving, eve = make_user(first_name="Max"), make_user(first_name="Eve")
    make_user(first_name="Sam")
    leads_ = [make_lead(leaving, n) for n in (1, 2)]
    plan(leaving, leads_[0], "Call", NOW)
    done = press(admin, f"team:{leaving.id}:remove:{eve.id}")
    assert "no longer on the team" in done.text
    assert [Lead.get_by_id(x.id).owner_id for x in leads_] == [eve.id, eve.id]
    [message] = rows_to(eve, "handover:")
    assert "2 leads and 1 activity" in message.text and "/today" in message.text


def test_removal_is_all_or_nothing(any_db, admin, make_user):
    leaving = make_user(first_name="Max")
    lead = make_lead(leaving)
    assert "not on the team" in press(admin, f"team:{leaving.id}:remove:{10**6}").text
    assert (User.get_by_id(leaving.id).role, Lead.get_by_id(lead.id).owner_id) == ("sales", leaving.id)


def test_the_panel_taking_someone_off_the_team_hands_their_leads_over_too(any_db, admin, make_user):
    leaving, eve = make_user(first_name="Max"), make_user(first_name="Eve")
    lead = make_lead(leaving)
    team.edit_member(Actor.panel(), leaving.id, None, notify=True)
    assert Lead.get_by_id(lead.id).owner_id in (eve.id, admin.id)


def test_menus_follow_a_role_change_and_a_removal_at_once(any_db, admin, make_user):
    member = make_user(first_name="Max")
    press(admin, f"team:{member.id}:role:dispatcher")
    menu, note = rows_to(member, "menu:")
    commands = [name for name, _ in json.loads(menu.commands)]
    assert "assign" in commands and menu.text == ""
    assert note.text.startswith("You are now on the team as <b>dispatcher</b>.")
    press(admin, f"team:{member.id}:remove:rr")
    _, _, menu, note = rows_to(member, "menu:")
    assert json.loads(menu.commands) == [] and "no longer on the team" in note.text


def test_the_admin_who_made_an_invite_hears_who_joined(any_db, admin, make_user):
    newcomer = make_user(role=None, first_name="Nia")
    link = say(admin, "/invite dispatcher")
    token = link.split("start=")[1].split("\n")[0]
    say(newcomer, f"/start {token}")
    [told] = rows_to(admin, "invite:")
    assert told.text == "👋 Nia joined the team with your invite, as <b>dispatcher</b>."
