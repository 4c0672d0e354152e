"""Check and normalise a broadcast written in Telegram's HTML formatting subset.

clean() never passes its input through: it splits the source into tags and
text, checks every tag, and writes the message anew from those pieces. So its
output holds only these tags, under one name each: b, i, u, s, tg-spoiler,
code, pre, a, blockquote. The only attributes are a scheme-checked href on a,
a "language-..." class on the <code> directly in a <pre>, and expandable on
blockquote. Every text and attribute value is escaped. The admin panel puts
this output straight into its preview bubble, so this is a safety property,
not just tidiness: <script> is refused, a javascript: link is refused, and
onclick and every other attribute are dropped.

Nesting follows Telegram's entity rules, which are stricter than its parser.
Nothing may go inside code or pre, except one <code class="language-x">
holding all of a <pre>'s text. A link may hold only b/i/u/s/tg-spoiler. A
quote may not hold another quote. Telegram's HTML parser (and our emulator in
devtools/telegram_formatting.py) accepts these, but Telegram then silently
drops the formatting. We refuse them so the preview never shows formatting
that the reader won't see.
"""
import html
import html.entities
import re
from collections import Counter

# Every spelling Telegram accepts, mapped to the one name we write.
CANONICAL = {"b": "b", "strong": "b", "i": "i", "em": "i", "u": "u", "ins": "u", "s": "s",
             "strike": "s", "del": "s", "tg-spoiler": "tg-spoiler", "span": "tg-spoiler",
             "code": "code", "pre": "pre", "a": "a", "blockquote": "blockquote"}
SPLITTABLE = {"b", "i", "u", "s", "tg-spoiler"}  # the styles Telegram lets go anywhere
SCHEMES = ("http://", "https://", "tg://")

# A tag starts with "<" and a letter (or "</" and a letter) and runs to its ">".
# Any other "<" is plain text, because admins write things like "price < 100"
# (unless a known tag name follows it: see text() in clean()).
TAG = re.compile(r"""<(/?)([a-zA-Z][\w-]*)((?:\s+[^\s=<>"'/]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s<>"']+))?)*)\s*/?>""")
ATTRIBUTE = re.compile(r"""([^\s=<>"'/]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s<>"']+))?""")
# Only references ending in ";" are decoded. A bare "&" is text. (html.unescape
# alone would turn the "&para" in "?a=1&para=2" into "¶".)
REFERENCE = re.compile(r"&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);")


class FormattingError(ValueError):
    """A problem an admin can fix, in plain words, naming the line."""


def _decode(text: str) -> str:
    def one(match: re.Match) -> str:
        known = match.group()[1] == "#" or match.group()[1:] in html.entities.html5
        return html.unescape(match.group()) if known else match.group()  # "&ampx;" stays as typed
    return REFERENCE.sub(one, text)


def _escape(text: str) -> str:
    # Only &amp; &lt; &gt; &quot; are written: Telegram decodes those four by name.
    return html.escape(text, quote=False).replace('"', "&quot;")


def clean(source: str) -> str:
    """Return `source` rebuilt as normalised Telegram HTML, or raise FormattingError.

    The result is safe to render as HTML as it is (see the module docstring)."""
    out: list[str] = []
    # open tags: [canonical name, name as typed, index in source, what a <pre> holds so far, end tag we write]
    stack: list[list] = []
    open_count: Counter = Counter()  # by canonical name, so each check is O(1) however deep the nesting
    line_at = lambda index: source.count("\n", 0, index) + 1  # noqa: E731

    def fail(index: int, problem: str):
        raise FormattingError(f"Line {line_at(index)}: {problem}")

    def text(index: int, chunk: str) -> None:
        # "<a href="x>" (a quote or ">" missing) isn't a tag; as text it would hide the mistake.
        for broken in re.finditer(r"</?([a-zA-Z][\w-]*)", chunk):
            if broken.group(1).lower() in CANONICAL:
                fail(index + broken.start(),
                     f"<{broken.group(1)}> is not written correctly: check its quotes and its closing >.")
        chunk = _decode(chunk)
        if chunk and stack and stack[-1][0] == "pre":
            if stack[-1][3] == "code":  # Telegram's code-block language covers the whole <pre>
                fail(index, "inside <pre>, the <code> block must hold all of the text.")
            stack[-1][3] = "text"
        out.append(html.escape(chunk, quote=False))

    position = 0
    for match in TAG.finditer(source):
        text(position, source[position:match.start()])
        position = match.end()
        closing, typed, attributes = match.group(1), match.group(2).lower(), match.group(3)
        name = CANONICAL.get(typed)
        if name is None:
            hint = " To start a new line, just press Enter." if typed == "br" else ""
            fail(match.start(), f"<{typed}> is not something Telegram can show. "
                                f"Use b, i, u, s, code, pre, a, tg-spoiler or blockquote.{hint}")
        if closing:
            if not open_count[name]:
                fail(match.start(), f"</{typed}> closes a tag that is not open.")
            if stack[-1][0] != name:
                fail(match.start(), f"<{stack[-1][1]}> from line {line_at(stack[-1][2])} "
                                    f"must be closed before </{typed}>.")
            open_count[name] -= 1
            out.append(stack.pop()[4])
            continue
        values = {key.lower(): _decode(value[1:-1] if value[:1] in "\"'" else value)
                  for key, value in ATTRIBUTE.findall(attributes)}
        at = match.start()
        _check_nesting(stack[-1] if stack else None, open_count, name, typed,
                       lambda problem, at=at: fail(at, problem))
        tag = name
        if typed == "span" and values.get("class") != "tg-spoiler":
            fail(match.start(), '<span> is only for spoilers: write <span class="tg-spoiler"> or <tg-spoiler>.')
        if name == "a":
            href = values.get("href", "").strip()
            if not href.lower().startswith(SCHEMES):
                fail(match.start(), "links need an address starting with http://, https:// or tg://")
            if any(c.isspace() or c < " " for c in href):
                fail(match.start(), "a link address can't contain spaces or line breaks.")
            tag = f'a href="{_escape(href)}"'
        elif name == "code" and stack and stack[-1][0] == "pre":
            stack[-1][3] = "code"
            language = values.get("class", "")
            # With a language it is Telegram's code block; without, <pre> alone says it all.
            tag = f'code class="{_escape(language)}"' if re.fullmatch(r"language-[\w+#.-]+", language) else ""
        elif name == "blockquote" and "expandable" in values:
            tag = "blockquote expandable"
        stack.append([name, typed, match.start(), None, f"</{name}>" if tag else ""])
        open_count[name] += 1
        out.append(f"<{tag}>" if tag else "")
    text(position, source[position:])
    if stack:
        fail(stack[-1][2], f"<{stack[-1][1]}> is never closed.")
    return "".join(out)


