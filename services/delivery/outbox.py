"""The outbox: messages waiting to be delivered, and their state machine.

    pending --claim--> sending --> sent
     ^  |  |              |------> failed    (permanent error, unreachable, attempts used up)
     |  |  +--> cancelled |                  (the deployer cancels a pending row)
     |  +--> expired      |                  (a bot row not sent by its expires_at)
     +--------------------+                  (retry later: 429, 5xx, network; lease recovered;
                                              or the deployer retries a failed row)

Rows are enqueued in the same transaction as the change that caused them and
claimed atomically, so two senders never send the same row. Notifications and
broadcasts are the scheduler's; rows with `expires_at` are the bot's, which sends
them the moment their update commits: replies, and a client conversation's alerts
and relays (services/inbox), which must not wait for the scheduler's batch.
"""
import os
import socket
from dataclasses import dataclass

from peewee import Value, fn

from models import OutboxMessage, User, db, is_postgres, utcnow
from services.core import events
from services.core.actors import Actor

PENDING, SENDING, SENT, FAILED, CANCELLED, EXPIRED = (
    "pending", "sending", "sent", "failed", "cancelled", "expired")
STATUSES = (PENDING, SENDING, SENT, FAILED, CANCELLED, EXPIRED)
WAKEUP_CHANNEL = "leadgram_outbox"  # Postgres LISTEN/NOTIFY: notifications were queued


