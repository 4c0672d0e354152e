"""Email in (services/inbox/email_in.py): a raw mail becomes a JSON-able dict whatever its bytes,
and the handler puts it in the right conversation: the thread it answers, else its sender's
client, else a new client; our own mail and automatic replies are dropped, and a mail with the
subject "unsubscribe" opts the sender out of email."""
import json
from email.message import EmailMessage
from email.utils import make_msgid

from hypothesis import HealthCheck, given, settings, strategies as st

from models import Contact, Conversation, InboundEvent, Lead, Message, OutboxMessage
from services.core import policy
from services.core.actors import Actor
from services.inbox import clients, consent, conversations, email_in, inbound

JANE = "jane@example.org"


def raw_mail(subject="Hello", body="Is my order ready?", sender=f"Jane Doe <{JANE}>", html=None,
             attachments=(), **headers):
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "Acme <support@acme.example>", subject
    message["Message-ID"] = headers.pop("message_id", None) or make_msgid(domain="example.org")
    message["Date"] = "Mon, 15 Jan 2024 10:02:03 +0100"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    if body is not None:
        message.set_content(body)
        if html:
            message.add_alternative(html, subtype="html")
    else:
        message.set_content(html, subtype="html")
    for name, maintype, subtype, data in attachments:
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


# -- parse --------------------------------------------------------------------------------------


def test_parse_reads_the_headers_the_thread_and_the_trimmed_text():
    raw = raw_mail("Re: Your order", "Yes, Tuesday.\n\nOn Mon, Jan 15, 2024 at 10:02 AM Acme "
                                     "<support@acme.example> wrote:\n> Would Tuesday suit you?",
                   message_id="<reply-1@example.org>", In_Reply_To="<ours-2@acme.example>",
                   References="<ours-1@acme.example> <ours-2@acme.example>",
                   sender="\"Doe, Jane\" <Jane@Example.ORG>")
    parsed = email_in.parse(raw)
    assert parsed["message_id"] == "<reply-1@example.org>"
    assert parsed["in_reply_to"] == "<ours-2@acme.example>"
    assert parsed["references"] == ["<ours-1@acme.example>", "<ours-2@acme.example>"]
    assert parsed["from_address"] == JANE and parsed["from_name"] == "Doe, Jane"
    assert parsed["to"] == ["support@acme.example"] and parsed["subject"] == "Re: Your order"
    assert parsed["date"] == "2024-01-15T10:02:03+01:00"
    assert parsed["text"] == "Yes, Tuesday."
    assert parsed["original"].startswith("Yes, Tuesday.\n\nOn Mon") and "> Would Tuesday" in parsed["original"]
    assert parsed["attachments"] == [] and parsed["auto_submitted"] == "" and parsed["precedence"] == ""
    json.dumps(parsed)


def test_parse_lists_attachments_with_name_type_and_decoded_size():
    pdf, png, ogg = b"%PDF-1.4\n" + bytes(range(256)) * 4, b"\x89PNG\r\n" + b"\0" * 300, b"OggS" + b"\1" * 50
    raw = raw_mail(html="<p>Is my order ready?</p>", attachments=[
        ("invoice 42.pdf", "application", "pdf", pdf), ("photo.png", "image", "png", png),
        ("voice.ogg", "audio", "ogg", ogg), ("notes.txt", "text", "plain", b"some notes")])
    parsed = email_in.parse(raw)
    assert parsed["text"] == "Is my order ready?"
    assert parsed["attachments"] == [
        {"kind": "document", "file_name": "invoice 42.pdf", "mime_type": "application/pdf",
         "file_size": len(pdf)},
        {"kind": "photo", "file_name": "photo.png", "mime_type": "image/png", "file_size": len(png)},
        {"kind": "audio", "file_name": "voice.ogg", "mime_type": "audio/ogg", "file_size": len(ogg)},
        {"kind": "document", "file_name": "notes.txt", "mime_type": "text/plain", "file_size": 10},
    ]


def test_an_html_only_mail_becomes_text():
    parsed = email_in.parse(raw_mail(body=None, html="<div>Blue, <b>please</b>.<br>Thanks</div>"
                                                     "<style>div {}</style>"))
    assert parsed["text"] == "Blue, please.\nThanks"


