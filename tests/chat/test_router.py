"""The conversation rules (services.chat) without Telegram: wizard, access, team."""
import datetime
import json

from models import Invite, Lead, OutboxMessage, User, utcnow
from services.chat import router as chat
from services.chat.router import ChatContext
from services.crm import leads, team

CTX = ChatContext(bot_username="leadgram_bot", admin_ids=frozenset({1}))
GOOD = ["ann@example.com", "+44 20 7946 0958", "Ann", "Smith", "gb"]


def say(user, text, ctx=CTX):
    replies = chat.on_text(ctx, User.get_by_id(user.id), text)
    return "\n".join(r.text for r in replies)


def press(user, data):
    return chat.on_button(CTX, User.get_by_id(user.id), data)[0]


def fill(user, answers=GOOD):
    say(user, "/createLead")
    for answer in answers:
        reply = say(user, answer)
    return reply


def test_wizard_asks_each_field_by_name_and_saves_after_confirmation(any_db, admin, make_user):
    member = make_user()
    assert "Step 1/5" in say(admin, "/createLead") and "email" in say(admin, "/back")
    say(admin, "/cancel")
    prompts = [say(admin, "/newlead")] + [say(admin, a) for a in GOOD[:-1]]
    for prompt, field in zip(prompts, ["email", "phone", "first name", "last name", "country"]):
        assert f"<b>{field}</b>" in prompt
    summary = chat.on_text(CTX, admin, "United Kingdom")[0]
    assert "+44 20 7946 0958" in summary.text and "United Kingdom (GB)" in summary.text
    assert [label for label, _ in summary.buttons[0]] == ["✅ Save", "✏️ Edit", "✖️ Cancel"]
    saved = press(admin, "wiz:save")
    lead = Lead.get()
    assert f"Saved as lead #{lead.id}" in saved.text
    assert (lead.email, lead.phone, lead.country, lead.created_by.id) == (
        "ann@example.com", "+442079460958", "GB", admin.id)
    # One notification per team member but its creator, in the lead's transaction; the
    # lead is its creator's, so it can be opened, not taken.
    [told] = OutboxMessage.select()
    assert told.recipient_id == member.id and "Owner: Ada" in told.text
    assert [b["text"] for b in json.loads(told.reply_markup)["inline_keyboard"][0]] == ["Open"]
    assert press(admin, "wiz:save").text == chat.lead_wizard.NOT_ACTIVE.text


def test_bad_answers_get_a_reason_and_the_same_question(any_db, admin):
    say(admin, "/createLead")
    reply = say(admin, "not an email")
    assert "not a valid email" in reply and "<b>email</b>" in reply
    say(admin, GOOD[0])
    assert "<b>phone</b>" in say(admin, "12")
    for answer in GOOD[1:4]:
        say(admin, answer)
    assert "don't know that country" in say(admin, "Atlantis")
    assert "Check the lead" in say(admin, "DE")


def test_back_and_edit(any_db, admin):
    say(admin, "/createLead")
    say(admin, GOOD[0])
    assert "<b>email</b>" in say(admin, "/back")
    fill(admin)
    assert "Which field?" in press(admin, "wiz:edit").text
    assert "<b>last name</b>" in press(admin, "wiz:edit:last_name").text
    assert "Jones" in say(admin, "Jones")
    press(admin, "wiz:save")
    assert Lead.get().last_name == "Jones"


def test_duplicate_email_or_phone_is_refused_naming_the_field_and_lead(any_db, admin):
    fill(admin)
    press(admin, "wiz:save")
    say(admin, "/createLead")
    reply = say(admin, "ANN@example.com")
    assert f"email already exists. It is #{Lead.get().id} Ann Smith" in reply
    assert f"/lead_{Lead.get().id} opens it" in reply
    say(admin, "bob@example.com")
    assert "phone already exists" in say(admin, "+442079460958")


def test_duplicate_saved_meanwhile_is_caught_at_save(any_db, admin, make_user):
    other = make_user()
    fill(admin)
    leads.create_lead(other, email="ann@example.com", phone="+14155552671",
                      first_name="A", last_name="B", country="US")
    reply = press(admin, "wiz:save")
    assert "email already exists" in reply.text
    assert Lead.select().count() == 1
    say(admin, "ann2@example.com")
    press(admin, "wiz:save")
    assert Lead.select().count() == 2


def test_user_data_is_escaped_everywhere(any_db, admin, make_user):
    make_user()  # told of the lead: its creator is not
    fill(admin, [GOOD[0], GOOD[1], "O'Neil_Smith <b>&", "Smith", "gb"])
    press(admin, "wiz:save")
    notification = OutboxMessage.get().text
    assert "O'Neil_Smith &lt;b&gt;&amp;" in notification
    assert "<b>&" not in notification
    assert "O'Neil_Smith &lt;b&gt;&amp;" in say(admin, "/leads")
    assert "&lt;b&gt;" in say(admin, "/find neil")


def test_strangers_get_a_polite_answer_and_no_data(any_db, admin, make_user):
    fill(admin)
    press(admin, "wiz:save")
    stranger = make_user(role=None)
    for text in ["/leads", "/lead 1", "/find ann", "/createLead", "hello", "/team", "/invite"]:
        assert say(stranger, text) == chat.STRANGER
    assert press(stranger, "leads:0").text == chat.STRANGER
    assert "Ann" not in say(stranger, "/help")


