"""Sending the scheduler's notifications promptly while a backlog keeps its pace.

A wakeup (services/delivery/wakeup.py) says when notifications were queued; a Budget says how
many may go now: SEND_BATCH_SIZE per SEND_INTERVAL_SECONDS as a token bucket, which starts
full and refills continuously. So a lone alert, or a team's worth of them, leaves at once,
while a backlog drains at SEND_BATCH_SIZE per interval as it did when the scheduler only
woke every interval (3 batches' worth: one at once, the rest over the next two intervals).
Telegram's limits (1 s per chat, 25 a second overall, shared by every process) are kept by
the sender's Pacer within whatever is sent.
"""
import time

_EPSILON = 1e-9  # float sums of refills that should make a whole message


class Budget:
    """`size` messages per `interval` seconds, at most `size` at once."""

    def __init__(self, size, interval, clock=time.monotonic):
        self.size, self.rate, self._clock = size, size / interval, clock
        self._tokens, self._at = float(size), clock()

    def _refill(self):
        now = self._clock()
        self._tokens = min(self.size, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def available(self):
        """How many messages may be claimed now."""
        self._refill()
        return max(int(self._tokens + _EPSILON), 0)

    def spend(self, messages):
        """Take `messages` from the budget (a negative number gives them back)."""
        self._refill()
        self._tokens = min(self.size, self._tokens - messages)

    def seconds_until_available(self):
        """Until one message may be claimed (0: now)."""
        self._refill()
        return max((1 - self._tokens) / self.rate, 0.0)


class Prompt:
    """Runs `send(limit) -> BatchResult` (sender.deliver_batch) as soon as there is work and
    budget. The scheduler calls step() between its other jobs and send() on its interval."""

    def __init__(self, send, budget, wakeup, sleep=time.sleep):
        self._send, self.budget, self.wakeup, self._sleep = send, budget, wakeup, sleep
        self.more = True     # the last pass used its whole budget: more may be waiting
        self.paused = False  # the last pass failed: leave it to the interval pass

    def send(self):
        """Send what the budget allows now; the BatchResult, or None when it allows nothing."""
        limit = self.budget.available()
        if not limit:
            self.more = True
            return None
        # A failing database, or a token Telegram refuses, would fail every message alike:
        # until a pass succeeds, try again at the interval rather than at every wakeup.
        self.paused = True
        self.budget.spend(limit)  # spent as the rows are claimed, so it refills while they go
        result = self._send(limit)
        self.budget.spend(result.claimed - limit)  # what was not there to claim is kept
        self.more = result.claimed == limit
        self.paused = result.misconfigured
        return result

    def step(self, timeout):
        """Wait up to `timeout` seconds for work the budget allows, and send it; returns
        send()'s result, or None when nothing was sent."""
        if self.paused:
            self._sleep(timeout)
            return None
        if self.more:
            wait = self.budget.seconds_until_available()
            if wait > timeout:
                self._sleep(timeout)
                return None
            self._sleep(wait)
            return self.send()
        return self.send() if self.wakeup.wait(timeout) else None
