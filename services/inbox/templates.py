"""Message templates: canned texts the team sends clients (`/t name` in chat, the rule
action `send_template name to client`), with placeholders filled in per client.

A template's text is plain text (not HTML). Placeholders:

    {first_name}  {last_name}  {agent_name}  {company}

each optionally with a fallback used when the value is empty: `{first_name|there}`.
`{{` and `}}` are literal braces. check() refuses what would not work (an unknown
placeholder, a stray or unclosed brace, control characters, empty or too long text);
render() fills a text in for Telegram's HTML parse mode, escaping the template's own
text and the values alike, and never raises.

Lengths are counted as Telegram counts them (UTF-16 code units). A template is at most
MAX_TEXT long, and each value at most MAX_VALUE, so that filled in it still fits one
Telegram message (check() refuses a text with so many placeholders that it might not).

Every write is one transaction that emits `template.created`, `template.updated` or
`template.deleted` (services.core.events) naming who did it, for the audit log. The
`welcome` template is the greeting the bot sends new clients: it can be edited, but
neither renamed nor deleted.
"""
import re
import unicodedata

from peewee import IntegrityError

from models import MessageTemplate, db, for_change, utcnow
from services.core import events
from services.core.inputs import one_newline
from services.core.markup import h

ENTITY = "template"
WELCOME = "welcome"
PLACEHOLDERS = {  # name -> what it is filled with (the panel's reference shows these)
    "first_name": "the client's first name",
    "last_name": "the client's last name",
    "agent_name": "the name of the team member who sends it",
    "company": "your company's name (COMPANY_NAME)",
}
MAX_TEXT = 3500           # a filled-in template must fit a 4,096-character message
MAX_VALUE = 100           # each value filled in, at most
TELEGRAM_LIMIT = 4096     # one Telegram message
MAX_NAME = 32
NAME = re.compile(r"[A-Za-z0-9_]{1,32}")
CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
SHOWN = 30                # characters of an unknown placeholder quoted in a refusal
# What the panel's preview fills in.
SAMPLE_VALUES = {"first_name": "Alex", "last_name": "Morgan", "agent_name": "Sam Lee",
                 "company": "Acme Ltd"}
_USE = "Use " + ", ".join(f"{{{name}}}" for name in PLACEHOLDERS) + "."
_ALLOWED_CONTROLS = "\n\t"


