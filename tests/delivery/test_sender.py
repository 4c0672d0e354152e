"""Delivery rules with a fake transport and a clock the test controls."""
import datetime

import pytest

from models import OutboxMessage, User, utcnow
from services.delivery import outbox
from services.delivery.pacing import Pacer
from services.delivery.sender import DeliveryPolicy, deliver_batch
from services.delivery.telegram import classify
from services.delivery.transport import (
    PERMANENT,
    RETRY_AFTER,
    TRANSIENT,
    UNREACHABLE,
    DeliveryError,
)


class FakeClock:
    """Seconds since the test began; `wall` is the same instant as naive UTC."""

    def __init__(self):
        self.now = 0.0
        self.start = utcnow()
        self.sleeps = []

    def wall(self):
        return self.start + datetime.timedelta(seconds=self.now)

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


class FakeTransport:
    def __init__(self, clock, failures=None):
        self.clock, self.sent, self.failures = clock, [], failures or {}

    def send(self, chat_id, text, parse_mode=None, reply_markup=None):
        queued = self.failures.get(chat_id)
        if queued:
            raise queued.pop(0)
        self.sent.append((self.clock.now, chat_id, text))
        return len(self.sent)


class MenuTransport(FakeTransport):
    def set_commands(self, chat_id, commands):
        self.sent.append((self.clock.now, chat_id, commands))


@pytest.fixture
def clock():
    return FakeClock()


def run(transport, clock, policy=DeliveryPolicy(), batch=30):
    return deliver_batch(transport, batch, policy, pacer=Pacer(policy, clock.wall, clock.sleep))


def test_sends_and_marks_sent(any_db, make_user, clock):
    a, b = make_user(), make_user()
    outbox.enqueue("1", a, "to a")
    outbox.enqueue("2", b, "to b")
    transport = FakeTransport(clock)
    result = run(transport, clock)
    assert (result.sent, result.failed) == (2, 0)
    assert [t for _, _, t in transport.sent] == ["to a", "to b"]
    assert {m.status for m in OutboxMessage.select()} == {"sent"}
    assert all(u.last_message_sent_at for u in User.select())


def test_per_chat_gap_and_overall_pace_are_kept(any_db, make_user, clock):
    a, b = make_user(), make_user()
    for n in range(3):
        outbox.enqueue(f"a{n}", a, f"a{n}")
        outbox.enqueue(f"b{n}", b, f"b{n}")
    transport = FakeTransport(clock)
    policy = DeliveryPolicy(per_chat_gap=1.0, messages_per_second=25)
    run(transport, clock, policy)
    # Chats are interleaved so one chat's gap doesn't hold up the other.
    assert [t for _, _, t in transport.sent] == ["a0", "b0", "a1", "b1", "a2", "b2"]
    for chat in (a.telegram_id, b.telegram_id):
        times = [at for at, c, _ in transport.sent if c == chat]
        assert all(later - earlier >= 1.0 for earlier, later in zip(times, times[1:]))
    times = [at for at, _, _ in transport.sent]
    assert all(later - earlier >= 1 / 25 - 1e-9 for earlier, later in zip(times, times[1:]))


def test_gap_counts_from_a_send_by_another_scheduler(any_db, make_user, clock):
    member = make_user(last_message_sent_at=utcnow())
    outbox.enqueue("1", member, "x")
    run(FakeTransport(clock), clock)
    assert clock.sleeps and clock.sleeps[0] > 0.9


def test_429_waits_retry_after_for_that_chat_only(any_db, make_user, clock):
    slow, other = make_user(), make_user()
    outbox.enqueue("s1", slow, "s1")
    outbox.enqueue("s2", slow, "s2")
    outbox.enqueue("o1", other, "o1")
    transport = FakeTransport(clock, {slow.telegram_id: [
        DeliveryError(RETRY_AFTER, "Too Many Requests: retry after 7", retry_after=7)]})
    before = utcnow()
    result = run(transport, clock)
    assert [t for _, _, t in transport.sent] == ["o1"]
    assert result.retrying == 2
    rows = {r.key: r for r in OutboxMessage.select()}
    for key in ("s1", "s2"):
        assert rows[key].status == "pending" and rows[key].attempts == 0
        assert rows[key].next_attempt_at >= before + datetime.timedelta(seconds=7)


def test_transient_errors_back_off_then_give_up(any_db, make_user, clock):
    member = make_user()
    outbox.enqueue("1", member, "x")
    policy = DeliveryPolicy(max_attempts=3, backoff_base=5)
    transport = FakeTransport(clock, {member.telegram_id: [
        DeliveryError(TRANSIENT, "Bad Gateway") for _ in range(3)]})
    delays = []
    for _ in range(3):
        row = OutboxMessage.get()
        OutboxMessage.update(next_attempt_at=utcnow()).execute()  # skip the wait
        started = utcnow()
        run(transport, clock, policy)
        row = OutboxMessage.get()
        delays.append((row.next_attempt_at - started).total_seconds())
    assert row.status == "failed" and row.attempts == 3
    assert "gave up after 3 attempts: Bad Gateway" in row.last_error
    assert 4 <= delays[0] <= 6.5 and 8 <= delays[1] <= 12.5


