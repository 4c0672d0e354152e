"""/register (services/chat/registration.py) as a client goes through it: one question per
message with its buttons, /back and /cancel, the summary with Save / Edit / Cancel, an
unfinished registration offered again after a restart, the US states in pages, refusals
and outdated or forged buttons, and /profiles' Edit and Delete."""
import datetime

from hypothesis import HealthCheck, given, settings, strategies as st

from devtools.telegram_formatting import parse
from models import AuditEntry, CustomerProfile, DialogueState, User
from services.chat import buttons, dialogues, registration
from services.chat.registration_steps import CONFIRM, EDIT, STEPS
from services.chat.replies import Reply
from services.core import audit
from services.core.actors import Actor
from services.inbox import clients
from services.shop import profiles
from tests.chat.helpers import CTX, NOW, TRICKY, data_of, fits_telegram, labels
from tests.fuzz_values import SWEEP, filled, values as odd_values

WIZARD = registration.WIZARD
# The dialogue's answers up to the summary, as /register stores them.
ANSWERS = {"first_name": "Ann", "middle_name": None, "last_name": "Lee",
           "phone": "+16502530000", "email": "ann@example.com", "gender": None,
           "date_of_birth": "1990-03-25", "country": "US", "street": "1600 Amphitheatre Pkwy",
           "apartment": None, "city": "Mountain View", "state": "US-CA", "postal_code": "94043",
           "telegram_username": None, "instagram_username": None, "password": None}


def fresh(user):
    """The user as a new update brings them: read from the database again."""
    return User.get_by_id(user.id)


def checked(reply):
    """A Reply Telegram would take: HTML it parses, buttons of at most 64 bytes."""
    assert isinstance(reply, Reply) and reply.text.strip(), reply
    parse(reply.text, "HTML")
    return fits_telegram(reply)


def say(user, text):
    return checked(registration.answer(CTX, fresh(user), text))


def press(user, data):
    kind, fields = buttons.decode(data)
    assert kind == "reg", data
    return checked(registration.pressed(CTX, fresh(user), **fields))


def click(user, reply, label):
    return press(user, data_of(reply, label))


def state(user):
    row = DialogueState.get_or_none(DialogueState.user == user.id)
    return None if row is None else (row.step, dialogues.data(row))


def client(make_user, username="ann_lee"):
    return make_user(role=None, first_name="Ann", username=username)


def at(user, step, **changed):
    """Put `user`'s registration at `step`, with the answers before it."""
    answers = {**ANSWERS, **changed}
    before = STEPS if step == CONFIRM or step.startswith(EDIT) else STEPS[:STEPS.index(step)]
    WIZARD.go(fresh(user), step, {"username": user.username, **{f: answers[f] for f in before}})
    return checked(registration.pressed(CTX, fresh(user), action="continue"))


def lead_of(user):
    return clients.from_telegram(Actor.client(user), user, NOW)[0]


# A whole registration ---------------------------------------------------------------------