def worker_id():
    """Who holds a claim: lets a restarted scheduler see its dead predecessor's rows."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class Claimed:
    id: int
    worker: str
    recipient_id: int             # a Telegram row's User (None for the other channels)
    chat_id: int
    text: str
    parse_mode: str
    attempts: int
    parts_sent: int
    reply_markup: str = None      # JSON, Telegram's InlineKeyboardMarkup
    edit_message_id: int = None   # edit this message instead of sending a new one
    copy_from_chat_id: int = None  # copy this message (relayed media) instead of `text`
    copy_message_id: int = None
    conversation_id: int = None   # a client conversation's row (services/inbox)
    reaction: str = None          # set this emoji on edit_message_id instead of editing
    commands: str = None          # JSON: set the chat's command menu instead of sending text
    sent_message_id: int = None   # Telegram's id of the message once sent
    channel: str = "telegram"     # services/delivery/channels.py
    address: str = None           # an email address or E.164 phone (not Telegram)
    headers: str = None           # JSON: the channel's extras
    provider_id: str = None       # the provider's id once sent (not Telegram)
    provider_status: str = None

    @property
    def destination(self):
        """Who the row goes to: its Telegram chat, else its channel and address."""
        return self.chat_id if self.channel == "telegram" else (self.channel, self.address)


def enqueue(key, recipient, text, parse_mode="HTML", **reply):
    """Queue `text` for `recipient` once: a second call with the same key is a no-op.

    `reply` holds a bot reply's reply_markup, edit_message_id, expires_at and
    next_attempt_at. Returns True when a row was created.
    """
    now = utcnow()
    reply.setdefault("next_attempt_at", now)
    inserted = (OutboxMessage
                .insert(key=key, recipient=recipient, text=text, parse_mode=parse_mode,
                        created_at=now, **reply)
                .on_conflict_ignore()
                .returning(OutboxMessage.id)
                .execute())
    created = bool(list(inserted))
    if created and reply.get("expires_at") is None:  # the bot sends the others itself
        announce()
    return created


def enqueue_for(recipients, key_prefix, text, parse_mode="HTML", broadcast=None,
                reply_markup=None):
    """enqueue() the same text (and buttons) for every User in the `recipients` query,
    keyed `<key_prefix><user id>`: one INSERT … SELECT, however large the audience.
    Returns how many rows were created."""
    now = utcnow()
    rows = recipients.select(
        Value(key_prefix).concat(User.id), User.id, Value(text), Value(parse_mode),
        Value(PENDING), Value(0), Value(0), Value(now), Value(now),
        Value(broadcast.id if broadcast else None), Value(reply_markup), Value("telegram"))
    columns = [OutboxMessage.key, OutboxMessage.recipient, OutboxMessage.text,
               OutboxMessage.parse_mode, OutboxMessage.status, OutboxMessage.attempts,
               OutboxMessage.parts_sent, OutboxMessage.next_attempt_at, OutboxMessage.created_at,
               OutboxMessage.broadcast, OutboxMessage.reply_markup, OutboxMessage.channel]
    query = OutboxMessage.insert_from(rows, columns).on_conflict_ignore()
    created = len(list(query.returning(OutboxMessage.id).execute()))
    if created:
        announce()
    return created


def announce():
    """Wake the schedulers (services/delivery/wakeup.py) for rows just queued. On Postgres
    a NOTIFY: part of the caller's transaction, it reaches them when that commits, and
    never if it rolls back (Postgres sends one for any number in a transaction). SQLite's
    schedulers poll notifications_due() instead."""
    if is_postgres():
        db.execute_sql(f"NOTIFY {WAKEUP_CHANNEL}")


def notifications_due(now=None):
    """Whether a notification is due: what a scheduler asks twice a second on SQLite. The
    (status, next_attempt_at, id) index finds due pending rows without reading the rest."""
    return (OutboxMessage.select()
            .where(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= (now or utcnow()),
                   OutboxMessage.expires_at.is_null())
            .exists())


def retry(actor, ids, now=None):
    """Failed rows among `ids` go back to pending with fresh attempts (a split
    message resumes after the parts already sent); returns how many."""
    retried = _change_by_hand(actor, ids, FAILED, PENDING, "outbox.retried",
                              attempts=0, next_attempt_at=now or utcnow(), last_error=None)
    if retried:
        announce()
    return retried


def cancel(actor, ids):
    """Pending rows among `ids` will not be sent; returns how many."""
    return _change_by_hand(actor, ids, PENDING, CANCELLED, "outbox.cancelled")


def _change_by_hand(actor, ids, from_status, to_status, event, **values):
    """A status change someone asked for, one audit entry per row it changed."""
    with db.atomic():
        changed = [row.id for row in OutboxMessage
                   .update(status=to_status, **values)
                   .where(OutboxMessage.id.in_(list(ids)), OutboxMessage.status == from_status)
                   .returning(OutboxMessage.id).execute()]
        for message_id in changed:
            events.emit(event, actor, "outbox", message_id, {"status": (from_status, to_status)})
    return len(changed)


def counts_by_status(where=None):
    """{status: rows} for every status, zero included."""
    query = OutboxMessage.select(OutboxMessage.status, fn.COUNT(OutboxMessage.id))
    if where is not None:
        query = query.where(where)
    counts = dict.fromkeys(STATUSES, 0)
    counts.update(query.group_by(OutboxMessage.status).tuples())
    return counts


def unfinished_by_channel():
    """{channel: {"waiting": n, "failed": n}}: rows still to send, and rows that failed
    (the status index reads only those), for the panel's Channels page."""
    counts = {}
    rows = (OutboxMessage.select(OutboxMessage.channel, OutboxMessage.status, fn.COUNT(OutboxMessage.id))
            .where(OutboxMessage.status.in_([PENDING, SENDING, FAILED]))
            .group_by(OutboxMessage.channel, OutboxMessage.status).tuples())
    for channel, status, count in rows:
        row = counts.setdefault(channel, {"waiting": 0, "failed": 0})
        row["failed" if status == FAILED else "waiting"] += count
    return counts


_CLAIM_SQL = """
UPDATE outbox SET status = 'sending', claimed_by = {p}, claimed_at = {p}
WHERE id IN (
    SELECT id FROM outbox
    WHERE status = 'pending' AND {which}
    ORDER BY next_attempt_at, id
    LIMIT {p} {lock})
RETURNING id, recipient_id, text, parse_mode, attempts, parts_sent, reply_markup,
          edit_message_id, next_attempt_at, copy_from_chat_id, copy_message_id, conversation_id,
          reaction, commands, channel, address, headers
"""
_NOTIFICATIONS_DUE = "expires_at IS NULL AND next_attempt_at <= {p}"
_REPLIES_DUE = "recipient_id = {p} AND expires_at > {p} AND next_attempt_at <= {p}"


def claim_batch(limit, now=None, worker=None):
    """Atomically move up to `limit` due notifications to 'sending' and return
    them, oldest first (bot replies are left to the bot)."""
    now = now or utcnow()
    return _claim(_NOTIFICATIONS_DUE, (now,), limit, now, worker)


