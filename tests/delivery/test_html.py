import re

import pytest
from hypothesis import given, settings, strategies as st

from devtools.telegram_formatting import parse, utf16_len
from services.delivery.html import FormattingError, clean, visible_length, visible_text

LINK_ERROR = "Line 1: links need an address starting with http://, https:// or tg://"

# What the panel's preview may render: these exact tags, no other attributes.
SAFE_TAG = re.compile(r'</?(b|i|u|s|tg-spoiler|code|pre|blockquote)>|</a>|<blockquote expandable>'
                      r'|<code class="language-[\w+#.-]+">|<a href="(https?://|tg://)[^"<>\s]*">')


def refused(source):
    with pytest.raises(FormattingError) as error:
        clean(source)
    return str(error.value)


# ---------------------------------------------------------------- text and entities

def test_lone_angle_brackets_and_ampersands_are_text():
    assert clean("price < 100 & more > less") == "price &lt; 100 &amp; more &gt; less"
    assert clean("a <3 b << c < /d 2<x <!-- note -->") == \
        "a &lt;3 b &lt;&lt; c &lt; /d 2&lt;x &lt;!-- note --&gt;"


def test_entities_are_decoded_then_escaped_again():
    assert clean("&lt;b&gt; &amp; &#39; &#x1F600; &quot; &copy;") == "&lt;b&gt; &amp; ' 😀 \" ©"


def test_only_complete_known_references_are_decoded():
    # html.unescape would read "&para" as "¶" and "&ampx;" as "&x;"
    assert clean("?a=1&para=2 &ampx; &nosuch; AT&T") == "?a=1&amp;para=2 &amp;ampx; &amp;nosuch; AT&amp;T"


def test_escaped_markup_stays_text():
    assert clean("&lt;script&gt;alert(1)&lt;/script&gt;") == "&lt;script&gt;alert(1)&lt;/script&gt;"


# ---------------------------------------------------------------- tags

@pytest.mark.parametrize("source, expected", [
    ("<b>x</b>", "<b>x</b>"), ("<strong>x</strong>", "<b>x</b>"), ("<B>x</B>", "<b>x</b>"),
    ("<i>x</i>", "<i>x</i>"), ("<em>x</em>", "<i>x</i>"),
    ("<u>x</u>", "<u>x</u>"), ("<ins>x</ins>", "<u>x</u>"),
    ("<s>x</s>", "<s>x</s>"), ("<strike>x</strike>", "<s>x</s>"), ("<del>x</del>", "<s>x</s>"),
    ("<tg-spoiler>x</tg-spoiler>", "<tg-spoiler>x</tg-spoiler>"),
    ('<span class="tg-spoiler">x</span>', "<tg-spoiler>x</tg-spoiler>"),
    ("<code>x</code>", "<code>x</code>"), ("<pre>x</pre>", "<pre>x</pre>"),
    ("<blockquote>x</blockquote>", "<blockquote>x</blockquote>"),
])
def test_each_spelling_becomes_one_tag(source, expected):
    assert clean(source) == expected


def test_other_attributes_are_dropped():
    assert clean('<b class="x" style="color:red" data-x=1>x</b >') == "<b>x</b>"
    assert clean('<code class="language-py">x</code>') == "<code>x</code>"  # a language only counts in <pre>


@pytest.mark.parametrize("source", ["<blockquote expandable>q</blockquote>", '<blockquote expandable="">q</blockquote>',
                                    "<BLOCKQUOTE EXPANDABLE=true>q</blockquote>"])
def test_expandable_quote(source):
    assert clean(source) == "<blockquote expandable>q</blockquote>"


def test_code_block_keeps_its_language():
    assert clean('<pre><code class="language-python">if a < b:</code></pre>') == \
        '<pre><code class="language-python">if a &lt; b:</code></pre>'


def test_code_block_without_language_is_just_pre():
    assert clean("<pre><code>x</code></pre>") == "<pre>x</pre>"
    assert clean('<pre><code class="lang&quot;x">x</code></pre>') == "<pre>x</pre>"


