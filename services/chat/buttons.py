"""Button (callback) data: every kind of button the bot sends, declared once.

Telegram gives a pressed button's data back as it was sent, at most 64 bytes, and
anyone can forge it. The data is "<kind>:<part>:<part>…". Each kind lists the shapes
its data takes (several when it has optional parts: "done:<id>" asks the outcome,
"done:<id>:<outcome>" completes). Each part is a typed field: an id read with
services.core.inputs.parse_id, one of a fixed set of choices (a single choice is a
literal word such as "role"), a page number, or a short word.

    encode("done", activity_id=12, outcome="successful")  -> "done:12:successful"
    decode("done:12:successful") -> ("done", {"activity_id": 12, "outcome": "successful"})
    decode("done:12:won")        -> None: forged, outdated or malformed

Buttons already in people's chats carry this format, so a shape is never changed,
only added. Each shape is checked when it is declared: its longest data has to fit
in 64 bytes. encode() raises ButtonError for values its kind does not take.
"""
import re
from abc import ABC, abstractmethod

from models import GENDERS, LEAD_STAGES, OUTCOMES, ROLES, SALES_STAGES
from services.core.inputs import MAX_ID, MAX_PAGE, parse_id, parse_page
from services.crm.activities import LOGGABLE_TYPES
from services.crm.leads import FIELDS as LEAD_FIELDS
from services.shop.profiles import FIELDS as PROFILE_FIELDS, US_STATES

MAX_BYTES = 64            # Telegram refuses longer callback data
ROUND_ROBIN = "rr"        # assign:<lead id>:rr gives the lead to the next salesperson
LOG_WHEN = ("now", "1h", "tomorrow", "3d")
PIPELINES = ("lead", "sales")
STAGES = tuple(dict.fromkeys(LEAD_STAGES + SALES_STAGES))
NO_LONGER_VALID = "That button is no longer valid."
# The shop: a client's menu under /start and /help, and what an operator does with an order.
MENU_ITEMS = ("register", "order", "orders", "tokens", "profiles", "help", "topup", "premium")
ORDER_ACTIONS = ("take", "open", "reveal", "complete", "note", "release")
# A price a Confirm button carries: a package and its add-on cost at most 2,000,000 tokens
# (services/shop/catalogue.MAX_PRICE each). A Word, so the handler reads the number itself.
PRICE_WIDTH = 7


class ButtonError(ValueError):
    """A button built with values its kind does not take (a programming error)."""


class Field(ABC):
    """One part of the data. `read` gives its value from the text, or None."""
    width = 0             # the most bytes the part takes

    def __init__(self, name):
        self.name = name

    @abstractmethod
    def read(self, text):
        """The value `text` holds, or None when it holds none this field takes."""

    def write(self, value):
        """The text for `value`, or None when this field does not take it."""
        text = str(value) if type(value) is int else value
        if not isinstance(text, str) or ":" in text or self.read(text) != value:
            return None
        return text

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r})"


class Id(Field):
    """A record id, only as encode() writes it: ASCII digits, no sign, spaces or zeros
    in front ("²", "٣", "007" and 2**63 are not ids)."""
    width = len(str(MAX_ID))

    def read(self, text):
        number = parse_id(text)
        return number if number is not None and str(number) == text else None


class Choice(Field):
    """One of a fixed set of words; a set of one is a literal ("role" in team:<id>:role:<role>)."""

    def __init__(self, name, choices):
        super().__init__(name)
        self.choices = tuple(choices)
        if not self.choices or any(not c or ":" in c or not c.isascii() for c in self.choices):
            raise ButtonError(f"{name}: choices are non-empty ASCII words without ':'")
        self.width = max(len(c) for c in self.choices)

    def read(self, text):
        return text if text in self.choices else None


class IdOr(Id):
    """An id, or one of a few words (assign:<lead>:rr)."""

    def __init__(self, name, words):
        super().__init__(name)
        self.words = tuple(words)
        self.width = max([Id.width] + [len(w) for w in self.words])

    def read(self, text):
        return text if text in self.words else super().read(text)


