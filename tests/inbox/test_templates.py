"""Message templates (services.inbox.templates): checking, filling in for Telegram HTML,
and saving with the audit log; the stored part on SQLite and Postgres."""
import datetime as dt
import html

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st
from peewee import IntegrityError

from devtools.telegram_formatting import parse_html, utf16_len
from models import AuditEntry, Lead, MessageTemplate, User
from services.core import audit
from services.core.actors import Actor
from services.inbox import templates
from services.inbox.templates import TemplateError

BOSS = Actor.panel("boss")
NOW = dt.datetime(2026, 11, 22, 9, 0)
LATER = NOW + dt.timedelta(hours=1)
WELCOME_TEXT = "Hi {first_name|there}! Thanks for writing to {company}."
USE = "Use {first_name}, {last_name}, {agent_name}, {company}."


def logged(template_id):
    """(event, actor, changes) of the audit entries about one template, oldest first."""
    return [(e.event, e.actor_ref, {k: list(v) for k, v in audit.changes_of(e).items()})
            for e in reversed(list(audit.entries(entity="template", entity_id=template_id)))]


def welcome():
    """The welcome template (a fresh SQLite file has it from migration 0008; the emptied
    Postgres database does not)."""
    return templates.get(templates.WELCOME) or templates.save(BOSS, templates.WELCOME, WELCOME_TEXT)


# check ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "Hi {first_name}!", "Hi {first_name|there}, {agent_name|We} at {company} will call.",
    "{last_name|}: see {{braces}} and }} and {{", "{ first_name | there } sent <b>&amp;</b>",
    "Line one\n\tLine two", "Price: 5 {{USD}}", "x" * templates.MAX_TEXT, "{first_name|a|b} ok",
])
def test_good_texts_pass(text):
    assert templates.check(text) == text


def test_check_returns_the_text_as_stored():
    assert templates.check("  Hi {first_name}\r\nBye\r  ") == "Hi {first_name}\nBye"


@pytest.mark.parametrize("text, message", [
    ("Hi {foo}", "Unknown placeholder: {foo}. " + USE),
    ("Hi {foo} {bar} {foo|x} {first_name}", "Unknown placeholders: {foo}, {bar}. " + USE),
    ("Hi {First_Name}", "Unknown placeholder: {First_Name}."),
    ("Hi {first_name", "Unclosed “{” at line 1, column 4"),
    ("Hi\n{first_name\n} there", "Unclosed “{” at line 2, column 1"),
    ("Hi } there", "Stray “}” at line 1, column 4"),
    ("Hi {} there", "Empty placeholder “{}” at line 1, column 4"),
    ("Hi {|there}", "Empty placeholder “{|there}”"),
    ("", "The text is empty"),
    (" \n\t ", "The text is empty"),
    ("x" * (templates.MAX_TEXT + 1), "too long: 3,501 characters, at most 3,500"),
    ("😀" * 1751, "too long: 3,502 characters"),  # Telegram counts UTF-16 code units
    ("Hi\x00", "control character (U+0000) at line 1, column 3"),
    ("Hi\x07 there", "control character (U+0007)"),
    ("Hi\x85 there", "control character (U+0085)"),
    ("Hi \ud800", "control character (U+D800)"),
    ("{first_name}", "comes out empty"),
    ("{first_name} {last_name}", "comes out empty"),
    ("Hi {company}" * 300, "too long"),
    ("{company}" * 40 + "x" * 200, "Too many placeholders for this length"),
    (None, "must be text"),
    (b"Hi", "must be text"),
])
def test_bad_texts_are_refused_with_the_reason(text, message):
    with pytest.raises(TemplateError) as refused:
        templates.check(text)
    assert message in str(refused.value)
    assert refused.value.field == "text"
    assert isinstance(refused.value, ValueError)


