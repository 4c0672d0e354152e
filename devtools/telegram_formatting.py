"""Telegram's parse_mode parsers (HTML, MarkdownV2, legacy Markdown).

They follow the algorithms of Telegram's own parser (tdlib's MessageEntity.cpp),
including its error wording and UTF-8 byte offsets, so a message that the
emulator refuses is one that api.telegram.org would refuse too. One deliberate
exception: in HTML text a bare "&" that does not start a valid character
reference is an error here, while Telegram shows it literally. Such an "&"
almost always means user data was not escaped, which is the bug to catch.
"""
from __future__ import annotations

from dataclasses import dataclass, field

_SPACES = " \t\r\n\0\v\f"
_END = "\0"  # what the parsers see past the end of the text, like tdlib's CSlice


class ParseError(ValueError):
    """Text that Telegram refuses with "can't parse entities: <reason>"."""


class UnsupportedParseMode(LookupError):
    pass


@dataclass
class FormattedText:
    text: str
    entities: list[dict] = field(default_factory=list)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units: the unit of Telegram's lengths and offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def parse(text: str, parse_mode: str | None) -> FormattedText:
    """Parse text like sendMessage does (parse_mode is case-insensitive; None or "" is plain text)."""
    mode = (parse_mode or "").lower()
    if mode == "":
        return FormattedText(text)
    parsers = {"html": parse_html, "markdownv2": parse_markdown_v2, "markdown": parse_markdown}
    if mode not in parsers:
        raise UnsupportedParseMode(parse_mode)
    return parsers[mode](text)


class _Output:
    """Plain text being built, with the running UTF-16 offset entities refer to."""

    def __init__(self) -> None:
        self.chars: list[str] = []
        self.offset = 0
        self.entities: list[dict] = []

    def add(self, char: str) -> None:
        self.chars.append(char)
        self.offset += 2 if char > "\uffff" else 1

    def text(self, start: int = 0) -> str:
        return "".join(self.chars[start:])

    def entity(self, kind: str, start: int, **extra) -> None:
        if self.offset > start:  # Telegram drops empty entities silently
            self.entities.append({"type": kind, "offset": start, "length": self.offset - start, **extra})

    def result(self) -> FormattedText:
        entities = sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))
        return FormattedText(self.text(), entities)


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8", "surrogatepass"))


# ---------------------------------------------------------------- HTML

_HTML_TAGS = {
    "a": "text_link", "b": "bold", "strong": "bold", "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline", "s": "strikethrough", "strike": "strikethrough",
    "del": "strikethrough", "span": "spoiler", "tg-spoiler": "spoiler", "code": "code",
    "pre": "pre", "blockquote": "blockquote", "tg-emoji": "custom_emoji", "tg-time": "date_time",
}
_NAMED_REFERENCES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def _char_reference(text: str, i: int) -> tuple[str, int] | None:
    """Decode "&name;", "&#NN;" or "&#xHH;" at text[i]; return (char, next index)."""
    end = text.find(";", i + 1, i + 12)
    if end == -1:
        return None
    body = text[i + 1:end]
    if body in _NAMED_REFERENCES:
        return _NAMED_REFERENCES[body], end + 1
    if body[:2] == "#x" and len(body) > 2 and all(c in "0123456789abcdefABCDEF" for c in body[2:]):
        code = int(body[2:], 16)
    elif body[:1] == "#" and body[1:].isascii() and body[1:].isdigit():
        code = int(body[1:])
    else:
        return None
    if not 0 < code < 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return None
    return chr(code), end + 1


def _html_attribute_value(text: str, i: int) -> tuple[str, int]:
    """Read a quoted attribute value starting at the quote; references are decoded."""
    quote, i, value = text[i], i + 1, []
    while i < len(text) and text[i] != quote:
        ref = _char_reference(text, i) if text[i] == "&" else None
        if ref:  # inside attributes an undecodable "&" stays literal, as on Telegram (URLs)
            value.append(ref[0])
            i = ref[1]
        else:
            value.append(text[i])
            i += 1
    return "".join(value), i + 1 if i < len(text) else i


