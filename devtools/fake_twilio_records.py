"""What the fake Twilio records (API calls, webhooks it made) and the faults a test scripts
(devtools/fake_twilio.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Call:
    method: str
    path: str
    params: dict  # name -> value, or a list of values for a repeated parameter (MediaUrl)
    status: int | None  # None: the connection was dropped without an answer
    response: dict | None
    at: float  # time.monotonic()


@dataclass
class Webhook:
    """A POST the fake made to the application: a status callback or an inbound message."""
    url: str            # where it was POSTed
    signed_url: str     # the URL the signature covers (the public one, see FakeTwilio.forward)
    params: dict
    signature: str
    status: int | None  # the application's HTTP status; None if it could not be reached
    at: float


@dataclass
class _Fault:
    status: int | str
    code: int
    message: str
    times: int
    to: str | None


class _Dropped(Exception):
    """A scripted "drop" fault."""