def test_a_full_registration_with_skips_saves_the_profile(any_db, data_key, make_user):
    ann = client(make_user)
    asked = checked(registration.start(CTX, fresh(ann)))
    assert "Step 1/16" in asked.text and "<b>first name</b>" in asked.text
    assert "◀ Back" not in labels(asked) and "Skip" not in labels(asked)
    asked = say(ann, "Ann")
    assert "Step 2/16" in asked.text and labels(asked) == ["◀ Back", "Skip"]
    asked = click(ann, asked, "Skip")
    assert asked.text.startswith("Middle name: —") and "Step 3/16" in asked.text
    say(ann, "Lee")
    say(ann, "(650) 253-0000")
    asked = say(ann, "ann@example.com")
    assert labels(asked) == ["Female", "Male", "Other", "◀ Back", "Skip"]
    asked = click(ann, asked, "Skip")
    asked = say(ann, "25 March 1990")
    asked = click(ann, asked, "Keep United States")
    assert asked.text.startswith("Country: United States (US)") and "<b>street address</b>" in asked.text
    asked = say(ann, "1600 Amphitheatre Pkwy")
    asked = click(ann, asked, "Skip")
    asked = say(ann, "Mountain View")
    asked = click(ann, asked, "California")
    assert "<b>ZIP code</b>, e.g. 90000" in asked.text
    asked = say(ann, "94043")
    asked = click(ann, asked, "Use @ann_lee")
    asked = click(ann, asked, "Skip")
    assert labels(asked) == ["🎲 Generate", "◀ Back", "Skip"]
    summary = click(ann, asked, "🎲 Generate")

    step, answers = state(ann)
    generated = profiles.unseal(answers["password"]["sealed"])
    assert step == CONFIRM and len(generated) == 14
    assert generated not in DialogueState.get(DialogueState.user == ann.id).data  # never in the clear
    assert "<b>Check the profile</b>" in summary.text and "Password: ••• (generated)" in summary.text
    assert "Telegram: @ann_lee" in summary.text and "State: California" in summary.text
    assert "Gender: —" in summary.text and generated not in summary.text
    assert labels(summary) == ["✅ Save", "✏️ Edit", "✖️ Cancel"]

    saved = click(ann, summary, "✅ Save")
    profile = CustomerProfile.get()
    assert saved.replace and f"✅ Saved as profile #{profile.id}." in saved.text
    assert "A password was generated" in saved.text and generated not in saved.text
    assert "/order orders a package for Ann Lee" in saved.text
    assert state(ann) is None
    assert (profile.lead_id, profile.full_name, profile.phone, profile.date_of_birth) == (
        lead_of(ann).id, "Ann Lee", "+16502530000", datetime.date(1990, 3, 25))
    assert (profile.country, profile.state, profile.postal_code, profile.telegram_username) == (
        "US", "US-CA", "94043", "ann_lee")
    assert (profile.middle_name, profile.gender, profile.apartment, profile.instagram_username) == (
        None, None, None, None)
    assert profile.password == generated
    entry = audit.entries(entity="customer_profile").first()
    assert entry.event == "customer_profile.created" and entry.actor_kind == "client"
    assert audit.changes_of(entry)["password"] == (None, audit.MASK) and generated not in entry.changes


def test_a_typed_password_is_kept_sealed_and_shown_masked(any_db, data_key, make_user):
    ann = client(make_user)
    at(ann, "password")
    summary = say(ann, "correct horse")
    assert "Password: •••" in summary.text and "correct horse" not in summary.text
    assert "correct horse" not in DialogueState.get(DialogueState.user == ann.id).data
    click(ann, summary, "✅ Save")
    assert CustomerProfile.get().password == "correct horse"


def test_without_a_key_the_password_can_only_be_skipped(any_db, make_user):
    ann = client(make_user)
    at(ann, "password")
    for refused in (say(ann, "correct horse"), press(ann, "reg:generate:password")):
        assert "Passwords are kept encrypted" in refused.text and "Step 16/16" in refused.text
    assert state(ann)[0] == "password"
    summary = press(ann, "reg:skip:password")
    assert "Password: —" in summary.text
    click(ann, summary, "✅ Save")
    assert CustomerProfile.get().password is None


# /back, /cancel and coming back days later --------------------------------------------------

def test_back_asks_the_previous_question_again_without_its_answer(any_db, make_user):
    ann = client(make_user)
    registration.start(CTX, fresh(ann))
    first = checked(WIZARD.back(fresh(ann)))
    assert "This is the first question." in first.text and state(ann)[0] == "first_name"
    say(ann, "Ann")
    say(ann, "Bea")
    asked = say(ann, "Lee")
    assert state(ann) == ("phone", {"username": "ann_lee", "first_name": "Ann",
                                    "middle_name": "Bea", "last_name": "Lee"})
    again = checked(WIZARD.back(fresh(ann)))
    assert "Step 3/16" in again.text and "last_name" not in state(ann)[1]
    again = click(ann, again, "◀ Back")           # the question's own Back button
    assert "Step 2/16" in again.text and state(ann)[1] == {"username": "ann_lee", "first_name": "Ann"}
    assert "Step 4/16" in asked.text

    summary = at(ann, CONFIRM)
    asked = checked(WIZARD.back(fresh(ann)))        # from the summary: the last question
    assert "Step 16/16" in asked.text and "password" not in state(ann)[1]
    summary = press(ann, "reg:skip:password")
    click(ann, click(ann, summary, "✏️ Edit"), "City")
    kept = state(ann)[1]
    assert state(ann)[0] == "edit:city"
    back = checked(WIZARD.back(fresh(ann)))         # from a change: the summary, all kept
    assert "<b>Check the profile</b>" in back.text and state(ann) == (CONFIRM, kept)