class TemplateError(ValueError):
    """A template that cannot be saved, and why; `field` is "name", "text" or None
    (the template as a whole, e.g. NoSuchTemplate)."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


class DuplicateName(TemplateError):
    def __init__(self, existing):
        super().__init__(f"There is already a template called {existing.name}; choose another name.",
                         "name")
        self.existing_id = existing.id


class NoSuchTemplate(TemplateError):
    def __init__(self, template_id):
        super().__init__(f"Template #{template_id} no longer exists.")
        self.template_id = template_id


class Protected(TemplateError):
    """The welcome template: the bot greets new clients with it."""

    def __init__(self, what):
        super().__init__(f"The {WELCOME} template cannot be {what}: the bot greets every new "
                         f"client with it. You can change its text.", "name" if what == "renamed" else None)


# Reading a template -------------------------------------------------------------------

def check(text):
    """The text as it will be stored (line endings as "\\n", no surrounding blanks), or
    TemplateError saying everything that is wrong with it."""
    if not isinstance(text, str):
        raise TemplateError("The text must be text.", "text")
    text = one_newline(text).strip()
    if not text:
        raise TemplateError("The text is empty; write the message the client gets.", "text")
    for index, char in enumerate(text):
        if _control(char):
            line, column = _position(text, index)
            raise TemplateError(f"The text holds an invisible control character (U+{ord(char):04X}) "
                                f"at line {line}, column {column}; remove it.", "text")
    length = telegram_length(text)
    if length > MAX_TEXT:
        raise TemplateError(f"The text is too long: {length:,} characters, at most {MAX_TEXT:,} "
                            f"(the names filled in need room in the message).", "text")
    parts, problems = _scan(text)
    unknown = []
    for part in parts:
        if isinstance(part, _Field) and part.name not in PLACEHOLDERS:
            shown = "{" + part.name[:SHOWN] + ("…" if len(part.name) > SHOWN else "") + "}"
            if shown not in unknown:
                unknown.append(shown)
    if unknown:
        problems.append(f"Unknown placeholder{'s' * (len(unknown) > 1)}: {', '.join(unknown)}. {_USE}")
    if problems:
        raise TemplateError(" ".join(problems), "text")
    longest = sum(MAX_VALUE if isinstance(part, _Field) else telegram_length(part) for part in parts)
    longest += sum(max(0, telegram_length(part.fallback) - MAX_VALUE) for part in parts
                   if isinstance(part, _Field))
    if longest > TELEGRAM_LIMIT:
        raise TemplateError(f"Too many placeholders for this length: filled in, the text could reach "
                            f"{longest:,} characters, more than one Telegram message holds "
                            f"({TELEGRAM_LIMIT:,}). Use fewer placeholders or a shorter text.", "text")
    if not any(part.strip() if isinstance(part, str) else part.fallback for part in parts):
        raise TemplateError("This text comes out empty when its placeholders have no value; add "
                            "some words of your own, or a fallback like {first_name|there}.", "text")
    return text


def check_name(name):
    """The name as stored (lower case), or TemplateError: 1-32 letters a-z, digits and _,
    as people type it in `/t name` and in rules."""
    if not isinstance(name, str) or not name.strip():
        raise TemplateError("The template needs a name.", "name")
    name = name.strip()
    if len(name) > MAX_NAME:
        raise TemplateError(f"The name is too long ({len(name)} characters, at most {MAX_NAME}).",
                            "name")
    if not NAME.fullmatch(name):
        raise TemplateError("A name is letters a-z, digits and _ only (no spaces), e.g. "
                            "quote_followup: it is typed as /t name.", "name")
    return name.lower()


def placeholders(text):
    """The placeholder names a text uses, in order, each once (unknown ones too)."""
    parts, _ = _scan(one_newline(text if isinstance(text, str) else ""))
    names = []
    for part in parts:
        if isinstance(part, _Field) and part.name not in names:
            names.append(part.name)
    return names


# Filling a template in ----------------------------------------------------------------

def render(text, values):
    """`text` with its placeholders filled in from `values` ({placeholder: value}; missing
    or empty: the fallback, else nothing), escaped for Telegram's HTML parse mode. Never
    raises: in a text check() would refuse, what is not a placeholder stays as written."""
    return _fill(text, values, h)


def render_plain(text, values):
    """render() without the HTML escaping: the text exactly as the client reads it (the
    panel's preview; transports without markup)."""
    return _fill(text, values, lambda part: part)


def values_for(lead, agent=None, company=""):
    """The values for a client (`lead`), the team member answering (`agent`, a models.User
    or None) and the company name (settings.company_name)."""
    return {"first_name": getattr(lead, "first_name", "") or "",
            "last_name": getattr(lead, "last_name", "") or "",
            "agent_name": agent.display_name if agent is not None else "",
            "company": company or ""}


def clean_value(value):
    """A value as it is filled in: one line, no control characters, no surrounding
    blanks, at most MAX_VALUE characters."""
    text = "" if value is None else str(value)
    text = "".join(" " if _control(c) else c for c in text)
    text = " ".join(text.split())
    kept, length = [], 0
    for char in text:
        length += 2 if char > "\uffff" else 1
        if length > MAX_VALUE:
            break
        kept.append(char)
    return "".join(kept).strip()


def telegram_length(text):
    """Length as Telegram counts it: UTF-16 code units."""
    return sum(2 if char > "\uffff" else 1 for char in text)


# Stored templates ---------------------------------------------------------------------

def get(name):
    """The template called `name` (any case), or None."""
    try:
        name = check_name(name)
    except TemplateError:
        return None
    return MessageTemplate.get_or_none(MessageTemplate.name == name)


def all():  # noqa: A001 - the module's reading: templates.all()
    """Every template, by name."""
    return list(MessageTemplate.select().order_by(MessageTemplate.name))


def check_content_sid(value):
    """A WhatsApp template's Twilio Content SID (HX and 32 hex digits), or None for none."""
    value = (value or "").strip() if isinstance(value, str) or value is None else ""
    if not value:
        return None
    if not CONTENT_SID.fullmatch(value):
        raise TemplateError("A WhatsApp content SID is HX followed by 32 hexadecimal digits, as "
                            "Twilio's Content Template Builder shows it.", "whatsapp_content_sid")
    return "HX" + value[2:].lower()


def save(actor, name, text, template_id=None, now=None, whatsapp_content_sid=None):
    """Add a template (template_id None) or change one (its name too, but not welcome's);
    returns the row as saved. TemplateError (with `field`) if it cannot be saved:
    DuplicateName, NoSuchTemplate, Protected. Nothing changed: no write."""
    name, text = check_name(name), check(text)
    content_sid = check_content_sid(whatsapp_content_sid)
    now = now or utcnow()
    try:
        with db.atomic():
            if template_id is None:
                _refuse_taken(name)
                row = MessageTemplate.create(name=name, text=text, created_at=now, updated_at=now,
                                             whatsapp_content_sid=content_sid)
                events.emit("template.created", actor, ENTITY, row.id, events.created(row), now=now)
                return row
            row = _get(template_id)
            if row.name == WELCOME and name != WELCOME:
                raise Protected("renamed")
            _refuse_taken(name, except_id=row.id)
            changes = events.changed(row, {"name": name, "text": text,
                                           "whatsapp_content_sid": content_sid})
            if changes:
                MessageTemplate.update(updated_at=now, **{k: after for k, (_, after) in changes.items()}
                                       ).where(MessageTemplate.id == row.id).execute()
                events.emit("template.updated", actor, ENTITY, row.id, changes, now=now)
    except IntegrityError:
        _refuse_taken(name, except_id=template_id)  # the same name saved between check and write
        raise
    return MessageTemplate.get_by_id(row.id)


def delete(actor, template_id):
    """Delete a template; returns the row as it was. NoSuchTemplate; Protected for welcome."""
    with db.atomic():
        row = _get(template_id)
        if row.name == WELCOME:
            raise Protected("deleted")
        events.emit("template.deleted", actor, ENTITY, row.id, events.deleted(row))
        row.delete_instance()
    return row


# Helpers ------------------------------------------------------------------------------

class _Field:
    """A placeholder as written: {name} or {name|fallback}."""
    __slots__ = ("name", "fallback", "raw")

    def __init__(self, name, fallback, raw):
        self.name, self.fallback, self.raw = name, fallback, raw


def _scan(text):
    """(parts, problems): the text as literal strings and _Fields, and what is malformed
    (only the first malformed brace is named: one mistake often causes the next). A
    malformed brace is kept as a literal character."""
    parts, problems, literal = [], [], []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char in "{}" and text.startswith(char * 2, i):
            literal.append(char)
            i += 2
        elif char == "{":
            end = i + 1
            while end < n and text[end] not in "{}\n":
                end += 1
            body = text[i + 1:end]
            name, _, fallback = body.partition("|")
            if end >= n or text[end] != "}":
                _problem(problems, text, i, "Unclosed “{”", "close it with “}”, or write “{{” "
                                                           "for a brace of its own")
                literal.append(char)
                i += 1
            elif not name.strip():
                _problem(problems, text, i, f"Empty placeholder “{{{body[:SHOWN]}}}”",
                         "write a name like {first_name}, or “{{}}” for braces of their own")
                literal.append(text[i:end + 1])
                i = end + 1
            else:
                if literal:
                    parts.append("".join(literal))
                    literal = []
                parts.append(_Field(name.strip(), fallback.strip(), text[i:end + 1]))
                i = end + 1
        elif char == "}":
            _problem(problems, text, i, "Stray “}”", "write “}}” for a brace of its own")
            literal.append(char)
            i += 1
        else:
            literal.append(char)
            i += 1
    if literal:
        parts.append("".join(literal))
    return parts, problems


def _problem(problems, text, index, what, fix):
    if not problems:
        line, column = _position(text, index)
        problems.append(f"{what} at line {line}, column {column}: {fix}.")


def _fill(text, values, escape):
    if not isinstance(text, str):
        return ""
    text = "".join(c for c in one_newline(text) if not _control(c))
    values = values or {}
    out = []
    for part in _scan(text)[0]:
        if isinstance(part, str):
            out.append(escape(part))
        elif part.name in PLACEHOLDERS:
            out.append(escape(clean_value(values.get(part.name)) or part.fallback))
        else:
            out.append(escape(part.raw))
    return "".join(out)


def _control(char):
    return unicodedata.category(char) in ("Cc", "Cs") and char not in _ALLOWED_CONTROLS


def _position(text, index):
    """(line, column), both from 1."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


def _get(template_id):
    row = for_change(MessageTemplate.select().where(MessageTemplate.id == template_id)).first()
    if row is None:
        raise NoSuchTemplate(template_id)
    return row


def _refuse_taken(name, except_id=None):
    query = MessageTemplate.select(MessageTemplate.id, MessageTemplate.name).where(
        MessageTemplate.name == name)
    if except_id is not None:
        query = query.where(MessageTemplate.id != except_id)
    existing = query.first()
    if existing is not None:
        raise DuplicateName(existing)