def test_closing_tag_may_use_another_spelling():
    assert clean("<strong>x</b>") == "<b>x</b>"


# ---------------------------------------------------------------- links and preview safety

@pytest.mark.parametrize("href", ["http://a.b", "https://a.b/?x=1", "HTTPS://A.B", "tg://user?id=42"])
def test_allowed_link_schemes(href):
    assert clean(f'<a href="{href}">x</a>') == f'<a href="{href}">x</a>'


def test_link_keeps_only_an_escaped_href():
    assert clean('<a onclick="steal()" href=\'https://x.y/?a=1&amp;b="2"\' target=_blank>x</a>') == \
        '<a href="https://x.y/?a=1&amp;b=&quot;2&quot;">x</a>'
    assert clean("<a href=https://x.y>x</a>") == '<a href="https://x.y">x</a>'


@pytest.mark.parametrize("source", ['<a href="javascript:alert(1)">x</a>', '<a href=" JavaScript:alert(1)">x</a>',
                                    '<a href="data:text/html,hi">x</a>', '<a href="/relative">x</a>',
                                    "<a>x</a>", '<a href="">x</a>', '<a href="&#106;avascript:x">x</a>'])
def test_links_need_a_safe_scheme(source):
    assert refused(source) == LINK_ERROR


def test_link_address_without_spaces():
    assert refused('<a href="https://x.y/a b">x</a>') == "Line 1: a link address can't contain spaces or line breaks."


@pytest.mark.parametrize("source", ["<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
                                    "<iframe src=https://x.y></iframe>", "<style>b{}</style>"])
def test_html_that_could_run_is_refused(source):
    assert "is not something Telegram can show" in refused(source)


# ---------------------------------------------------------------- error messages

def test_unknown_tag_names_it_and_its_line():
    assert refused("hello\n<div>x</div>") == \
        "Line 2: <div> is not something Telegram can show. Use b, i, u, s, code, pre, a, tg-spoiler or blockquote."


def test_line_break_tag_gets_a_hint():
    assert refused("a<br/>b").endswith("To start a new line, just press Enter.")


def test_unclosed_tag_names_the_line_it_opened_on():
    assert refused("<b>x") == "Line 1: <b> is never closed."
    assert refused("a\n<i>b\nc\n") == "Line 2: <i> is never closed."


def test_stray_closing_tag():
    assert refused("a\nb\nc</i>") == "Line 3: </i> closes a tag that is not open."


def test_tags_closed_out_of_order():
    assert refused("<b>\n<i>x</b></i>") == "Line 2: <i> from line 2 must be closed before </b>."


def test_span_must_be_a_spoiler():
    assert refused('<span style="x">y</span>') == \
        'Line 1: <span> is only for spoilers: write <span class="tg-spoiler"> or <tg-spoiler>.'


def test_a_broken_tag_is_not_shown_as_text():
    assert refused('ok\n<a href="https://x.y>link</a>') == \
        "Line 2: <a> is not written correctly: check its quotes and its closing >."
    assert refused("if a<b then") == "Line 1: <b> is not written correctly: check its quotes and its closing >."


def test_error_is_a_value_error():
    assert issubclass(FormattingError, ValueError)


# ---------------------------------------------------------------- nesting (Telegram's entity rules)

@pytest.mark.parametrize("source, message", [
    ("<code><b>x</b></code>", "Line 1: <b> can't go inside <code>: Telegram shows code without any formatting."),
    ("<pre><i>x</i></pre>", "Line 1: <i> can't go inside <pre>: Telegram shows code without any formatting."),
    ('<pre><code class="language-py"><b>x</b></code></pre>',
     "Line 1: <b> can't go inside <code>: Telegram shows code without any formatting."),
    ("<pre>x<code>y</code></pre>", "Line 1: inside <pre>, the <code> block must hold all of the text."),
    ("<pre><code>y</code>\nz</pre>", "Line 1: inside <pre>, the <code> block must hold all of the text."),
    ("<blockquote><b><blockquote>x</blockquote></b></blockquote>", "Line 1: a quote can't contain another quote."),
    ('<a href="https://a.b"><b><a href="https://c.d">x</a></b></a>',
     "Line 1: <a> can't go inside a link; only b, i, u, s and tg-spoiler can."),
    ('<a href="https://a.b"><code>x</code></a>',
     "Line 1: <code> can't go inside a link; only b, i, u, s and tg-spoiler can."),
])
def test_nesting_telegram_would_not_show_is_refused(source, message):
    assert refused(source) == message


