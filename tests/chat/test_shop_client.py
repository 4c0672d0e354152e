"""The shop in a client's chat (SHOP on, issue 12): the menu, routing to the registration,
what still reaches the team, and which buttons a client may press. With SHOP off nothing
changes. Runs on SQLite and Postgres (any_db)."""
import datetime

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from models import DialogueState, Message, OutboxMessage, utcnow
from services.chat import buttons, registration, router as chat
from services.core import policy
from tests.chat.helpers import CTX, labels
from tests.chat.shop_helpers import add_profile, fund, presses, says, writes
from tests.fuzz_values import SWEEP, filled, values

INVALID = buttons.NO_LONGER_VALID
MENU_LABELS = ["📝 Register", "🛒 New order", "📦 My orders", "🪙 Tokens", "👤 My profiles", "❓ Help"]
PHOTO = {"kind": "photo", "file_id": "AgAD-photo", "file_unique_id": "u1"}


@pytest.fixture(autouse=True)
def company(monkeypatch):
    monkeypatch.setattr(policy, "_current", policy.Policy(company="Acme & Sons", shop=True))


@pytest.fixture
def zoe(any_db, make_user):
    return make_user(role=None, telegram_id=500, first_name="Zoë", last_name="<Client>")


def inbound():
    return [m.text for m in Message.select().where(Message.direction == "in").order_by(Message.id)]


def test_the_menus_gain_the_shop_only_with_it_on():
    assert chat.menu(None, client_inbox=True) == [
        ("start", "Start the chat"), ("help", "How this chat works"), ("stop", "Stop messages from us")]
    client = [name for name, _ in chat.menu(None, client_inbox=True, shop=True)]
    assert client == ["start", "help", "stop", "register", "order", "orders", "tokens", "buy",
                      "premium", "profiles"]
    for role in ("operator", "admin"):
        assert {"queue", "skip"} <= {name for name, _ in chat.menu(role, shop=True)}
        assert not {"queue", "skip"} & {name for name, _ in chat.menu(role)}
    for role in ("sales", "dispatcher"):
        assert not {"queue", "skip"} & {name for name, _ in chat.menu(role, shop=True)}
    assert chat.menu("sales", shop=True) == chat.menu("sales")
    # Operators fulfil orders: their menu is the queue, not the leads.
    assert [name for name, _ in chat.menu("operator", shop=True)] == [
        "queue", "skip", "notify", "cancel", "help", "start"]
    assert [name for name, _ in chat.menu("operator")] == ["notify", "cancel", "help", "start"]


def test_start_and_help_show_the_shop_menu(zoe):
    answers = writes(zoe, "/start")
    assert [labels(a) for a in answers] == [MENU_LABELS]
    assert "This is the chat with Acme &amp; Sons" in answers[0].text
    assert "/order — New order" in answers[0].text and "/tokens — My tokens" in answers[0].text
    # A client's first command makes them a client, and the welcome greets them once.
    (welcome,) = OutboxMessage.select().where(OutboxMessage.key.startswith("client:"))
    assert welcome.text.startswith("Hi Zoë!")
    assert labels(says(zoe, "/help")) == MENU_LABELS
    assert labels(says(zoe, "/nonsense")) == MENU_LABELS    # a command the shop does not know
    assert OutboxMessage.select().where(OutboxMessage.key.startswith("client:")).count() == 1
    assert inbound() == []     # commands are not messages to the team


def test_with_the_shop_off_a_client_sees_what_they_saw_before(zoe):
    assert writes(zoe, "/start", ctx=CTX) == []          # the welcome, in the conversation
    help_ = says(zoe, "/help", ctx=CTX)
    assert help_.buttons == [] and "/order" not in help_.text
    assert writes(zoe, "/order", ctx=CTX)[-1].text == help_.text
    assert writes(zoe, "hello", ctx=CTX) == [] and inbound() == ["hello"]
    assert presses(zoe, "menu:help", ctx=CTX).text == chat.STRANGER
    assert presses(zoe, "order:cancel", ctx=CTX).text == chat.STRANGER


def test_start_offers_to_continue_an_open_registration(zoe):
    says(zoe, "/register")
    answers = writes(zoe, "/start")
    assert labels(answers[0]) == MENU_LABELS
    assert "Continue your registration?" in answers[1].text
    assert labels(answers[1]) == ["▶️ Continue", "🔄 Start over", "✖️ Cancel"]


def test_text_answers_the_open_registration_and_back_and_cancel_reach_it(zoe):
    first = says(zoe, "/register")
    assert "Step 1/" in first.text and "first name" in first.text
    assert "Step 2/" in says(zoe, "Ann").text
    assert "Step 1/" in says(zoe, "/back").text
    says(zoe, "Ann")
    assert "Step 3/" in says(zoe, "Marie").text
    assert says(zoe, "/cancel").text == "Cancelled. Nothing was saved."
    assert inbound() == [] and registration.WIZARD.get(zoe) is None
    # With no registration open, text is a message to the team again.
    assert writes(zoe, "Where is my order?") == [] and inbound() == ["Where is my order?"]
    assert says(zoe, "/cancel").text == "Nothing to cancel."


def test_text_after_a_registration_idle_for_12_hours_reaches_the_team(zoe):
    says(zoe, "/register")
    says(zoe, "Ann")
    DialogueState.update(updated_at=utcnow() - datetime.timedelta(hours=11)).execute()
    assert "Step 3/" in says(zoe, "Marie").text       # 11 hours: still an answer
    DialogueState.update(updated_at=utcnow() - datetime.timedelta(hours=13)).execute()
    answers = writes(zoe, "Hi, is anyone there? <3")
    assert inbound() == ["Hi, is anyone there? <3"]
    assert [a.text.split("\n")[0] for a in answers] == ["<b>Continue your registration?</b>"]
    state = registration.WIZARD.get(zoe)
    assert state.step == "last_name"                 # the text answered nothing
    assert "Step 3/" in presses(zoe, "reg:continue").text


