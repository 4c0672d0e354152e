"""Hand-offs in chat (issue 13): new-lead cards with Open and Take it, /transfer giving the
lead to a salesperson, asking for someone else's lead, tappable lead links, /help."""
import json

from models import Lead, OutboxMessage
from services.chat import router
from services.chat.router import parse_command
from services.core.actors import Actor
from services.crm import leads, pipeline, scoring
from tests.chat.helpers import NOW, TRICKY, data_of, labels, make_lead, move, press, reply, say


def told(member, key_start):
    return [m for m in OutboxMessage.select().where(OutboxMessage.recipient == member.id,
                                                     OutboxMessage.key.startswith(key_start))]


def buttons_of(message):
    return [b["text"] for row in json.loads(message.reply_markup)["inline_keyboard"] for b in row]


def panel_lead(n=1, **details):
    return leads.add_lead({"email": f"p{n}@example.com", "phone": f"+1415555{2700 + n}",
                           "first_name": TRICKY, "last_name": "Smith", "country": "US"},
                          details={"source": "partner", **details})


def test_a_new_lead_from_the_panel_offers_open_and_take_it_and_one_member_wins(any_db, make_user):
    max_, eve = make_user(first_name="Max"), make_user(first_name="Eve")
    lead = panel_lead()
    [card] = told(max_, f"lead:{lead.id}:to:")
    assert "Owner: nobody yet" in card.text and "&lt;b&gt;O'Neil &amp; Co&lt;/b&gt;" in card.text
    assert buttons_of(card) == ["Open", "Take it"]
    take = data_of(reply(max_, f"/lead {lead.id}"), "Take it")  # Max may not see it yet
    opened = press(max_, f"lead:open:{lead.id}")
    assert "has no owner yet" in opened.text and labels(opened) == ["Take it"]
    won = press(max_, take)
    assert won.text.startswith(f"✋ Lead #{lead.id} is yours now.") and "Stage…" in labels(won)
    assert press(eve, take).text == f"Max already took lead #{lead.id}."
    assert press(max_, take).text.startswith(f"Lead #{lead.id} is already yours.")
    assert Lead.get_by_id(lead.id).owner_id == max_.id
    assert told(eve, "assign:") == [] and told(max_, "assign:") == []  # nobody told of a take


def test_the_creator_is_not_told_of_their_own_lead(any_db, make_user):
    max_, eve = make_user(first_name="Max"), make_user(first_name="Eve")
    lead = make_lead(max_)
    assert told(max_, "lead:") == []
    [card] = told(eve, f"lead:{lead.id}:to:")
    assert "Owner: Max" in card.text and buttons_of(card) == ["Open"]


def test_a_referral_assigned_at_once_sends_its_owner_one_message(any_db, make_user):
    max_ = make_user(first_name="Max")
    dispatcher = make_user(role="dispatcher", first_name="Dee")
    lead = leads.add_lead({"first_name": "Ref", "last_name": "Erred", "email": "r@example.com"},
                          details={"source": "referral"})
    assert Lead.get_by_id(lead.id).owner_id == max_.id
    mine = list(OutboxMessage.select().where(OutboxMessage.recipient == max_.id))
    assert len(mine) == 1 and "Referral lead" in mine[0].text, [m.text for m in mine]
    [card] = told(dispatcher, f"lead:{lead.id}:to:")
    assert "Owner: Max" in card.text and buttons_of(card) == ["Open"]


def qualified(owner, n=1):
    lead = make_lead(owner, n, source="partner")
    move(lead, "contacted", "qualified")
    pipeline.set_details(Actor.member(owner), lead.id, business_domain="dental clinics")
    scoring.score_lead(Actor.member(owner), lead.id, now=NOW)
    return lead


def test_transfer_hands_the_lead_to_the_next_salesperson_who_is_told(any_db, make_user):
    dispatcher = make_user(role="dispatcher", first_name="Dee")
    max_, eve = make_user(first_name="Max"), make_user(first_name="Eve")
    first, second = qualified(dispatcher, 1), qualified(dispatcher, 2)
    done = say(dispatcher, f"/transfer {first.id}")
    assert "to <b>transferred</b>" in done and "It is now Max's. They have been told." in done
    assert "It is now Eve's." in say(dispatcher, f"/transfer {second.id}")  # round robin
    assert [Lead.get_by_id(x.id).owner_id for x in (first, second)] == [max_.id, eve.id]
    [card] = told(max_, f"assign:{first.id}:")
    assert card.text.startswith(f"<b>Yours now: lead #{first.id}</b>")
    assert "Given to you by Dee (dispatcher)." in card.text and buttons_of(card) == ["Open"]