class Page(Field):
    """A 0-based page. Text that is no page reads as the first one: a forged or
    outdated page button has always shown the first page."""
    width = len(str(MAX_PAGE))

    def read(self, text):
        page = parse_page(text)
        return 0 if page is None else page


class Word(Field):
    """Up to `width` printable ASCII characters, for a value the handler checks itself
    (a stage to move to: the pipeline says why a lead cannot move there)."""
    _PRINTABLE = re.compile(r"[!-9;-~]+")   # ASCII without space and ':'

    def __init__(self, name, width):
        super().__init__(name)
        self.width = width

    def read(self, text):
        return text if len(text) <= self.width and self._PRINTABLE.fullmatch(text) else None


def _declare(kinds):
    for kind, shapes in kinds.items():
        for shape in shapes:
            names = [part.name for part in shape]
            if len(set(names)) != len(names):
                raise ButtonError(f"{kind}: a field named twice in {shape}")
            longest = len(kind) + 1 + sum(part.width for part in shape) + max(len(shape) - 1, 0)
            if longest > MAX_BYTES:
                raise ButtonError(f"{kind}: {shape} may take {longest} bytes, over {MAX_BYTES}")
    return kinds


# kind -> the shapes its data takes after "<kind>:", tried in order.
KINDS = _declare({
    # /lead's "Stage…" shows the choices; each choice carries where the lead was when
    # it was offered, so a press after the lead moved on shows the new choices instead.
    "stage": ((Id("lead_id"),),
              (Id("lead_id"), Choice("offered_in", PIPELINES), Choice("offered_from", STAGES),
               Word("to", max(len(stage) for stage in STAGES)))),
    "score": ((Id("lead_id"),),),
    # "assign:<lead>" shows the team; "assign:<lead>:<member id>|rr" gives the lead away.
    "assign": ((Id("lead_id"),),
               (Id("lead_id"), IdOr("member", [ROUND_ROBIN]))),
    "today": ((),),                                  # "today:"
    # "done:<activity>" asks how it went; "done:<activity>:<outcome>" completes it.
    "done": ((Id("activity_id"),),
             (Id("activity_id"), Choice("outcome", OUTCOMES))),
    # The /log dialogue: "log:lead:<id>" starts it, the others answer its questions.
    "log": ((Choice("step", ["lead"]), Id("lead_id")),
            (Choice("step", ["type"]), Choice("choice", LOGGABLE_TYPES)),
            (Choice("step", ["when"]), Choice("choice", LOG_WHEN)),
            (Choice("step", ["outcome"]), Choice("choice", OUTCOMES))),
    # /team: "team:<member>" shows what an admin may do with them.
    # "team:<member>:remove" asks to confirm and who takes over their work;
    # "team:<member>:remove:<member id>|rr" removes them.
    "team": ((Id("member_id"),),
             (Id("member_id"), Choice("action", ["role"]), Choice("role", ROLES)),
             (Id("member_id"), Choice("action", ["remove", "back"])),
             (Id("member_id"), Choice("action", ["remove"]), IdOr("hand_to", [ROUND_ROBIN]))),
    # The /createLead summary: save, edit, cancel, and edit:<field>.
    "wiz": ((Choice("action", ["save", "edit", "cancel"]),),
            (Choice("action", ["edit"]), Choice("field", LEAD_FIELDS))),
    "leads": ((Page("page"),),),                     # /leads' Newer and Older
    # A lead notification's Open and Take it; a refused /lead's "Ask for it".
    "lead": ((Choice("action", ["open", "take", "ask"]), Id("lead_id")),),
    # Client conversations: a client alert's and /chat's Reply, Open, Take, Close.
    "chat": ((Choice("action", ["reply", "open", "take", "close"]), Id("conversation_id")),),
    "chats": ((Page("page"),),),                     # /chats' Newer and Older
    # Reply mode's /t: send template <id> to the conversation being answered.
    "tpl": ((Id("template_id"),),),
    # The shop's client menu (services/chat/shop.py): what /start and /help offer.
    "menu": ((Choice("item", MENU_ITEMS),),),
    # /order keeps no dialogue: each step's buttons carry the choices so far
    # (order:<profile>:<package>:<add-on yes|no>), and Confirm the price its summary showed.
    "order": ((Choice("action", ["cancel"]),),
              (Id("profile_id"),),
              (Id("profile_id"), Id("package_id")),
              (Id("profile_id"), Id("package_id"), Choice("addon", ["yes", "no"])),
              (Id("profile_id"), Id("package_id"), Choice("addon", ["yes", "no"]),
               Word("price", PRICE_WIDTH))),
    "orders": ((Page("page"),),),                    # /orders' Newer and Older
    # A completed order's Rerun asks; rerun:<order>:<price> confirms at the price shown.
    "rerun": ((Id("order_id"),), (Id("order_id"), Word("price", PRICE_WIDTH))),
    # Top-ups (services/chat/topup.py): "topup:packs" shows the packs, "topup:<tokens>"
    # makes the payment, "topup:other" asks for an amount, "topup:check:<payment>" asks OxaPay.
    "topup": ((Choice("action", ["packs", "other", "cancel"]),),
              (Choice("action", ["check"]), Id("payment_id")),
              (Id("tokens"),)),
    # Premium (services/chat/premium.py): "premium:" shows the offer, "premium:<price>"
    # buys it at the price the offer showed, "premium:cancel" does not.
    "premium": ((),
                (Choice("action", ["cancel"]),),
                (Word("price", PRICE_WIDTH),)),
    # The operators' /queue ("op:queue") and an order's Take, card, password, Complete,
    # Add note and Release.
    "op": ((Choice("action", ["queue"]),),
           (Choice("action", ORDER_ACTIONS), Id("order_id"))),
    # /register (services/chat/registration.py): the summary's Save, Edit, Cancel and
    # edit:<field>, and the "Continue your registration?" prompt; a question's Skip, Keep,
    # Use @…, Generate and ◀ Back name their question, so a press on an older one is
    # told apart; the gender and US state choices and the states' pages; /profiles'
    # Edit, Delete and its confirmation, Keep (back to the list) and New profile.
    "reg": ((Choice("action", ["save", "edit", "cancel", "continue", "restart", "stop", "new",
                               "list"]),),
            (Choice("action", ["edit", "skip", "keep", "mine", "generate", "back"]),
             Choice("field", PROFILE_FIELDS)),
            (Choice("action", ["gender"]), Choice("choice", GENDERS)),
            (Choice("action", ["state"]), Choice("choice", [code for code, _ in US_STATES])),
            (Choice("action", ["states"]), Page("page")),
            (Choice("action", ["open", "delete"]), Id("profile_id")),
            (Choice("action", ["delete"]), Id("profile_id"), Choice("confirm", ["yes"]))),
})


