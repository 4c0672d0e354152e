"""What a client wrote in an email, without the history their mail program quoted below it
and without their signature: the conversation shows the reply, the original is kept
(services/inbox/email_in.py). And the text of an HTML-only mail.

Mail programs mark the quoted history in a few well-known ways: a line "On <date>, <name>
wrote:" (in the writer's language, and wrapped over two lines by Gmail), "-----Original
Message-----", Outlook's "From: … Sent: …" block, or just ">" before each line.
"""
import re
from html.parser import HTMLParser

# "On <date>, <name> wrote:" as common mail programs write it, language by language.
_ATTRIBUTION = re.compile(
    r"^(?:"
    r"On\b.{0,300}\bwrote:"                                  # English (Gmail, Apple Mail, Thunderbird)
    r"|Am\b.{0,300}\bschrieb\b.{0,200}:"                     # German
    r"|Le\b.{0,300}\ba [ée]crit\s?:"                         # French
    r"|El\b.{0,300}\bescribi[óo]\s?:"                        # Spanish
    r"|Il\b.{0,300}\bha scritto\s?:"                         # Italian
    r"|Em\b.{0,300}\bescreveu\s?:"                           # Portuguese
    r"|Op\b.{0,300}\bschreef\b.{0,200}:"                     # Dutch
    r"|(?:Den|På)\b.{0,300}\bskrev\b.{0,200}:"               # Swedish, Danish, Norwegian
    r"|.{0,300}\b(?:написал|написала|написав|написала\(а\)|пише|пишет|napisał|napisała|napsal)"
    r"(?:\(а\))?\s?:"                                        # Russian, Ukrainian, Polish, Czech
    r"|.{0,300}\d.{0,300}<\s?[^<>@\s]+@[^<>\s]+>\s?:"           # Gmail elsewhere: "<date>, <name> <addr>:"
    r")\s*$",
    re.IGNORECASE | re.DOTALL)
_SEPARATOR = re.compile(
    r"^\s*-{2,}\s*(?:Original Message|Ursprüngliche Nachricht|Message d'origine|Mensaje original|"
    r"Messaggio originale|Oorspronkelijk bericht|Исходное сообщение|Вихідне повідомлення)\s*-{2,}\s*$",
    re.IGNORECASE)
_FROM = re.compile(r"^\s*\*?(?:From|Von|De|Van|Da|Från|Fra|Od|От|Від)\s?:\*?\s", re.IGNORECASE)
_SENT = re.compile(r"^\s*\*?(?:Sent|Date|Gesendet|Datum|Envoyé|Enviado|Fecha|Inviato|Data|Verzonden|"
                   r"Skickat|Sendt|Wysłano|Отправлено|Надіслано|Дата)\s?:\*?\s", re.IGNORECASE)
_RULE = re.compile(r"^\s*_{10,}\s*$")
_SIGNATURE = re.compile(r"^--\s?$")
_MOBILE = re.compile(
    r"^\s*(?:Sent from my \w[\w\s-]{0,40}|Sent from (?:Mail|Outlook) for \w+|Get Outlook for \w+"
    r"|Sent from (?:Yahoo Mail|Proton Mail|ProtonMail).{0,40}|Von meinem \w+ gesendet"
    r"|Envoyé de mon \w+|Enviado desde mi \w+|Inviato da \w+|Verzonden met mijn \w+"
    r"|Отправлено с \w+|Надіслано з \w+)\s*\.?\s*$",
    re.IGNORECASE)


def trim(text):
    """`text` without quoted history and signature; the text itself when nothing else is left."""
    original = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    lines = original.split("\n")
    lines = lines[:_history_start(lines)]
    lines = lines[:_signature_start(lines)]
    while lines and not lines[0].strip():
        lines.pop(0)
    lines = lines[_attribution_lines(lines, 0):]  # an inline reply's, above its quotes
    while lines and (not lines[-1].strip() or lines[-1].lstrip().startswith(">")):
        lines.pop()  # a quote left at the end: the history without its attribution line
    trimmed = "\n".join(line.rstrip() for line in lines).strip()
    return trimmed or original.strip()


def _history_start(lines):
    """Where the quoted history starts (len(lines): none). A marker before anything was
    written is an inline reply's attribution: the answers are among the quotes below it."""
    written = False
    for index, line in enumerate(lines):
        stripped = line.strip()
        if written and _is_history(lines, index):
            start = index
            while start > 0 and (not lines[start - 1].strip() or _RULE.match(lines[start - 1])):
                start -= 1  # Outlook's rule above its header
            return start
        if stripped and not stripped.startswith(">"):
            written = True
    return len(lines)