def test_backoff_grows_and_is_capped():
    policy = DeliveryPolicy(backoff_base=5, backoff_cap=60)
    assert [policy.backoff(n, rand=lambda: 0.5) for n in (1, 2, 3, 10)] == [5, 10, 20, 60]


def test_blocked_recipient_is_not_retried(any_db, make_user, clock):
    member = make_user()
    outbox.enqueue("1", member, "x")
    outbox.enqueue("2", member, "y")
    transport = FakeTransport(clock, {member.telegram_id: [
        DeliveryError(UNREACHABLE, "Forbidden: bot was blocked by the user")]})
    result = run(transport, clock)
    assert result.failed == 2 and transport.sent == []
    assert {r.status for r in OutboxMessage.select()} == {"failed"}
    assert User.get_by_id(member.id).unreachable


def test_permanent_error_fails_one_message(any_db, make_user, clock):
    member = make_user()
    outbox.enqueue("1", member, "x")
    outbox.enqueue("2", member, "y")
    transport = FakeTransport(clock, {member.telegram_id: [DeliveryError(PERMANENT, "Bad Request: x")]})
    run(transport, clock)
    assert {r.key: r.status for r in OutboxMessage.select()} == {"1": "failed", "2": "sent"}


def test_long_text_is_split_and_a_retry_resumes_after_sent_parts(any_db, make_user, clock):
    member = make_user()
    text = "\n".join(f"<b>line {n}</b> " + "x" * 80 for n in range(150))
    outbox.enqueue("1", member, text)
    transport = FakeTransport(clock)
    original = transport.send
    calls = []

    def flaky(chat_id, part, parse_mode=None, reply_markup=None):
        calls.append(part)
        if len(calls) == 2:
            raise DeliveryError(TRANSIENT, "network error")
        return original(chat_id, part, parse_mode, reply_markup)
    transport.send = flaky
    run(transport, clock)
    assert OutboxMessage.get().parts_sent == 1
    OutboxMessage.update(next_attempt_at=utcnow()).execute()
    run(transport, clock)
    parts = [t for _, _, t in transport.sent]
    assert len(parts) == 4 and all(len(p) <= 4096 for p in parts)
    assert "".join(parts).count("<b>line") == 150
    assert OutboxMessage.get().status == "sent"


def test_stop_releases_unsent_messages(any_db, make_user, clock):
    member = make_user()
    for n in range(3):
        outbox.enqueue(str(n), member, "x")
    transport = FakeTransport(clock)
    policy = DeliveryPolicy()
    result = deliver_batch(transport, 30, policy, pacer=Pacer(policy, clock.wall, clock.sleep),
                           stop=lambda: len(transport.sent) >= 1)
    assert result.sent == 1
    assert sorted(m.status for m in OutboxMessage.select()) == ["pending", "pending", "sent"]


@pytest.mark.parametrize("status, payload, kind", [
    (429, {"error_code": 429, "description": "Too Many Requests: retry after 3",
           "parameters": {"retry_after": 3}}, RETRY_AFTER),
    (403, {"error_code": 403, "description": "Forbidden: bot was blocked by the user"}, UNREACHABLE),
    (403, {"error_code": 403, "description": "Forbidden: user is deactivated"}, UNREACHABLE),
    (400, {"error_code": 400, "description": "Bad Request: chat not found"}, UNREACHABLE),
    (400, {"error_code": 400, "description": "Bad Request: can't parse entities"}, PERMANENT),
    (500, {"error_code": 500, "description": "Internal Server Error"}, TRANSIENT),
    (502, None, TRANSIENT),
])
def test_classify(status, payload, kind):
    error = classify(status, payload)
    assert error.kind == kind
    if kind == RETRY_AFTER:
        assert error.retry_after == 3


def test_a_rejected_token_keeps_every_message_for_later(any_db, make_user, clock):
    a, b = make_user(), make_user()
    outbox.enqueue("1", a, "x")
    outbox.enqueue("2", b, "y")
    transport = FakeTransport(clock, {a.telegram_id: [classify(401, {"error_code": 401,
                                                                     "description": "Unauthorized"})]})
    result = run(transport, clock)
    assert (result.sent, result.failed) == (0, 0) and transport.sent == []
    rows = list(OutboxMessage.select())
    assert {(r.status, r.attempts) for r in rows} == {("pending", 0)}
    assert "TELEGRAM_BOT_TOKEN" in OutboxMessage.get(OutboxMessage.key == "1").last_error


def test_a_menu_row_sets_the_chats_commands_instead_of_sending_text(any_db, make_user, clock):
    member = make_user()
    outbox.enqueue("menu", member, "", commands='[["today", "Your agenda"]]')
    outbox.enqueue("gone", member, "", commands="[]")
    transport = MenuTransport(clock)
    assert run(transport, clock).sent == 2
    assert [(chat, commands) for _, chat, commands in transport.sent] == [
        (member.telegram_id, [["today", "Your agenda"]]), (member.telegram_id, [])]
