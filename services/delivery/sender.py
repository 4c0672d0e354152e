"""Delivering outbox rows: a batch of notifications and client messages for the
scheduler, or the replies to one update for the bot.

The rules, for every channel: 429s honoured for that destination only, transient errors
retried with exponential backoff, permanent ones kept on the row, dead chats never
retried, a channel that is off or refuses our settings left waiting. Telegram's messages
also keep a minimum gap per chat and an overall pace below its ~30 messages/s, shared by
every sending process (services/delivery/pacing.py), and are split to fit.
"""
import datetime
import json
import logging
import random
from dataclasses import dataclass, field

from models import utcnow
from services.delivery import channels, outbox
from services.delivery.channels import TELEGRAM, Transports
from services.delivery.html import TELEGRAM_TEXT_LIMIT, split_html
from services.delivery.pacing import Pacer
from services.delivery.transport import (
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
    # A channel that is off or refuses our settings (not Telegram's: that pauses the
    # scheduler) is tried again this much later.
    channel_retry_seconds: float = 300.0

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
    misconfigured: bool = False   # Telegram refused our token: every message would fail


def split_for_telegram(text, parse_mode):
    if parse_mode == "HTML":
        return split_html(text)
    return [text[i:i + TELEGRAM_TEXT_LIMIT // 2]
            for i in range(0, len(text), TELEGRAM_TEXT_LIMIT // 2)] or [text]


def interleave(messages):
    """Round-robin over destinations, keeping each one's order: one busy chat
    must not hold up everyone else while its gap elapses."""
    queues = {}
    for message in messages:
        queues.setdefault(message.destination, []).append(message)
    ordered = []
    while queues:
        for chat_id in list(queues):
            ordered.append(queues[chat_id].pop(0))
            if not queues[chat_id]:
                del queues[chat_id]
    return ordered


def deliver_batch(transports, batch_size, policy=DeliveryPolicy(), pacer=None,
                  now=utcnow, stop=lambda: False, rand=random.random):
    """Claim up to `batch_size` due rows and try each once."""
    claimed = outbox.claim_batch(batch_size, now())
    return deliver(transports, interleave(claimed), policy, pacer, now, stop, rand)


def deliver(transports, claimed, policy=DeliveryPolicy(), pacer=None, now=utcnow,
            stop=lambda: False, rand=random.random, chat_wait=None):
    """Try each claimed row once, in order; whatever is left when `stop()` turns
    true goes back to the queue. A chat busy for more than `chat_wait` seconds
    (default: two gaps) has its rows put back until it is free. `transports`: a
    channels.Transports, or the Telegram transport alone."""
    if not isinstance(transports, Transports):
        transports = Transports(transports)
    chat_wait = 2 * policy.per_chat_gap if chat_wait is None else chat_wait
    pacer = pacer or Pacer(policy)
    result = BatchResult(claimed=len(claimed))
    held = {}   # destination (or channel) -> (retry time, error): a 429, a busy chat, settings
    dead_chats = set()
    fared = {}  # channel (not Telegram) -> its last error in this run, or None: it worked
    handled = len(claimed)
    for index, message in enumerate(claimed):
        if stop():
            handled = index
            break
        waiting = held.get(message.destination) or held.get(message.channel)
        if waiting is not None:  # keep the destination's order: its later rows wait too
            outbox.release(message, *waiting)
            result.retrying += 1
            continue
        if message.destination in dead_chats:  # already failed with the chat
            result.failed += 1
            continue
        try:
            busy_until = _send_on_channel(transports, message, pacer, chat_wait)
        except DeliveryError as error:
            _record_failure(message, error, policy, now, held, result, rand)
            if message.channel != TELEGRAM and error.kind != PERMANENT:
                fared[message.channel] = error.description
            if error.kind == UNREACHABLE:
                dead_chats.add(message.destination)
            if error.kind == MISCONFIGURED and message.channel == TELEGRAM:
                result.misconfigured = True
                handled = index + 1   # every other message would fail the same way
                break
        else:
            if busy_until is not None:
                held[message.destination] = (busy_until, None)
                outbox.release(message, busy_until)
                result.retrying += 1
            else:
                outbox.mark_sent(message, now())
                result.sent += 1
                if message.channel != TELEGRAM:
                    fared.setdefault(message.channel, None)
    for message in claimed[handled:]:
        outbox.release(message, now())
    for channel, error in fared.items():  # the panel shows each channel's last error
        channels.record_ok(channel) if error is None else channels.record_error(channel, error)
    return result


def _send_on_channel(transports, message, pacer, chat_wait):
    transport = transports.get(message.channel)
    if transport is None:
        raise DeliveryError(MISCONFIGURED, channels.off_reason(message.channel))
    if message.channel == TELEGRAM:
        return _send(transport, message, pacer, chat_wait)
    receipt = transport.send(message)
    message.provider_id, message.provider_status = receipt.provider_id, receipt.status
    return None


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


def _record_failure(message, error, policy, now, held, result, rand):
    where = (f"chat {message.chat_id}" if message.channel == TELEGRAM
             else f"{message.channel} {message.address}")
    log.warning("message %s to %s: %s: %s", message.id, where, error.kind, error.description)
    result.errors.append((message.id, error.kind, error.description))
    if error.kind == RETRY_AFTER:
        retry_at = now() + datetime.timedelta(seconds=error.retry_after)
        held[message.destination] = (retry_at, error.description)
        outbox.release(message, retry_at, error=error.description)
        result.retrying += 1
    elif error.kind == UNREACHABLE and message.channel == TELEGRAM:
        outbox.mark_unreachable(message, error.description)
        result.failed += 1
    elif error.kind in (PERMANENT, UNREACHABLE):
        outbox.mark_failed(message, error.description)
        result.failed += 1
    elif error.kind == MISCONFIGURED and message.channel == TELEGRAM:
        # Not the message's fault: keep it, and its attempts, for when the token is fixed.
        outbox.release(message, now(), error=error.description)
        result.retrying += 1
    elif error.kind == MISCONFIGURED:
        # The channel is off or refuses our login: its other rows wait with this one.
        retry_at = now() + datetime.timedelta(seconds=policy.channel_retry_seconds)
        held[message.channel] = (retry_at, error.description)
        outbox.release(message, retry_at, error=error.description)
        result.retrying += 1
    elif message.attempts + 1 >= policy.max_attempts:
        outbox.mark_failed(message, f"gave up after {policy.max_attempts} attempts: {error.description}")
        result.failed += 1
    else:
        delay = policy.backoff(message.attempts + 1, rand)
        outbox.release(message, now() + datetime.timedelta(seconds=delay),
                       error=error.description, count_attempt=True)
        result.retrying += 1
