"""The webhooks Twilio calls: incoming SMS and WhatsApp messages, and delivery statuses.

Each request must carry X-Twilio-Signature, made with our auth token over the URL Twilio
called (PUBLIC_BASE_URL plus the path and query: right behind a proxy, where the local
URL differs) and the form parameters; anything else is refused with 403 and nothing is
stored. A signed request is stored once by its MessageSid (Twilio retries) and answered
at once with empty TwiML: the work happens later (services/inbox/inbound.py), well
within Twilio's 15-second timeout.
"""
import logging

from flask import Blueprint, Response, current_app, request
from twilio.request_validator import RequestValidator

from services.delivery import channels
from services.inbox import inbound

bp = Blueprint("twilio_hooks", __name__)
log = logging.getLogger("leadgram.twilio")

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
SIGNATURE_HEADER = "X-Twilio-Signature"


@bp.post("/hooks/twilio/sms")
def sms():
    return _receive("sms")


@bp.post("/hooks/twilio/whatsapp")
def whatsapp():
    return _receive("whatsapp")


@bp.post("/hooks/twilio/status")
def status():
    return _receive("status")


def _receive(source):
    settings = current_app.extensions["leadgram"].settings
    url = public_url(settings.public_base_url, request.full_path)
    refused = _refusal(settings, url)
    if refused:
        short, reason = refused
        log.warning("refused a Twilio webhook: %s", reason)
        channels.record_error(channels.TWILIO_WEBHOOKS, f"Refused a webhook: {reason}")
        return _plain(f"Forbidden: {short}", 403)
    payload = request.form.to_dict()
    sid = payload.get("MessageSid", "").strip()
    if not sid or (source == "status" and not payload.get("MessageStatus", "").strip()):
        log.warning("a signed Twilio webhook to %s without MessageSid/MessageStatus: %s",
                    url, sorted(payload))
        return _plain("Bad request: MessageSid (and MessageStatus for a status) is required",
                      400)
    reference = f"{sid}:{payload['MessageStatus'].strip()}" if source == "status" else sid
    inbound.store(source, reference, payload)
    channels.note_ok(channels.TWILIO_WEBHOOKS)
    return Response(EMPTY_TWIML, 200, mimetype="text/xml")


def public_url(base_url, full_path):
    """The URL Twilio called: the public base URL, then the path and query as received
    (Werkzeug's full_path ends in "?" when there is no query)."""
    if not base_url:
        return full_path.removesuffix("?")
    return base_url.rstrip("/") + full_path.removesuffix("?")


def _refusal(settings, url):
    """Why this request is not Twilio's, or None: (a short answer for the caller, the
    reason with the URL checked for the log and the panel)."""
    if not settings.twilio_auth_token:
        return ("Twilio is not set up", f"Twilio is not set up (TWILIO_AUTH_TOKEN is empty), "
                f"so a webhook to {url} cannot be verified")
    if not settings.public_base_url:
        return ("PUBLIC_BASE_URL is not set", f"PUBLIC_BASE_URL is not set, so the signature "
                f"of a webhook to {url} cannot be checked against the URL Twilio called")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        return (f"no {SIGNATURE_HEADER}", f"no {SIGNATURE_HEADER} header on a webhook to {url}")
    if not RequestValidator(settings.twilio_auth_token).validate(url, request.form, signature):
        return (f"bad {SIGNATURE_HEADER}", f"bad {SIGNATURE_HEADER} for {url}: Twilio must "
                "call this URL (PUBLIC_BASE_URL) and sign with this account's TWILIO_AUTH_TOKEN")
    return None


def _plain(text, status_code):
    return Response(text + "\n", status_code, mimetype="text/plain")
