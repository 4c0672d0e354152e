"""Broadcasts from the admin panel: one outbox row per recipient, in one transaction.

The text is Telegram HTML, normalised by services.delivery.html so the preview
and the message are the same thing. Delivery is the scheduler's, under the
same pacing as every other message.
"""
from dataclasses import dataclass

from peewee import fn

from models import ROLES, Broadcast, Contact, OutboxMessage, User, db
from services.core import events
from services.core.actors import Actor
from services.core.inputs import one_newline, plain_text
from services.delivery import html as telegram_html, outbox

MAX_LENGTH = 3900  # visible characters; Telegram's limit is 4096
AUDIENCES = {"team": "Whole team",
             **{f"role:{role}": f"Role: {role}" for role in ROLES},
             "everyone": "Everyone who started the bot"}
TEST_AUDIENCE = "Admins only (test)"


class BroadcastError(ValueError):
    """A broadcast that cannot be sent as asked; the message says why."""


@dataclass(frozen=True)
class Draft:
    html: str
    audience: str
    test_mode: bool
    recipients: int   # who will get it
    unreachable: int  # in the audience but blocked the bot, so skipped
    length: int

    @property
    def audience_label(self):
        return TEST_AUDIENCE if self.test_mode else AUDIENCES[self.audience]


def prepare(text, audience, test_mode=False):
    """Check a broadcast and count its recipients, without sending anything."""
    if audience not in AUDIENCES:
        raise BroadcastError(f"Choose an audience: {', '.join(AUDIENCES.values())}.")
    try:
        # NUL never means anything in a message, and Postgres refuses it in text.
        html = telegram_html.clean(one_newline(plain_text(text or "")).strip())
    except telegram_html.FormattingError as exc:
        raise BroadcastError(str(exc)) from None
    length = telegram_html.visible_length(html)
    if not telegram_html.visible_text(html).strip():
        raise BroadcastError("Write a message first.")
    if length > MAX_LENGTH:
        raise BroadcastError(f"The message is {length:,} characters; the limit is {MAX_LENGTH:,}.")
    everyone = _audience(audience, test_mode)
    recipients = everyone.where(User.unreachable == False).count()  # noqa: E712
    if not recipients:
        raise BroadcastError(
            "Nobody can receive it: no admin has started the bot yet (add your Telegram id to "
            "ADMIN_TELEGRAM_IDS and send the bot /start)." if test_mode else
            f"Nobody can receive it: nobody in “{AUDIENCES[audience]}” can be reached.")
    return Draft(html=html, audience=audience, test_mode=test_mode, recipients=recipients,
                 unreachable=everyone.count() - recipients, length=length)


def send(text, audience, test_mode, created_by):
    """Record the broadcast and queue it for every reachable recipient; `created_by`
    is the panel login sending it."""
    with db.atomic():
        draft = prepare(text, audience, test_mode)
        broadcast = Broadcast.create(text=draft.html, audience=audience, test_mode=test_mode,
                                     created_by=created_by)
        recipients = _audience(audience, test_mode).where(User.unreachable == False)  # noqa: E712
        broadcast.recipients = outbox.enqueue_for(
            recipients, f"broadcast:{broadcast.id}:to:", draft.html, broadcast=broadcast)
        broadcast.save(only=[Broadcast.recipients])
        events.emit("broadcast.created", Actor.panel(created_by), "broadcast", broadcast.id,
                    events.created(broadcast))
    return broadcast


@dataclass(frozen=True)
class Progress:
    sent: int = 0
    failed: int = 0
    waiting: int = 0
    cancelled: int = 0

    @property
    def success_rate(self):
        """Sent out of those finished, or None before anything finished."""
        done = self.sent + self.failed
        return self.sent / done if done else None


def progress(broadcast_ids):
    """{broadcast id: Progress}, from one grouped query."""
    counts = {bid: {} for bid in broadcast_ids}
    rows = (OutboxMessage
            .select(OutboxMessage.broadcast, OutboxMessage.status, fn.COUNT(OutboxMessage.id))
            .where(OutboxMessage.broadcast.in_(list(broadcast_ids)))
            .group_by(OutboxMessage.broadcast, OutboxMessage.status).tuples())
    for bid, status, n in rows:
        counts[bid][status] = n
    return {bid: Progress(sent=c.get(outbox.SENT, 0), failed=c.get(outbox.FAILED, 0),
                          waiting=c.get(outbox.PENDING, 0) + c.get(outbox.SENDING, 0),
                          cancelled=c.get(outbox.CANCELLED, 0))
            for bid, c in counts.items()}


def _audience(audience, test_mode):
    if test_mode:
        return User.team().where(User.role == "admin")
    if audience == "everyone":   # clients too, but not those who sent the bot /stop
        stopped = (Contact.select(Contact.value.cast("BIGINT"))
                   .where(Contact.kind == "telegram", Contact.opted_out_at.is_null(False)))
        return User.select().where(User.telegram_id.not_in(stopped))
    if audience == "team":
        return User.team()
    return User.team().where(User.role == audience.split(":", 1)[1])