def test_invite_joins_once_and_expires(any_db, admin, make_user):
    reply = say(admin, "/invite dispatcher")
    token = Invite.get().token
    assert f"https://t.me/leadgram_bot?start={token}" in reply
    assert reply.startswith("Invite link for a new <b>dispatcher</b>, valid until")
    assert say(admin, "/invite").startswith("Invite link for a new <b>salesperson</b>,")
    assert say(admin, "/invite operator").startswith("Invite link for a new <b>operator</b>,")
    Invite.delete().where(Invite.token != token).execute()
    newcomer, late = make_user(role=None), make_user(role=None)
    assert "joined as <b>dispatcher</b>" in say(newcomer, f"/start {token}")
    assert User.get_by_id(newcomer.id).role == "dispatcher"
    assert "already been used" in say(late, f"/start {token}")
    say(admin, "/invite")
    Invite.update(expires_at=utcnow() - datetime.timedelta(seconds=1)).where(
        Invite.role == "sales").execute()
    assert "expired" in say(late, f"/start {Invite.get(Invite.role == 'sales').token}")
    assert "not valid" in say(late, "/start nonsense")
    assert "Unknown role" in say(admin, "/invite king")


def test_only_admins_manage_the_team(any_db, admin, make_user):
    member = make_user()
    assert say(member, "/invite") == "Only admins can do that."
    assert press(member, f"team:{admin.id}:remove").text == "Only admins can do that."
    assert User.get_by_id(admin.id).role == "admin"
    assert member.display_name in say(admin, "/team")
    assert "is now <b>dispatcher</b>" in press(admin, f"team:{member.id}:role:dispatcher").text
    assert f"Remove {member.display_name} from the team?" in press(admin, f"team:{member.id}:remove").text
    assert User.get_by_id(member.id).role == "dispatcher"  # asked, not done
    assert "no longer on the team" in press(admin, f"team:{member.id}:remove:rr").text
    assert say(member, "/leads") == chat.STRANGER
    assert "at least one admin" in press(admin, f"team:{admin.id}:remove:rr").text


def test_config_admins_cannot_be_demoted_in_chat(any_db, make_user):
    boss = team.register(1, first_name="Boss", admin_ids=CTX.admin_ids)
    other = make_user(role="admin")
    assert "ADMIN_TELEGRAM_IDS" in press(other, f"team:{boss.id}:role:sales").text


def test_notify_toggle_controls_lead_notifications(any_db, admin, make_user):
    member, listening = make_user(), make_user()
    assert "now <b>off</b>" in say(member, "/notify off")
    assert "are <b>off</b>" in say(member, "/notify")
    fill(admin)
    press(admin, "wiz:save")
    assert [m.recipient.id for m in OutboxMessage.select()] == [listening.id]


def test_open_team_lets_everyone_in(any_db):
    user = team.register(50, first_name="Sam")
    reply = chat.on_text(ChatContext("b", open_team=True), user, "/start")
    assert "You are on the team" in reply[0].text and User.get_by_id(user.id).role == "sales"


def test_unknown_input_points_to_help(any_db, admin):
    assert say(admin, "hello there") == chat.UNKNOWN
    assert "/help" in say(admin, "/nonsense")
    assert "/createlead" in say(admin, "/help")


def test_leads_are_paged_newest_first(any_db, admin):
    for n in range(23):
        leads.create_lead(admin, email=f"p{n}@example.com", phone=f"+1415555{2600 + n}",
                          first_name=f"P{n}", last_name="L", country="US")
    first = chat.on_text(CTX, admin, "/leads")[0]
    assert "page 1 of 3" in first.text and "P22" in first.text
    assert first.buttons == [[("Older ▶", "leads:1")]]
    last = press(admin, "leads:2")
    assert "page 3 of 3" in last.text and last.replace and "P0 " in last.text
    assert "P4 L" in say(admin, "/lead 5") and "no lead #999" in say(admin, "/lead 999")


def test_odd_input_gets_an_answer_not_an_error(any_db, admin):
    fill(admin, ["a_b@example.com", GOOD[1], "Ann", "Smith", "gb"])
    press(admin, "wiz:save")
    assert "lead's number" in say(admin, "/lead 99999999999999999999999")
    assert "No leads match" in say(admin, "/find %%")
    assert "No leads match" in say(admin, "/find a%b")
    assert "Ann Smith" in say(admin, "/find a_b")
    assert "Ann Smith" in say(admin, "/find 7946")
    for data in ["", ":", "wiz:edit:nope", "leads:abc", "team:abc", "team:1:role:god", "zzz"]:
        assert chat.on_button(CTX, admin, data)[0].text


def test_unicode_digits_and_huge_numbers_in_buttons_are_not_ids(any_db, admin, make_user):
    member = make_user()
    for data in ["team:²", "team:٣", f"team:{2**63}", f"team:{2**63}:remove", "team:²:role:sales"]:
        assert press(admin, data).text == "That button is no longer valid.", data
    assert User.get_by_id(member.id).role == "sales"
    for n in range(23):
        leads.create_lead(admin, email=f"p{n}@example.com", phone=f"+1415555{2600 + n}",
                          first_name=f"P{n}", last_name="L", country="US")
    for page in ["٣", "²", "9" * 30, "-1"]:  # not a page: the first one
        assert "page 1 of 3" in press(admin, f"leads:{page}").text, page


def test_nul_characters_never_reach_the_database(any_db, admin, make_user):
    """Postgres refuses NUL in a query's text, and a forged update can carry one."""
    stranger = make_user(role=None)
    assert "not valid" in say(stranger, "/start abc\x00def")
    assert "No leads match" in say(admin, "/find an\x00n")
    fill(admin)
    press(admin, "wiz:save")
    assert "Ann Smith" in say(admin, "/find a\x00nn")
