"""Fuzzing the shop in chat (SHOP on, issue 12) through the router, as the bot calls it:
a client's text in every state (no dialogue, each step of a new or an edited profile's
registration, one left idle), an operator's or admin's text while the order note is
asked for, and button data of every shape of the shop's kinds ("menu", "order",
"orders", "rerun", "op", "reg") from clients, operators, admins, dispatchers and
salespeople, with roles changing in between. Always Replies Telegram accepts, never an
exception; nothing written is lost, the ledger adds up and a client never sees another
customer. Runs on SQLite and Postgres (any_db).

test_shop_client.py fuzzes a client's and an operator's commands and hand-written button
templates, test_registration.py the registration's handlers called directly; these go
through chat.on_message and chat.on_button, with data built from the buttons'
declarations (services.chat.buttons.KINDS), so a new shape is fuzzed as soon as it is
declared."""
import datetime
import itertools

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from models import DialogueState, LedgerEntry, Message, Order, Package, User, utcnow
from services.chat import (
    buttons,
    queue,
    registration,
    registration_steps as steps,
    router as chat,
    shop as chat_shop,
)
from services.chat.buttons import Choice, Id, IdOr, Page, Word
from services.chat.inbox import Incoming
from services.core.actors import Actor
from services.core.inputs import MAX_PAGE, plain_text
from services.shop import orders, profiles, wallet
from services.shop.default_catalogue import DEFAULT_PACKAGES, EMAIL_CONFIRMATION_PRICES
from tests.chat.shop_helpers import SHOP, accepted, add_profile, fund, lead_of
from tests.chat.test_fuzz import ATTACHMENTS
from tests.chat.test_registration import ALL_STEPS, ANSWERS
from tests.fuzz_values import SWEEP, values

WIZARD = registration.WIZARD
SHOP_KINDS = sorted(chat.SHOP_KINDS)
PEOPLE = ["zoe", "otto", "operator", "admin", "dispatcher", "sales"]
OTTO = "Ottokar"  # in Otto's name and his profile's: what Zoë must never be shown
MARKUP = "<script>x</script>"
_message_ids = itertools.count(1)
odd = st.one_of(st.sampled_from([*SWEEP, MARKUP]), values)
# Values a button's part takes when the buttons are real, so a press gets past decode():
# ids of records that are there (some another customer's) and not, pages, prices.
PRICES = sorted({str(p) for row in DEFAULT_PACKAGES for p in row[1:]}
                | {str(p) for p in EMAIL_CONFIRMATION_PRICES} | {"0", "130", "9999999"})


def _part(field):
    if isinstance(field, Choice):
        good = st.sampled_from(field.choices)
    elif isinstance(field, (Id, IdOr)):
        good = st.integers(1, 9).map(str)
    elif isinstance(field, Page):
        good = st.one_of(st.integers(0, 3), st.just(MAX_PAGE)).map(str)
    else:
        assert isinstance(field, Word), field
        good = st.sampled_from(PRICES)
    return st.integers(0, 3).flatmap(lambda n: good if n else odd)  # 3 in 4 good


def shaped(kind):
    """Data of one of `kind`'s shapes, its parts mostly values the shape takes."""
    return st.sampled_from(buttons.KINDS[kind]).flatmap(lambda shape: st.tuples(
        *map(_part, shape)).map(lambda parts: ":".join((kind, *parts))))


button_data = st.one_of(*map(shaped, SHOP_KINDS), st.builds(
    lambda kind, rest: f"{kind}:{rest}", st.sampled_from(SHOP_KINDS), odd))
SHOP_COMMANDS = ["start", "help", "register", "order", "orders", "tokens", "profiles", "back",
                 "cancel", "queue", "skip", "stop", "chats", "leads", "nonsense"]
texts = st.one_of(odd, st.text(max_size=300), st.builds(
    lambda name, args: f"/{name} {args}".strip(), st.sampled_from(SHOP_COMMANDS),
    st.sampled_from(["", "1", "x", "\x00"])))


def fresh(user):
    return User.get_by_id(user.id)


def writes(user, text, attachments=()):
    """Every answer to `text` (and media) sent in private, each one Telegram accepts."""
    incoming = Incoming(message_id=next(_message_ids), text=text, attachments=list(attachments))
    user = fresh(user)
    return [accepted(a) for a in chat.on_message(SHOP, user, incoming, user.telegram_id)]


def presses(user, data):
    answers = chat.on_button(SHOP, fresh(user), data, next(_message_ids))
    assert len(answers) == 1, answers
    return [accepted(a) for a in answers]


