"""One global pace and one per-chat gap shared by every sending process."""
import datetime
import threading

from models import SendPace, User, utcnow
from services.delivery import pacing
from services.delivery.sender import DeliveryPolicy

GAP, RATE = 1.0, 25.0


def test_slots_follow_one_timeline_whoever_asks(any_db, make_user):
    a, b = make_user(), make_user()
    now = utcnow()
    first = pacing.reserve(a.id, now, GAP, RATE).slot
    second = pacing.reserve(b.id, now, GAP, RATE).slot    # another process, same instant
    third = pacing.reserve(None, now, GAP, RATE).slot
    assert first == now
    assert (second - first).total_seconds() == (third - second).total_seconds() == 1 / RATE


def test_a_busy_chat_is_refused_until_its_gap_has_passed(any_db, make_user):
    member = make_user()
    now = utcnow()
    sent = pacing.reserve(member.id, now, GAP, RATE).slot
    refused = pacing.reserve(member.id, now + datetime.timedelta(seconds=0.5), GAP, RATE)
    assert refused.slot is None
    assert refused.chat_free_at == sent + datetime.timedelta(seconds=GAP)
    assert User.get_by_id(member.id).last_message_sent_at == sent
    later = pacing.reserve(member.id, refused.chat_free_at, GAP, RATE)
    assert later.slot == refused.chat_free_at


def test_a_refusal_takes_no_global_slot(any_db, make_user):
    member, other = make_user(), make_user()
    now = utcnow()
    pacing.reserve(member.id, now, GAP, RATE)
    pacing.reserve(member.id, now, GAP, RATE)  # refused
    assert pacing.reserve(other.id, now, GAP, RATE).slot == now + datetime.timedelta(seconds=1 / RATE)


def test_an_emptied_pace_table_starts_a_fresh_timeline(any_db, make_user):
    SendPace.delete().execute()
    now = utcnow()
    assert pacing.reserve(make_user().id, now, GAP, RATE).slot == now


def test_pacer_waits_for_the_slot_and_defers_a_chat_busy_for_long(any_db, make_user):
    member = make_user()
    start = utcnow()
    elapsed, sleeps = [0.0], []

    def now():
        return start + datetime.timedelta(seconds=elapsed[0])

    def sleep(seconds):
        sleeps.append(seconds)
        elapsed[0] += seconds
    pacer = pacing.Pacer(DeliveryPolicy(per_chat_gap=GAP, messages_per_second=RATE), now, sleep)
    assert pacer.acquire(member.id, max_wait=2) is None
    assert pacer.acquire(member.id, max_wait=2) is None     # waits out the chat's gap
    assert sleeps == [GAP]
    assert pacer.acquire(member.id, max_wait=0.5) == start + datetime.timedelta(seconds=2 * GAP)


def test_concurrent_senders_never_share_a_slot_or_crowd_a_chat(any_db, make_user):
    """Threads stand in for processes: each reservation is its own transaction."""
    members = [make_user() for _ in range(3)]
    now = utcnow()
    granted, errors = [], []

    def sender(n):
        try:
            for i in range(20):
                member = members[(n + i) % len(members)]
                result = pacing.reserve(member.id, now, GAP, RATE)
                if result.slot is not None:
                    granted.append((result.slot, member.id))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            any_db.close()
    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    slots = sorted(slot for slot, _ in granted)
    assert len(slots) == len(members)  # one send per chat at `now`; the rest refused
    assert all((b - a).total_seconds() >= 1 / RATE - 1e-6 for a, b in zip(slots, slots[1:]))


class SharedClock:
    """One wall clock for two pacers standing in for two processes; `stall` makes the
    next sleep of one of them last longer, as when its process is not scheduled."""

    def __init__(self):
        self.start, self.elapsed, self.stalls = utcnow(), 0.0, []

    def now(self):
        return self.start + datetime.timedelta(seconds=self.elapsed)

    def sleeper(self, during=lambda: None):
        def sleep(seconds):
            self.elapsed += seconds
            if self.stalls:
                self.elapsed += self.stalls.pop()
                during()
        return sleep


def test_a_send_that_leaves_late_counts_the_gap_from_when_it_left(any_db, make_user):
    member = make_user()
    clock = SharedClock()
    policy = DeliveryPolicy(per_chat_gap=GAP, messages_per_second=RATE)
    pacing.reserve(make_user().id, clock.now(), GAP, RATE)  # so the next slot is ahead: a sleep
    clock.stalls.append(0.3)
    late = pacing.Pacer(policy, clock.now, clock.sleeper())
    assert late.acquire(member.id, max_wait=5) is None
    left = clock.now()
    assert User.get_by_id(member.id).last_message_sent_at == left


def test_a_late_send_behind_which_another_was_planned_waits_its_turn(any_db, make_user):
    member = make_user()
    clock = SharedClock()
    policy = DeliveryPolicy(per_chat_gap=GAP, messages_per_second=RATE)
    pacing.reserve(make_user().id, clock.now(), GAP, RATE)
    other = []

    def another_process_sends():  # while the first is stalled past the chat's gap
        other.append(pacing.reserve(member.id, clock.now(), GAP, RATE).slot)
    clock.stalls.append(1.5)
    late = pacing.Pacer(policy, clock.now, clock.sleeper(during=another_process_sends))
    assert late.acquire(member.id, max_wait=5) is None
    assert other[0] is not None  # the other process took the chat while this one stalled
    assert (clock.now() - other[0]).total_seconds() >= GAP  # so this one waited a gap after it
