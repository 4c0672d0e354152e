"""Broadcasts and the outbox actions behind the admin panel, on SQLite and Postgres."""
import pytest

from models import Broadcast, OutboxMessage
from services.core.actors import Actor
from services.delivery import broadcasts, outbox

PANEL = Actor.panel("boss")


def test_broadcast_send_is_one_transaction_with_its_messages(any_db, make_user):
    make_user("admin", first_name="Ann")
    make_user("sales", first_name="Sam")
    make_user("sales", first_name="Off", unreachable=True)
    broadcast = broadcasts.send("<b>Hi</b> &amp; welcome", "role:sales", False, created_by="boss")
    assert broadcast.recipients == 1
    (message,) = OutboxMessage.select().where(OutboxMessage.broadcast == broadcast)
    assert message.key == f"broadcast:{broadcast.id}:to:{message.recipient_id}"
    assert message.text == "<b>Hi</b> &amp; welcome"
    with pytest.raises(broadcasts.BroadcastError, match="Nobody can receive it"):
        broadcasts.send("hi", "role:dispatcher", False, created_by="boss")
    assert Broadcast.select().count() == 1  # the refused one left nothing behind


def test_broadcast_progress_counts_each_status(any_db, make_user):
    for _ in range(4):
        make_user("sales")
    first = broadcasts.send("one", "team", False, created_by="boss")
    second = broadcasts.send("two", "team", False, created_by="boss")
    ids = [m.id for m in first.messages]
    OutboxMessage.update(status="sent").where(OutboxMessage.id.in_(ids[:2])).execute()
    OutboxMessage.update(status="failed").where(OutboxMessage.id == ids[2]).execute()
    outbox.cancel(PANEL, [ids[3]])
    progress = broadcasts.progress([first.id, second.id])
    assert progress[first.id] == broadcasts.Progress(sent=2, failed=1, waiting=0, cancelled=1)
    assert progress[first.id].success_rate == pytest.approx(2 / 3)
    assert progress[second.id].waiting == 4 and progress[second.id].success_rate is None


def test_retry_and_cancel_touch_only_the_right_statuses(any_db, make_user):
    sam = make_user("sales")
    for n in range(3):
        outbox.enqueue(f"k{n}", sam, "x")
    a, b, c = [m.id for m in OutboxMessage.select().order_by(OutboxMessage.id)]
    OutboxMessage.update(status="failed", attempts=10, last_error="boom").where(OutboxMessage.id == a).execute()
    OutboxMessage.update(status="sent").where(OutboxMessage.id == b).execute()
    assert outbox.retry(PANEL, [a, b, c]) == 1
    assert outbox.cancel(PANEL, [a, b, c]) == 2  # a is pending again, c was pending
    assert outbox.counts_by_status() == {"pending": 0, "sending": 0, "sent": 1, "failed": 0,
                                         "cancelled": 2, "expired": 0}
    assert outbox.claim_batch(10) == []


def test_broadcast_text_loses_nul_characters(any_db, make_user):
    make_user("admin")
    draft = broadcasts.prepare("Hel\x00lo", "team")
    assert draft.html == "Hello" and draft.length == 5


def test_a_browser_line_break_counts_and_goes_out_as_one_character(any_db, make_user):
    # Browsers submit a textarea's line breaks as \r\n; Telegram counts a line break as one.
    make_user("admin")
    typed = "<b>Spring offer</b>\n\nTwo lines 👋\nand &amp; a third"
    submitted = broadcasts.prepare(typed.replace("\n", "\r\n"), "team")
    assert submitted.length == broadcasts.prepare(typed, "team").length == 40  # 👋 is 2 units
    assert submitted.html == "<b>Spring offer</b>\n\nTwo lines 👋\nand &amp; a third"
    assert broadcasts.prepare("old\rMac", "team").html == "old\nMac"
    sent = broadcasts.send(typed.replace("\n", "\r\n"), "team", False, created_by="boss")
    assert "\r" not in sent.text and "\r" not in sent.messages[0].text