def test_an_unknown_placeholder_and_a_stray_brace_are_both_named():
    with pytest.raises(TemplateError) as refused:
        templates.check("Hi {foo} }")
    assert "Stray “}”" in str(refused.value) and "{foo}" in str(refused.value)


def test_a_long_unknown_placeholder_is_shortened_in_the_message():
    with pytest.raises(TemplateError) as refused:
        templates.check("Hi {" + "x" * 500 + "}")
    assert "{" + "x" * templates.SHOWN + "…}" in str(refused.value)
    assert len(str(refused.value)) < 200


def test_a_fallback_alone_keeps_the_text_from_coming_out_empty():
    assert templates.check("{first_name|Hello}") == "{first_name|Hello}"


@pytest.mark.parametrize("name, stored", [
    ("welcome", "welcome"), ("Quote_FollowUp", "quote_followup"), (" t1 ", "t1"),
    ("a" * 32, "a" * 32), ("_", "_"), ("2024", "2024"),
])
def test_good_names_are_lower_cased(name, stored):
    assert templates.check_name(name) == stored


@pytest.mark.parametrize("name, message", [
    ("", "needs a name"), ("   ", "needs a name"), (None, "needs a name"),
    ("a" * 33, "too long (33 characters, at most 32)"), ("two words", "no spaces"),
    ("café", "letters a-z, digits and _"), ("\u212a", "letters a-z"),  # the Kelvin sign lower-cases to k
    ("a-b", "letters a-z"), ("/t", "letters a-z"), ("a\x00", "letters a-z"),
])
def test_bad_names_are_refused_with_the_reason(name, message):
    with pytest.raises(TemplateError) as refused:
        templates.check_name(name)
    assert message in str(refused.value) and refused.value.field == "name"


# render --------------------------------------------------------------------------------

def test_render_fills_in_and_escapes_for_telegram_html():
    values = {"first_name": "  <Ann>\n & \t Co  ", "company": "A&B"}
    assert templates.render("Hi {first_name|there} <from> {company} & {agent_name|us}", values) == (
        "Hi &lt;Ann&gt; &amp; Co &lt;from&gt; A&amp;B &amp; us")


def test_the_seeded_templates_render():
    lead = Lead(first_name="", last_name="Lee")
    values = templates.values_for(lead, None, "Acme")
    text = ("Hi {first_name|there}, have you had a chance to look at our quote? "
            "{agent_name|We} will gladly answer any questions.")
    assert templates.render(text, values) == (
        "Hi there, have you had a chance to look at our quote? We will gladly answer any questions.")


def test_missing_and_empty_values_use_the_fallback_or_nothing():
    text = "[{first_name}] [{last_name|none}] [{agent_name|}] [{company|X}]"
    assert templates.render(text, {}) == "[] [none] [] [X]"
    assert templates.render(text, None) == "[] [none] [] [X]"
    assert templates.render(text, {"first_name": None, "last_name": " \n ", "company": 7}) == "[] [none] [] [7]"


def test_braces_of_their_own():
    assert templates.render("{{first_name}} }} {{", {"first_name": "Ann"}) == "{first_name} } {"
    assert templates.render("{{{first_name}}}", {"first_name": "Ann"}) == "{Ann}"


def test_values_are_one_line_and_capped():
    rendered = templates.render("{first_name}", {"first_name": "a\nb" + "c" * 200})
    assert rendered == "a b" + "c" * 97
    assert templates.clean_value("😀" * 60) == "😀" * 50  # 100 UTF-16 code units
    assert templates.clean_value("a\x00b\x1fc\u2028d") == "a b c d"


def test_render_never_raises_and_leaves_what_is_no_placeholder_as_written():
    assert templates.render("Hi {foo} } {first_name", {"first_name": "Ann"}) == "Hi {foo} } {first_name"
    assert templates.render("a\x00b\r\nc", {}) == "ab\nc"
    assert templates.render(None, {}) == ""


