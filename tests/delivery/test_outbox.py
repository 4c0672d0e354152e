"""The outbox state machine and claiming, on every backend."""
import datetime
import threading

import models
from models import OutboxMessage, User, utcnow
from services.delivery import outbox


def test_enqueue_is_idempotent(any_db, make_user):
    member = make_user()
    assert outbox.enqueue("lead:1:to:1", member, "hello") is True
    assert outbox.enqueue("lead:1:to:1", member, "hello again") is False
    assert [m.text for m in OutboxMessage.select()] == ["hello"]


def test_enqueue_for_a_group_skips_keys_already_queued(any_db, make_user):
    members = [make_user() for _ in range(3)]
    make_user(role=None)  # not on the team
    outbox.enqueue(f"n:{members[1].id}", members[1], "first")
    outbox.enqueue_for(User.team(), "n:", "text")
    outbox.enqueue_for(User.team(), "n:", "again")
    assert {m.key: m.text for m in OutboxMessage.select()} == {
        f"n:{members[0].id}": "text", f"n:{members[1].id}": "first", f"n:{members[2].id}": "text"}
    claimed = outbox.claim_batch(5, worker="w")
    assert len(claimed) == 3 and {c.attempts for c in claimed} == {0}


def test_claim_takes_due_rows_oldest_first_and_only_once(any_db, make_user):
    member = make_user()
    for n in range(5):
        outbox.enqueue(f"k{n}", member, f"m{n}")
    later = OutboxMessage.get(OutboxMessage.key == "k0")
    later.next_attempt_at = utcnow() + datetime.timedelta(hours=1)
    later.save()
    first = outbox.claim_batch(3, worker="w1")
    second = outbox.claim_batch(3, worker="w2")
    assert [m.text for m in first] == ["m1", "m2", "m3"]
    assert [m.text for m in second] == ["m4"]
    assert first[0].chat_id == member.telegram_id
    assert outbox.claim_batch(3, worker="w3") == []


def test_only_the_claim_holder_moves_a_row(any_db, make_user):
    outbox.enqueue("k", make_user(), "m")
    [claimed] = outbox.claim_batch(1, worker="w1")
    stolen = outbox.Claimed(**{**claimed.__dict__, "worker": "w2"})
    outbox.mark_sent(stolen)
    assert OutboxMessage.get().status == outbox.SENDING
    outbox.mark_sent(claimed)
    row = OutboxMessage.get()
    assert (row.status, row.attempts, row.claimed_by) == (outbox.SENT, 1, None)


def test_release_and_fail(any_db, make_user):
    member = make_user()
    outbox.enqueue("a", member, "a")
    outbox.enqueue("b", member, "b")
    a, b = outbox.claim_batch(2, worker="w")
    retry_at = utcnow() + datetime.timedelta(seconds=30)
    outbox.release(a, retry_at, error="HTTP 502", count_attempt=True)
    outbox.mark_failed(b, "Bad Request: can't parse entities")
    rows = {r.key: r for r in OutboxMessage.select()}
    assert (rows["a"].status, rows["a"].attempts, rows["a"].last_error) == ("pending", 1, "HTTP 502")
    assert rows["a"].next_attempt_at == retry_at
    assert (rows["b"].status, rows["b"].last_error) == ("failed", "Bad Request: can't parse entities")
    assert outbox.claim_batch(5, worker="w") == []  # a is not due yet


def test_unreachable_recipient_fails_everything_pending_for_them(any_db, make_user):
    gone, other = make_user(), make_user()
    for n in range(3):
        outbox.enqueue(f"g{n}", gone, "x")
    outbox.enqueue("o", other, "x")
    [first] = outbox.claim_batch(1, worker="w")
    outbox.mark_unreachable(first, "Forbidden: bot was blocked by the user")
    statuses = {r.key: r.status for r in OutboxMessage.select()}
    assert statuses == {"g0": "failed", "g1": "failed", "g2": "failed", "o": "pending"}
    assert User.get_by_id(gone.id).unreachable
    assert gone.id not in [u.id for u in User.lead_recipients()]


def test_dead_local_holder_is_recovered_at_once_live_one_only_after_its_lease(any_db, make_user):
    member = make_user()
    for n in range(4):
        outbox.enqueue(f"k{n}", member, "x")
    host = outbox.worker_id().rpartition(":")[0]
    outbox.claim_batch(2, worker=f"{host}:999999")        # a dead process here
    outbox.claim_batch(2, worker="elsewhere:1")            # alive, on another host
    assert outbox.recover_stale(600, is_alive=lambda pid: False) == 2
    assert outbox.recover_stale(600) == 0
    assert outbox.recover_stale(600, now=utcnow() + datetime.timedelta(seconds=601)) == 2
    assert OutboxMessage.select().where(OutboxMessage.status == "pending").count() == 4


def test_concurrent_claims_never_share_a_row(any_db, make_user, sqlite_url):
    """Four threads, each with its own connection, drain 200 rows."""
    member = make_user()
    with models.db.atomic():
        for n in range(200):
            outbox.enqueue(f"k{n}", member, "x")
    seen, errors = [], []

    def drain(name):
        try:
            while True:
                batch = outbox.claim_batch(7, worker=name)
                if not batch:
                    return
                seen.extend(m.id for m in batch)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            models.db.close()
    threads = [threading.Thread(target=drain, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(seen) == sorted(set(seen)) and len(seen) == 200


def test_migrations_are_idempotent(any_db):
    assert models.migrate() == []