@pytest.fixture
def world(any_db, data_key, make_user):
    """Two clients with tokens and profiles (Zoë's 1 and 2, Otto's 3), orders of theirs
    in every status (Zoë's 1 to 8, Otto's 9 to 12; 2 is Zoë's, taken by the operator),
    and one person of each team role: small ids name real records, some another
    customer's."""
    people = {"zoe": make_user(role=None, first_name="Zoë", last_name="<Client>", username="zoe_z"),
              "otto": make_user(role=None, first_name=OTTO),
              "operator": make_user(role="operator", first_name="Olga"),
              "admin": make_user(role="admin", first_name="Ada"),
              "dispatcher": make_user(role="dispatcher", first_name="Dan"),
              "sales": make_user(role="sales", first_name="Sam")}
    zoe, otto = people["zoe"], people["otto"]
    for client in (zoe, otto):
        fund(client, 5000)
    mine = [add_profile(zoe), add_profile(zoe, first_name="Bea", password="s3cret<&>Pass")]
    theirs = add_profile(otto, first_name=OTTO, last_name=OTTO)
    wallet.set_premium(Actor.panel(), lead_of(otto).id, utcnow() + datetime.timedelta(days=30))
    operator = Actor.member(people["operator"])
    for client, profile in ((zoe, mine[0]), (zoe, mine[1]), (otto, theirs)):
        placed = [_place(client, profile) for _ in range(4)]   # pending, assigned, completed, cancelled
        for order in placed[1:3]:
            orders.take(operator, order.id)
        orders.complete(operator, placed[2].id)
        orders.cancel(Actor.panel(), placed[3].id)
    return people


def _place(client, profile):
    package = Package.get(Package.code == "sites_100")
    return orders.place(Actor.client(client), lead_of(client).id, profile.id, package.id)


def _all_is_well():
    """The ledger adds up, each order was paid once (refunded once when cancelled), and
    each is for a profile of its own customer."""
    assert wallet.problems() == []
    for order in Order.select():
        paid = sum(e.amount for e in LedgerEntry.select().where(LedgerEntry.order == order.id))
        assert paid == (0 if order.status == "cancelled" else -order.price), order.id
        assert order.profile.lead_id == order.lead_id, order.id


# A client's text in every state ------------------------------------------------------------

# (whose values, step): a new profile's registration at each step, an edited profile's at
# its summary and each field, one left idle past shop.IDLE, and none.
STATES = ([None, ("idle", steps.CONFIRM)] + [("new", step) for step in ALL_STEPS]
          + [("edit", step) for step in ALL_STEPS if step == steps.CONFIRM or step.startswith(steps.EDIT)])


def _put(user, state, country="US"):
    """`user`'s registration as `state` has it."""
    WIZARD.end(user)
    if state is None:
        return
    whose, step = state
    if whose == "edit":
        profile = profiles.of_customer(lead_of(user).id)[0]
        answers = steps.values_of(profile, user.username)
    else:
        answers = {**ANSWERS, "country": country, **({} if country == "US" else
                                                      {"state": None, "postal_code": None})}
    before = steps.STEPS if step == steps.CONFIRM or step.startswith(steps.EDIT) else \
        steps.STEPS[:steps.STEPS.index(step)]
    kept = {key: value for key, value in answers.items() if key not in steps.STEPS or key in before}
    WIZARD.go(fresh(user), step, {"username": user.username, **kept})
    if whose == "idle":
        DialogueState.update(updated_at=utcnow() - datetime.timedelta(hours=13)).where(
            DialogueState.user == user.id).execute()


def _state(user):
    """Where `user`'s registration is now: None, or ("idle" or "new", its step)."""
    conversation = WIZARD.get(fresh(user))
    if conversation is None:
        return None
    idle = utcnow() - conversation.updated_at > chat_shop.IDLE
    return ("idle" if idle else "new", conversation.step)


def _inbound():
    return Message.select().where(Message.direction == "in").order_by(Message.id.desc()).first()


def _client_writes(zoe, text, attachments=()):
    """Zoë writes `text` (a caption, with `attachments`): answers Telegram accepts, and
    her text either answers the registration or reaches the team, stored as she wrote
    it; media always reaches the team."""
    state, before = _state(zoe), _inbound()
    answers = writes(zoe, text, attachments)
    command, args = chat.parse_command(plain_text(text).strip(), SHOP.bot_username)
    if command is not None or not (args or attachments):
        return
    last = _inbound()
    reached_team = last is not None and last.id != (before.id if before else None)
    if state is None or state[0] == "idle" or attachments:
        assert reached_team and (last.text == plain_text(text) or not args), (state, text)
    else:
        assert not reached_team and len(answers) == 1, (state, text, answers)


def test_an_odd_text_in_every_state_of_a_client(world):
    zoe = world["zoe"]
    for state, text in itertools.product(STATES, [*SWEEP, MARKUP, "Ann", "/back", "/cancel"]):
        _put(zoe, state)
        _client_writes(zoe, text)
    _all_is_well()


def test_fuzzed_text_in_every_state_of_a_client(world, request):
    zoe = world["zoe"]

    @settings(max_examples={"sqlite": 200, "postgres": 50}[request.node.callspec.params["any_db"]],
              deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(STATES), st.sampled_from(["US", "GB", "DE", "HK"]),
           st.lists(st.tuples(texts, st.one_of(st.just([]), ATTACHMENTS)), min_size=1, max_size=3))
    def answered(state, country, sent):
        _put(zoe, state, country)
        for text, attachments in sent:
            _client_writes(zoe, text, attachments)

    answered()
    _all_is_well()


