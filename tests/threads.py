"""Running test calls at the same moment, from threads."""
import threading

import models


def at_once(*calls):
    """Run the calls in threads released together; their results (or what they raised)."""
    results = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(index, call):
        start.wait()
        try:
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 - returned for the test to judge
            results[index] = exc
        finally:
            models.db.close()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    return results
