"""Button data (services.chat.buttons) and the dialogues' /back and /cancel
(services.chat.dialogues.Dialogue), shared by the /createLead wizard and /log."""
import pytest
from hypothesis import given, settings, strategies as st

from services.chat import activities, buttons, lead_wizard, router as chat
from services.chat.buttons import ButtonError, Choice, Id, IdOr, Page, Word
from services.core.inputs import MAX_ID, MAX_PAGE
from tests.fuzz_values import SWEEP, values

SHAPES = [(kind, shape) for kind, shapes in buttons.KINDS.items() for shape in shapes]
SHAPE_IDS = [f"{kind}:{':'.join(part.name for part in shape)}" for kind, shape in SHAPES]
WORD_CHARACTERS = [chr(c) for c in range(0x21, 0x7F) if chr(c) != ":"]


def _strategy(part):
    if isinstance(part, IdOr):
        return st.one_of(st.integers(1, MAX_ID), st.sampled_from(part.words))
    if isinstance(part, Id):
        return st.integers(1, MAX_ID)
    if isinstance(part, Choice):
        return st.sampled_from(part.choices)
    if isinstance(part, Page):
        return st.integers(0, MAX_PAGE)
    if isinstance(part, Word):
        return st.text(st.sampled_from(WORD_CHARACTERS), min_size=1, max_size=part.width)
    raise AssertionError(f"no strategy for {part!r}")


def _widest(part):
    """The value of `part` that takes the most bytes."""
    if isinstance(part, IdOr):
        return max([MAX_ID, *part.words], key=lambda v: len(str(v)))
    if isinstance(part, Id):
        return MAX_ID
    if isinstance(part, Choice):
        return max(part.choices, key=len)
    if isinstance(part, Page):
        return MAX_PAGE
    return "x" * part.width


# The codec --------------------------------------------------------------------------