def test_cancel_ends_the_registration_and_saves_nothing(any_db, make_user):
    ann = client(make_user)
    registration.start(CTX, fresh(ann))
    say(ann, "Ann")
    assert WIZARD.cancel(fresh(ann)).text == "Cancelled. Nothing was saved."
    assert state(ann) is None and registration.answer(CTX, fresh(ann), "Lee") is None
    assert press(ann, "reg:skip:middle_name").text == registration.NOT_ACTIVE.text
    assert WIZARD.back(fresh(ann)) is registration.NOT_ACTIVE
    assert registration.unfinished(CTX, fresh(ann)) is None

    summary = at(ann, CONFIRM)
    cancelled = click(ann, summary, "✖️ Cancel")
    assert cancelled.replace and "✖️ Cancelled. Nothing was saved." in cancelled.text
    assert state(ann) is None and CustomerProfile.select().count() == 0


def test_an_unfinished_registration_is_offered_again_after_a_restart(any_db, make_user):
    ann = client(make_user)
    registration.start(CTX, fresh(ann))
    for text in ("Ann", "Bea", "Lee", "+44 20 7946 0958", "ann@example.com"):
        say(ann, text)
    before = state(ann)
    # Days later, after the bot restarted: nothing but the database remembers.
    DialogueState.update(updated_at=datetime.datetime(2020, 1, 1)).execute()
    prompt = checked(registration.unfinished(CTX, fresh(ann)))
    assert "<b>Continue your registration?</b>" in prompt.text and "step 6/16: gender" in prompt.text
    assert labels(prompt) == ["▶️ Continue", "🔄 Start over", "✖️ Cancel"]
    assert checked(registration.start(CTX, fresh(ann))).text == prompt.text   # not restarted
    assert state(ann) == before

    resumed = click(ann, prompt, "▶️ Continue")
    assert resumed.replace and "Step 6/16" in resumed.text and state(ann)[0] == "gender"
    assert click(ann, resumed, "Male").text.startswith("Gender: Male")
    restarted = click(ann, prompt, "🔄 Start over")
    assert "Step 1/16" in restarted.text and state(ann) == ("first_name", {"username": "ann_lee"})
    stopped = click(ann, prompt, "✖️ Cancel")
    assert stopped.text == "Cancelled. Nothing was saved." and state(ann) is None


# The US states ---------------------------------------------------------------------------

def test_every_state_is_reachable_through_the_pages_and_no_more(any_db, make_user):
    ann = client(make_user)
    page = at(ann, "state")
    seen, pages = [], []
    while True:
        states = [(name, data) for row in page.buttons for name, data in row
                  if data.startswith("reg:state:")]
        assert 0 < len(states) <= 12
        seen += states
        pages.append(page)
        if "Next ▶" not in labels(page):
            break
        page = click(ann, page, "Next ▶")
        assert page.replace
    assert len(pages) == 5 and "◀ Previous" not in labels(pages[0]) and "◀ Previous" in labels(pages[-1])
    assert [name for name, _ in seen] == [name for _, name in profiles.US_STATES]
    assert {data.rsplit(":", 1)[1] for _, data in seen} == dict(profiles.US_STATES).keys()
    assert press(ann, "reg:states:999").buttons == pages[-1].buttons    # past the end: the last
    assert click(ann, pages[1], "◀ Previous").buttons == pages[0].buttons
    asked = press(ann, "reg:state:US-WY")
    assert asked.text.startswith("State: Wyoming") and state(ann)[1]["state"] == "US-WY"
    assert buttons.decode("reg:state:US-PR") is None and buttons.decode("reg:state:CA") is None