def parse_html(source: str) -> FormattedText:
    out = _Output()
    at = lambda k: source[k] if k < len(source) else _END  # noqa: E731
    stack: list[tuple[str, dict, int, int]] = []  # (tag, attributes, utf16 start, text start)
    i = 0
    while i < len(source):
        c = source[i]
        if c == "&":
            ref = _char_reference(source, i)
            if ref is None:
                raise ParseError(f"Character '&' must be escaped as \"&amp;\" at byte offset {_byte_offset(source, i)}")
            out.add(ref[0])
            i = ref[1]
            continue
        if c != "<":
            out.add(c)
            i += 1
            continue
        begin = i
        begin_byte = _byte_offset(source, begin)
        i += 1
        if at(i) != "/":
            while at(i) not in _SPACES and at(i) != ">":
                i += 1
            if i >= len(source):
                raise ParseError(f"Unclosed start tag at byte offset {begin_byte}")
            tag = source[begin + 1:i].lower()
            if tag not in _HTML_TAGS:
                raise ParseError(f'Unsupported start tag "{tag}" at byte offset {begin_byte}')
            attributes: dict[str, str] = {}
            while at(i) != ">":
                while i < len(source) and at(i) in _SPACES:
                    i += 1
                if at(i) == ">":
                    break
                name_begin = i
                while at(i) not in _SPACES and at(i) not in "=>":
                    i += 1
                name = source[name_begin:i]
                if not name:
                    raise ParseError(f'Empty attribute name in the tag "{tag}" at byte offset {begin_byte}')
                while i < len(source) and at(i) in _SPACES:
                    i += 1
                if at(i) != "=":
                    if tag == "blockquote" and name == "expandable":
                        attributes[name] = ""
                        continue
                    raise ParseError(f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                                     f"at byte offset {begin_byte}")
                i += 1
                while i < len(source) and at(i) in _SPACES:
                    i += 1
                if i >= len(source):
                    raise ParseError(f'Unclosed start tag "{tag}" at byte offset {begin_byte}')
                if at(i) in "'\"":
                    value, i = _html_attribute_value(source, i)
                else:  # an unquoted name token: letters, digits, periods, hyphens
                    token_begin = i
                    while at(i).isascii() and (at(i).isalnum() or at(i) in ".-"):
                        i += 1
                    value = source[token_begin:i].lower()
                    if at(i) not in _SPACES and at(i) != ">":
                        raise ParseError("Unexpected end of name token at byte offset "
                                         f"{_byte_offset(source, token_begin)}")
                if i >= len(source):
                    raise ParseError(f"Unclosed start tag at byte offset {begin_byte}")
                attributes[name] = value
            if tag == "span" and attributes.get("class") != "tg-spoiler":
                raise ParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin_byte}')
            stack.append((tag, attributes, out.offset, len(out.chars)))
            i += 1
            continue
        # an end tag
        if not stack:
            raise ParseError(f"Unexpected end tag at byte offset {begin_byte}")
        while at(i) not in _SPACES and at(i) != ">":
            i += 1
        end_name = source[begin + 2:i]
        while i < len(source) and at(i) in _SPACES:
            i += 1
        if at(i) != ">":
            raise ParseError(f"Unclosed end tag at byte offset {begin_byte}")
        tag, attributes, start, text_start = stack.pop()
        if end_name and end_name.lower() != tag:
            raise ParseError(f'Unmatched end tag at byte offset {begin_byte}, '
                             f'expected "</{tag}>", found "</{end_name}>"')
        _close_html_entity(out, tag, attributes, start, text_start)
        i += 1
    if stack:
        raise ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return out.result()


