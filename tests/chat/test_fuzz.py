"""Fuzzing services.chat, the bot's conversation: every command with odd arguments and
every kind of button with forged data, from a stranger, a salesperson, a dispatcher
and an admin, always answers with Replies Telegram accepts (no exception)."""
import itertools

from hypothesis import HealthCheck, given, settings, strategies as st

from devtools.telegram_formatting import parse
from models import User
from services.chat import router as chat
from services.chat.inbox import Incoming
from services.chat.replies import Reply
from tests.chat.helpers import CTX, HOUR, NOW, make_lead, plan
from tests.fuzz_values import SWEEP, filled, values

ROLES = [None, "sales", "dispatcher", "admin"]
# Words the handlers know, so a fuzzed dialogue also gets past the first check.
TOKENS = ["1", "2", "3", "#1", "rr", "lead", "sales", "admin", "new", "contacted",
          "qualified", "transferred", "lost", "kyc", "successful", "callback_requested", "call",
          "note", "type", "when", "outcome", "now", "1h", "tomorrow", "3d", "save", "edit",
          "cancel", "email", "country", "role", "remove", "back", "on", "off", "referral",
          "ann@example.com", "+44 20 7946 0958", "gb", "2026-12-02 10:00", "reply", "open",
          "take", "ask", "welcome", "quote_followup"]
fields = st.one_of(st.sampled_from(TOKENS), values)
COMMANDS = [*chat.COMMANDS, *chat.ALIASES, "nonsense"]
commands = st.builds(lambda name, mention, args: f"/{name}{mention} {' '.join(args)}",
                     st.sampled_from(COMMANDS), st.sampled_from(["", "@leadgram_bot", "@other_bot"]),
                     st.lists(fields, max_size=3))
# Every prefix chat.on_button knows, with the fields its buttons carry, and more.
BUTTONS = ["wiz:{}", "wiz:edit:{}", "leads:{}", "stage:{}", "stage:{}:{}:{}:{}", "score:{}",
           "assign:{}", "assign:{}:{}", "today:{}", "done:{}", "done:{}:{}", "log:lead:{}",
           "log:type:{}", "log:when:{}", "log:outcome:{}", "team:{}", "team:{}:role:{}",
           "team:{}:{}", "team:{}:remove:{}", "lead:{}:{}", "chat:{}:{}", "chats:{}", "tpl:{}",
           "{}", "{}:{}"]
steps = st.lists(st.one_of(commands.map(lambda text: ("text", text)),
                           fields.map(lambda text: ("text", text)),  # a dialogue's answer
                           filled(BUTTONS, fields).map(lambda data: ("button", data))),
                 min_size=1, max_size=4)
EXAMPLES = {"sqlite": 400, "postgres": 80}
ATTACHMENTS = st.lists(st.fixed_dictionaries(
    {"kind": st.sampled_from(["photo", "document", "voice", "sticker", "location", "contact",
                              "nonsense"])},
    optional={"file_id": values, "file_name": values, "file_size": st.integers(-1, 2**63),
              "latitude": st.floats(allow_nan=True), "phone_number": values,
              "emoji": values}), max_size=2)
messages = st.builds(lambda text, items, reply_to: Incoming(message_id=1, text=text,
                                                            attachments=items,
                                                            reply_to_message_id=reply_to),
                     st.one_of(st.none(), commands, fields), ATTACHMENTS,
                     st.one_of(st.none(), st.integers(-1, 2**63)))


def telegram_accepts(replies, may_be_silent=False):
    """What sendMessage and inline keyboards would refuse: bad HTML, empty text or labels,
    callback data over 64 bytes. A client's message may get no answer (it goes to the team)."""
    assert (replies or may_be_silent) and all(isinstance(a, Reply) for a in replies), replies
    for answer in replies:
        assert answer.text.strip(), answer
        parse(answer.text, "HTML")  # raises what Telegram's "can't parse entities" would say
        for row in answer.buttons:
            for label, data in row:
                assert label.strip() and 0 < len(data.encode()) <= 64, (label, data)


def _team(make_user):
    """One person per role, two leads, an activity: fuzzed ids like 1 and 2 are real."""
    people = {role: make_user(role=role) for role in ROLES}
    for n, owner in enumerate((people["sales"], people["admin"]), 1):
        lead = make_lead(owner, n)
        plan(owner, lead, f"Call {n}", NOW + HOUR)
    return people


def test_an_odd_value_in_every_command_and_button_gets_replies_telegram_accepts(any_db, make_user):
    """Each SWEEP value as every command's argument and in every field of every button."""
    people = _team(make_user)
    for role, value in itertools.product(ROLES, SWEEP):
        for name in COMMANDS:
            telegram_accepts(chat.on_text(CTX, User.get_by_id(people[role].id), f"/{name} {value}"))
        for template in BUTTONS:
            telegram_accepts(chat.on_button(CTX, User.get_by_id(people[role].id),
                                            template.replace("{}", value)))


def test_fuzzed_commands_and_buttons_always_get_replies_telegram_accepts(any_db, make_user, request):
    people = _team(make_user)

    @settings(max_examples=EXAMPLES[request.node.callspec.params["any_db"]], deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(ROLES), steps)
    def always_replies(role, dialogue):
        for kind, content in dialogue:
            user = User.get_by_id(people[role].id)  # a step may change their role
            handle = chat.on_text if kind == "text" else chat.on_button
            telegram_accepts(handle(CTX, user, content))

    always_replies()


def test_fuzzed_messages_with_media_from_anyone_never_fail(any_db, make_user, request):
    """Clients (role None) and members send any text, caption, attachments and reply ids."""
    people = _team(make_user)

    @settings(max_examples=EXAMPLES[request.node.callspec.params["any_db"]] // 2, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(ROLES), st.lists(messages, min_size=1, max_size=3))
    def always_handled(role, sent):
        for incoming in sent:
            user = User.get_by_id(people[role].id)
            telegram_accepts(chat.on_message(CTX, user, incoming, user.telegram_id),
                             may_be_silent=not user.is_team)

    always_handled()