@pytest.mark.parametrize("kind, shape", SHAPES, ids=SHAPE_IDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_every_kind_round_trips_and_fits_in_64_bytes(kind, shape, data):
    fields = {part.name: data.draw(_strategy(part), label=part.name) for part in shape}
    encoded = buttons.encode(kind, **fields)
    assert len(encoded.encode()) <= buttons.MAX_BYTES
    assert buttons.decode(encoded) == (kind, fields)


@pytest.mark.parametrize("kind, shape", SHAPES, ids=SHAPE_IDS)
def test_the_widest_values_of_every_shape_still_fit(kind, shape):
    encoded = buttons.encode(kind, **{part.name: _widest(part) for part in shape})
    assert len(encoded.encode()) <= 64, encoded


# What buttons already in people's chats carry: this must keep decoding, to the same data.
WIRE = {
    "stage:12": ("stage", {"lead_id": 12}),
    "stage:12:lead:new:contacted": ("stage", {"lead_id": 12, "offered_in": "lead",
                                              "offered_from": "new", "to": "contacted"}),
    "stage:12:sales:agreement:paid": ("stage", {"lead_id": 12, "offered_in": "sales",
                                                "offered_from": "agreement", "to": "paid"}),
    "score:12": ("score", {"lead_id": 12}),
    "assign:12": ("assign", {"lead_id": 12}),
    "assign:12:7": ("assign", {"lead_id": 12, "member": 7}),
    "assign:12:rr": ("assign", {"lead_id": 12, "member": "rr"}),
    "today:": ("today", {}),
    "done:5": ("done", {"activity_id": 5}),
    "done:5:callback_requested": ("done", {"activity_id": 5, "outcome": "callback_requested"}),
    "log:lead:12": ("log", {"step": "lead", "lead_id": 12}),
    "log:type:quote_sent": ("log", {"step": "type", "choice": "quote_sent"}),
    "log:when:tomorrow": ("log", {"step": "when", "choice": "tomorrow"}),
    "log:outcome:no_answer": ("log", {"step": "outcome", "choice": "no_answer"}),
    "team:3": ("team", {"member_id": 3}),
    "team:3:role:dispatcher": ("team", {"member_id": 3, "action": "role", "role": "dispatcher"}),
    "team:3:remove": ("team", {"member_id": 3, "action": "remove"}),
    "team:3:back": ("team", {"member_id": 3, "action": "back"}),
    "wiz:save": ("wiz", {"action": "save"}),
    "wiz:edit": ("wiz", {"action": "edit"}),
    "wiz:cancel": ("wiz", {"action": "cancel"}),
    "wiz:edit:first_name": ("wiz", {"action": "edit", "field": "first_name"}),
    "leads:2": ("leads", {"page": 2}),
}


@pytest.mark.parametrize("data", WIRE)
def test_the_wire_format_is_the_one_already_sent(data):
    kind, fields = WIRE[data]
    assert buttons.decode(data) == (kind, fields)
    assert buttons.encode(kind, **fields) == data


def test_the_buttons_the_bot_builds_decode():
    built = [lead_wizard.SUMMARY_BUTTONS, activities.TYPE_BUTTONS, activities.WHEN_BUTTONS,
             [activities.TODAY_BUTTON]]
    for rows in built:
        for _, data in (button for row in rows for button in row):
            assert buttons.decode(data) is not None, data


FORGED = [
    "", ":", "::", "zzz", "gone:1", "STAGE:1", " stage:1", "stage", "today", "today:x", "today::",
    # ids: not ASCII digits, not canonical, out of range
    "stage:", "stage:x", "stage:²", "stage:٣", "stage:𝟙", "stage:０", f"stage:{2**63}", "stage:0",
    "stage:-1", "stage:+1", "stage: 1", "stage:1 ", "stage:01", "stage:1.0", "stage:1e3",
    "stage:" + "9" * 25, "team:²", "team:²:role:sales", f"team:{2**63}:remove", "done:²",
    "assign:²:rr", "assign:1:²", "log:lead:²", "score:٣",
    # too few or too many parts, empty parts
    "stage:1:lead", "stage:1:lead:new", "stage:1:lead:new:contacted:x", "stage:1:lead:new:",
    "done:", "done:1:", "done:1:successful:x", "team:1:role", "team:1:remove:x", "team:1:",
    "wiz:", "wiz:save:1", "wiz:edit:", "leads:1:2", "leads:", "log:", "log:type", "log:type:call:x",
    "assign:1:2:3", "score:1:2",
    # values outside their sets
    "stage:1:crm:new:contacted", "stage:1:lead:nowhere:contacted", "stage:1:lead:new:x y",
    "stage:1:lead:new:contacted-and-then-some", "stage:1:lead:new:é", "done:1:won",
    "done:1:SUCCESSFUL", "team:1:role:god", "team:1:fire", "wiz:edit:nope", "wiz:delete",
    "log:type:dance", "log:when:later", "log:outcome:won", "log:nothing:1", "log:lead:x",
    "assign:1:nobody", "assign:1:RR",
    # NUL, too long for Telegram, lone surrogates
    "\x00", "stage:1\x00", "\x00stage:1", "today:\x00", "wiz:save\x00", "stage:1" + ":x" * 30,
    "leads:" + "1" * 60, "stage:\ud800", "team:\udfff",
]


@pytest.mark.parametrize("data", FORGED)
def test_forged_malformed_or_outdated_data_decodes_to_none(data):
    assert buttons.decode(data) is None


@pytest.mark.parametrize("data", [None, b"stage:1", 1, ["stage", 1]])
def test_data_that_is_not_text_decodes_to_none(data):
    assert buttons.decode(data) is None


WITH_IDS = [(shape_id, kind, shape) for (kind, shape), shape_id in zip(SHAPES, SHAPE_IDS)
            if any(isinstance(part, Id) for part in shape)]


@pytest.mark.parametrize("kind, shape", [(kind, shape) for _, kind, shape in WITH_IDS],
                         ids=[shape_id for shape_id, _, _ in WITH_IDS])
def test_an_id_field_holding_anything_but_an_id_decodes_to_none(kind, shape):
    for position, part in enumerate(shape):
        if not isinstance(part, Id):
            continue
        for odd in [*SWEEP, "0", "", "007", " 1", "1 ", str(MAX_ID + 1)]:
            parts = [odd if i == position else str(_widest(p)) for i, p in enumerate(shape)]
            assert buttons.decode(f"{kind}:{':'.join(parts)}") is None, (odd, parts)


@pytest.mark.parametrize("page", ["²", "٣", "-1", "9" * 30, "abc", "1.5"])
def test_a_page_that_is_no_page_is_the_first_one(page):
    """The one lenient field: forged or outdated page buttons have always shown page 1
    (tests/chat/test_router.py relies on it)."""
    assert buttons.decode(f"leads:{page}") == ("leads", {"page": 0})


TEMPLATES = ["{}", "{}:{}", "stage:{}", "stage:{}:{}:{}:{}", "done:{}:{}", "assign:{}:{}", "team:{}:{}",
             "team:{}:role:{}", "team:{}:remove:{}", "lead:{}:{}", "log:{}:{}", "wiz:{}",
             "wiz:edit:{}", "today:{}", "score:{}"]
parts = st.one_of(values, st.sampled_from(["1", "12", "rr", "lead", "sales", "new", "contacted",
                                           "role", "admin", "remove", "back", "edit", "email",
                                           "type", "call", "when", "1h", "outcome", "successful",
                                           "open", "take", "ask"]))


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(TEMPLATES).flatmap(lambda template: st.lists(
    parts, min_size=template.count("{}"), max_size=template.count("{}")).map(
    lambda fill: template.format(*fill))))