def _close_html_entity(out: _Output, tag: str, attributes: dict, start: int, text_start: int) -> None:
    kind = _HTML_TAGS[tag]
    last = out.entities[-1] if out.entities else None
    same_range = last is not None and last["offset"] == start and last["length"] == out.offset - start
    css_class = attributes.get("class", "")
    language = css_class[len("language-"):] if css_class.startswith("language-") else ""
    if kind == "text_link":
        url = attributes.get("href") or out.text(text_start)
        if url:
            out.entity(kind, start, url=url)
    elif kind == "pre" and same_range and last["type"] == "code" and last.get("language"):
        last["type"] = "pre"  # <code class="language-x"><pre>..</pre></code>
    elif kind == "code" and same_range and last["type"] == "pre" and language:
        last["language"] = language  # <pre><code class="language-x">..</code></pre>
    elif kind == "code":
        out.entity(kind, start, **({"language": language} if language else {}))
    elif kind == "blockquote":
        out.entity("expandable_blockquote" if "expandable" in attributes else kind, start)
    elif kind == "custom_emoji":
        out.entity(kind, start, custom_emoji_id=attributes.get("emoji-id", ""))
    elif kind == "date_time":
        if not attributes.get("unix", "").isdigit():
            raise ParseError('Tag "tg-time" must have a valid "unix" attribute')
        out.entity(kind, start, unix_time=int(attributes["unix"]),
                   **({"date_time_format": attributes["format"]} if "format" in attributes else {}))
    else:
        out.entity(kind, start)


# ---------------------------------------------------------------- MarkdownV2

_V2_RESERVED = "_*[]()~`>#+-=|{}.!"
_V2_NAMES = {"bold": "Bold", "italic": "Italic", "underline": "Underline", "strikethrough": "Strikethrough",
             "spoiler": "Spoiler", "code": "Code", "pre": "Pre", "text_link": "TextUrl",
             "custom_emoji": "CustomEmoji"}


