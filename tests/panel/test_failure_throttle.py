"""The failure throttle behind the login form and the metrics token (services/ops/panel_login.py):
a sliding window per key, thread-safe, charged before the secret is checked."""
import threading

from services.ops.panel_login import FailureThrottle, address_key, user_key


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_a_key_waits_until_its_oldest_counted_failure_is_a_window_old():
    clock = Clock()
    throttle = FailureThrottle(limit=2, window=60, clock=clock)
    assert throttle.charge(["a"]) == 0
    clock.now += 10
    assert throttle.charge(["a"]) == 0
    clock.now += 5
    assert throttle.charge(["a"]) == 45  # the first failure leaves the window in 45 s
    assert throttle.charge(["b"]) == 0
    clock.now += 45
    assert throttle.charge(["a"]) == 0


def test_a_refund_takes_back_the_charge_of_a_right_secret():
    throttle = FailureThrottle(limit=2, window=60, clock=Clock())
    for _ in range(5):
        assert throttle.charge(["a", "u"]) == 0
        throttle.refund(["a", "u"])
    assert throttle.charge(["a", "u"]) == throttle.charge(["a", "u"]) == 0
    assert throttle.charge(["u"]) > 0


def test_one_used_up_key_blocks_and_nothing_is_charged_while_blocked():
    throttle = FailureThrottle(limit=1, window=60, clock=Clock())
    assert throttle.charge(["user"]) == 0
    assert throttle.charge(["address", "user"]) > 0
    assert throttle.charge(["address"]) == 0  # the blocked try above did not count


def test_simultaneous_tries_get_no_more_than_the_limit():
    # Each try is charged before its password is checked, so a burst of parallel
    # guesses cannot all slip through before the first failure is counted.
    throttle, allowed = FailureThrottle(limit=5, window=60), []
    barrier = threading.Barrier(40)

    def guess():
        barrier.wait()
        allowed.append(throttle.charge(["address"]) == 0)
    threads = [threading.Thread(target=guess) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert allowed.count(True) == 5


def test_old_failures_are_forgotten():
    clock = Clock()
    throttle = FailureThrottle(limit=5, window=60, clock=clock)
    for n in range(1000):
        throttle.charge([f"user:{n}"])
    clock.now += 61
    throttle.charge(["address"])
    assert len(throttle._charges) == 1


def test_ipv6_clients_are_counted_per_64_and_ipv4_per_address():
    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("192.0.2.1") != address_key("192.0.2.2")
    assert address_key("::ffff:192.0.2.1") == address_key("192.0.2.1")
    assert address_key("::ffff:192.0.2.1") != address_key("::ffff:192.0.2.2")


def test_user_names_are_kept_short_and_never_clash_with_addresses():
    assert len(user_key("x" * 100_000)) < 100
    assert user_key("192.0.2.1") != address_key("192.0.2.1")
