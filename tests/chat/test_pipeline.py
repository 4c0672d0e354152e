"""Pipeline in chat (services.chat): /lead, /leads and /find with visibility, /stage,
/score, /transfer, /assign, /domain, /source, escaping and the menu. The clock is fixed."""
import socket
from types import SimpleNamespace

import pytest

from models import (
    Activity,
    Contact,
    DialogueState,
    Lead,
    LeadScore,
    OutboxMessage,
    StageChange,
    db,
)
from services.chat import router as chat
from services.chat.router import ChatContext
from services.core.actors import Actor
from services.crm import activities
from tests.chat.helpers import (
    HOUR,
    NOW,
    TRICKY,
    data_of,
    labels,
    make_lead,
    move,
    plan,
    press,
    reply,
    say,
)

# /lead, /leads, /find and visibility ----------------------------------------------------

def test_lead_card_has_pipeline_details_score_and_timeline_newest_first(any_db, admin, make_user):
    member = make_user(first_name="Max")
    lead = make_lead(member, business_domain="dental clinics")
    plan(member, lead, "Intro call", NOW + HOUR)
    press(member, data_of(reply(member, f"/stage {lead.id}"), "contacted"))
    activities.log(Actor.member(member), lead.id, "note", "Prefers email",
                   description="Asked for a brochure", now=NOW + 2 * HOUR)
    reply(member, f"/score {lead.id}")
    card = reply(member, f"/lead {lead.id}")
    for part in ("Name: Ann Smith", "Stage: <b>contacted</b>", "Owner: Max", "Source: website",
                 "Business domain: dental clinics", "Score: <b>0.", "qualify the lead"):
        assert part in card.text
    timeline = card.text.split("<b>Timeline</b>")[1]
    note, call, change = (timeline.index(t) for t in ("Prefers email", "Intro call — due",
                                                     "stage: new → contacted"))
    assert note < call < change and "<i>Asked for a brochure</i>" in timeline
    assert labels(card) == ["Stage…", "Score", "Log activity"]
    assert "Assign…" in labels(reply(admin, f"/lead {lead.id}"))


def test_sales_members_see_and_change_only_their_own_leads(any_db, admin, make_user):
    mine_owner, other = make_user(first_name="Max"), make_user(first_name="Eve")
    make_lead(mine_owner, 1, first_name="Mine")
    theirs = make_lead(other, 2, first_name="Theirs")
    theirs_call = plan(other, theirs, "Their call", NOW - HOUR)
    listing = say(mine_owner, "/leads")
    assert "Mine Smith" in listing and "Theirs" not in listing and "yours" in listing
    assert "Theirs" not in say(mine_owner, "/find smith") and "Mine" in say(mine_owner, "/find smith")
    refusal = f"Lead #{theirs.id} Theirs Smith is Eve's. Ask for it"
    for command in ("lead", "stage", "score", "transfer", "log", "domain"):
        assert refusal in say(mine_owner, f"/{command} {theirs.id} retail"), command
    for data in (f"stage:{theirs.id}:lead:new:contacted", f"score:{theirs.id}", f"log:lead:{theirs.id}"):
        assert refusal in press(mine_owner, data).text
    assert "assigned to someone else" in press(mine_owner, f"done:{theirs_call.id}:successful").text
    assert (Lead.get_by_id(theirs.id).stage, Lead.get_by_id(theirs.id).business_domain) == ("new", None)
    assert Activity.get_by_id(theirs_call.id).completed_at is None
    assert LeadScore.select().count() == 0 and DialogueState.select().count() == 0
    both = say(admin, "/leads")
    assert "Mine Smith" in both and "Theirs Smith" in both
    assert "You have no leads yet" in say(make_user(), "/leads")


@pytest.mark.parametrize("command", ["lead", "stage", "score", "transfer", "log", "domain",
                                     "source", "assign"])
def test_commands_want_an_existing_lead_number(any_db, admin, command):
    for bad in ("", "abc", "²", "1" * 30):
        assert "Send the lead's number" in say(admin, f"/{command} {bad}")
    assert "There is no lead #999." in say(admin, f"/{command} 999 x")


# SQLite only: its ids go up to 2**63 - 1; Postgres' serial id columns stop at 2**31 - 1,
# so ids this long cannot exist there.
def test_buttons_of_the_largest_ids_fit_in_callback_data(sqlite_db, admin):
    lead = make_lead(admin, value="2500.5", source="other")  # no rule refers to it yet
    big = 10 ** 15 - 1
    with db.atomic():  # its contacts move with it: the foreign key is checked at commit
        db.execute_sql("PRAGMA defer_foreign_keys = ON")
        Lead.update(id=big).where(Lead.id == lead.id).execute()
        Contact.update(lead=big).where(Contact.lead == lead.id).execute()
    assert "value: 2500.50" in say(admin, f"/lead {big}")
    move(Lead.get_by_id(big), "contacted", "qualified")
    Lead.update(stage="transferred", sales_stage="agreement").where(Lead.id == big).execute()
    assert labels(reply(admin, f"/stage {big}")) == ["paid"]
    assert "Round robin" in labels(reply(admin, f"/assign {big}"))
    call = plan(admin, Lead.get_by_id(big), "Call", NOW)
    Activity.update(id=big).where(Activity.id == call.id).execute()
    assert "Callback requested" in labels(press(admin, f"done:{big}"))


