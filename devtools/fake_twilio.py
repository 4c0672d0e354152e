"""A fake Twilio (Programmable Messaging: SMS and WhatsApp) for tests and local runs.

A real HTTP server on 127.0.0.1 that answers the Messages resource of api.twilio.com (create and
fetch, Basic auth, Twilio's checks and error shapes), then POSTs signed status callbacks
(queued, sent, delivered...) to the StatusCallback URL. Tests also send signed inbound webhooks
(SMS, WhatsApp, Twilio's retries) and script faults. Point the official client at it with
`client.api.base_url = fake.base_url`. See devtools/README.md.
"""
from __future__ import annotations

import email.utils
import itertools
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from devtools.fake_twilio_records import Call, Webhook, _Dropped, _Fault
from devtools.fake_twilio_server import MESSAGE, MESSAGES, Server, TwilioError, check_create, first, segments
from devtools.loopback_http import StandIn

API_VERSION = "2010-04-01"
_DEFAULT_ERRORS = {429: (20429, "Too Many Requests"), 500: (20500, "Internal Server Error"),
                   503: (20503, "Service Unavailable")}
_FAILED = ("failed", "undelivered")


def _sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _now() -> str:
    return email.utils.format_datetime(datetime.now(timezone.utc).replace(microsecond=0))