def _check_nesting(top: list | None, open_count: Counter, name: str, typed: str, fail) -> None:
    # As nothing else may be opened inside code or pre, an open one is always the innermost tag.
    if top and top[0] == "pre" and name == "code":
        if top[3] is not None:
            fail("inside <pre>, the <code> block must hold all of the text.")
    elif top and top[0] in ("code", "pre"):
        fail(f"<{typed}> can't go inside <{top[1]}>: Telegram shows code without any formatting.")
    if open_count["a"] and name not in SPLITTABLE:
        fail(f"<{typed}> can't go inside a link; only b, i, u, s and tg-spoiler can.")
    if open_count["blockquote"] and name == "blockquote":
        fail("a quote can't contain another quote.")


def visible_text(html_text: str) -> str:
    """The text a reader sees, for output of clean(). Its attribute values never contain ">"."""
    return html.unescape(re.sub(r"<[^>]*>", "", html_text))


def visible_length(html_text: str) -> int:
    """Length of visible_text in UTF-16 code units, the unit of Telegram's limits. An emoji counts 2."""
    return len(visible_text(html_text).encode("utf-16-le", "surrogatepass")) // 2


# Cutting long messages ----------------------------------------------------------

TELEGRAM_TEXT_LIMIT = 4096
# A tag, an entity, or one character: the pieces a message may be cut between.
_ATOM = re.compile(r"<[^>]*>|&#?\w+;|.", re.DOTALL)
_TAG = re.compile(r"<(/?)([a-zA-Z-]+)")


def _utf16_len(text):
    return len(text.encode("utf-16-le")) // 2


def split_html(text, limit=TELEGRAM_TEXT_LIMIT):
    """Cut an HTML message into parts Telegram accepts.

    Cuts fall between tags and entities, preferably at a line break; tags open
    at a cut are closed at the end of one part and reopened in the next, so
    every part is well-formed on its own. Lengths are counted in UTF-16 units
    of the raw markup, which is never less than what Telegram counts.
    """
    if _utf16_len(text) <= limit:
        return [text]
    parts, current, open_tags = [], [], []
    size = 0
    last_break = None  # (index in current, size, open tags) after the last newline

    def closing(tags):
        return "".join(f"</{_TAG.match(t).group(2)}>" for t in reversed(tags))

    for atom in _ATOM.findall(text):
        atom_size = _utf16_len(atom)
        tag = _TAG.match(atom)
        opening = [atom] if tag and not tag.group(1) else []
        # Room for this atom and for closing every tag open after it.
        reserve = _utf16_len(closing(open_tags + opening)) + atom_size
        if current and size + reserve > limit:
            if last_break is not None and last_break[1] > limit // 2:
                cut, _, tags_at_cut = last_break
                head, tail = current[:cut], current[cut:]
            else:
                head, tail, tags_at_cut = current, [], list(open_tags)
            parts.append("".join(head) + closing(tags_at_cut))
            current = list(tags_at_cut) + tail
            size = sum(_utf16_len(a) for a in current)
            last_break = None
        current.append(atom)
        size += atom_size
        if tag and tag.group(1):
            open_tags.pop()
        elif tag:
            open_tags.append(atom)
        elif atom == "\n":
            last_break = (len(current), size, list(open_tags))
    if current:
        parts.append("".join(current) + closing(open_tags))
    return [p for p in parts if p.strip()]