# /stage ------------------------------------------------------------------------------

def test_stage_buttons_offer_allowed_stages_and_record_the_member(any_db, make_user):
    member = make_user(first_name="Max")
    lead = make_lead(member)
    menu = reply(member, f"/stage {lead.id}")
    assert "is <b>new</b>" in menu.text and labels(menu) == ["contacted", "lost"]
    moved = press(member, data_of(menu, "contacted"))
    assert "moved from <b>new</b> to <b>contacted</b>" in moved.text and moved.replace
    change = StageChange.get()
    assert (change.changed_by.id, change.actor, change.changed_at) == (member.id, "Max (sales)", NOW)
    stale = press(member, data_of(menu, "contacted"))
    assert "out of date" in stale.text and labels(stale) == ["qualified", "lost"]
    forged = press(member, f"stage:{lead.id}:lead:contacted:transferred")
    assert "can move to qualified or lost, not transferred" in forged.text
    assert "&lt;b&gt;" in press(member, f"stage:{lead.id}:lead:contacted:<b>x").text
    assert Lead.get_by_id(lead.id).stage == "contacted" and StageChange.select().count() == 1
    press(member, data_of(reply(member, f"/stage {lead.id}"), "lost"))
    final = reply(member, f"/stage {lead.id}")
    assert "is <b>lost</b>, which is final" in final.text and final.buttons == []
    for data in (f"stage:{lead.id}:lead", "stage:x:lead:new:lost", "stage:"):
        assert press(member, data).text == "That button is no longer valid."


# /score and /transfer ----------------------------------------------------------------

def test_score_is_advisory_and_explained(any_db, make_user):
    member = make_user()
    lead = make_lead(member, source="partner")
    answer = say(member, f"/score {lead.id}")
    assert f"Lead #{lead.id} Ann Smith: score 0.30" in answer
    assert "Recommendation: contact the lead" in answer
    assert "Why: base +0.10, partner source +0.20 = 0.30" in answer
    assert "advisory" in answer and "Model: local" in answer
    assert Lead.get_by_id(lead.id).stage == "new" and LeadScore.get().score == 0.30


def test_score_uses_the_llm_from_the_settings_and_falls_back(any_db, make_user):
    with socket.socket() as probe:  # a port nobody listens on: the LLM is down
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1/chat/completions"
    settings = SimpleNamespace(llm_api_url=url, llm_api_key="", llm_model="m",
                               llm_timeout_seconds=1.0)
    member = make_user()
    lead = make_lead(member)
    answer = say(member, f"/score {lead.id}", ctx=ChatContext("b", settings=settings, clock=lambda: NOW))
    assert "the LLM failed" in answer and "score 0.20" in answer


def test_transfer_gate_names_each_failing_condition(any_db, make_user):
    member = make_user()
    lead = make_lead(member, source="other")
    refusal = say(member, f"/transfer {lead.id}")
    assert "cannot be transferred yet" in refusal
    for problem in ("it is new; only qualified leads are transferred",
                    "it has no score yet (score it first)", "its business domain is not set"):
        assert f"• {problem}" in refusal
    move(lead, "contacted", "qualified")
    say(member, f"/score {lead.id}")  # other source, qualified, no domain: 0.30
    assert "is now <b>retail</b>" in say(member, f"/domain {lead.id} retail")
    button = press(member, f"stage:{lead.id}:lead:qualified:transferred")
    assert "• its latest score 0.30 is below 0.60" in button.text
    assert "business domain" not in button.text and "qualified leads" not in button.text
    assert Lead.get_by_id(lead.id).stage == "qualified"


def test_transfer_of_a_lost_lead_says_it_is_final(any_db, make_user):
    member = make_user()
    lead = make_lead(member, source="other")
    move(lead, "lost")
    answer = say(member, f"/transfer {lead.id}")
    assert answer.startswith(f"Lead #{lead.id} ") and "is <b>lost</b>, which is final" in answer
    assert "help with that" not in answer and "/stage" not in answer


