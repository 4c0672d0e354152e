"""Store, then work (services/inbox/inbound.py): what a provider sent is kept once however
often it is retried, handed to its handler once, retried when the handler fails and kept
with its error when it fails for good."""
import datetime as dt

import pytest

from models import InboundEvent
from services.inbox import inbound

NOW = dt.datetime(2026, 11, 27, 9, 0)


@pytest.fixture
def handled(monkeypatch):
    seen = []
    monkeypatch.setitem(inbound.HANDLERS, "test", lambda payload, now: seen.append(payload))
    return seen


def test_a_retried_delivery_is_stored_and_handled_once(any_db, handled):
    assert inbound.store("test", "SM1", {"Body": "hi"}, NOW)
    assert not inbound.store("test", "SM1", {"Body": "hi"}, NOW)
    assert inbound.store("other", "SM1", {"Body": "another source"}, NOW)
    assert inbound.pending_exists()
    assert inbound.process_pending(now=NOW) == 1   # "other" has no handler: kept, with why
    assert inbound.process_pending(now=NOW) == 0
    assert handled == [{"Body": "hi"}]
    event = InboundEvent.get(InboundEvent.source == "other")
    assert event.processed_at is None and "nothing handles 'other'" in event.last_error


def test_a_failing_handler_is_retried_then_kept_with_its_error(any_db, monkeypatch, caplog):
    calls = []

    def flaky(payload, now):
        calls.append(now)
        raise RuntimeError("database went away")
    monkeypatch.setitem(inbound.HANDLERS, "test", flaky)
    inbound.store("test", "SM1", {}, NOW)
    assert inbound.process_pending(now=NOW) == 0
    assert not inbound.pending_exists()            # tried once: the wakeup leaves it alone
    assert inbound.process_pending(now=NOW, retries=False) == 0 and len(calls) == 1
    for _ in range(inbound.MAX_ATTEMPTS):
        inbound.process_pending(now=NOW)
    assert len(calls) == inbound.MAX_ATTEMPTS
    [event] = inbound.failed()
    assert event.processed_at == NOW and event.attempts == inbound.MAX_ATTEMPTS
    assert event.last_error == "RuntimeError: database went away"
    assert "inbound test SM1" in caplog.text


def test_what_a_handler_wrote_rolls_back_with_its_failure(any_db, monkeypatch, make_lead):
    from models import Lead

    def half_done(payload, now):
        make_lead(first_name="Half")
        raise ValueError("then it failed")
    monkeypatch.setitem(inbound.HANDLERS, "test", half_done)
    inbound.store("test", "SM1", {}, NOW)
    inbound.process_pending(now=NOW)
    assert Lead.select().count() == 0


def test_a_long_provider_id_is_kept_to_the_column(any_db, handled):
    assert inbound.store("test", "x" * 400, {"a": "b"}, NOW)
    assert not inbound.store("test", "x" * 400, {"a": "b"}, NOW)