def test_render_plain_is_what_the_client_reads():
    assert templates.render_plain("<b>{first_name}</b> &", {"first_name": "<i>"}) == "<b><i></b> &"


def test_values_for_a_client_an_agent_and_the_company():
    lead = Lead(first_name="Ann", last_name="Lee")
    agent = User(telegram_id=5, first_name="Sam", last_name="Ray")
    assert templates.values_for(lead, agent, "Acme") == {
        "first_name": "Ann", "last_name": "Lee", "agent_name": "Sam Ray", "company": "Acme"}
    assert templates.values_for(Lead(first_name="Bo", last_name=None)) == {
        "first_name": "Bo", "last_name": "", "agent_name": "", "company": ""}
    assert templates.values_for(lead, User(telegram_id=7, username="sam"))["agent_name"] == "@sam"


def test_placeholders_lists_the_names_used():
    assert templates.placeholders("{company} {first_name|x} {company} {foo}") == [
        "company", "first_name", "foo"]


# Hypothesis: any text check() accepts, any values ----------------------------------------

PLAIN = st.characters(exclude_categories=("Cs", "Cc"))
LITERAL = st.text(st.one_of(PLAIN, st.sampled_from("{}<>&;#|\n\t ")), max_size=40)
FALLBACK = st.text(st.one_of(PLAIN, st.sampled_from("<>&;#| ")).filter(lambda c: c not in "{}"),
                   max_size=20)
ANY_VALUE = st.one_of(st.none(), st.text(st.characters(exclude_categories=())),
                      st.text(st.sampled_from(" \n\t\r<>&\x00\x1f")), st.integers())
ANY_VALUES = st.dictionaries(st.sampled_from([*templates.PLACEHOLDERS, "other"]), ANY_VALUE)
WORD = st.text(st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=10)
CLEAN_VALUE = st.lists(WORD, max_size=4).map(" ".join)  # what clean_value leaves as it is


@st.composite
def template(draw):
    """(text, parts): a template built from literal text and placeholders, with parts
    saying what it is made of: str or (name, fallback or None)."""
    parts = draw(st.lists(st.one_of(
        LITERAL, st.tuples(st.sampled_from(list(templates.PLACEHOLDERS)), st.none() | FALLBACK,
                           st.booleans())), min_size=1, max_size=8))
    written = []
    for part in parts:
        if isinstance(part, str):
            written.append(part.replace("{", "{{").replace("}", "}}"))
        else:
            name, fallback, spaced = part
            name = f" {name} " if spaced else name
            written.append("{" + name + ("" if fallback is None else "|" + fallback) + "}")
    return "".join(written), [p if isinstance(p, str) else p[:2] for p in parts]


def accepted(text):
    try:
        templates.check(text)
    except TemplateError:
        return False
    return True


HYPOTHESIS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


@HYPOTHESIS
@given(template(), ANY_VALUES)
def test_a_checked_template_renders_as_valid_telegram_html(built, values):
    text, _ = built
    assume(accepted(text))
    for source in (text, templates.check(text)):
        rendered = templates.render(source, values)
        shown = parse_html(rendered)  # raises as Telegram would on invalid HTML
        assert shown.entities == []
        assert shown.text == templates.render_plain(source, values) == html.unescape(rendered)
        assert shown.text.strip(), "Telegram refuses an empty message"
        assert utf16_len(shown.text) <= templates.TELEGRAM_LIMIT


@HYPOTHESIS
@given(template(), st.dictionaries(st.sampled_from(list(templates.PLACEHOLDERS)), CLEAN_VALUE))
def test_a_rendered_template_reads_as_its_parts_filled_in(built, values):
    text, parts = built
    assume(accepted(text))
    expected = "".join(
        part if isinstance(part, str) else (values.get(part[0]) or (part[1] or "").strip())
        for part in parts)
    assert parse_html(templates.render(text, values)).text == expected


TRICKY = st.text(st.one_of(st.sampled_from("{}|_\n\r\x00\t first_name company"),
                           st.characters(exclude_categories=())))