def test_encoded_words_and_other_charsets_are_decoded():
    raw = ("From: =?utf-8?b?SsO8cmdlbiBNw7xsbGVy?= <jm@example.org>\r\n"
           "Subject: =?iso-8859-1?q?Gr=FC=DFe?=\r\nMessage-ID: <x@example.org>\r\n"
           "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n"
           "\r\nSch=F6ne Gr=FC=DFe\r\n").encode("ascii")
    parsed = email_in.parse(raw)
    assert parsed["from_name"] == "Jürgen Müller" and parsed["subject"] == "Grüße"
    assert parsed["text"] == "Schöne Grüße"


def test_an_unknown_charset_or_broken_headers_give_what_can_be_read():
    raw = (b"From: nobody\r\nSubject: =?x-unknown?q?abc?=\r\nDate: yesterday\r\nReferences: junk\r\n"
           b"Content-Type: text/plain; charset=x-unknown\r\n\r\nHello \xff\xfe there\r\n")
    parsed = email_in.parse(raw)
    assert parsed["date"] is None and parsed["message_id"] is None and parsed["references"] == []
    assert parsed["from_address"] == "nobody" and "Hello" in parsed["text"] and "there" in parsed["text"]
    json.dumps(parsed)


def test_a_forwarded_mail_is_one_attachment():
    inner = EmailMessage()
    inner["Subject"] = "the original"
    inner.set_content("old text")
    outer = EmailMessage()
    outer["From"], outer["Subject"] = JANE, "Fwd: the original"
    outer.set_content("See below")
    outer.add_attachment(inner)
    parsed = email_in.parse(outer.as_bytes())
    assert parsed["text"] == "See below"
    [attachment] = parsed["attachments"]
    assert attachment["mime_type"] == "message/rfc822" and attachment["kind"] == "document"
    assert attachment["file_size"] > 0


def test_automatic_replies_are_recognised():
    assert email_in.is_automatic(email_in.parse(raw_mail(Auto_Submitted="auto-replied")))
    assert email_in.is_automatic(email_in.parse(raw_mail(Precedence="bulk")))
    assert not email_in.is_automatic(email_in.parse(raw_mail(Auto_Submitted="no")))
    assert not email_in.is_automatic(email_in.parse(raw_mail()))


HEADER_NAMES = st.sampled_from(["From", "To", "Subject", "Message-ID", "In-Reply-To", "References", "Date",
                                "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
                                "Auto-Submitted", "Precedence", "X-Other"])
HEADER_VALUES = st.one_of(
    st.text(max_size=80).map(lambda text: text.replace("\r", " ").replace("\n", " ")),
    st.sampled_from(["multipart/mixed; boundary=b", "text/html; charset=x-nope", "base64", "quoted-printable",
                     "=?utf-8?b?!!!?=", "<a@b> <c@d", "attachment; filename*=utf-8''%ff%fe",
                     "message/rfc822", "multipart/alternative"]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_parse_never_raises_on_arbitrary_bytes(raw):
    json.dumps(email_in.parse(raw))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=12),
       st.one_of(st.text(max_size=300), st.sampled_from(["--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--",
                                                        "<p>hi</p>", "=FF=FE", "!!!notbase64"])))
def test_parse_never_raises_on_any_headers_and_body(headers, body):
    raw = "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n" + body
    parsed = email_in.parse(raw.encode("utf-8", "surrogatepass"))
    json.dumps(parsed)
    assert isinstance(parsed["text"], str) and isinstance(parsed["attachments"], list)


# -- handle -------------------------------------------------------------------------------------


def handle(raw, **extra):
    payload = {**email_in.parse(raw), **extra}
    email_in.handle(payload, None)
    return payload


def messages():
    return list(Message.select().order_by(Message.id))


