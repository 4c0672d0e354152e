"""What providers tell us, stored first and worked on after (store, then work).

A Twilio webhook must be answered within Twilio's timeout and may be retried; a mail is
taken from the IMAP mailbox once. Either is stored as an InboundEvent, unique by the
provider's id (a retry is stored once), in the web process or the mailbox poll; the
scheduler then hands each to its source's handler (services/inbox/twilio_in.py,
email_in.py), each in its own transaction with what it writes. A handler that fails is
tried again at the next pass, MAX_ATTEMPTS times, and the error stays on the event for the
log and the panel.
"""
import json
import logging

from models import InboundEvent, db, utcnow
from services.delivery import outbox

log = logging.getLogger("leadgram.inbound")
MAX_ATTEMPTS = 5
HANDLERS = {}


def register(source, handler):
    """`handler(payload: dict, now)` works on the events of `source`."""
    HANDLERS[source] = handler


def store(source, external_ref, payload, now=None):
    """Keep what `source` sent once; False when it was already kept (a provider's retry).
    Wakes the scheduler as queued messages do."""
    inserted = (InboundEvent
                .insert(source=source, external_ref=str(external_ref)[:255],
                        payload=json.dumps(payload, ensure_ascii=False),
                        received_at=now or utcnow())
                .on_conflict_ignore()
                .returning(InboundEvent.id)
                .execute())
    created = bool(list(inserted))
    if created:
        outbox.announce()
    return created


def pending_exists():
    """Whether a new event waits: what a scheduler asks twice a second on SQLite."""
    return (InboundEvent.select()
            .where(InboundEvent.processed_at.is_null(), InboundEvent.attempts == 0).exists())


def process_pending(limit=100, now=None, retries=True):
    """Hand up to `limit` waiting events to their handlers, oldest first; returns how
    many were handled. Without `retries`, only events not tried yet (the scheduler
    retries failed ones at its interval, not at every wakeup)."""
    now = now or utcnow()
    waiting = InboundEvent.select().where(InboundEvent.processed_at.is_null())
    if not retries:
        waiting = waiting.where(InboundEvent.attempts == 0)
    waiting = list(waiting.order_by(InboundEvent.id).limit(limit))
    handled = 0
    for event in waiting:
        handled += _process(event, now)
    return handled


def _process(event, now):
    handler = HANDLERS.get(event.source)
    try:
        with db.atomic():
            # Claimed by the update: another scheduler that read it too finds it done.
            taken = (InboundEvent.update(processed_at=now, attempts=InboundEvent.attempts + 1)
                     .where(InboundEvent.id == event.id, InboundEvent.processed_at.is_null())
                     .execute())
            if not taken:
                return 0
            if handler is None:
                raise LookupError(f"nothing handles {event.source!r} events")
            handler(json.loads(event.payload), now)
    except Exception as exc:  # noqa: BLE001 - kept on the event, retried, never lost
        log.exception("inbound %s %s (event %s) failed", event.source, event.external_ref,
                      event.id)
        attempts = event.attempts + 1
        error = f"{type(exc).__name__}: {exc}"[:2000]
        # Failed for good after MAX_ATTEMPTS: processed, with the error for the panel.
        InboundEvent.update(
            attempts=attempts, last_error=error,
            processed_at=now if attempts >= MAX_ATTEMPTS else None,
        ).where(InboundEvent.id == event.id).execute()
        return 0
    return 1


def failed(limit=20):
    """Events given up on, newest first, for the panel."""
    return list(InboundEvent.select()
                .where(InboundEvent.last_error.is_null(False),
                       InboundEvent.attempts >= MAX_ATTEMPTS)
                .order_by(InboundEvent.id.desc()).limit(limit))