def test_a_state_may_be_typed_and_other_countries_type_theirs_or_skip(any_db, make_user):
    ann = client(make_user)
    at(ann, "state")
    assert "ZIP code" in say(ann, "new york").text and state(ann)[1]["state"] == "US-NY"
    asked = at(ann, "state", country="DE")
    assert "state, province or region" in asked.text and not any(
        data.startswith("reg:state:") for row in asked.buttons for _, data in row)
    assert press(ann, "reg:states:1").text.startswith("That button is no longer valid.")
    asked = click(ann, asked, "Skip")
    assert "<b>postal code</b>, e.g. 26133" in asked.text
    at(ann, "city", country="HK")
    say(ann, "Kowloon")
    say(ann, "Kowloon")   # the state; Hong Kong has no postal codes: not asked
    assert state(ann)[0] == "telegram_username" and state(ann)[1]["postal_code"] is None


# Refusals and buttons that are no longer valid -------------------------------------------

def test_an_invalid_answer_is_told_why_and_asked_again(any_db, make_user):
    ann = client(make_user)
    at(ann, "date_of_birth")
    refused = say(ann, "2030-01-01")
    assert refused.text.startswith("A date of birth cannot be in the future.")
    assert "Step 7/16" in refused.text and state(ann)[0] == "date_of_birth"
    assert say(ann, "2015-05-05").text.startswith("The person must be at least 16 years old.")
    at(ann, "postal_code")
    refused = say(ann, "10001")
    assert refused.text.startswith("That is not a valid ZIP code for California.")
    assert "Step 13/16" in refused.text and "postal_code" not in state(ann)[1]
    summary = at(ann, CONFIRM)
    assert say(ann, "save").text.startswith(registration.USE_BUTTONS)
    assert state(ann)[0] == CONFIRM and labels(summary) == ["✅ Save", "✏️ Edit", "✖️ Cancel"]


def test_outdated_and_forged_buttons_change_nothing(any_db, data_key, make_user):
    ann = client(make_user, username=None)
    assert press(ann, "reg:skip:first_name").text == registration.NOT_ACTIVE.text
    registration.start(CTX, fresh(ann))
    before = state(ann)
    for data in ("reg:skip:middle_name", "reg:skip:first_name", "reg:gender:female", "reg:save",
                 "reg:cancel", "reg:edit", "reg:edit:first_name", "reg:state:US-CA", "reg:states:1",
                 "reg:keep:password", "reg:keep:first_name", "reg:generate:first_name",
                 "reg:back:last_name", "reg:mine:first_name"):
        answer = press(ann, data)
        assert answer.text.startswith("That button is no longer valid.") and "Step 1/16" in answer.text
        assert state(ann) == before, data
    at(ann, "telegram_username")
    assert "Use @" not in " ".join(labels(press(ann, "reg:continue")))
    assert press(ann, "reg:mine:telegram_username").text.startswith("That button is no longer valid.")
    at(ann, CONFIRM)
    assert press(ann, "reg:skip:password").text.startswith("That button is no longer valid.")
    assert state(ann)[0] == CONFIRM
    for data in ("reg:state:US-PR", "reg:gender:robot", "reg:skip:lead", "reg:open:0", "reg:open:x",
                 "reg:delete:1:no", "reg:save:now", "reg:" + "x" * 70):
        assert buttons.decode(data) is None, data
    gone = press(ann, "reg:open:4242")
    assert gone.text.startswith("That profile is not there any more.") and gone.replace


def test_names_and_answers_are_escaped_as_html(any_db, make_user):
    ann = client(make_user)
    registration.start(CTX, fresh(ann))
    say(ann, TRICKY)
    assert state(ann)[1]["first_name"] == TRICKY
    summary = at(ann, CONFIRM, first_name=TRICKY, city="<i>Springfield</i>")
    assert "First name: &lt;b&gt;O'Neil &amp; Co&lt;/b&gt;" in summary.text
    assert "City: &lt;i&gt;Springfield&lt;/i&gt;" in summary.text
    saved = click(ann, summary, "✅ Save")
    assert "&lt;b&gt;O'Neil &amp; Co&lt;/b&gt; Lee" in saved.text
    listed = checked(registration.profiles(CTX, fresh(ann)))
    assert "&lt;b&gt;O'Neil &amp; Co&lt;/b&gt; Lee — &lt;i&gt;Springfield&lt;/i&gt;, California" in listed.text