@settings(max_examples=500, deadline=None)
@given(st.one_of(TRICKY, st.text(), st.none(), st.integers(), st.binary(),
                 st.lists(st.sampled_from(["{first_name}", "{company|x}", "{{", "}}", "{", "}", "a",
                                           "{foo}", "\n", "\x00", "|"])).map("".join)),
       ANY_VALUES)
def test_any_text_is_accepted_or_refused_with_a_template_error_and_renders(text, values):
    try:
        stored = templates.check(text)
    except TemplateError:
        stored = None
    else:
        assert templates.check(stored) == stored  # stored text passes again as it is
    rendered = templates.render(text, values)  # never raises, even for refused text
    assert parse_html(rendered).text == templates.render_plain(text, values)


@settings(max_examples=300, deadline=None)
@given(ANY_VALUE)
def test_a_cleaned_value_is_one_short_line(value):
    cleaned = templates.clean_value(value)
    assert "\n" not in cleaned and cleaned == cleaned.strip()
    assert utf16_len(cleaned) <= templates.MAX_VALUE
    assert not any(templates._control(c) for c in cleaned)
    assert templates.clean_value(cleaned) == cleaned


# Stored templates, on SQLite and Postgres ------------------------------------------------

def test_a_new_template_is_stored_and_audited(any_db):
    row = templates.save(BOSS, "Quote_Reminder", "  Hi {first_name|there}!\r\n", now=NOW)
    assert (row.name, row.text, row.created_at, row.updated_at) == (
        "quote_reminder", "Hi {first_name|there}!", NOW, NOW)
    assert templates.get("QUOTE_REMINDER").id == row.id and templates.get(" quote_reminder ").id == row.id
    assert logged(row.id) == [("template.created", "boss",
                               {"name": [None, "quote_reminder"], "text": [None, "Hi {first_name|there}!"],
                                "created_at": [None, "2026-11-22 09:00:00"],
                                "updated_at": [None, "2026-11-22 09:00:00"]})]


def test_an_edit_changes_text_and_name_and_is_audited(any_db):
    row = templates.save(BOSS, "one", "First {company}", now=NOW)
    member = Actor.member(User.create(telegram_id=42, first_name="Ann", role="admin"))
    saved = templates.save(member, "two", "Second {company}", template_id=row.id, now=LATER)
    assert (saved.id, saved.name, saved.text, saved.created_at, saved.updated_at) == (
        row.id, "two", "Second {company}", NOW, LATER)
    assert templates.get("one") is None and templates.get("two").id == row.id
    assert logged(row.id)[-1] == ("template.updated", str(member.user.id),
                                  {"name": ["one", "two"], "text": ["First {company}", "Second {company}"]})


def test_saving_the_same_again_writes_nothing(any_db):
    row = templates.save(BOSS, "same", "Same text", now=NOW)
    saved = templates.save(BOSS, "SAME", "Same text\n", template_id=row.id, now=LATER)
    assert saved.updated_at == NOW and len(logged(row.id)) == 1


def test_a_taken_name_is_refused(any_db):
    first = templates.save(BOSS, "taken", "One")
    other = templates.save(BOSS, "other", "Two")
    for attempt in (lambda: templates.save(BOSS, "Taken", "Three"),
                    lambda: templates.save(BOSS, "taken", "Two", template_id=other.id)):
        with pytest.raises(templates.DuplicateName) as refused:
            attempt()
        assert "There is already a template called taken" in str(refused.value)
        assert refused.value.field == "name" and refused.value.existing_id == first.id
    assert templates.get("other").text == "Two" and MessageTemplate.select().where(
        MessageTemplate.name == "taken").count() == 1