def _reserved(c: str) -> ParseError:
    return ParseError(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")


def _pre_header(source: str, i: int) -> tuple[str, int]:
    """After an opening ```: read an optional language and skip one line break."""
    at = lambda k: source[k] if k < len(source) else _END  # noqa: E731
    language = ""
    end = i
    while at(end) not in _SPACES and at(end) != "`":
        end += 1
    if end != i and end < len(source) and source[end] != "`":
        language, i = source[i:end], end
    if at(i) in "\r\n":
        i += 2 if at(i + 1) in "\r\n" and at(i + 1) != at(i) else 1
    return language, i


def parse_markdown_v2(source: str) -> FormattedText:
    out = _Output()
    at = lambda k: source[k] if k < len(source) else _END  # noqa: E731
    # open entities: [kind, utf16 start, byte offset of the mark, text start, language]
    stack: list[list] = []
    quote: list | None = None  # an open block quotation: [utf16 start, expandable]
    i = 0
    while i < len(source):
        c = source[i]
        line_start = i == 0 or source[i - 1] == "\n"
        if quote is None and line_start and not stack and (c == ">" or source.startswith("**>", i)):
            expandable = c == "*"
            quote = [out.offset, expandable]
            i += 3 if expandable else 1
            continue
        if quote is not None and line_start and c == ">":
            i += 1
            continue
        if c == "\\" and "\0" < at(i + 1) <= "~":
            out.add(source[i + 1])
            i += 2
            continue
        if c == "\n" and quote is not None and at(i + 1) != ">":
            out.entity("expandable_blockquote" if quote[1] else "blockquote", quote[0])
            quote = None
        top = stack[-1][0] if stack else None
        reserved = "`" if top in ("code", "pre") else _V2_RESERVED
        if c not in reserved:
            out.add(c)
            i += 1
            continue
        if quote is not None and source.startswith("||", i) and at(i + 2) in "\n\0" and top != "spoiler":
            quote[1] = True  # the expandability mark ending a block quotation
            i += 2
            continue
        closes = {
            "bold": c == "*", "italic": c == "_" and at(i + 1) != "_", "code": c == "`",
            "pre": source.startswith("```", i), "text_link": c == "]", "custom_emoji": c == "]",
            "underline": source.startswith("__", i), "strikethrough": c == "~",
            "spoiler": source.startswith("||", i),
        }.get(top, False)
        if not closes:
            mark_byte = _byte_offset(source, i)
            language = ""
            if c == "_":
                kind = "underline" if at(i + 1) == "_" else "italic"
                i += 2 if kind == "underline" else 1
            elif c in "*~[":
                kind = {"*": "bold", "~": "strikethrough", "[": "text_link"}[c]
                i += 1
            elif c == "|" and at(i + 1) == "|":
                kind, i = "spoiler", i + 2
            elif c == "!" and at(i + 1) == "[":
                kind, i = "custom_emoji", i + 2
            elif c == "`" and source.startswith("```", i):
                kind = "pre"
                language, i = _pre_header(source, i + 3)
            elif c == "`":
                kind, i = "code", i + 1
            else:
                raise _reserved(c)
            stack.append([kind, out.offset, mark_byte, len(out.chars), language])
            continue
        kind, start, _, text_start, language = stack.pop()
        if kind in ("bold", "italic", "code", "strikethrough"):
            out.entity(kind, start)
            i += 1
        elif kind in ("underline", "spoiler"):
            out.entity(kind, start)
            i += 2
        elif kind == "pre":
            out.entity("pre", start, **({"language": language} if language else {}))
            i += 3
        else:  # text_link or custom_emoji: "](url)" or "]"
            url, i = _v2_url(source, i + 1, out.text(text_start) if kind == "text_link" else None)
            if kind == "custom_emoji":
                if url is None or not url.startswith("tg://emoji?id="):
                    raise ParseError("Custom emoji entity must contain a tg://emoji URL")
                out.entity(kind, start, custom_emoji_id=url[len("tg://emoji?id="):])
            elif url:
                out.entity(kind, start, url=url)
    if stack:
        kind, _, mark_byte, _, language = stack[-1]
        name = "PreCode" if kind == "pre" and language else _V2_NAMES[kind]
        raise ParseError(f"Can't find end of {name} entity at byte offset {mark_byte}")
    if quote is not None:
        out.entity("expandable_blockquote" if quote[1] else "blockquote", quote[0])
    return out.result()


def _v2_url(source: str, i: int, default: str | None) -> tuple[str | None, int]:
    """Read "(url)" at source[i] (backslash escapes allowed); no "(" means `default`."""
    if i >= len(source) or source[i] != "(":
        return default, i
    begin = i + 1
    i, url = begin, []
    while i < len(source) and source[i] != ")":
        if source[i] == "\\" and i + 1 < len(source) and "\0" < source[i + 1] <= "~":
            i += 1
        url.append(source[i])
        i += 1
    if i >= len(source):
        raise ParseError(f"Can't find end of a URL at byte offset {_byte_offset(source, begin)}")
    return "".join(url), i + 1


# ---------------------------------------------------------------- legacy Markdown

def parse_markdown(source: str) -> FormattedText:
    out = _Output()
    at = lambda k: source[k] if k < len(source) else _END  # noqa: E731
    i = 0
    while i < len(source):
        c = source[i]
        if c == "\\" and at(i + 1) in "_*`[":
            out.add(source[i + 1])
            i += 2
            continue
        if c not in "_*`[":
            out.add(c)
            i += 1
            continue
        begin = i
        end_char = "]" if c == "[" else c
        is_pre = c == "`" and source.startswith("```", i)
        language = ""
        if is_pre:
            language, i = _pre_header(source, i + 3)
        else:
            i += 1
        start = out.offset
        while i < len(source) and (source[i] != end_char or (is_pre and not source.startswith("```", i))):
            out.add(source[i])
            i += 1
        if i >= len(source):
            raise ParseError(f"Can't find end of the entity starting at byte offset {_byte_offset(source, begin)}")
        if c == "[":
            url = source[begin + 1:i]
            if at(i + 1) == "(":
                close = source.find(")", i + 2)
                close = len(source) if close == -1 else close
                url, i = source[i + 2:close], close
            if url:
                out.entity("text_link", start, url=url)
        elif is_pre:
            out.entity("pre", start, **({"language": language} if language else {}))
        else:
            out.entity({"_": "italic", "*": "bold", "`": "code"}[c], start)
        i += 3 if is_pre else 1
    return out.result()