def test_transfer_to_a_named_salesperson_or_a_clear_refusal(any_db, make_user):
    dispatcher = make_user(role="dispatcher", first_name="Dee")
    make_user(first_name="Max"), make_user(first_name="Eve", username="eve_sells")
    lead = qualified(dispatcher)
    refused = say(dispatcher, f"/transfer {lead.id} Dee")
    assert "“Dee” is not a salesperson" in refused and "Salespeople: Max, Eve" in refused
    assert Lead.get_by_id(lead.id).stage == "qualified"
    assert "It is now Eve's." in say(dispatcher, f"/transfer {lead.id} @EVE_sells")
    zoe = make_user(first_name="Zoë")
    second = qualified(dispatcher, 2)
    assert "It is now Zoë's." in say(dispatcher, f"/transfer {second.id} ZOE")  # any case, accent
    assert Lead.get_by_id(second.id).owner_id == zoe.id


def test_transfer_with_nobody_in_sales_keeps_the_owner_and_says_so(any_db, make_user):
    dispatcher = make_user(role="dispatcher", first_name="Dee")
    lead = qualified(dispatcher)
    done = say(dispatcher, f"/transfer {lead.id}")
    assert "to <b>transferred</b>" in done and "Nobody in sales can take it" in done
    assert Lead.get_by_id(lead.id).owner_id == dispatcher.id


def test_someone_elses_lead_can_be_asked_for_and_given(any_db, make_user):
    max_, eve = make_user(first_name="Max"), make_user(first_name="Eve")
    dispatcher = make_user(role="dispatcher", first_name="Dee")
    lead = make_lead(eve)
    refusal = reply(max_, f"/lead {lead.id}")
    assert refusal.text.startswith(f"Lead #{lead.id} Ann Smith is Eve's.")
    asked = press(max_, data_of(refusal, "Ask for it"))
    assert asked.text.startswith("📨 Asked Eve, Dee to give you lead")
    [to_owner], [to_dispatcher] = told(eve, "ask:"), told(dispatcher, "ask:")
    assert to_owner.text.startswith("🙋 Max asks for your lead") and "(Eve's)" in to_dispatcher.text
    press(max_, data_of(refusal, "Ask for it"))  # asking twice the same day tells nobody twice
    assert len(told(eve, "ask:")) == 1
    give = json.loads(to_owner.reply_markup)["inline_keyboard"][0][0]
    assert give["text"] == "Give it to Max"
    assert "is now Max's" in press(eve, give["callback_data"]).text  # an owner gives theirs
    assert Lead.get_by_id(lead.id).owner_id == max_.id and told(max_, "assign:")


def test_a_salesperson_typing_a_colleagues_email_is_offered_to_ask(any_db, make_user):
    max_, eve = make_user(first_name="Max"), make_user(first_name="Eve")
    lead = make_lead(eve)
    say(max_, "/createLead")
    answer = reply(max_, "LEAD1@example.com")
    assert answer.text.startswith(f"A lead with this email already exists. Lead #{lead.id} "
                                  "Ann Smith is Eve's.")
    assert "<b>email</b>" in answer.text and labels(answer) == ["Ask for it"]


def test_lists_link_each_lead_and_the_links_open_it(any_db, make_user):
    dispatcher = make_user(role="dispatcher", first_name="Dee")
    lead = make_lead(dispatcher)
    assert f"/lead_{lead.id} Ann Smith" in say(dispatcher, "/leads")
    assert f"/lead_{lead.id} Ann Smith" in say(dispatcher, "/find ann")
    assert parse_command(f"/lead_{lead.id}", "bot") == ("lead", str(lead.id))
    assert parse_command(f"/lead_{lead.id}@bot", "bot") == ("lead", str(lead.id))
    assert parse_command("/lead_x", "bot") == ("lead_x", "")
    assert say(dispatcher, f"/lead_{lead.id}").startswith(f"<b>Lead #{lead.id}</b>")


def test_help_is_grouped_on_one_screen_and_lists_every_command(any_db, make_user):
    grouped = {name for _, commands in router.HELP_GROUPS for name, _ in commands}
    assert grouped | {"start", "help", "cancel", "back"} == set(router.COMMANDS)
    for role in ("admin", "dispatcher", "sales", "operator"):
        text = say(make_user(role=role), "/help")
        assert len(text.splitlines()) <= 20, role
        for name, _ in router.menu(role, shop=False):
            assert f"/{name}" in text or name in ("start", "help"), (role, name)
    admin_help = say(make_user(role="admin"), "/help")
    assert [g for g in ("Leads", "Follow-ups", "Clients", "Team") if f"<b>{g}</b>" in admin_help] \
        == ["Leads", "Follow-ups", "Clients", "Team"]
    assert [name for name, _ in router.menu("sales")][:4] == ["today", "leads", "find", "createlead"]
