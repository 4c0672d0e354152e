import html
import re

from hypothesis import given, settings, strategies as st

from services.core.markup import h
from services.delivery.html import split_html

TAG = re.compile(r"<(/?)(\w+)[^>]*>")


def visible(markup):
    return html.unescape(TAG.sub("", markup))


def balanced(markup):
    stack = []
    for closing, name in TAG.findall(markup):
        if closing:
            if not stack or stack.pop() != name:
                return False
        else:
            stack.append(name)
    return not stack


def test_escape_keeps_user_text_literal():
    assert h("O'Neil_Smith <b>&") == "O'Neil_Smith &lt;b&gt;&amp;"
    assert h(None) == ""


def test_short_text_is_one_part():
    assert split_html("<b>hi</b>") == ["<b>hi</b>"]


def test_cut_prefers_a_line_break_and_reopens_tags():
    text = "<i>" + "\n".join("word " * 30 for _ in range(60)) + "</i>"
    parts = split_html(text, limit=1000)
    assert len(parts) > 1
    assert all(p.startswith("<i>") and p.endswith("</i>") for p in parts)
    assert all(p[:-4].endswith("\n") or p == parts[-1] for p in parts)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["", "b", "i", "code"]), st.text(min_size=1, max_size=300)),
                min_size=1, max_size=40),
       st.integers(min_value=60, max_value=600))
def test_parts_fit_are_well_formed_and_lose_nothing(chunks, limit):
    text = "".join(f"<{tag}>{h(body)}</{tag}>" if tag else h(body) for tag, body in chunks)
    parts = split_html(text, limit=limit)
    assert all(len(p.encode("utf-16-le")) // 2 <= limit for p in parts)
    assert all(balanced(p) for p in parts)
    assert "".join(visible(p) for p in parts).replace("\n", "").replace(" ", "") == \
        visible(text).replace("\n", "").replace(" ", "")
