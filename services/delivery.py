"""Delivering one batch from the outbox within Telegram's limits.

The rules: a minimum gap between messages to one chat (kept across
schedulers through `User.last_message_sent_at`), an overall pace below
Telegram's ~30 messages/s, 429s honoured for that chat only, transient
errors retried with exponential backoff, dead chats never retried.
"""
import datetime
import logging
import random
import time
from dataclasses import dataclass, field

from models import utcnow
from services import outbox
from services.telegram_transport import (
    MISCONFIGURED, PERMANENT, RETRY_AFTER, UNREACHABLE, DeliveryError,
)
from services.texts import TELEGRAM_TEXT_LIMIT, split_html

log = logging.getLogger("leadgram.delivery")


@dataclass(frozen=True)
class DeliveryPolicy:
    per_chat_gap: float = 1.0       # Telegram: about one message a second per chat
    messages_per_second: float = 25.0  # Telegram: about 30 a second overall
    max_attempts: int = 10          # with the backoff below: about 2.5 hours of retrying
    backoff_base: float = 5.0
    backoff_cap: float = 1800.0
    lease_seconds: float = 600.0    # a claim older than this is taken back

    def backoff(self, attempts, rand=random.random):
        """Seconds to wait after the `attempts`-th failure, with ±20% jitter."""
        delay = min(self.backoff_base * 2 ** max(attempts - 1, 0), self.backoff_cap)
        return delay * (0.8 + 0.4 * rand())


@dataclass
class BatchResult:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list = field(default_factory=list)


class Pacer:
    """Waits as needed before each send; time functions are injectable for tests."""

    def __init__(self, policy, clock=time.monotonic, sleep=time.sleep):
        self._policy, self._clock, self._sleep = policy, clock, sleep
        self._chat_ready = {}
        self._next_any = 0.0
        self.chats_sent_to = set()  # recipient ids

    def seed(self, chat_id, last_sent_at, now_wall):
        """Respect a send made earlier, perhaps by another scheduler."""
        if last_sent_at is None or chat_id in self._chat_ready:
            return
        elapsed = (now_wall - last_sent_at).total_seconds()
        self._chat_ready[chat_id] = self._clock() + max(0.0, self._policy.per_chat_gap - elapsed)

    def wait(self, chat_id):
        ready = max(self._chat_ready.get(chat_id, 0.0), self._next_any)
        delay = ready - self._clock()
        if delay > 0:
            self._sleep(delay)

    def sent(self, chat_id, recipient_id):
        self.chats_sent_to.add(recipient_id)
        now = self._clock()
        self._chat_ready[chat_id] = now + self._policy.per_chat_gap
        self._next_any = now + 1.0 / self._policy.messages_per_second


def split_for_telegram(text, parse_mode):
    if parse_mode == "HTML":
        return split_html(text)
    return [text[i:i + TELEGRAM_TEXT_LIMIT // 2]
            for i in range(0, len(text), TELEGRAM_TEXT_LIMIT // 2)] or [text]


def interleave(messages):
    """Round-robin over chats, keeping each chat's order: one busy chat
    must not hold up everyone else while its gap elapses."""
    queues = {}
    for message in messages:
        queues.setdefault(message.chat_id, []).append(message)
    ordered = []
    while queues:
        for chat_id in list(queues):
            ordered.append(queues[chat_id].pop(0))
            if not queues[chat_id]:
                del queues[chat_id]
    return ordered


def deliver_batch(transport, batch_size, policy=DeliveryPolicy(), pacer=None,
                  now=utcnow, stop=lambda: False, rand=random.random):
    """Claim up to `batch_size` due messages and try each once."""
    pacer = pacer or Pacer(policy)
    result = BatchResult()
    claimed = outbox.claim_batch(batch_size, now())
    result.claimed = len(claimed)
    held_chats = {}  # chat -> retry time, after a 429 in this batch
    dead_chats = set()
    ordered = interleave(claimed)
    handled = len(ordered)
    for index, message in enumerate(ordered):
        if stop():
            handled = index
            break
        if message.chat_id in held_chats:
            outbox.release(message, held_chats[message.chat_id])
            result.retrying += 1
            continue
        if message.chat_id in dead_chats:  # already failed with the chat
            result.failed += 1
            continue
        pacer.seed(message.chat_id, message.recipient_last_sent_at, now())
        try:
            _send(transport, message, pacer)
        except DeliveryError as error:
            _record_failure(message, error, policy, now, held_chats, result, rand)
            if error.kind == UNREACHABLE:
                dead_chats.add(message.chat_id)
            if error.kind == MISCONFIGURED:  # every other message would fail the same way
                handled = index + 1
                break
        else:
            outbox.mark_sent(message, now())
            result.sent += 1
    for message in ordered[handled:]:
        outbox.release(message, now())
    outbox.record_chat_sends(pacer.chats_sent_to, now())
    return result


def _send(transport, message, pacer):
    parts = split_for_telegram(message.text, message.parse_mode)
    for number in range(message.parts_sent, len(parts)):
        pacer.wait(message.chat_id)
        transport.send(message.chat_id, parts[number], message.parse_mode)
        pacer.sent(message.chat_id, message.recipient_id)
        if number + 1 < len(parts):
            outbox.record_part_sent(message, number + 1)


def _record_failure(message, error, policy, now, held_chats, result, rand):
    log.warning("message %s to chat %s: %s: %s", message.id, message.chat_id,
                error.kind, error.description)
    result.errors.append((message.id, error.kind, error.description))
    if error.kind == RETRY_AFTER:
        retry_at = now() + datetime.timedelta(seconds=error.retry_after)
        held_chats[message.chat_id] = retry_at
        outbox.release(message, retry_at, error=error.description)
        result.retrying += 1
    elif error.kind == UNREACHABLE:
        outbox.mark_unreachable(message, error.description)
        result.failed += 1
    elif error.kind == PERMANENT:
        outbox.mark_failed(message, error.description)
        result.failed += 1
    elif error.kind == MISCONFIGURED:
        # Not the message's fault: keep it, and its attempts, for when the token is fixed.
        outbox.release(message, now(), error=error.description)
        result.retrying += 1
    elif message.attempts + 1 >= policy.max_attempts:
        outbox.mark_failed(message, f"gave up after {policy.max_attempts} attempts: {error.description}")
        result.failed += 1
    else:
        delay = policy.backoff(message.attempts + 1, rand)
        outbox.release(message, now() + datetime.timedelta(seconds=delay),
                       error=error.description, count_attempt=True)
        result.retrying += 1