def test_a_name_taken_between_the_check_and_the_write_is_refused_the_same(any_db, monkeypatch):
    templates.save(BOSS, "raced", "One")
    real = templates._refuse_taken
    calls = []

    def late(name, except_id=None):  # the other save commits after our check
        calls.append(name)
        if len(calls) > 1:
            real(name, except_id)
    monkeypatch.setattr(templates, "_refuse_taken", late)
    with pytest.raises(templates.DuplicateName):
        templates.save(BOSS, "raced", "Two")
    assert len(calls) == 2
    assert [t.text for t in MessageTemplate.select().where(MessageTemplate.name == "raced")] == ["One"]
    assert AuditEntry.select().where(AuditEntry.entity == "template").count() == 1


def test_an_integrity_error_that_is_no_duplicate_is_raised(any_db, monkeypatch):
    def broken(*args, **kwargs):
        raise IntegrityError("something else")
    monkeypatch.setattr(MessageTemplate, "create", broken)
    with pytest.raises(IntegrityError):
        templates.save(BOSS, "fine", "Text")


def test_a_bad_template_is_not_saved(any_db):
    before = MessageTemplate.select().count()
    with pytest.raises(TemplateError, match=r"\{foo\}"):
        templates.save(BOSS, "bad", "Hi {foo}")
    with pytest.raises(TemplateError, match="no spaces"):
        templates.save(BOSS, "bad name", "Hi")
    assert MessageTemplate.select().count() == before
    assert AuditEntry.select().where(AuditEntry.entity == "template").count() == 0


def test_delete_removes_it_and_is_audited(any_db):
    row = templates.save(BOSS, "gone", "Bye {first_name}", now=NOW)
    templates.delete(BOSS, row.id)
    assert templates.get("gone") is None
    assert logged(row.id)[-1] == ("template.deleted", "boss", {
        "name": ["gone", None], "text": ["Bye {first_name}", None],
        "created_at": ["2026-11-22 09:00:00", None], "updated_at": ["2026-11-22 09:00:00", None]})
    with pytest.raises(templates.NoSuchTemplate, match=f"Template #{row.id} no longer exists"):
        templates.delete(BOSS, row.id)
    with pytest.raises(templates.NoSuchTemplate):
        templates.save(BOSS, "gone", "Back", template_id=row.id)


def test_welcome_can_be_edited_but_not_renamed_or_deleted(any_db):
    row = welcome()
    saved = templates.save(BOSS, "Welcome", "Hello {first_name|there}!", template_id=row.id)
    assert saved.text == "Hello {first_name|there}!"
    with pytest.raises(templates.Protected) as refused:
        templates.save(BOSS, "greeting", "Hello", template_id=row.id)
    assert str(refused.value) == ("The welcome template cannot be renamed: the bot greets every new "
                                  "client with it. You can change its text.")
    assert refused.value.field == "name"
    with pytest.raises(templates.Protected, match="cannot be deleted"):
        templates.delete(BOSS, row.id)
    assert templates.get(templates.WELCOME).text == "Hello {first_name|there}!"
    assert [e for e, *_ in logged(row.id)][-1] == "template.updated"


def test_all_is_ordered_by_name(any_db):
    MessageTemplate.delete().execute()
    for name in ("zeta", "alpha", "mid"):
        templates.save(BOSS, name, "Text")
    assert [t.name for t in templates.all()] == ["alpha", "mid", "zeta"]


def test_a_fresh_database_has_the_seeded_templates(sqlite_db):
    assert [t.name for t in templates.all()] == ["quote_followup", "review_request", "welcome"]
    for row in templates.all():
        assert templates.check(row.text) == row.text


def test_a_failing_subscriber_rolls_the_save_back(any_db, monkeypatch):
    from services.core import events

    def refuse(event):
        raise RuntimeError("no")
    events.subscribe("template.created", refuse)
    try:
        with pytest.raises(RuntimeError):
            templates.save(BOSS, "rolled", "Back")
    finally:
        events.unsubscribe("template.created", refuse)
    assert templates.get("rolled") is None
