"""Telegram's limits kept across every process that sends: any number of
schedulers and the bot's reply threads.

Each send first reserves a slot in the database, in one short transaction that
every sender serialises on (SQLite: the write lock BEGIN IMMEDIATE takes;
Postgres: the `send_pace` row lock):

- the global slot is the channel's `next_slot`, which moves on by
  1 / messages_per_second with each reservation, so senders take turns on one
  shared timeline instead of each pacing itself;
- a send to a chat (`User.last_message_sent_at`) is refused until the chat's gap
  has passed since its previous send; the caller waits or defers the message.

The slot is recorded as the send time, so the gap is counted from when the
message goes out, not from when it was reserved; a send that leaves late (its
process stalled) moves that time on, or, when another sender has planned the
chat's next message meanwhile, waits its turn again.
"""
import datetime
import time
from dataclasses import dataclass

from peewee import fn

from models import SendPace, User, db, is_postgres, utcnow

TELEGRAM = "telegram"
LATE_SECONDS = 0.01  # a send that leaves later than this after its slot re-checks its chat
_EPOCH = datetime.datetime(1970, 1, 1)


@dataclass(frozen=True)
class Reservation:
    slot: datetime.datetime = None        # send at this time (None: the chat is busy)
    chat_free_at: datetime.datetime = None  # when the chat can take the next send


def _seconds(moment):
    return (moment - _EPOCH).total_seconds()


def _moment(seconds):
    return _EPOCH + datetime.timedelta(seconds=seconds)


def reserve(recipient_id, now, per_chat_gap, messages_per_second, channel=TELEGRAM):
    """Take the next global slot for a send to `recipient_id` (a User id, or None
    for a chat that is not a person, e.g. a group), unless that chat is busy."""
    gap = datetime.timedelta(seconds=per_chat_gap)
    try:
        with db.atomic():
            if is_postgres():  # pacing state: a reservation lost in a crash costs nothing
                db.execute_sql("SET LOCAL synchronous_commit TO OFF")
            slot = _take_slot(channel, now, 1.0 / messages_per_second)
            if recipient_id is not None and not _take_chat(recipient_id, slot, gap):
                raise _ChatBusy()
    except _ChatBusy:  # rolled back: the slot stays free for others
        last = User.select(User.last_message_sent_at).where(User.id == recipient_id).scalar()
        if last is None:  # no such person (any more): nothing to keep apart
            return reserve(None, now, per_chat_gap, messages_per_second, channel)
        return Reservation(chat_free_at=last + gap)
    return Reservation(slot=slot)


class _ChatBusy(Exception):
    pass


def _take_slot(channel, now, interval):
    """Move the channel's timeline on by one send; returns the slot taken."""
    later = fn.GREATEST if is_postgres() else fn.MAX
    taken = (SendPace.update(next_slot=later(SendPace.next_slot, _seconds(now)) + interval)
             .where(SendPace.name == channel).returning(SendPace.next_slot).execute())
    rows = list(taken)
    if not rows:  # a database emptied by hand: start a fresh timeline (once, if two race)
        SendPace.insert(name=channel, next_slot=0.0).on_conflict_ignore().execute()
        return _take_slot(channel, now, interval)
    return _moment(rows[0].next_slot - interval)


def confirm_late(recipient_id, planned, now):
    """A send leaving late (its process stalled) moves its chat's last send from the
    planned slot to `now`; False when another sender has since planned one after it,
    and this send must not go now."""
    return bool(User.update(last_message_sent_at=now)
                .where(User.id == recipient_id, User.last_message_sent_at == planned)
                .execute())


def _take_chat(recipient_id, slot, gap):
    """Record `slot` as the chat's send time unless its last send is within the gap."""
    last = User.last_message_sent_at
    return bool(User.update(last_message_sent_at=slot)
                .where(User.id == recipient_id, last.is_null() | (last <= slot - gap))
                .execute())


class Pacer:
    """Waits for a reserved slot before each send; the clock and sleep are
    injectable for tests (the clock returns naive UTC datetimes)."""

    def __init__(self, policy, now=utcnow, sleep=time.sleep):
        self._policy, self._now, self._sleep = policy, now, sleep

    def acquire(self, recipient_id, max_wait):
        """Sleep until this process may send to `recipient_id`; returns None, or
        when the chat is free if that is more than `max_wait` seconds away (the
        caller then defers the message rather than hold up others)."""
        while True:
            now = self._now()
            reservation = reserve(recipient_id, now, self._policy.per_chat_gap,
                                  self._policy.messages_per_second)
            if reservation.slot is not None:
                self._pause((reservation.slot - now).total_seconds())
                if recipient_id is None or self._on_time(recipient_id, reservation.slot):
                    return None
                continue
            wait = (reservation.chat_free_at - now).total_seconds()
            if wait > max_wait:
                return reservation.chat_free_at
            self._pause(wait)

    def _on_time(self, recipient_id, slot):
        now = self._now()
        if (now - slot).total_seconds() <= LATE_SECONDS:
            return True
        return confirm_late(recipient_id, slot, now)

    def _pause(self, seconds):
        if seconds > 0:
            self._sleep(seconds)
