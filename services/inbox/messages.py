"""What the inbox says to people: the team's notifications and refusals, and the
client's help. HTML parse mode; user data goes through h()."""
from services.core.markup import h
from services.inbox import attachments

NO_SUCH_CONVERSATION = "There is no conversation #{id}."
NOT_YOUR_CONVERSATION = ("Conversation #{id} is with a client of another member; ask a "
                         "dispatcher to hand the client to you.")
NO_TELEGRAM = "This client has no Telegram chat with the bot, so nothing can be sent there."
UNREACHABLE = "Not sent: {name} cannot be reached on Telegram ({reason})."
OPTED_OUT = ("Not sent: {name} asked not to get messages (/stop) and has not written "
             "since.")
NO_DESTINATION = ("Not sent: {name} has no contact on a channel that is set up (Telegram, "
                  "or email, SMS or WhatsApp once their settings are in place).")
CHANNEL_OPTED_OUT = "Not sent: {name} opted out of {channel} messages."
WHATSAPP_WINDOW = ("Not sent: {name} has not written on WhatsApp in the last 24 hours, and "
                   "WhatsApp then allows only approved templates. Send a template that has a "
                   "WhatsApp content SID, or choose another channel.")
MEDIA_TELEGRAM_ONLY = ("Not sent: files and media go to Telegram chats only; {channel} gets "
                       "text. Send it as text, or answer on their Telegram.")
TOO_MANY_SEGMENTS = ("Not sent: that SMS would be {segments} parts ({encoding}); at most "
                     "{limit} are allowed (SMS_MAX_SEGMENTS). Shorten it.")
EMAIL_SUBJECT = "Message from {company}"   # a new thread; answers keep the client's
EMPTY = "There is nothing to send."
TOO_LONG = "That is too long for one message ({length} characters; at most {limit})."
NO_TEMPLATE = "There is no template named {name}."
UNSUPPORTED = ("I can pass on text, photos, files, voice messages, videos, stickers, locations "
               "and contacts, but not this kind of message. Please write it as text.")


def client_message(lead, message, owner_label=None, channel=""):
    """The notification a member gets when a client writes (`channel`: "Email ·
    ann@example.com" and the like, when not on Telegram)."""
    line = attachments.preview(message.text, attachments.loads(message.attachments), limit=600)
    who = f"owner: {h(owner_label)}" if owner_label else "no owner yet"
    via = f" · {h(channel)}" if channel else ""
    return (f"💬 <b>{h(lead.full_name)}</b> · client #{lead.id}{via} · {who}\n"
            f"{h(line)}\n\n"
            f"<i>Reply to this message to answer, or press Reply.</i>")


def replying(name, where=""):
    """`where`: the channel and address when the answer does not go to their Telegram."""
    if where:
        return (f"↩️ Replying to <b>{h(name)}</b> by {h(where)}: the text you send now goes "
                f"to them there. /t sends a template; /done stops replying.")
    return (f"↩️ Replying to <b>{h(name)}</b>: what you send now goes to them (text, photos, "
            f"files, voice, stickers). /t sends a template; /done stops replying.")


def undelivered(name, reason):
    return f"✗ Your message to {h(name)} was not delivered: {h(reason)}"


def sent(name, where=""):
    """`where`: "by email" and the like, when it did not go to their Telegram."""
    return f"✓ Sent to {h(name)}{' ' + where if where else ''}."


def client_help(company):
    return (f"This is the chat with {h(company)}. Write your question here, send photos or "
            f"files, and someone from the team will answer you in this chat.\n\n"
            f"/help — this message\n/stop — stop messages from us (write again to resume)")


def stopped(company):
    return (f"You will get no more messages from {h(company)} unless you write to us again. "
            f"Changed your mind? Just send a message.")