# /profiles: Edit and Delete ------------------------------------------------------------------

def test_a_profile_is_changed_field_by_field_from_its_summary(any_db, data_key, make_user):
    ann = client(make_user)
    profile = profiles.save(Actor.client(ann), lead_of(ann).id,
                            {**ANSWERS, "password": "correct horse"}, now=NOW)
    listed = checked(registration.profiles(CTX, fresh(ann)))
    assert "1. Ann Lee — Mountain View, California" in listed.text
    assert labels(listed) == ["✏️ 1. Ann", "🗑 Delete", "➕ New profile"]
    summary = click(ann, listed, "✏️ 1. Ann")
    assert "<b>Check the changes</b>" in summary.text and "Password: ••• (unchanged)" in summary.text
    assert "correct horse" not in DialogueState.get(DialogueState.user == ann.id).data
    asked = click(ann, click(ann, summary, "✏️ Edit"), "City")
    assert "Step" not in asked.text and "<b>city</b>" in asked.text
    summary = say(ann, "Palo Alto")
    assert "City: Palo Alto" in summary.text and state(ann)[0] == CONFIRM
    # A new state whose ZIP codes the old one is not: asked for a new one.
    asked = click(ann, click(ann, summary, "✏️ Edit"), "State")
    assert "California" in labels(asked) and state(ann)[0] == "edit:state"
    asked = press(ann, "reg:state:US-NY")     # on a later page
    assert state(ann)[0] == "edit:postal_code" and "ZIP code" in asked.text
    summary = say(ann, "10001")
    # /back from the summary asks for the password, which may be kept.
    asked = checked(WIZARD.back(fresh(ann)))
    summary = click(ann, asked, "Keep the current one")
    assert "Password: ••• (unchanged)" in summary.text
    saved = click(ann, summary, "✅ Save")
    assert "✅ Saved." in saved.text and "profile #" not in saved.text
    profile = CustomerProfile.get_by_id(profile.id)
    assert (profile.city, profile.state, profile.postal_code, profile.password) == (
        "Palo Alto", "US-NY", "10001", "correct horse")
    entry = audit.entries(entity="customer_profile", entity_id=profile.id).first()
    assert entry.event == "customer_profile.updated"
    assert audit.changes_of(entry) == {"city": ("Mountain View", "Palo Alto"),
                                       "state": ("US-CA", "US-NY"), "postal_code": ("94043", "10001")}
    assert CustomerProfile.select().count() == 1


def test_a_new_country_asks_for_its_state_and_postal_code_again(any_db, make_user):
    ann = client(make_user)
    profiles.save(Actor.client(ann), lead_of(ann).id, ANSWERS, now=NOW)
    summary = click(ann, checked(registration.profiles(CTX, fresh(ann))), "✏️ 1. Ann")
    asked = click(ann, click(ann, summary, "✏️ Edit"), "Country")
    assert "Keep United States" in labels(asked)
    asked = say(ann, "germany")
    assert state(ann)[0] == "edit:state" and "Skip" in labels(asked)
    # Back at the summary before answering: Save asks for what is missing first.
    summary = checked(WIZARD.back(fresh(ann)))
    assert "State: (not answered yet)" in summary.text and "Postal code: (not answered yet)" in summary.text
    asked = click(ann, summary, "✅ Save")
    assert asked.text.startswith(registration.ANSWER_FIRST) and state(ann)[0] == "edit:state"
    asked = click(ann, asked, "Skip")
    assert state(ann)[0] == "edit:postal_code"
    summary = say(ann, "10115")
    saved = click(ann, summary, "✅ Save")
    assert "✅ Saved." in saved.text
    profile = CustomerProfile.get()
    assert (profile.country, profile.state, profile.postal_code) == ("DE", None, "10115")


