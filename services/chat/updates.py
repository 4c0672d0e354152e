"""Each Telegram update is handled once, even when Telegram delivers it again
(after a crash before the offset was confirmed)."""
import datetime

from models import ProcessedUpdate, utcnow

KEEP_PROCESSED = datetime.timedelta(days=2)  # Telegram keeps updates for 24 hours


def first_time(update_id):
    """Record `update_id`; False if it was recorded before.

    Call inside the transaction that handles the update, so a crash
    mid-handler leaves it unrecorded and the redelivery is handled.
    """
    inserted = (ProcessedUpdate.insert(update_id=update_id, processed_at=utcnow())
                .on_conflict_ignore().returning(ProcessedUpdate.update_id).execute())
    return bool(list(inserted))


def forget_old(now=None):
    cutoff = (now or utcnow()) - KEEP_PROCESSED
    return ProcessedUpdate.delete().where(ProcessedUpdate.processed_at < cutoff).execute()