def encode(kind, **fields):
    """The data of a `kind` button with these fields; ButtonError when no shape of
    `kind` takes exactly these fields and values."""
    for shape in KINDS.get(kind, ()):
        if sorted(part.name for part in shape) != sorted(fields):
            continue
        parts = [part.write(fields[part.name]) for part in shape]
        if None in parts:
            continue
        data = f"{kind}:{':'.join(parts)}"
        if len(data.encode()) > MAX_BYTES:  # _declare makes this impossible; kept as a guard
            raise ButtonError(f"{data!r} is over {MAX_BYTES} bytes")
        return data
    raise ButtonError(f"No {kind!r} button takes {fields!r}")


def decode(data):
    """(kind, {field: value}) for the data of a button encode() could have built, else
    None: an unknown kind, parts too few or too many, a value out of its set or range,
    NUL, or more than Telegram carries."""
    if (not isinstance(data, str) or "\x00" in data
            or len(data.encode("utf-8", "surrogatepass")) > MAX_BYTES):
        return None
    kind, colon, rest = data.partition(":")
    if not colon or kind not in KINDS:
        return None
    parts = rest.split(":") if rest else []
    for shape in KINDS[kind]:
        if len(shape) != len(parts):
            continue
        values = [part.read(text) for part, text in zip(shape, parts)]
        if None not in values:
            return kind, {part.name: value for part, value in zip(shape, values)}
    return None