class FakeTwilio(StandIn):
    server_class = Server  # start(), stop(), base_url, `with`: devtools/loopback_http.py
    thread_name = "fake Twilio"

    def __init__(self, account_sid: str | None = None, auth_token: str = "test-auth-token", *,
                 host: str = "127.0.0.1", port: int = 0, callback_delay: float = 0.01) -> None:
        """callback_delay: seconds before each status callback (after the create, then between them)."""
        self.account_sid = account_sid or _sid("AC")
        self.auth_token = auth_token
        self.callback_delay = callback_delay
        self._address = (host, port)
        self._server: Server | None = None
        self._cond = threading.Condition()
        self._messages: dict[str, dict] = {}
        self._calls: list[Call] = []
        self._callbacks: list[Webhook] = []
        self._inbound: list[Webhook] = []
        self._faults: list[_Fault] = []
        self._outcomes: dict[str | None, tuple[list[str], int | None]] = {}
        self._templates: dict[str, str] = {}
        self._forwards: list[tuple[str, str]] = []
        self._delay = 0.0
        self._pending = 0
        self._workers: list[threading.Thread] = []
        self._stopping = False
        self._inbound_ids = itertools.count(1)

    def client(self):
        """An official twilio.rest.Client for this account, pointed at the fake."""
        from twilio.rest import Client
        client = Client(self.account_sid, self.auth_token)
        client.api.base_url = self.base_url
        return client

    # ------------------------------------------------------------ scripting

    def fail(self, status: int | str = 429, *, times: int = 1, to: str | None = None, code: int | None = None,
             message: str | None = None) -> None:
        """The next `times` creates (to `to` only, if given) fail with this HTTP status and Twilio error
        code (429 -> 20429 "Too Many Requests", 500 -> 20500, 503 -> 20503 by default). status="drop"
        closes the connection without an answer."""
        default_code, default_message = _DEFAULT_ERRORS.get(status, (20500, "Internal Server Error"))
        with self._cond:
            self._faults.append(_Fault(status, code or default_code, message or default_message, times, to))

    def delay(self, seconds: float) -> None:
        """A slow network: every API call is answered `seconds` late (0 ends it)."""
        self._delay = seconds

    def outcome(self, statuses: list[str], *, to: str | None = None, error_code: int | None = None) -> None:
        """The status callbacks after a create (to `to`, or to anyone without an outcome of their own).
        Default ["queued", "sent", "delivered"]; WhatsApp can add "read"; "failed" and "undelivered"
        carry error_code (default 30003, unreachable handset)."""
        if any(status in _FAILED for status in statuses) and error_code is None:
            error_code = 30003
        with self._cond:
            self._outcomes[to] = (list(statuses), error_code)

    def template(self, content_sid: str, text: str) -> None:
        """An approved WhatsApp template: a create with this ContentSid gets `text` with its {{1}}... filled."""
        self._templates[content_sid] = text

    def forward(self, public_base_url: str, local_base_url: str) -> None:
        """Webhooks to URLs under public_base_url are signed for that URL (as Twilio signs what it calls)
        but POSTed under local_base_url: the application behind a proxy."""
        self._forwards.append((public_base_url.rstrip("/"), local_base_url.rstrip("/")))

    # ------------------------------------------------------------ inspection

    @property
    def messages(self) -> list[dict]:
        """Created messages (Message resources, current status), oldest first."""
        with self._cond:
            return [dict(message) for message in self._messages.values()]

    def message(self, sid: str) -> dict:
        with self._cond:
            return dict(self._messages[sid])

    @property
    def calls(self) -> list[Call]:
        with self._cond:
            return list(self._calls)

    @property
    def callbacks(self) -> list[Webhook]:
        """Status callbacks made, in order, with the application's HTTP status."""
        with self._cond:
            return list(self._callbacks)

    @property
    def inbound(self) -> list[Webhook]:
        with self._cond:
            return list(self._inbound)

    def wait_for_callbacks(self, count: int | None = None, timeout: float = 5.0) -> list[Webhook]:
        """Wait until `count` callbacks were made (default: until none is pending); returns them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (len(self._callbacks) < count) if count is not None else self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self._callbacks)} status callbacks made, {self._pending} pending")
                self._cond.wait(left)
            return list(self._callbacks)

    # ------------------------------------------------------------ inbound webhooks

    def send_inbound(self, url: str, from_: str, to: str, body: str = "", *, media: list[tuple[str, str]] = (),
                     channel: str = "sms", profile_name: str = "Test User", message_sid: str | None = None,
                     auth_token: str | None = None) -> int | None:
        """POST an incoming message to the application's webhook, as Twilio does; returns its HTTP status.
        media: (url, content type) pairs. channel "whatsapp" adds the whatsapp: prefix, ProfileName and
        WaId. message_sid: reuse a sid (Twilio retries with the same one). auth_token: sign with another
        token (a forged request)."""
        if channel not in ("sms", "whatsapp"):
            raise ValueError(f"channel must be 'sms' or 'whatsapp', not {channel!r}")
        if channel == "whatsapp":
            from_, to = (n if n.startswith("whatsapp:") else "whatsapp:" + n for n in (from_, to))
        sid = message_sid or _sid("MM" if media and channel == "sms" else "SM")
        params = {"MessageSid": sid, "SmsMessageSid": sid, "SmsSid": sid, "AccountSid": self.account_sid,
                  "From": from_, "To": to, "Body": body, "NumMedia": str(len(media)), "NumSegments": "1",
                  "SmsStatus": "received", "ApiVersion": API_VERSION}
        for index, (media_url, content_type) in enumerate(media):
            params[f"MediaUrl{index}"], params[f"MediaContentType{index}"] = media_url, content_type
        if channel == "whatsapp":
            params.update(ProfileName=profile_name, WaId=from_.removeprefix("whatsapp:+"), MessageType="text")
        else:
            params["NumSegments"] = str(segments(body)) if body else "1"
        record = self._post(url, params, auth_token or self.auth_token,
                            idempotency=f"{next(self._inbound_ids)}-{sid}")
        with self._cond:
            self._inbound.append(record)
        return record.status

    def retry_inbound(self, index: int = -1) -> int | None:
        """Send an inbound webhook again, same MessageSid and parameters (Twilio's retry)."""
        with self._cond:
            previous = self._inbound[index]
        record = self._post(previous.url, previous.params, self.auth_token, signed_url=previous.signed_url)
        with self._cond:
            self._inbound.append(record)
        return record.status

    def _post(self, url: str, params: dict, token: str, *, signed_url: str | None = None,
              idempotency: str | None = None) -> Webhook:
        signed_url = signed_url or url
        for public, local in self._forwards:
            if url.startswith(public):
                url = local + url[len(public):]
        signature = RequestValidator(token).compute_signature(signed_url, params)
        headers = {"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded",
                   "User-Agent": "TwilioProxy/1.1", "I-Twilio-Idempotency-Token": idempotency or _sid("")}
        request = urllib.request.Request(url, urlencode(params).encode("utf-8"), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=15) as response:  # Twilio waits 15 s
                status: int | None = response.status
        except urllib.error.HTTPError as error:
            status = error.code
        except OSError:
            status = None
        return Webhook(url, signed_url, dict(params), signature, status, time.monotonic())

    # ------------------------------------------------------------ the API

    def handle(self, method: str, path: str, params: dict[str, list[str]],
               auth: tuple[str, str] | None) -> tuple[int | None, dict | None]:
        """Answer one API call (called by the HTTP server); records it in `calls`."""
        if self._delay:
            time.sleep(self._delay)
        try:
            status, payload = 201, self._dispatch(method, path, params, auth)
            if method == "GET":
                status = 200
        except TwilioError as error:
            status, payload = error.status, error.payload()
        except _Dropped:
            status, payload = None, None
        flat = {name: values[0] if len(values) == 1 else values for name, values in params.items()}
        with self._cond:
            self._calls.append(Call(method, path, flat, status, payload, time.monotonic()))
        return status, payload

    def _dispatch(self, method: str, path: str, params: dict[str, list[str]], auth) -> dict:
        create, fetch = MESSAGES.fullmatch(path), MESSAGE.fullmatch(path)
        if auth != (self.account_sid, self.auth_token):
            raise TwilioError(401, 20003, "Authenticate")
        match = create or fetch
        if match is None or match.group(1) != self.account_sid:
            raise TwilioError(404, 20404, f"The requested resource {path} was not found")
        if fetch and method == "GET":
            with self._cond:
                if fetch.group(2) not in self._messages:
                    raise TwilioError(404, 20404, f"The requested resource {path} was not found")
                return dict(self._messages[fetch.group(2)])
        if not create or method != "POST":
            raise TwilioError(405, 20004, "Method not allowed")
        self._scripted_fault(first(params, "To"))
        check_create(params)
        return self._create(params)

    def _scripted_fault(self, to: str | None) -> None:
        with self._cond:
            for fault in self._faults:
                if fault.times > 0 and fault.to in (None, to):
                    fault.times -= 1
                    if fault.status == "drop":
                        raise _Dropped
                    raise TwilioError(int(fault.status), fault.code, fault.message)

    def _create(self, params: dict[str, list[str]]) -> dict:
        to, sender = first(params, "To"), first(params, "From")
        service, content = first(params, "MessagingServiceSid"), first(params, "ContentSid")
        body = first(params, "Body") or ""
        if content and content in self._templates:
            body = self._templates[content]
            for key, value in json.loads(first(params, "ContentVariables") or "{}").items():
                body = body.replace("{{%s}}" % key, str(value))
        whatsapp = to.startswith("whatsapp:")
        sid, now = _sid("MM" if params.get("MediaUrl") and not whatsapp else "SM"), _now()
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        message = {
            "account_sid": self.account_sid, "api_version": API_VERSION, "body": body,
            "date_created": now, "date_sent": None, "date_updated": now, "direction": "outbound-api",
            "error_code": None, "error_message": None, "from": sender, "messaging_service_sid": service,
            "num_media": str(len(params.get("MediaUrl", []))),
            "num_segments": "1" if whatsapp or not body else str(segments(body)),
            "price": None, "price_unit": "USD", "sid": sid, "status": "queued" if sender else "accepted",
            "subresource_uris": {"media": uri + "/Media.json"}, "to": to, "uri": uri + ".json",
        }
        callback = first(params, "StatusCallback")
        with self._cond:
            self._messages[sid] = message
            statuses, error_code = self._outcomes.get(to) or self._outcomes.get(None) or (
                ["queued", "sent", "delivered"], None)
            if callback:
                self._pending += 1
                worker = threading.Thread(target=self._deliver, args=(sid, callback, statuses, error_code),
                                          name=f"fake-twilio-callbacks-{sid}", daemon=True)
                self._workers.append(worker)
                worker.start()
        return dict(message)

    def _deliver(self, sid: str, url: str, statuses: list[str], error_code: int | None) -> None:
        """Status callbacks of one message, in order, each after callback_delay."""
        try:
            for status in statuses:
                with self._cond:
                    if self._cond.wait_for(lambda: self._stopping, self.callback_delay):
                        return
                    message = self._messages[sid]
                    message.update(status=status, date_updated=_now())
                    if status == "sent":
                        message["date_sent"] = message["date_updated"]
                    if status in _FAILED:
                        message["error_code"] = error_code
                    params = {"MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
                              "AccountSid": self.account_sid, "From": message["from"] or "", "To": message["to"],
                              "ApiVersion": API_VERSION}
                    if message["messaging_service_sid"]:
                        params["MessagingServiceSid"] = message["messaging_service_sid"]
                    if status in _FAILED:
                        params["ErrorCode"] = str(error_code)
                record = self._post(url, params, self.auth_token)
                with self._cond:
                    self._callbacks.append(record)
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._pending -= 1
                self._cond.notify_all()