def claim_replies(recipient_id, limit=50, now=None, worker=None):
    """The bot's unexpired replies to `recipient_id` that are due, in order."""
    now = now or utcnow()
    return _claim(_REPLIES_DUE, (recipient_id, now, now), limit, now, worker)


def next_reply_due(recipient_id, now=None):
    """When the bot's next waiting row to `recipient_id` comes due (naive UTC), or None."""
    return (OutboxMessage.select(fn.MIN(OutboxMessage.next_attempt_at))
            .where(OutboxMessage.recipient == recipient_id, OutboxMessage.status == PENDING,
                   OutboxMessage.expires_at > (now or utcnow()))
            .scalar())


def chats_with_due_replies(limit=100, now=None):
    """(recipient id, chat id) of people with replies waiting: left by a bot that
    died before sending them, or released to be retried."""
    now = now or utcnow()
    return list(OutboxMessage
                .select(OutboxMessage.recipient, User.telegram_id).join(User)
                .where(OutboxMessage.status == PENDING, OutboxMessage.expires_at > now,
                       OutboxMessage.next_attempt_at <= now)
                .distinct().limit(limit).tuples())


def _claim(which, which_params, limit, now, worker):
    p = "%s" if is_postgres() else "?"
    sql = _CLAIM_SQL.format(which=which.format(p=p), p=p,
                            lock="FOR UPDATE SKIP LOCKED" if is_postgres() else "")
    worker = worker or worker_id()
    with db.atomic():
        rows = db.execute_sql(sql, (worker, now, *which_params, limit)).fetchall()
    if not rows:
        return []
    rows.sort(key=lambda r: (r[8], r[0]))
    chats = dict(User.select(User.id, User.telegram_id)
                 .where(User.id.in_([r[1] for r in rows])).tuples())
    return [Claimed(id=r[0], worker=worker, recipient_id=r[1], chat_id=chats.get(r[1]), text=r[2],
                    parse_mode=r[3], attempts=r[4], parts_sent=r[5], reply_markup=r[6],
                    edit_message_id=r[7], copy_from_chat_id=r[9], copy_message_id=r[10],
                    conversation_id=r[11], reaction=r[12], commands=r[13], channel=r[14],
                    address=r[15], headers=r[16])
            for r in rows]


def expire_replies(now=None):
    """The bot's rows (replies, client alerts and relays) still unsent past their
    `expires_at` are dropped; returns how many."""
    late = (OutboxMessage.status == PENDING) & (OutboxMessage.expires_at <= (now or utcnow()))
    if not OutboxMessage.select().where(late).exists():  # a read: no write lock several times a second
        return 0
    return (OutboxMessage
            .update(status=EXPIRED, claimed_by=None,
                    last_error="dropped: not sent in time (was the bot stopped?)")
            .where(late).execute())


def _move(claimed, **changes):
    """Only the claim holder may move a row on; a row recovered and claimed
    again by another scheduler is left alone."""
    return (OutboxMessage.update(claimed_by=None, **changes)
            .where(OutboxMessage.id == claimed.id, OutboxMessage.status == SENDING,
                   OutboxMessage.claimed_by == claimed.worker)
            .execute())


def record_part_sent(claimed, parts_sent):
    """After each part of a split message, so a retry resumes after it."""
    OutboxMessage.update(parts_sent=parts_sent).where(OutboxMessage.id == claimed.id).execute()


def mark_sent(claimed, now=None):
    now = now or utcnow()
    _move(claimed, status=SENT, sent_at=now, last_error=None,
          attempts=OutboxMessage.attempts + 1, sent_message_id=claimed.sent_message_id,
          provider_id=claimed.provider_id, provider_status=claimed.provider_status,
          provider_status_at=now if claimed.provider_status else None)


# Delivery states a provider reports after accepting a message, and how far along each
# is: a late callback never moves a message back (Twilio's may arrive out of order).
PROVIDER_PROGRESS = {"accepted": 0, "queued": 1, "sending": 2, "sent": 3, "delivered": 4,
                     "read": 5, "undelivered": 4, "failed": 4}