@pytest.mark.parametrize("source", [
    "<b><i><u><s><tg-spoiler>x</tg-spoiler></s></u></i></b>",
    '<a href="https://a.b"><b><i>x</i></b></a>',
    '<b><a href="https://a.b">x</a> <code>y</code> <pre>z</pre></b>',
    '<blockquote><a href="https://a.b">x</a><pre><code class="language-py">y</code></pre></blockquote>',
    "<i><blockquote>x</blockquote></i>",
])
def test_nesting_telegram_shows(source):
    assert clean(source) == source
    assert parse(source, "HTML").entities


# ---------------------------------------------------------------- visible text

def test_visible_text_and_length():
    out = clean("<b>a</b> &amp; 😀 <a href='https://x.y/?q=\"&gt;'>l</a>")
    assert visible_text(out) == "a & 😀 l"
    assert visible_length(out) == 8  # the emoji is two UTF-16 code units


# ---------------------------------------------------------------- properties

PAIRS = [("<b>", "</b>"), ("<strong>", "</strong>"), ("<i>", "</i>"), ("<u>", "</u>"), ("<s>", "</s>"),
         ("<tg-spoiler>", "</tg-spoiler>"), ('<span class="tg-spoiler">', "</span>"), ("<code>", "</code>"),
         ("<pre>", "</pre>"), ('<pre><code class="language-py">', "</code></pre>"), ("<blockquote>", "</blockquote>"),
         ("<blockquote expandable>", "</blockquote>"), ('<a href="https://x.y/?a=1&amp;b=&quot;">', "</a>"),
         ("<a href='tg://user?id=1' onclick=x>", "</a>"), ('<a href="javascript:x">', "</a>"), ("<div>", "</div>")]
PIECES = [tag for pair in PAIRS for tag in pair] + ["&amp;", "&lt;", "&#128512;", "&", "<", ">", "\n", '"', "<b", "</"]

# Well-formed trees (which mostly pass), tag soup (which mostly fails) and raw text.
trees = st.recursive(st.text(max_size=8), lambda inner: st.tuples(st.sampled_from(PAIRS), st.lists(inner, max_size=3))
                     .map(lambda t: t[0][0] + "".join(t[1]) + t[0][1]), max_leaves=12)
soup = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=6)), max_size=20).map("".join)
sources = st.one_of(trees, soup, st.text())


def clean_or_none(source):
    try:
        return clean(source)
    except FormattingError:
        return None


@settings(max_examples=500, deadline=None)
@given(sources)
def test_output_is_what_telegram_accepts_and_shows(source):
    out = clean_or_none(source)
    if out is not None:
        parsed = parse(out, "HTML")
        assert parsed.text == visible_text(out)
        assert utf16_len(parsed.text) == visible_length(out)


@settings(max_examples=500, deadline=None)
@given(sources)
def test_output_is_safe_to_render_as_preview(source):
    out = clean_or_none(source)
    if out is not None:
        assert all(SAFE_TAG.fullmatch(tag) for tag in re.findall(r"<[^>]*>", out))
        assert "<" not in re.sub(r"<[^>]*>", "", out)


@settings(max_examples=500, deadline=None)
@given(sources)
def test_clean_is_idempotent(source):
    out = clean_or_none(source)
    if out is not None:
        assert clean(out) == out


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_characters="<&")))
def test_plain_text_comes_back_escaped(text):
    out = clean(text)
    assert out == text.replace(">", "&gt;")
    assert visible_text(out) == text
    assert visible_length(out) == utf16_len(text)
