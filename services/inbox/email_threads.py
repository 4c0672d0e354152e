"""An email's place in its thread: the headers that make the client's mail program show
our answer under their message (RFC 5322 In-Reply-To and References), its subject, our
own Message-ID (made when the row is queued, so a retry sends the same one) and the
unsubscribe link.
"""
import json
from email.utils import make_msgid, parseaddr

from services.core import policy
from services.delivery.channels import EMAIL
from services.inbox import conversations, messages, unsubscribe

MAX_REFERENCES = 20   # the newest ids of a long thread: mail programs need no more


def headers(conversation, lead, address):
    """The headers JSON of an email to `address` in `conversation` (services/delivery/
    email_smtp.py reads it)."""
    current = policy.current()
    domain = parseaddr(current.email_from)[1].rpartition("@")[2] or None
    last = conversations.last_inbound(lead.id, EMAIL, address)
    details = json.loads(last.details or "{}") if last is not None else {}
    subject = (details.get("subject") or "").strip()
    if subject and not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    references = None
    if last is not None and last.external_ref:
        chain = [*(details.get("references") or []), last.external_ref]
        references = " ".join(chain[-MAX_REFERENCES:])
    return {
        "subject": subject or messages.EMAIL_SUBJECT.format(company=current.company),
        "message_id": make_msgid(domain=domain),
        "in_reply_to": last.external_ref if last is not None else None,
        "references": references,
        "unsubscribe_url": unsubscribe.url_for_contact(current, lead.id, address),
    }