# The order note an operator or admin is asked for -------------------------------------------

def _asked_for_a_note(member, order, action):
    """`member` has pressed Complete or Add note on `order`, given back to the operator."""
    DialogueState.delete().where(DialogueState.user == member.id).execute()
    Order.update(status="assigned", operator=order.operator_id, completed_at=None).where(
        Order.id == order.id).execute()
    answer = presses(member, f"op:{action}:{order.id}")[0]
    assert queue.NOTE.get(fresh(member)) is not None, answer.text


def _note_written(member, order, action, text):
    before = Order.get_by_id(order.id).notes
    writes(member, text)
    after = Order.get_by_id(order.id)
    command, _ = chat.parse_command(plain_text(text).strip(), SHOP.bot_username)
    note = plain_text(text).strip()
    if command is not None:
        return
    if 1 <= len(note) <= orders.MAX_NOTE:
        assert after.notes.startswith(before) and after.notes.endswith(f": {note}\n"), text
        assert queue.NOTE.get(fresh(member)) is None
        assert after.status == ("completed" if action == "complete" else "assigned")
    else:
        assert after.notes == before and queue.NOTE.get(fresh(member)) is not None, text


@pytest.mark.parametrize("who", ["operator", "admin"])
def test_an_odd_text_for_an_order_note(world, who):
    member, order = world[who], Order.get_by_id(2)  # Zoë's, the operator's
    for action, text in itertools.product(("complete", "note"), [*SWEEP, MARKUP, " ", "x" * 2001]):
        _asked_for_a_note(member, order, action)
        _note_written(member, order, action, text)
    _all_is_well()


def test_fuzzed_text_for_an_order_note(world, request):
    order = Order.get_by_id(2)

    @settings(max_examples={"sqlite": 100, "postgres": 25}[request.node.callspec.params["any_db"]],
              deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(["operator", "admin"]), st.sampled_from(["complete", "note"]),
           st.lists(texts, min_size=1, max_size=3))
    def kept_or_asked_again(who, action, sent):
        _asked_for_a_note(world[who], order, action)
        for text in sent:
            if queue.NOTE.get(fresh(world[who])) is None:
                writes(world[who], text)
            else:
                _note_written(world[who], order, action, text)

    kept_or_asked_again()
    _all_is_well()


# Buttons, from everyone ----------------------------------------------------------------------

def _seen_by_zoe(answers, zoe):
    if fresh(zoe).role is None:  # on the team she might see everyone
        assert not any(OTTO in answer.text or OTTO in str(answer.buttons) for answer in answers), answers


def test_an_odd_value_in_every_part_of_every_shop_button(world):
    """Each SWEEP value (and markup) in each part of each shape of the shop's kinds,
    pressed by everyone."""
    data = [":".join((kind, *(value if n == i else _good(part) for n, part in enumerate(shape))))
            for kind in SHOP_KINDS for shape in buttons.KINDS[kind] for i in range(len(shape))
            for value in [*SWEEP, MARKUP]]
    for who, pressed in itertools.product(PEOPLE, data):
        answers = presses(world[who], pressed)
        if who == "zoe":
            _seen_by_zoe(answers, world["zoe"])
    _all_is_well()


def _good(part):
    return {Choice: lambda: part.choices[0], Page: lambda: "1", Word: lambda: "100"}.get(
        type(part), lambda: "1")()


steps_of_anyone = st.lists(st.tuples(st.sampled_from(PEOPLE), st.one_of(
    button_data.map(lambda data: ("button", data)),
    texts.map(lambda text: ("text", text)),
    st.sampled_from([None, "sales", "dispatcher", "operator", "admin"]).map(lambda role: ("role", role)))),
    min_size=1, max_size=6)


def test_fuzzed_buttons_and_text_from_everyone(world, request):
    """Anyone presses any shop button and writes anything, roles changing meanwhile (a
    client joins the team, an operator leaves it): answers Telegram accepts, and the
    ledger, the orders and Zoë's privacy hold."""
    roles = {who: world[who].role for who in PEOPLE}

    @settings(max_examples={"sqlite": 300, "postgres": 60}[request.node.callspec.params["any_db"]],
              deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(steps_of_anyone)
    def always_answers(sequence):
        for who, (kind, content) in sequence:
            person = world[who]
            if kind == "role":
                User.update(role=content).where(User.id == person.id).execute()
            else:
                answers = presses(person, content) if kind == "button" else writes(person, content)
                if who == "zoe":
                    _seen_by_zoe(answers, world["zoe"])
        for who, role in roles.items():
            User.update(role=role).where(User.id == world[who].id).execute()
        _all_is_well()

    always_answers()
