"""Delivering outbox rows within Telegram's limits: a batch of notifications
for the scheduler, or the replies to one update for the bot.

The rules: a minimum gap between messages to one chat and an overall pace
below Telegram's ~30 messages/s, both shared by every sending process
(services/delivery/pacing.py); 429s honoured for that chat only, transient errors
retried with exponential backoff, dead chats never retried.
"""
import datetime
import json
import logging
import random
from dataclasses import dataclass, field

from models import utcnow
from services.delivery import outbox
from services.delivery.html import TELEGRAM_TEXT_LIMIT, split_html
from services.delivery.pacing import Pacer
from services.delivery.telegram import (
    MISCONFIGURED,
    PERMANENT,
    RETRY_AFTER,
    UNREACHABLE,
    DeliveryError,
)

log = logging.getLogger("leadgram.delivery")


@dataclass(frozen=True)
class DeliveryPolicy:
    # Telegram: about one message a second per chat; the 50 ms spare keeps the gap as
    # Telegram sees it over 1 s when one send leaves a little later than planned.
    per_chat_gap: float = 1.05
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
    """Claim up to `batch_size` due notifications and try each once."""
    claimed = outbox.claim_batch(batch_size, now())
    return deliver(transport, interleave(claimed), policy, pacer, now, stop, rand)


def deliver(transport, claimed, policy=DeliveryPolicy(), pacer=None, now=utcnow,
            stop=lambda: False, rand=random.random, chat_wait=None):
    """Try each claimed row once, in order; whatever is left when `stop()` turns
    true goes back to the queue. A chat busy for more than `chat_wait` seconds
    (default: two gaps) has its rows put back until it is free."""
    chat_wait = 2 * policy.per_chat_gap if chat_wait is None else chat_wait
    pacer = pacer or Pacer(policy)
    result = BatchResult(claimed=len(claimed))
    held_chats = {}  # chat -> retry time, after a 429 or a busy chat in this run
    dead_chats = set()
    handled = len(claimed)
    for index, message in enumerate(claimed):
        if stop():
            handled = index
            break
        if message.chat_id in held_chats:  # keep the chat's order: its later rows wait too
            outbox.release(message, held_chats[message.chat_id])
            result.retrying += 1
            continue
        if message.chat_id in dead_chats:  # already failed with the chat
            result.failed += 1
            continue
        try:
            busy_until = _send(transport, message, pacer, chat_wait)
        except DeliveryError as error:
            _record_failure(message, error, policy, now, held_chats, result, rand)
            if error.kind == UNREACHABLE:
                dead_chats.add(message.chat_id)
            if error.kind == MISCONFIGURED:  # every other message would fail the same way
                handled = index + 1
                break
        else:
            if busy_until is not None:
                held_chats[message.chat_id] = busy_until
                outbox.release(message, busy_until)
                result.retrying += 1
            else:
                outbox.mark_sent(message, now())
                result.sent += 1
    for message in claimed[handled:]:
        outbox.release(message, now())
    return result


def _send(transport, message, pacer, chat_wait):
    """Send what is left of `message`; returns when its chat is free if another
    sender has it busy for longer than we should wait, else None."""
    if message.commands is not None:  # no message in the chat: only the global pace applies
        pacer.acquire(None, max_wait=0)
        transport.set_commands(message.chat_id, json.loads(message.commands))
        return None
    if message.edit_message_id is not None:
        # An edit is no new message in the chat: only the global pace applies.
        pacer.acquire(None, max_wait=0)
        if message.reaction:
            transport.react(message.chat_id, message.edit_message_id, message.reaction)
        else:
            transport.edit(message.chat_id, message.edit_message_id, message.text,
                           message.parse_mode, message.reply_markup)
        return None
    if message.copy_message_id is not None:  # relayed media: Telegram copies it
        busy_until = pacer.acquire(message.recipient_id, max_wait=chat_wait)
        if busy_until is not None:
            return busy_until
        message.sent_message_id = transport.copy(
            message.chat_id, message.copy_from_chat_id, message.copy_message_id,
            reply_markup=message.reply_markup)
        return None
    parts = split_for_telegram(message.text, message.parse_mode)
    for number in range(message.parts_sent, len(parts)):
        busy_until = pacer.acquire(message.recipient_id, max_wait=chat_wait)
        if busy_until is not None:
            return busy_until
        last = number + 1 == len(parts)
        message.sent_message_id = transport.send(
            message.chat_id, parts[number], message.parse_mode,
            reply_markup=message.reply_markup if last else None)
        if not last:
            outbox.record_part_sent(message, number + 1)
    return None


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