def test_transfer_when_the_gate_passes_starts_the_sale(any_db, make_user):
    member = make_user()
    lead = make_lead(member, source="partner")
    move(lead, "contacted", "qualified")
    say(member, f"/domain {lead.id} dental clinics")
    assert "Recommendation: transfer to sales" in say(member, f"/score {lead.id}")
    done = say(member, f"/transfer {lead.id}")
    assert "moved from <b>qualified</b> to <b>transferred</b>" in done and "sale starts" in done
    assert (Lead.get_by_id(lead.id).stage, Lead.get_by_id(lead.id).sales_stage) == ("transferred", "new")
    assert "already transferred" in say(member, f"/transfer {lead.id}")
    sale = reply(member, f"/stage {lead.id}")
    assert "its sale is at <b>new</b>" in sale.text and labels(sale) == ["kyc"]
    assert "from <b>new</b> to <b>kyc</b>" in press(member, data_of(sale, "kyc")).text
    assert StageChange.select().where(StageChange.pipeline == "sales").count() == 1


# /assign, /domain, /source -----------------------------------------------------------

def test_only_dispatchers_and_admins_assign(any_db, admin, make_user):
    seller, colleague = make_user(first_name="Max"), make_user(first_name="Eve")
    dispatcher = make_user(role="dispatcher", first_name="Dee")
    lead = make_lead(seller)
    assert say(seller, f"/assign {lead.id}") == "Only dispatchers and admins assign leads."
    assert press(seller, f"assign:{lead.id}").text == "Only dispatchers and admins assign leads."
    menu = reply(dispatcher, f"/assign {lead.id}")
    assert "it is Max's now" in menu.text
    assert labels(menu) == ["Ada (admin)", "✓ Max (sales)", "Eve (sales)", "Dee (dispatcher)",
                            "Round robin"]
    done = press(dispatcher, data_of(menu, "Eve (sales)"))
    assert "is now Eve's. They have been told." in done.text
    assert Lead.get_by_id(lead.id).owner_id == colleague.id
    told = OutboxMessage.get(OutboxMessage.recipient == colleague.id,
                             OutboxMessage.key.startswith("assign:"))
    assert told.text.startswith(f"<b>Yours now: lead #{lead.id}</b>\nName: Ann Smith")
    assert told.text.endswith("Given to you by Dee (dispatcher).")
    assert "lead:open:" in told.reply_markup and "lead:take:" not in told.reply_markup
    assert "is now Max's" in press(admin, f"assign:{lead.id}:rr").text  # the next salesperson
    assert "not on the team" in press(admin, f"assign:{lead.id}:{make_user(role=None).id}").text
    assert press(admin, f"assign:{lead.id}:nobody").text == "That button is no longer valid."


def test_domain_and_source_are_validated_and_escaped(any_db, make_user):
    member = make_user()
    lead = make_lead(member)
    assert "business domain is not set" in say(member, f"/domain {lead.id}")
    assert "is now <b>&lt;b&gt;O'Neil &amp; Co&lt;/b&gt;</b>" in say(member, f"/domain {lead.id} {TRICKY}")
    assert "business domain is <b>&lt;b&gt;O'Neil" in say(member, f"/domain {lead.id}")
    assert "too long" in say(member, f"/domain {lead.id} {'x' * 101}")
    assert "Source must be one of: website, referral" in say(member, f"/source {lead.id} <i>tv")
    assert "source is now <b>referral</b>" in say(member, f"/source {lead.id} Referral")
    assert (Lead.get_by_id(lead.id).source, Lead.get_by_id(lead.id).business_domain) == (
        "referral", TRICKY)


# /today and Done ---------------------------------------------------------------------


def test_user_data_is_escaped_in_every_new_answer(any_db, admin, make_user):
    member = make_user(first_name="<i>Max</i>")
    lead = make_lead(member, first_name=TRICKY)
    plan(member, lead, f"Call {TRICKY}", NOW)
    escaped = "&lt;b&gt;O'Neil &amp; Co&lt;/b&gt;"
    answers = [say(member, f"/lead {lead.id}"), say(member, f"/stage {lead.id}"),
               say(member, f"/score {lead.id}"), say(member, f"/transfer {lead.id}"),
               say(member, "/today"), press(member, f"done:{Activity.get().id}").text,
               say(admin, f"/assign {lead.id}"),
               press(admin, f"assign:{lead.id}:{member.id}").text]
    for answer in answers:
        assert escaped in answer and TRICKY not in answer and "<i>Max" not in answer, answer
    assert "&lt;i&gt;Max&lt;/i&gt;" in answers[0]


def test_help_and_menu_list_the_new_commands_by_role(any_db, make_user):
    sales = [name for name, _ in chat.menu("sales")]
    assert {"today", "log", "stage", "score", "transfer", "domain", "source"} <= set(sales)
    assert "assign" not in sales and "invite" not in sales
    assert "assign" in [name for name, _ in chat.menu("dispatcher")]
    assert "invite" not in [name for name, _ in chat.menu("dispatcher")]
    assert "assign" in [name for name, _ in chat.menu("admin")]
    text = say(make_user(), "/help")
    assert "/today <i>your agenda</i>" in text and "/assign" not in text