def test_whatever_decodes_is_exactly_what_encode_builds(data):
    """Anything forged either decodes to None or is byte for byte a button the bot could
    have sent: no second spelling of the same button gets through."""
    pressed = buttons.decode(data)
    if pressed is not None:
        kind, fields = pressed
        assert buttons.encode(kind, **fields) == data


@pytest.mark.parametrize("kind, fields", [
    ("nope", {}),
    ("stage", {}),
    ("stage", {"lead_id": 1, "extra": 2}),
    ("stage", {"lead_id": "1"}),                 # ids are ints
    ("stage", {"lead_id": True}),
    ("stage", {"lead_id": 0}),
    ("stage", {"lead_id": MAX_ID + 1}),
    ("stage", {"lead_id": 1, "offered_in": "lead", "offered_from": "new"}),
    ("stage", {"lead_id": 1, "offered_in": "lead", "offered_from": "new", "to": "a:b"}),
    ("stage", {"lead_id": 1, "offered_in": "lead", "offered_from": "new", "to": "x" * 40}),
    ("done", {"activity_id": 1, "outcome": "won"}),
    ("assign", {"lead_id": 1, "member": "round_robin"}),
    ("team", {"member_id": 1, "action": "role"}),
    ("team", {"member_id": 1, "action": "role", "role": "king"}),
    ("log", {"step": "when", "choice": "call"}),
    ("wiz", {"action": "edit", "field": "nope"}),
    ("leads", {"page": -1}),
    ("leads", {"page": MAX_PAGE + 1}),
    ("today", {"page": 1}),
])
def test_building_a_button_its_kind_does_not_take_raises(kind, fields):
    with pytest.raises(ButtonError):
        buttons.encode(kind, **fields)


def test_declaring_a_shape_that_may_not_fit_in_64_bytes_raises():
    with pytest.raises(ButtonError, match="over 64"):
        buttons._declare({"four": ((Id("a"), Id("b"), Id("c"), Id("d")),)})
    with pytest.raises(ButtonError, match="named twice"):
        buttons._declare({"pair": ((Id("a"), Id("a")),)})
    with pytest.raises(ButtonError):
        Choice("bad", ["a:b"])


def test_every_kind_has_a_handler_in_the_router():
    assert chat._BUTTONS.keys() == buttons.KINDS.keys()


# Dialogues: /back and /cancel, written once --------------------------------------------