def test_media_during_a_registration_goes_to_the_team(zoe):
    says(zoe, "/register")
    assert writes(zoe, "my passport", attachments=[PHOTO]) == []
    assert inbound() == ["my passport"] and registration.WIZARD.get(zoe).step == "first_name"


def test_stop_still_stops(zoe):
    says(zoe, "/start")
    assert "no more messages from Acme &amp; Sons" in says(zoe, "/stop").text


@pytest.mark.parametrize("item, expected", [
    ("register", "Step 1/"), ("order", "Register a profile first"), ("orders", "no orders yet"),
    ("tokens", "Your balance: 0 tokens"), ("profiles", "no profiles yet"),
    ("help", "This is the chat with Acme"), ("topup", "our team")])
def test_each_menu_button(zoe, item, expected):
    assert expected in presses(zoe, f"menu:{item}").text


def test_commands_and_menu_buttons_agree(zoe):
    add_profile(zoe)
    for item in ("order", "orders", "tokens", "profiles"):
        assert presses(zoe, f"menu:{item}").text == says(zoe, f"/{item}").text, item


@pytest.mark.parametrize("data", ["stage:1", "leads:0", "today:", "chat:reply:1", "team:1",
                                  "wiz:save", "tpl:1", "op:queue", "op:take:1", "op:reveal:1"])
def test_a_client_pressing_a_team_or_operator_button_is_refused(zoe, data):
    assert presses(zoe, data).text == INVALID


@pytest.mark.parametrize("data", ["menu:help", "order:cancel", "order:1", "orders:0", "rerun:1",
                                  "reg:save"])
def test_a_member_pressing_a_clients_button_is_refused(any_db, make_user, data):
    for role in ("admin", "operator", "sales"):
        assert presses(make_user(role=role), data).text == INVALID


def test_the_operators_buttons_need_the_shop_on(any_db, make_user):
    operator = make_user(role="operator")
    assert presses(operator, "op:queue", ctx=CTX).text == INVALID
    assert "Order queue" in presses(operator, "op:queue").text
    assert "There is no /queue command" in says(operator, "/queue", ctx=CTX).text


FORGED = ["menu:", "menu:shop", "menu:help:1", "order:", "order:x", "order:0", "order:1:2:maybe",
          "order:1:2:yes:12345678", "order:cancel:1", "order:1:2:3:4:5:6", "orders:1:2", "rerun:",
          "rerun:0", "rerun:x", "rerun:1:2:3", "op:", "op:take", "op:fly:1", "op:take:x",
          "op:queue:1", "op:take:0", "order:1\x00", "x" * 65]


@pytest.mark.parametrize("data", FORGED)
def test_forged_shop_buttons_are_no_longer_valid(zoe, make_user, data):
    assert presses(zoe, data).text == INVALID
    assert presses(make_user(role="operator"), data).text == INVALID


def test_odd_values_in_every_shop_command_and_button_get_answers_telegram_accepts(zoe, make_user):
    add_profile(zoe)
    operator = make_user(role="operator")
    for value in SWEEP:
        for name in ("register", "order", "orders", "tokens", "profiles", "back", "cancel"):
            writes(zoe, f"/{name} {value}")
        writes(zoe, value)
        for template in ("menu:{}", "order:{}", "order:1:{}", "order:1:1:{}", "order:1:1:no:{}",
                         "orders:{}", "rerun:{}", "rerun:1:{}"):
            presses(zoe, template.replace("{}", value))
        for template in ("op:{}", "op:take:{}", "op:{}:1"):
            presses(operator, template.replace("{}", value))
        writes(operator, f"/queue {value}")
        writes(operator, f"/skip {value}")


# Words the shop's handlers know, so a fuzzed step also gets past the first check.
TOKENS = ["1", "2", "3", "yes", "no", "cancel", "100", "150", "Ann", "Lee", "US", "CA",
          "register", "order", "orders", "tokens", "profiles", "help", "topup", "queue", "take",
          "open", "reveal", "complete", "note", "release", "save", "edit", "continue"]
SHOP_BUTTONS = ["menu:{}", "order:{}", "order:{}:{}", "order:{}:{}:{}", "order:{}:{}:{}:{}",
                "orders:{}", "rerun:{}", "rerun:{}:{}", "op:{}", "op:{}:{}", "reg:{}", "reg:{}:{}"]
SHOP_COMMANDS = ["start", "help", "register", "order", "orders", "tokens", "profiles", "back",
                 "cancel", "queue", "skip", "stop", "nonsense"]
fuzzed = st.one_of(st.sampled_from(TOKENS), values)
shop_steps = st.lists(st.one_of(
    st.builds(lambda name, args: ("text", f"/{name} {' '.join(args)}"),
              st.sampled_from(SHOP_COMMANDS), st.lists(fuzzed, max_size=2)),
    fuzzed.map(lambda text: ("text", text)),
    filled(SHOP_BUTTONS, fuzzed).map(lambda data: ("button", data))), min_size=1, max_size=5)


def test_fuzzed_shop_steps_from_a_client_and_an_operator_get_answers_telegram_accepts(
        zoe, make_user, request):
    add_profile(zoe)
    fund(zoe, 1000)
    operator = make_user(role="operator")
    examples = {"sqlite": 200, "postgres": 40}[request.node.callspec.params["any_db"]]

    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from([zoe, operator]), shop_steps)
    def always_answers(person, steps):
        for kind, content in steps:
            if kind == "text":
                writes(person, content)
            else:
                presses(person, content)

    always_answers()