PROVIDER_FAILURES = ("undelivered", "failed")


def record_provider_status(provider_id, status, error=None, now=None):
    """A provider's delivery report (Twilio's status callback) for the row it gave
    `provider_id`; a failure after sending marks the row failed and tells the sender, as a
    failure to send does. Returns True when the row's state moved on."""
    now = now or utcnow()
    with db.atomic():
        row = OutboxMessage.get_or_none(OutboxMessage.provider_id == provider_id)
        if row is None or status not in PROVIDER_PROGRESS:
            return False
        if PROVIDER_PROGRESS.get(row.provider_status, -1) >= PROVIDER_PROGRESS[status]:
            return False
        values = {"provider_status": status, "provider_status_at": now}
        failed = status in PROVIDER_FAILURES
        if failed:
            values.update(status=FAILED, last_error=error or f"the provider reported it {status}")
        OutboxMessage.update(values).where(OutboxMessage.id == row.id).execute()
        if failed and row.conversation_id is not None:
            events.emit("message.undelivered", Actor.system("delivery"), "outbox", row.id,
                        {"status": (row.status, FAILED)}, conversation_id=row.conversation_id,
                        error=values["last_error"])
    return True


def release(claimed, retry_at, error=None, count_attempt=False):
    """Back to pending until `retry_at`."""
    changes = {"status": PENDING, "next_attempt_at": retry_at}
    if error is not None:
        changes["last_error"] = error
    if count_attempt:
        changes["attempts"] = OutboxMessage.attempts + 1
    _move(claimed, **changes)


def mark_failed(claimed, error):
    with db.atomic():
        moved = _move(claimed, status=FAILED, last_error=error,
                      attempts=OutboxMessage.attempts + 1)
        if moved and claimed.conversation_id is not None:  # the sender should hear why
            events.emit("message.undelivered", Actor.system("delivery"), "outbox", claimed.id,
                        {"status": (SENDING, FAILED)}, conversation_id=claimed.conversation_id,
                        error=error)


def mark_unreachable(claimed, error):
    """The chat is gone (blocked the bot, deleted account): stop trying, for every row."""
    with db.atomic():
        mark_failed(claimed, error)
        recipient = User.get_by_id(claimed.recipient_id)
        values = {"unreachable": True, "unreachable_reason": error}
        User.update(values).where(User.id == recipient.id).execute()
        events.emit("user.unreachable", Actor.system("delivery"), "user", recipient.id,
                    events.changed(recipient, values))
        # Rows waiting, and rows this worker holds in the same batch.
        (OutboxMessage.update(status=FAILED, last_error=f"recipient unreachable: {error}",
                              claimed_by=None)
         .where(OutboxMessage.recipient == claimed.recipient_id,
                (OutboxMessage.status == PENDING)
                | ((OutboxMessage.status == SENDING)
                   & (OutboxMessage.claimed_by == claimed.worker))).execute())


def recover_stale(lease_seconds, now=None, is_alive=None):
    """Return rows stuck in 'sending' to 'pending'.

    A row is stuck when its claim holder ran on this host and is dead (a
    restart after SIGKILL recovers at once), or when its claim is older than
    the lease (a holder on another host). Returns how many were recovered.
    """
    now = now or utcnow()
    is_alive = is_alive or _pid_alive
    host = socket.gethostname()
    stale = set()
    holders = (OutboxMessage.select(OutboxMessage.claimed_by, OutboxMessage.claimed_at)
               .where(OutboxMessage.status == SENDING).tuples())
    for holder, claimed_at in holders:
        holder_host, _, pid = (holder or "").rpartition(":")
        dead_here = holder_host == host and pid.isdigit() and not is_alive(int(pid))
        expired = claimed_at is None or (now - claimed_at).total_seconds() > lease_seconds
        if dead_here or expired:
            stale.add((holder, claimed_at))
    recovered = 0
    for holder, claimed_at in stale:
        recovered += (OutboxMessage
                      .update(status=PENDING, claimed_by=None, next_attempt_at=now)
                      .where(OutboxMessage.status == SENDING,
                             OutboxMessage.claimed_by == holder,
                             OutboxMessage.claimed_at == claimed_at)
                      .execute())
    return recovered


def _pid_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
