"""OxaPay's webhook: it POSTs a payment's status as JSON to /hooks/oxapay (the invoice's
callback_url, services/payments/topups.py) and retries, up to 5 times, until answered
200 with the body "ok".

The header HMAC must be the hex HMAC-SHA512 of the raw body keyed with our merchant API
key (OXAPAY_MERCHANT_API_KEY), checked in constant time before anything else is read;
anything else is refused with 403, nothing stored, the reason logged and shown in the
panel. A signed body goes to services/payments/settlement.py, which moves the payment
forward once and credits a paid one once, however often OxaPay (or the scheduler's
polling) repeats the news; each such answer is "ok", so OxaPay stops retrying.
"""
import json
import logging

from flask import Blueprint, Response, current_app, request
from peewee import DatabaseError, InterfaceError
from werkzeug.exceptions import RequestEntityTooLarge

from models import drop_connection
from services.delivery import channels
from services.payments import oxapay, settlement
from services.payments.topups import HOOK_PATH

bp = Blueprint("oxapay_hooks", __name__)
log = logging.getLogger("leadgram.oxapay")

WEBHOOKS = channels.OXAPAY_WEBHOOKS   # its ChannelState row: the panel shows the last refusal
SIGNATURE_HEADER = "HMAC"
# OxaPay's bodies are a few KB (the payment and its transactions): more is not OxaPay's.
MAX_BODY = 64 * 1024
MAX_TRACK_ID = 100
# Every method routes here, so that anything but POST is told 405 rather than sent to the
# login page (the login runs before Flask's own 405 for a URL it cannot match a method of).
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# The database failing (down, locked past its timeout, refusing a value): a 503, and
# OxaPay tries again later, when the same news is applied once.
DATABASE_TROUBLE = (DatabaseError, InterfaceError)


@bp.route(HOOK_PATH, methods=METHODS, provide_automatic_options=False)
def receive():
    if request.method != "POST":
        return _plain("Method not allowed: OxaPay POSTs its webhooks", 405, Allow="POST")
    raw = _body()
    if raw is None:
        log.warning("refused an OxaPay webhook from %s: the body is over %d bytes",
                    request.remote_addr, MAX_BODY)
        return _plain(f"Payload too large: at most {MAX_BODY} bytes", 413)
    settings = current_app.extensions["leadgram"].settings
    refused = _refusal(settings.oxapay_merchant_api_key, raw)
    if refused:
        return _refuse(*refused)
    payload = _json(raw)
    track_id = _track_id(payload)
    if track_id is None:
        log.warning("a signed OxaPay webhook without a usable track_id (%d bytes)", len(raw))
        return _plain("Bad request: a JSON object with a track_id is required", 400)
    reported = oxapay.read_information(payload)
    try:
        settlement.apply(track_id, reported, "webhook")
    except DATABASE_TROUBLE as exc:
        # Nothing was stored (the transaction rolled back): OxaPay retries later.
        log.error("could not apply OxaPay's webhook for %r (%r): %s", track_id, reported.status, exc)
        drop_connection()
        return _plain("Service unavailable: the database cannot be reached; try again later", 503)
    # A track_id of no payment of ours (outcome.payment None) is "ok" too: it is OxaPay's
    # word, retrying cannot help, and settlement has logged it.
    _note_ok()
    return Response("ok", 200, mimetype="text/plain")


def _body():
    """The raw body as sent (the signature is over these bytes), or None when it is over
    MAX_BODY; the limit holds for a chunked body with no Content-Length too."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return None
    # One byte past the limit: a stream read to its maximum stops there without an error.
    request.max_content_length = MAX_BODY + 1
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return None
    return raw if len(raw) <= MAX_BODY else None


def _refusal(key, raw):
    """Why this request is not OxaPay's, or None: (a short answer for the caller, the
    reason for the log and the panel). Never the key itself."""
    if not key:
        return ("OxaPay is not set up", "OxaPay is not set up (OXAPAY_MERCHANT_API_KEY is "
                "empty), so its webhooks cannot be verified")
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not signature:
        return (f"no {SIGNATURE_HEADER} header", f"no {SIGNATURE_HEADER} header on a webhook "
                f"from {request.remote_addr}")
    if not oxapay.signature_ok(raw, signature, key):
        return (f"bad {SIGNATURE_HEADER} signature", f"bad {SIGNATURE_HEADER} signature on a "
                f"webhook from {request.remote_addr}: OxaPay signs with this merchant's "
                "OXAPAY_MERCHANT_API_KEY, so the key differs or the body was changed")
    return None


def _refuse(short, reason):
    log.warning("refused an OxaPay webhook: %s", reason)
    try:
        channels.record_error(WEBHOOKS, f"Refused a webhook: {reason}")
    except DATABASE_TROUBLE as exc:
        # The refusal stands without the note; the database's trouble is logged.
        log.error("could not note the refused OxaPay webhook for the panel: %s", exc)
        drop_connection()
    return _plain(f"Forbidden: {short}", 403)


def _json(raw):
    """The body as a JSON object, or None."""
    try:
        payload = json.loads(raw)
    except (ValueError, RecursionError):   # not JSON, not UTF-8, nested past Python's limit
        return None
    return payload if isinstance(payload, dict) else None


def _track_id(payload):
    """The payment's track_id as text (OxaPay writes it as a string, or a number), or None."""
    if payload is None:
        return None
    value = payload.get("track_id")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > MAX_TRACK_ID or not value.isprintable() or not value.isascii():
        return None
    return value


def _note_ok():
    try:
        channels.note_ok(WEBHOOKS)
    except DATABASE_TROUBLE as exc:
        # The payment is applied: OxaPay must hear "ok" whether or not the note is kept.
        log.error("could not note the working OxaPay webhook for the panel: %s", exc)
        drop_connection()


def _plain(text, status_code, **headers):
    return Response(text + "\n", status_code, mimetype="text/plain", headers=headers)
