"""HTTP front end of the fake Twilio (devtools/fake_twilio.py): api.twilio.com's Messages resource.

Serves POST /2010-04-01/Accounts/<AccountSid>/Messages.json (create) and
GET /2010-04-01/Accounts/<AccountSid>/Messages/<MessageSid>.json (fetch), with HTTP Basic auth,
form-encoded parameters and Twilio's JSON error shape. Also: SMS segment counting (GSM-7 / UCS-2)
and Twilio's checks of a new message's parameters.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from devtools.loopback_http import TrackedHandler, TrackedServer

if TYPE_CHECKING:
    from devtools.fake_twilio import FakeTwilio

MESSAGES = re.compile(r"/2010-04-01/Accounts/([^/]+)/Messages\.json")
MESSAGE = re.compile(r"/2010-04-01/Accounts/([^/]+)/Messages/([^/]+)\.json")
E164 = re.compile(r"\+[1-9]\d{1,14}")
ALPHANUMERIC_SENDER = re.compile(r"(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}")
MAX_BODY = 1600

# GSM 03.38: the basic character set (one septet each) and its extension table (escape + one septet).
GSM7_BASIC = set("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
                 "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENDED = set("^{}\\[~]|€\f")


class TwilioError(Exception):
    """An API error reply: HTTP status plus Twilio's error code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def payload(self) -> dict:
        return {"code": self.code, "message": self.message,
                "more_info": f"https://www.twilio.com/docs/errors/{self.code}", "status": self.status}


def encoding(body: str) -> str:
    """"GSM-7" if every character is in the GSM 03.38 alphabet (basic or extension), else "UCS-2"."""
    return "GSM-7" if all(ch in GSM7_BASIC or ch in GSM7_EXTENDED for ch in body) else "UCS-2"


def segments(body: str) -> int:
    """How many SMS parts a body takes. GSM-7: 160 septets in one part, 153 per part of a longer
    message, an extension character takes two and is never split. UCS-2: 70 UTF-16 units alone,
    67 per part, a surrogate pair is never split."""
    if encoding(body) == "GSM-7":
        units = [2 if ch in GSM7_EXTENDED else 1 for ch in body]
        single, per_part = 160, 153
    else:
        units = [2 if ord(ch) > 0xFFFF else 1 for ch in body]
        single, per_part = 70, 67
    if sum(units) <= single:
        return 1
    parts, used = 1, 0
    for size in units:
        if used + size > per_part:
            parts, used = parts + 1, 0
        used += size
    return parts


def check_create(params: dict[str, list[str]]) -> None:
    """Twilio's checks of a Messages create, in Twilio's order; raises TwilioError."""
    to, sender = first(params, "To"), first(params, "From")
    service, body, content = first(params, "MessagingServiceSid"), first(params, "Body"), first(params, "ContentSid")
    if not to:
        raise TwilioError(400, 21604, "A 'To' phone number is required.")
    if not sender and not service:
        raise TwilioError(400, 21603, "A 'From' phone number is required.")
    whatsapp = to.startswith("whatsapp:")
    if not E164.fullmatch(to.removeprefix("whatsapp:")):
        raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if sender:
        if whatsapp != sender.startswith("whatsapp:"):
            raise TwilioError(400, 21910, "Invalid From and To pair. From and To should be of the same channel")
        bare = sender.removeprefix("whatsapp:")
        if not (E164.fullmatch(bare) or (not whatsapp and ALPHANUMERIC_SENDER.fullmatch(bare))):
            raise TwilioError(400, 21212, f"Invalid From Number (caller ID): {sender}")
    if service and not re.fullmatch(r"MG[0-9a-f]{32}", service):
        raise TwilioError(400, 21701, f"The Messaging Service Sid {service} is invalid.")
    if not body and not content and not params.get("MediaUrl"):
        raise TwilioError(400, 21602, "Message body is required.")
    if body and len(body) > MAX_BODY:
        raise TwilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    if content:
        if not re.fullmatch(r"HX[0-9a-f]{32}", content):
            raise TwilioError(400, 21655, "The ContentSid is Invalid.")
        variables = first(params, "ContentVariables")
        try:
            if variables and not isinstance(json.loads(variables), dict):
                raise ValueError
        except ValueError:
            raise TwilioError(400, 21656, "The ContentVariables Parameter is invalid.") from None


def first(params: dict[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    return values[0] if values else None


def basic_auth(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


class Server(TrackedServer):
    def __init__(self, address: tuple[str, int], fake: FakeTwilio) -> None:
        self.fake = fake
        super().__init__(address, Handler)


class Handler(TrackedHandler):
    server: Server

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            params = parse_qs(url.query, keep_blank_values=True)
            for name, values in parse_qs(body.decode("utf-8"), keep_blank_values=True).items():
                params.setdefault(name, []).extend(values)
        except UnicodeDecodeError:
            params = {}
        status, payload = self.server.fake.handle(self.command, url.path, params,
                                                  basic_auth(self.headers.get("Authorization")))
        if status is None:  # a scripted "drop": close without answering
            self.close_connection = True
            return
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    do_POST = do_GET
    do_DELETE = do_GET