def _is_history(lines, index):
    line = lines[index].strip()
    if _SEPARATOR.match(line):
        return True
    if _attribution_lines(lines, index):
        return True
    if _FROM.match(line):  # Outlook: From:, then Sent:/Date: within a few lines
        following = [other for other in lines[index + 1:index + 5] if other.strip()]
        return any(_SENT.match(other) for other in following[:3])
    return False


def _attribution_lines(lines, index):
    """How many lines the "On <date>, <name> wrote:" at `index` takes: 0 (none there), 1 or 2."""
    line = lines[index].strip() if index < len(lines) else ""
    if _ATTRIBUTION.match(line):
        return 1
    # Gmail wraps a long attribution: "On Mon, … John Doe <\njohn@example.com> wrote:".
    if index + 1 < len(lines) and len(line) < 300 and not line.endswith(":") and _starts_attribution(line):
        return 2 if _ATTRIBUTION.match(f"{line} {lines[index + 1].strip()}") else 0
    return 0


def _starts_attribution(line):
    """The first line of a wrapped attribution: "On …", or Gmail's "<date>, <name> <" cut in the address."""
    return bool(re.match(r"^(?:On|Am|Le|El|Il|Em|Op|Den|På)\b", line, re.IGNORECASE)
                or (line.endswith("<") and re.search(r"\d", line)))


def _signature_start(lines):
    for index, line in enumerate(lines):
        if index and (_SIGNATURE.match(line) or _MOBILE.match(line)):
            return index
    return len(lines)


# HTML to text ------------------------------------------------------------------------------------

_BLOCKS = {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "fieldset",
           "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr",
           "li", "main", "nav", "ol", "p", "pre", "section", "table", "tr", "ul"}
_PARAGRAPHS = {"p", "h1", "h2", "h3", "h4", "h5", "h6"}
_HIDDEN = {"script", "style", "head", "title", "template", "noscript"}


class _TextParser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.lines = [[0, ""]]   # [quote depth, text] per line
        self.hidden = 0
        self.pre = 0
        self.quote = 0
        self.links = []          # [href, text so far] of the open <a>s

    def _newline(self, force=False, blank=False):
        """End the line (unless it is empty and not `force`d); `blank`: leave an empty line
        before what follows, between paragraphs."""
        if force or self.lines[-1][1].strip():
            self.lines.append([self.quote, ""])
        if blank and len(self.lines) > 1 and self.lines[-2][1].strip():
            self.lines.append([self.quote, ""])

    def _write(self, text):
        if self.links:
            self.links[-1][1] += text
            return
        if not self.lines[-1][1].strip():
            self.lines[-1][0] = self.quote
        self.lines[-1][1] += text

    def handle_starttag(self, tag, attrs):
        if tag in _HIDDEN:
            self.hidden += 1
        elif tag == "a":
            self.links.append([dict(attrs).get("href") or "", ""])
            return
        if tag == "blockquote":
            self.quote += 1
        if tag == "pre":
            self.pre += 1
        if tag in _BLOCKS:
            self._newline(force=tag == "br", blank=tag in _PARAGRAPHS)
        if tag == "li":
            self._write("- ")

    def handle_startendtag(self, tag, attrs):
        if tag in _BLOCKS:
            self._newline(force=tag == "br")

    def handle_endtag(self, tag):
        if tag in _HIDDEN:
            self.hidden = max(0, self.hidden - 1)
        elif tag == "a" and self.links:
            href, text = self.links.pop()
            text = " ".join(text.split())
            if href.startswith(("http://", "https://")) and href not in (text, f"mailto:{text}"):
                text = f"{text} ({href})" if text else href
            self._write(text)
            return
        if tag == "blockquote":
            self.quote = max(0, self.quote - 1)
        if tag == "pre":
            self.pre = max(0, self.pre - 1)
        if tag in _BLOCKS:
            self._newline(blank=tag in _PARAGRAPHS)

    def handle_data(self, data):
        if self.hidden:
            return
        if self.pre:
            first, *rest = data.split("\n")
            self._write(first)
            for line in rest:
                self._newline(force=True)
                self._write(line)
        else:
            self._write(re.sub(r"\s+", " ", data))

    def text(self):
        lines = []
        for depth, line in self.lines:
            line = line.strip() if not self.pre else line.rstrip()
            lines.append(("> " * depth + line).rstrip() if line else "")
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(markup):
    """The text an HTML mail shows: no scripts or styles, blocks on their own lines, quotes
    as "> " lines, a link as "text (url)"."""
    parser = _TextParser()
    try:
        parser.feed(markup or "")
        parser.close()
    except (AssertionError, ValueError):  # html.parser's rare refusals of broken markup
        pass
    while parser.links:  # an <a> never closed
        parser.handle_endtag("a")
    return parser.text()