def test_a_first_mail_makes_a_client_and_their_conversation(any_db):
    payload = handle(raw_mail("Question", "Is my order ready?\n\n-- \nJane", attachments=[
        ("photo.png", "image", "png", b"\x89PNG" + b"\0" * 10)]))
    lead = Lead.get()
    assert (lead.first_name, lead.last_name, lead.source) == ("Jane", "Doe", "other")
    assert [(c.kind, c.value) for c in Contact.select()] == [("email", JANE)]
    [message] = messages()
    assert message.conversation.lead_id == lead.id and message.direction == "in"
    assert (message.transport, message.address, message.external_ref) == ("email", JANE, payload["message_id"])
    assert message.text == "Is my order ready?"
    assert json.loads(message.details) == {"subject": "Question", "references": [],
                                           "original": "Is my order ready?\n\n-- \nJane"}
    assert json.loads(message.attachments) == [
        {"kind": "photo", "file_name": "photo.png", "mime_type": "image/png", "file_size": 14}]


def test_a_second_mail_from_the_same_address_joins_the_conversation(any_db):
    handle(raw_mail("One"))
    handle(raw_mail("Two", sender="JANE@example.org"))
    assert Lead.select().count() == 1 and Conversation.select().count() == 1
    assert [m.text for m in messages()] == ["Is my order ready?"] * 2


def test_a_reply_from_another_address_follows_its_thread(any_db):
    first = handle(raw_mail("Order"))
    handle(raw_mail("Re: Order", "From my work address", sender="Jane Doe <jane.doe@work.example.com>",
                    In_Reply_To=first["message_id"], References=first["message_id"]))
    assert Lead.select().count() == 1
    second = messages()[1]
    assert second.conversation_id == messages()[0].conversation_id
    assert second.address == "jane.doe@work.example.com"
    assert json.loads(second.details)["references"] == [first["message_id"]]


def test_a_reply_to_what_we_sent_follows_our_message_id(any_db):
    lead, _ = clients.from_address(Actor.system("test"), "phone", "+12025550123", "Bob Stone")
    conversation = conversations.open_for(lead)
    OutboxMessage.create(key="our-email", channel="email", address="bob@example.org", text="Hi Bob",
                         conversation=conversation, provider_id="<ours-1@acme.example>", status="sent")
    handle(raw_mail("Re: Hi", "Thanks!", sender="bob@example.org", In_Reply_To="<ours-1@acme.example>"))
    assert Lead.select().count() == 1
    [message] = messages()
    assert message.conversation_id == conversation.id and message.address == "bob@example.org"


def test_our_own_mail_and_automatic_replies_are_dropped(any_db, monkeypatch):
    handle(raw_mail(), from_us=True)
    handle(raw_mail(sender="Out of office <jane@example.org>", Auto_Submitted="auto-replied"))
    handle(raw_mail(Precedence="bulk"))
    monkeypatch.setattr(policy, "_current", policy.Policy(email_from="Acme <support@acme.example>"))
    handle(raw_mail(sender="Acme <Support@acme.example>"))
    assert messages() == [] and Lead.select().count() == 0


def test_an_unsubscribe_mail_opts_the_sender_out_and_stores_nothing(any_db):
    handle(raw_mail("Question"))
    lead = Lead.get()
    handle(raw_mail("Unsubscribe", ""))
    assert consent.opted_out(lead.id, "email", JANE)
    assert len(messages()) == 1
    handle(raw_mail("unsubscribe", "", sender="stranger@example.org"))   # nobody we know
    assert Lead.select().count() == 1 and len(messages()) == 1


def test_a_sender_we_cannot_answer_is_dropped_with_a_warning(any_db, caplog):
    handle(raw_mail(sender="root@localhost"))
    assert messages() == [] and "not an email address we can answer" in caplog.text


def test_stored_then_handled_by_the_inbound_queue(any_db, monkeypatch):
    monkeypatch.setattr(policy, "_current", policy.Policy(email_from="Acme <support@acme.example>"))
    email_in.register()
    raw = raw_mail("Queued")
    assert email_in.storer(raw, "uid:1:1") is True
    assert email_in.storer(raw, "uid:1:1") is False   # the same Message-ID again
    assert email_in.storer(raw_mail(sender="support@acme.example"), "uid:1:2") is True
    assert inbound.process_pending() == 2
    assert [m.text for m in messages()] == ["Is my order ready?"]   # our own mail dropped
    assert [json.loads(e.payload)["from_us"] for e in InboundEvent.select().order_by(InboundEvent.id)] == [
        False, True]
    assert all(e.processed_at and e.last_error is None for e in InboundEvent.select())