def test_a_profile_is_deleted_only_once_confirmed(any_db, make_user):
    ann = client(make_user)
    bob = client(make_user, username="bob_lee")
    profile = profiles.save(Actor.client(ann), lead_of(ann).id, ANSWERS, now=NOW)
    bobs = profiles.save(Actor.client(bob), lead_of(bob).id, ANSWERS, now=NOW)
    listed = checked(registration.profiles(CTX, fresh(ann)))
    confirm = click(ann, listed, "🗑 Delete")
    assert "Delete the profile of <b>Ann Lee</b>?" in confirm.text and confirm.replace
    assert labels(confirm) == ["🗑 Yes, delete", "Keep"]
    kept = click(ann, confirm, "Keep")
    assert "1. Ann Lee" in kept.text and CustomerProfile.get_by_id(profile.id).deleted_at is None
    done = click(ann, confirm, "🗑 Yes, delete")
    assert done.text.startswith("Deleted the profile of Ann Lee.") and "no profiles yet" in done.text
    assert CustomerProfile.get_by_id(profile.id).deleted_at == NOW
    again = click(ann, confirm, "🗑 Yes, delete")                    # an outdated press
    assert again.text.startswith("That profile is not there any more.")
    assert AuditEntry.select().where(AuditEntry.event == "customer_profile.deleted").count() == 1
    # Someone else's profile, with a forged id: not theirs to see or delete.
    for data in (f"reg:open:{bobs.id}", f"reg:delete:{bobs.id}", f"reg:delete:{bobs.id}:yes"):
        assert press(ann, data).text.startswith("That profile is not there any more.")
    assert CustomerProfile.get_by_id(bobs.id).deleted_at is None
    assert "New profile" in labels(done)[-1]
    assert "Step 1/16" in click(ann, done, "➕ New profile").text


def test_editing_a_profile_waits_for_an_unfinished_registration(any_db, make_user):
    ann = client(make_user)
    profiles.save(Actor.client(ann), lead_of(ann).id, ANSWERS, now=NOW)
    registration.start(CTX, fresh(ann))
    say(ann, "Zoë")
    answer = click(ann, checked(registration.profiles(CTX, fresh(ann))), "✏️ 1. Ann")
    assert answer.text.startswith("Finish or cancel this first") and "step 2/16" in answer.text
    assert state(ann)[1]["first_name"] == "Zoë"


# Fuzz ----------------------------------------------------------------------------------------

ALL_STEPS = [*STEPS, CONFIRM, *(EDIT + field for field in STEPS)]
REG_WORDS = ["save", "edit", "cancel", "continue", "restart", "stop", "new", "list", "skip",
             "keep", "mine", "generate", "back", "gender", "state", "states", "open", "delete",
             "yes", "female", "US-CA", "1", "2", *STEPS]
REG_BUTTONS = ["reg:{}", "reg:{}:{}", "reg:{}:{}:{}"]


def test_any_text_at_any_step_and_any_reg_button_gets_a_reply(any_db, data_key, make_user, request):
    ann = client(make_user)
    profiles.save(Actor.client(ann), lead_of(ann).id, ANSWERS, now=NOW)
    examples = {"sqlite": 300, "postgres": 60}[request.node.callspec.params["any_db"]]

    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(ALL_STEPS), st.sampled_from(["US", "GB", "DE", "HK"]),
           st.one_of(st.sampled_from(SWEEP), odd_values, st.text(max_size=400)),
           filled(REG_BUTTONS, st.one_of(st.sampled_from(REG_WORDS), odd_values)))
    def always_replies(step, country, text, data):
        at(ann, step, country=country, state=None if country != "US" else "US-CA",
           postal_code=None if country != "US" else "94043")
        checked(registration.answer(CTX, fresh(ann), text.replace("\x00", "")))
        pressed = buttons.decode(data)
        if pressed is not None and pressed[0] == "reg":
            checked(registration.pressed(CTX, fresh(ann), **pressed[1]))

    always_replies()
