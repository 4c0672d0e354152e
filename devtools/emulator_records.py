"""What the Bot API emulator records and is told: its calls, spec violations, held calls,
file downloads, and the faults a test scripts (devtools/telegram_emulator.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Call:
    method: str
    params: dict
    status: int | None  # None: the connection was dropped without an answer
    response: dict | None
    at: float


@dataclass(frozen=True)
class Violation:
    method: str
    parameter: str
    reason: str

    def __str__(self) -> str:
        return f"{self.method}: {self.reason}"


@dataclass
class HeldCall:
    """A call the emulator is holding back (see TelegramEmulator.delay)."""
    method: str
    params: dict    # as received, not yet decoded
    received_at: float  # time.monotonic(), like Call.at


@dataclass
class Download:
    """A GET /file/bot<token>/<file_path> request (not a Bot API call, so not in `calls`)."""
    file_path: str
    status: int
    at: float  # time.monotonic(), like Call.at


@dataclass
class _Fault:
    method: str | None
    status: int | str
    retry_after: int
    times: int
    chat_id: int | str | None
    description: str | None
