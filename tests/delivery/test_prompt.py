"""Prompt sending within the scheduler's budget, on a clock the test controls: a lone
notification leaves at once, a backlog at SEND_BATCH_SIZE per SEND_INTERVAL_SECONDS."""
import pytest

from services.delivery import outbox
from services.delivery.pacing import Pacer
from services.delivery.prompt import Budget, Prompt
from services.delivery.sender import BatchResult, DeliveryPolicy, deliver_batch
from services.delivery.transport import MISCONFIGURED, TRANSIENT
from services.delivery.wakeup import POLL_SECONDS, Poller
from tests.delivery.test_sender import FakeClock, FakeTransport

SIZE, INTERVAL = 5, 10.0


class NeverWakes:
    """A wakeup with nothing to say (as on Postgres when nobody queues anything new)."""

    def __init__(self, clock):
        self.clock = clock

    def wait(self, timeout):
        self.clock.sleep(timeout)
        return False


def prompt_on(clock, transport, wakeup=None):
    """A Prompt as the scheduler builds it, every clock and sleep the fake one."""
    policy = DeliveryPolicy()

    def send(limit):
        return deliver_batch(transport, limit, policy, pacer=Pacer(policy, clock.wall, clock.sleep),
                             now=clock.wall)
    wakeup = wakeup or Poller(due=lambda: outbox.notifications_due(clock.wall()),
                              clock=lambda: clock.now, sleep=clock.sleep)
    return Prompt(send, Budget(SIZE, INTERVAL, clock=lambda: clock.now), wakeup, sleep=clock.sleep)


def run_for(prompt, clock, seconds):
    end = clock.now + seconds
    while clock.now < end:
        prompt.step(1.0)


def test_a_notification_queued_while_idle_leaves_at_once(any_db, make_user):
    member = make_user()
    clock = FakeClock()
    transport = FakeTransport(clock)
    prompt = prompt_on(clock, transport)
    run_for(prompt, clock, 3 * INTERVAL)  # long idle, mid-interval
    queued_at = clock.now
    outbox.enqueue("lead:1", member, "New lead #1")
    run_for(prompt, clock, 2.0)
    [(sent_at, _, text)] = transport.sent
    assert text == "New lead #1"
    assert sent_at - queued_at <= POLL_SECONDS


def test_a_backlog_of_three_batches_takes_two_intervals_at_the_batch_pace(any_db, make_user):
    members = [make_user() for _ in range(3 * SIZE)]
    for n, member in enumerate(members):
        outbox.enqueue(f"backlog:{n}", member, f"message {n}")
    clock = FakeClock()
    transport = FakeTransport(clock)
    prompt = prompt_on(clock, transport, NeverWakes(clock))  # a backlog needs no wakeup
    run_for(prompt, clock, 4 * INTERVAL)
    times = [at for at, _, _ in transport.sent]
    assert len(times) == 3 * SIZE
    assert times[SIZE - 1] < 1.0  # the first batch at once
    # Then SIZE per INTERVAL: never more by any moment than the budget had given.
    assert all(sent <= SIZE + SIZE * at / INTERVAL for sent, at in enumerate(times, start=1))
    assert 2 * INTERVAL <= times[-1] <= 2 * INTERVAL + 1.0


class FakeSend:
    """send(limit) that fails, or returns `results` in turn; records the limits asked."""

    def __init__(self, *results):
        self.results, self.limits = list(results), []

    def __call__(self, limit):
        self.limits.append(limit)
        result = self.results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result


class AlwaysWakes:
    def wait(self, timeout):
        return True


def test_after_a_failing_pass_prompt_sending_waits_for_the_interval_pass():
    clock = FakeClock()
    send = FakeSend(RuntimeError("database is locked"), BatchResult(claimed=1, sent=1),
                    BatchResult())
    prompt = Prompt(send, Budget(SIZE, INTERVAL, clock=lambda: clock.now), AlwaysWakes(),
                    sleep=clock.sleep)
    prompt.more = False
    with pytest.raises(RuntimeError):
        prompt.step(1.0)
    for _ in range(5):  # woken again and again: no new attempt, and no busy loop
        assert prompt.step(1.0) is None
    assert len(send.limits) == 1 and clock.now == 5.0
    assert prompt.send().sent == 1  # the interval pass
    prompt.step(1.0)
    assert len(send.limits) == 3  # prompt again


def test_a_refused_token_leaves_the_retries_to_the_interval_pass():
    clock = FakeClock()
    refused = BatchResult(claimed=SIZE, retrying=SIZE, errors=[(1, MISCONFIGURED, "Unauthorized")],
                          misconfigured=True)
    send = FakeSend(refused, BatchResult(claimed=1, retrying=1, errors=[(2, TRANSIENT, "timeout")]))
    prompt = Prompt(send, Budget(SIZE, INTERVAL, clock=lambda: clock.now), AlwaysWakes(),
                    sleep=clock.sleep)
    prompt.step(1.0)
    for _ in range(5):
        prompt.step(1.0)
    assert send.limits == [SIZE]
    prompt.send()
    assert not prompt.paused  # a transient error is the message's, not every message's


def test_the_budget_refills_continuously_up_to_one_batch():
    clock = FakeClock()
    budget = Budget(SIZE, INTERVAL, clock=lambda: clock.now)
    assert budget.available() == SIZE
    budget.spend(SIZE)
    assert budget.available() == 0
    assert budget.seconds_until_available() == pytest.approx(INTERVAL / SIZE)
    clock.sleep(INTERVAL / SIZE)
    assert budget.available() == 1
    clock.sleep(100 * INTERVAL)
    assert budget.available() == SIZE
