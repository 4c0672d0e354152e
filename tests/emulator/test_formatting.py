"""Telegram's parse modes as the emulator parses them (cases follow tdlib's own tests)."""
import html
import re

import pytest
from hypothesis import given, strategies as st

from devtools.telegram_formatting import (
    FormattedText,
    ParseError,
    UnsupportedParseMode,
    parse,
    parse_html,
    parse_markdown_v2,
    utf16_len,
)


@given(st.text())
def test_escaped_text_round_trips_through_html(text):
    assert parse_html(html.escape(text, quote=False)) == FormattedText(text, [])


@given(st.text(min_size=1))
def test_escaped_text_inside_a_tag_is_one_entity(text):
    parsed = parse_html(f"<b>{html.escape(text, quote=False)}</b>")
    assert parsed == FormattedText(text, [{"type": "bold", "offset": 0, "length": utf16_len(text)}])


@given(st.text())
def test_escaped_text_round_trips_through_markdown_v2(text):
    escaped = re.sub(r"([_*\[\]()~`>#+\-=|{}.!\\])", r"\\\1", text)
    assert parse_markdown_v2(escaped) == FormattedText(text, [])


@pytest.mark.parametrize("source, error", [
    ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
    ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
    ("🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
    ("🏟 🏟&lt;<i    aba>", 'Expected equal sign in declaration of an attribute of the tag "i" at byte offset 13'),
    ("🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
    ("🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
    ("🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"),
    ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
    ("🏟 🏟&lt;<i>a</em   >", 'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"'),
    ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ("AT&T", "Character '&' must be escaped as \"&amp;\" at byte offset 2"),
    ("&nbsp;", "Character '&' must be escaped as \"&amp;\" at byte offset 0"),
])
def test_html_errors(source, error):
    with pytest.raises(ParseError, match=f"^{re.escape(error)}$"):
        parse_html(source)


def test_html_entities_and_nesting():
    parsed = parse_html('🏟 <i>a &gt;<b x = "1">&#128512;</b></i> <a href="https://t.me/x?a=1&b=2">link</a> '
                        '<pre><code class="language-python">print()</code></pre>'
                        '<blockquote expandable>q</blockquote><tg-spoiler>s</tg-spoiler>')
    assert parsed.text == "🏟 a >😀 link print()qs"
    assert parsed.entities == [
        {"type": "italic", "offset": 3, "length": 5},
        {"type": "bold", "offset": 6, "length": 2},
        {"type": "text_link", "offset": 9, "length": 4, "url": "https://t.me/x?a=1&b=2"},
        {"type": "pre", "offset": 14, "length": 7, "language": "python"},
        {"type": "expandable_blockquote", "offset": 21, "length": 1},
        {"type": "spoiler", "offset": 22, "length": 1},
    ]


@pytest.mark.parametrize("source, error", [
    ("🏟 🏟_abacaba", "Can't find end of Italic entity at byte offset 9"),
    ("🏟 🏟_abac * asd _", "Can't find end of Italic entity at byte offset 21"),
    ("🏟 🏟```a ", "Can't find end of PreCode entity at byte offset 9"),
    ("🏟 🏟_🏟 🏟__", "Can't find end of Underline entity at byte offset 19"),
    ("🏟 🏟```🏟 🏟`", "Can't find end of Code entity at byte offset 21"),
    ("[telegram\\.org](asd", "Can't find end of a URL at byte offset 16"),
    ("Price: 5.00", "Character '.' is reserved and must be escaped with the preceding '\\'"),
    ("a|b", "Character '|' is reserved and must be escaped with the preceding '\\'"),
])
def test_markdown_v2_errors(source, error):
    with pytest.raises(ParseError, match=f"^{re.escape(error)}$"):
        parse_markdown_v2(source)


def test_markdown_v2_entities():
    parsed = parse_markdown_v2("*b* _i_ __u__ ~s~ ||sp|| `c` [l](https://t.me/\\)x) ```py\ncode```\n>q1\n>q2")
    assert parsed.text == "b i u s sp c l code\nq1\nq2"
    assert [(e["type"], e["offset"], e["length"]) for e in parsed.entities] == [
        ("bold", 0, 1), ("italic", 2, 1), ("underline", 4, 1), ("strikethrough", 6, 1), ("spoiler", 8, 2),
        ("code", 11, 1), ("text_link", 13, 1), ("pre", 15, 4), ("blockquote", 20, 5)]
    assert parsed.entities[6]["url"] == "https://t.me/)x"


def test_legacy_markdown():
    assert parse("*bold* _it_ [x](https://t.me) a\\_b", "Markdown") == FormattedText("bold it x a_b", [
        {"type": "bold", "offset": 0, "length": 4}, {"type": "italic", "offset": 5, "length": 2},
        {"type": "text_link", "offset": 8, "length": 1, "url": "https://t.me"}])
    with pytest.raises(ParseError, match="^Can't find end of the entity starting at byte offset 5$"):
        parse("snake_case", "Markdown")
    with pytest.raises(UnsupportedParseMode):
        parse("x", "markdown_v3")
    assert parse("<b>", None) == FormattedText("<b>", [])
