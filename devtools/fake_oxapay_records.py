"""What the fake OxaPay records (API calls, webhook deliveries) and the faults a test scripts
(devtools/fake_oxapay.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Call:
    method: str
    path: str
    api_key: str | None  # the merchant_api_key header as sent (None: missing)
    body: dict | None    # the decoded JSON body (None: none, or not JSON)
    status: int | None   # None: the connection was dropped without an answer
    response: dict | None
    at: float            # time.monotonic()


@dataclass
class Webhook:
    """One POST the fake made to a callback_url (every attempt, retries and duplicates included)."""
    url: str
    track_id: str
    status: str            # the payload's status ("Paying", "Paid"...)
    body: bytes            # the raw body, exactly as signed and sent
    payload: dict
    signature: str | None  # the HMAC header (None: sent without one)
    attempt: int           # 1 for the first try, 2..5 for OxaPay's retries
    kind: str              # "delivery", "duplicate" or "forged"
    http_status: int | None  # the receiver's HTTP status; None if it could not be reached
    response_body: str
    ok: bool               # answered 200 with body "ok": OxaPay stops retrying
    at: float


@dataclass
class _Fault:
    status: int | str
    times: int
    path: str | None  # "invoice", "info" or None (any API call)


class _Dropped(Exception):
    """A scripted "drop" fault."""
