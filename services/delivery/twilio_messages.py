"""SMS and WhatsApp through Twilio's Messages API (the official `twilio` client).

One outbox row becomes one Message create: to the row's E.164 address (prefixed
`whatsapp:` on WhatsApp), from TWILIO_SMS_FROM (a number, an alphanumeric sender id, or a
messaging service MG…) or TWILIO_WHATSAPP_FROM, with the row's plain text, or for an
approved WhatsApp template its content SID and variables. Twilio's answers map onto the
DeliveryError kinds the sender acts on (services/delivery/transport.py).
"""
import json
import random
import threading

from twilio.base.exceptions import TwilioException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from services.delivery.transport import (
    MISCONFIGURED,
    PERMANENT,
    RETRY_AFTER,
    TRANSIENT,
    DeliveryError,
    Receipt,
)

SMS, WHATSAPP = "sms", "whatsapp"
TIMEOUT_SECONDS = 20.0   # the client's default is none: a hung connection would hold the sender
# Twilio error codes that mean our settings are wrong, not the message: the account's
# credentials, and a From that is not ours or cannot send on this channel.
AUTH_CODES = {20003, 20005, 20008}
SENDER_CODES = {21212, 21606, 21659, 21660, 21701, 21703, 63007}


class _HttpClient(TwilioHttpClient):
    """Twilio's HTTP client, keeping each thread's last response for its Retry-After."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._local = threading.local()

    def request(self, *args, **kwargs):
        self._local.response = None
        response = super().request(*args, **kwargs)
        self._local.response = response
        return response

    @property
    def latest(self):
        return getattr(self._local, "response", None)


class TwilioTransport:
    """Sends SMS or WhatsApp rows (`channel`) with the settings' Twilio account."""

    def __init__(self, channel, settings, http_client=None):
        if channel not in (SMS, WHATSAPP):
            raise ValueError(f"a Twilio channel is 'sms' or 'whatsapp', not {channel!r}")
        self.channel = channel
        self._settings = settings
        self._token = settings.twilio_auth_token
        self._http = http_client or _HttpClient(pool_connections=True, timeout=TIMEOUT_SECONDS)
        self._client = Client(settings.twilio_account_sid, settings.twilio_auth_token,
                              http_client=self._http)
        # TWILIO_API_URL: Twilio's own by default, the fake (devtools/fake_twilio.py) in tests.
        self._client.api.base_url = settings.twilio_api_url.rstrip("/")
        self._status_callback = (f"{settings.public_base_url.rstrip('/')}/hooks/twilio/status"
                                 if settings.public_base_url else None)

    def send(self, message):
        """Create the Message for the outbox row `message` (Claimed); a Receipt of its SID
        and first status (queued, or accepted with a messaging service)."""
        params = self.parameters(message)
        try:
            created = self._client.messages.create(**params)
        except TwilioException as error:
            raise self._classify(error) from None
        except OSError as error:  # requests' errors are OSErrors: refused, reset, timed out
            raise DeliveryError(TRANSIENT, self._clean(
                f"Twilio could not be reached ({type(error).__name__}): {error}")) from None
        return Receipt(provider_id=created.sid, status=created.status or "queued")

    def parameters(self, message):
        """The create's keyword arguments for the official client."""
        if not message.address:
            raise DeliveryError(PERMANENT, f"this {self.channel} message has no phone number")
        params = {"to": self._on_channel(message.address)}
        sender = (self._settings.twilio_sms_from if self.channel == SMS
                  else self._settings.twilio_whatsapp_from)
        if self.channel == SMS and sender.startswith("MG"):
            params["messaging_service_sid"] = sender
        else:
            params["from_"] = self._on_channel(sender)
        extras = _headers(message.headers)
        if extras.get("content_sid"):
            params["content_sid"] = extras["content_sid"]
            params["content_variables"] = json.dumps(extras.get("content_variables") or {},
                                                     ensure_ascii=False)
        else:
            params["body"] = message.text
        if self._status_callback:
            params["status_callback"] = self._status_callback
        return params

    def _on_channel(self, number):
        return f"whatsapp:{number}" if self.channel == WHATSAPP else number

    def _classify(self, error):
        status = getattr(error, "status", None)
        if status is None:  # the client's own failure, before or without an answer
            return DeliveryError(TRANSIENT, self._clean(f"Twilio request failed: {error}"))
        code = getattr(error, "code", None) or status
        reason = self._clean(f"Twilio {code}: {_message_of(error)}")
        if status == 429:
            return DeliveryError(RETRY_AFTER, reason, retry_after=self._retry_after())
        if status >= 500:
            return DeliveryError(TRANSIENT, reason)
        if status == 401 or code in AUTH_CODES:
            return DeliveryError(MISCONFIGURED, f"{reason} (Twilio refused the account: check "
                                                "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN)")
        if code in SENDER_CODES:
            setting = "TWILIO_SMS_FROM" if self.channel == SMS else "TWILIO_WHATSAPP_FROM"
            return DeliveryError(MISCONFIGURED, f"{reason} (Twilio refused the sender: check "
                                                f"{setting})")
        return DeliveryError(PERMANENT, reason)

    def _retry_after(self):
        response = self._http.latest
        header = (response.headers or {}).get("Retry-After") if response is not None else None
        try:
            seconds = float(header)
        except (TypeError, ValueError):
            return random.uniform(5, 30)   # spread out the retries of many senders
        return min(max(seconds, 1.0), 3600.0)

    def _clean(self, text):
        """Never let the auth token reach a log line or the panel."""
        return text.replace(self._token, "***") if self._token else text


def _message_of(error):
    """Twilio's own wording of an error, without the client's "Unable to create record:"."""
    text = getattr(error, "msg", None) or getattr(error, "detail", None) \
        or getattr(error, "title", None) or str(error)
    return str(text).removeprefix("Unable to create record: ")


def _headers(raw):
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
