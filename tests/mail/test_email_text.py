"""A client's email reply is stored without the history their mail program quoted and
without their signature (services/inbox/email_text.py); HTML-only mails become text."""
import pytest

from services.inbox.email_text import html_to_text, trim

GMAIL = """\
Yes, Tuesday works for me.

On Mon, Jan 15, 2024 at 10:02 AM Acme Support <support@acme.example> wrote:
> Hello Jane,
> would Tuesday suit you?
>
> Acme Support
"""

GMAIL_WRAPPED = """\
Tuesday is fine.
Thanks!

On Mon, Jan 15, 2024 at 10:02 AM Acme Customer Support Team of the Americas <
support@acme.example> wrote:

> Hello Jane,
"""

GMAIL_GERMAN = """\
Passt, danke.

Am Mo., 15. Jan. 2024 um 10:02 Uhr schrieb Acme Support <support@acme.example>:

> Hallo Jane,
"""

GMAIL_FRENCH = """\
Parfait, merci.

Le lun. 15 janv. 2024 à 10:02, Acme Support <support@acme.example> a écrit :

> Bonjour Jane,
"""

GMAIL_SPANISH = """\
Perfecto.

El lun, 15 ene 2024 a las 10:02, Acme Support (<support@acme.example>) escribió:

> Hola Jane,
"""

GMAIL_RUSSIAN = """\
Да, подходит.

пн, 15 янв. 2024 г. в 10:02, Acme Support <support@acme.example>:

> Здравствуйте,
"""

OUTLOOK = """\
Please send the invoice again.

Regards,
Jane

________________________________
From: Acme Support <support@acme.example>
Sent: Monday, January 15, 2024 10:02 AM
To: Jane Doe <jane@example.org>
Subject: Your order

Hello Jane,
"""

OUTLOOK_BOLD = """\
Received, thank you.

*From:* Acme Support <support@acme.example>
*Sent:* Monday, January 15, 2024 10:02 AM
*To:* Jane Doe
*Subject:* Your order

Hello Jane,
"""

ORIGINAL_MESSAGE = """\
Got it.

-----Original Message-----
From: Acme Support [mailto:support@acme.example]
Sent: Monday, January 15, 2024 10:02 AM
Hello Jane,
"""

APPLE_MAIL = """\
Sounds good.

Sent from my iPhone

> On 15 Jan 2024, at 10:02, Acme Support <support@acme.example> wrote:
>
> Hello Jane,
"""

THUNDERBIRD = """\
I'll take two.

-- \nJane Doe
Head of Purchasing, Example Org

On 15.01.24 10:02, Acme Support wrote:
> Hello Jane,
"""

PLAIN_QUOTES = """\
Yes please.

> Would you like the blue one?
> We have it in stock.
"""

ANDROID = """\
Call me tomorrow

Sent from my Android device
"""

INLINE_REPLY = """\
On Mon, Jan 15, 2024 at 10:02 AM Acme Support <support@acme.example> wrote:
> Would Tuesday suit you?
Yes, Tuesday.
> And which colour?
Blue.
"""


@pytest.mark.parametrize("mail, expected", [
    (GMAIL, "Yes, Tuesday works for me."),
    (GMAIL_WRAPPED, "Tuesday is fine.\nThanks!"),
    (GMAIL_GERMAN, "Passt, danke."),
    (GMAIL_FRENCH, "Parfait, merci."),
    (GMAIL_SPANISH, "Perfecto."),
    (GMAIL_RUSSIAN, "Да, подходит."),
    (OUTLOOK, "Please send the invoice again.\n\nRegards,\nJane"),
    (OUTLOOK_BOLD, "Received, thank you."),
    (ORIGINAL_MESSAGE, "Got it."),
    (APPLE_MAIL, "Sounds good."),
    (THUNDERBIRD, "I'll take two."),
    (PLAIN_QUOTES, "Yes please."),
    (ANDROID, "Call me tomorrow"),
    ("Just the text.\r\nOn two lines.\r\n", "Just the text.\nOn two lines."),
], ids=["gmail", "gmail-wrapped", "gmail-de", "gmail-fr", "gmail-es", "gmail-ru", "outlook",
        "outlook-bold", "original-message", "apple-mail", "thunderbird", "plain-quotes", "android", "crlf"])
def test_trim_keeps_only_what_the_client_wrote(mail, expected):
    assert trim(mail) == expected


def test_an_inline_reply_keeps_its_answers_between_the_quotes():
    assert trim(INLINE_REPLY) == INLINE_REPLY.split("\n", 1)[1].strip()


@pytest.mark.parametrize("mail", [
    "> only a quote\n> nothing else\n",
    "-- \nJust a signature\n",
    "On Mon, Jan 15, 2024 at 10:02 AM Acme <a@acme.example> wrote:\n> hi\n",
])
def test_trim_never_returns_empty_when_the_mail_had_text(mail):
    assert trim(mail) == "\n".join(line.rstrip() for line in mail.strip().split("\n"))


def test_trim_keeps_lines_that_only_look_like_markers():
    text = "From: the warehouse, the parcel left today.\nOn Monday it arrives.\nSent from Berlin."
    assert trim(text) == text


def test_trim_of_nothing_is_nothing():
    assert trim("") == "" and trim(None) == ""


@pytest.mark.parametrize("markup, expected", [
    ("<p>Hello <b>Jane</b>,</p><p>see <a href='https://acme.example/o/1'>your order</a>.</p>",
     "Hello Jane,\n\nsee your order (https://acme.example/o/1)."),
    ("<html><head><style>p {color: red}</style><title>x</title></head>"
     "<body><script>alert(1)</script><div>Line one<br>Line two</div></body></html>",
     "Line one\nLine two"),
    ("<ul><li>one</li><li>two</li></ul>", "- one\n- two"),
    ("<div>Yes</div><div class=gmail_quote>On Mon wrote:<blockquote>old <i>text</i></blockquote></div>",
     "Yes\nOn Mon wrote:\n> old text"),
    ("<a href='https://acme.example'>https://acme.example</a>", "https://acme.example"),
    ("<a href='mailto:jane@example.org'>jane@example.org</a>", "jane@example.org"),
    ("Fish &amp; chips &lt;3", "Fish & chips <3"),
    ("<p>unclosed <a href='https://x.example'>link", "unclosed link (https://x.example)"),
    ("", ""),
])
def test_html_to_text(markup, expected):
    assert html_to_text(markup) == expected


def test_an_html_reply_is_trimmed_like_a_plain_one():
    markup = ('<div dir="ltr">Blue, please.</div><br><div class="gmail_quote"><div class="gmail_attr">'
              'On Mon, Jan 15, 2024 at 10:02 AM Acme Support &lt;support@acme.example&gt; wrote:<br></div>'
              '<blockquote class="gmail_quote">Which colour?</blockquote></div>')
    assert trim(html_to_text(markup)) == "Blue, please."
