"""OxaPay's webhook (panel/oxapay_hooks.py): a signed body is applied once and answered
200 "ok"; anything unsigned is refused with 403 and changes nothing; odd requests get a
clear 400/405/413, a database that is down a 503, never a 500. With the fake OxaPay over
real HTTP, and through Flask's test client. On SQLite and Postgres."""
import json
import logging

import pytest
import requests
from peewee import PostgresqlDatabase, SqliteDatabase

import models
from devtools.fake_oxapay import sign
from models import AuditEntry, ChannelState, LedgerEntry, Payment
from panel import oxapay_hooks
from services.payments import polling, settlement, topups
from services.shop import wallet
from tests.payments.conftest import (
    HOOK,
    KEY,
    balance,
    credits,
    customer,
    hooks_app,
    oxapay_settings,
    post,
    raw,
    reload,
    stored_payment,
    text,
    webhook_body,
)
from tests.threads import at_once


def webhook_error():
    state = ChannelState.get_or_none(ChannelState.name == oxapay_hooks.WEBHOOKS)
    return state.error if state else None


def snapshot():
    """Everything a webhook could change."""
    return ([(p.id, p.status, p.provider_status, p.paid_amount, p.last_error, p.track_id,
              p.updated_at) for p in Payment.select().order_by(Payment.id)],
            LedgerEntry.select().count(), AuditEntry.select().count())


def test_paying_then_paid_credits_once_and_each_delivery_is_answered_ok(stand):
    actor, lead = customer()
    payment = topups.create(actor, lead.id, 250)
    assert payment.track_id and payment.status == "waiting"
    stand.fake.pay(payment.track_id)
    hooks = stand.fake.wait_for_webhooks()
    assert [(h.status, h.http_status, h.response_body, h.attempt) for h in hooks] == [
        ("Paying", 200, "ok", 1), ("Paid", 200, "ok", 1)]
    paid = reload(payment)
    assert (paid.status, paid.provider_status, paid.paid_at is not None) == ("paid", "paid", True)
    assert paid.next_check_at is None and paid.last_error is None
    assert balance(lead) == 250 and [e.amount for e in credits(paid)] == [250]
    assert wallet.problems() == []
    state = ChannelState.get(ChannelState.name == oxapay_hooks.WEBHOOKS)
    assert state.ok_at is not None and state.error is None


def test_duplicate_deliveries_credit_once(stand):
    actor, lead = customer()
    payment = topups.create(actor, lead.id, 100)
    stand.fake.pay(payment.track_id)
    stand.fake.wait_for_webhooks(2)
    stand.fake.wait_for_webhooks()
    for index in (-1, -1, 0, -1, 0):   # "Paid" again, "Paying" after "Paid", and so on
        again = stand.fake.deliver_again(payment.track_id, index)
        assert (again.http_status, again.response_body, again.ok) == (200, "ok", True)
    assert reload(payment).status == "paid"
    assert balance(lead) == 100 and len(credits(payment)) == 1
    moves = [json.loads(e.changes)["status"] for e in AuditEntry.select().where(
        AuditEntry.event == "payment.status_changed", AuditEntry.entity_id == payment.id)
        .order_by(AuditEntry.id)]
    assert moves == [["new", "waiting"], ["waiting", "paying"], ["paying", "paid"]]


def test_a_webhook_answered_with_an_error_is_retried_until_ok(stand, monkeypatch):
    """The database fails twice: 503, OxaPay retries, the third try credits once."""
    actor, lead = customer()
    payment = topups.create(actor, lead.id, 100)
    real_apply, failures = settlement.apply, iter([True, True])

    def flaky(*args, **kwargs):
        if next(failures, False):
            raise models.OperationalError("server closed the connection unexpectedly")
        return real_apply(*args, **kwargs)
    monkeypatch.setattr(settlement, "apply", flaky)
    stand.fake.pay(payment.track_id, statuses=("paid",))
    hooks = stand.fake.wait_for_webhooks()
    assert [(h.attempt, h.http_status) for h in hooks] == [(1, 503), (2, 503), (3, 200)]
    assert hooks[-1].ok and balance(lead) == 100 and len(credits(payment)) == 1


def test_a_webhook_and_the_polling_at_once_credit_once(stand):
    """OxaPay's webhook and the scheduler's question about the same payment, in two threads
    released together, several times over."""
    payments = []
    for _ in range(4):
        actor, lead = customer()
        payment = topups.create(actor, lead.id, 100)
        stand.fake.set_status(payment.track_id, "paid")   # polling hears "paid" too
        Payment.update(next_check_at=models.utcnow()).where(Payment.id == payment.id).execute()
        payments.append((lead, payment))
    for lead, payment in payments:
        body = webhook_body(payment, "Paid")
        results = at_once(lambda body=body: post(stand.client, body).status_code,
                          lambda: polling.check_due())
        assert results[0] == 200, results
        assert not isinstance(results[1], Exception), results
        assert reload(payment).status == "paid"
        assert balance(lead) == 100 and len(credits(payment)) == 1
    assert wallet.problems() == []


def test_many_webhooks_at_once_credit_once(stand):
    actor, lead = customer()
    payment = topups.create(actor, lead.id, 100)
    body = webhook_body(payment, "Paid")
    results = at_once(*[lambda: post(stand.client, body) for _ in range(6)])
    assert [(r.status_code, text(r)) for r in results] == [(200, "ok")] * 6
    assert balance(lead) == 100 and len(credits(payment)) == 1 and wallet.problems() == []


def test_statuses_compare_case_insensitively(client):
    actor, lead = customer()
    payment = stored_payment(lead)
    for status in ("PAYING", "pAiD"):
        assert text(post(client, webhook_body(payment, status))) == "ok"
    assert reload(payment).status == "paid" and balance(lead) == 250


def test_the_answer_is_exactly_ok_in_plain_text(client):
    actor, lead = customer()
    response = post(client, webhook_body(stored_payment(lead), "Paying"))
    assert (response.status_code, response.mimetype, response.get_data()) == (200, "text/plain", b"ok")


# ------------------------------------------------------------------ refused: 403


def refused(client, caplog, body, **how):
    before = snapshot()
    with caplog.at_level(logging.WARNING, logger="leadgram.oxapay"):
        response = post(client, body, **how)
    assert response.status_code == 403, text(response)
    assert response.mimetype == "text/plain" and text(response).startswith("Forbidden: ")
    assert snapshot() == before
    assert KEY not in text(response) and KEY not in caplog.text and KEY not in webhook_error()
    return response


def test_a_wrong_key_is_refused_and_the_panel_says_why(client, caplog):
    actor, lead = customer()
    payment = stored_payment(lead)
    response = refused(client, caplog, webhook_body(payment), key="someone-elses-key")
    assert "bad HMAC" in text(response)
    assert "bad HMAC signature" in caplog.text
    assert "OXAPAY_MERCHANT_API_KEY" in webhook_error()
    assert balance(lead) == 0


def test_a_missing_header_is_refused(client, caplog):
    actor, lead = customer()
    response = refused(client, caplog, webhook_body(stored_payment(lead)), signature="")
    assert "no HMAC header" in text(response) and "no HMAC header" in webhook_error()


@pytest.mark.parametrize("signature", [
    "not-hex", "0" * 128, sign(b"{}", KEY), sign(b"x", KEY)[:-1], "é" * 3, " ",
    sign(b"x", KEY) + "00"])
def test_a_bad_signature_is_refused(client, caplog, signature):
    actor, lead = customer()
    refused(client, caplog, webhook_body(stored_payment(lead)), signature=signature)


def test_a_tampered_body_is_refused(client, caplog):
    """Signed for 10 tokens' price, then the amount and status changed: the HMAC is over
    the raw bytes, so any change is refused."""
    actor, lead = customer()
    payment = stored_payment(lead)
    original = raw(webhook_body(payment, "Paying"))
    signature = sign(original, KEY)
    tampered = original.replace(b'"Paying"', b'"Paid"')
    assert tampered != original
    refused(client, caplog, tampered, signature=signature)
    # Even whitespace: JSON-equal is not the signed body.
    refused(client, caplog, original + b" ", signature=signature)
    assert reload(payment).status == "waiting"


def test_a_forged_webhook_from_the_fake_is_refused(stand):
    actor, lead = customer()
    payment = topups.create(actor, lead.id, 100)
    for forged in (stand.fake.forged(payment.track_id, "paid", url=stand.url),
                   stand.fake.forged(payment.track_id, "paid", signature=None, url=stand.url),
                   stand.fake.forged(payment.track_id, "paid", signature="ab" * 64, url=stand.url)):
        assert (forged.http_status, forged.ok) == (403, False)
    assert reload(payment).status == "waiting" and balance(lead) == 0


def test_without_a_merchant_key_every_webhook_is_refused(any_db, caplog):
    client = hooks_app(oxapay_settings(oxapay_merchant_api_key="")).test_client()
    actor, lead = customer()
    payment = stored_payment(lead)
    response = refused(client, caplog, webhook_body(payment))
    assert "OxaPay is not set up" in text(response)
    assert "OXAPAY_MERCHANT_API_KEY is empty" in webhook_error()
    # Signed with the empty key, too.
    refused(client, caplog, webhook_body(payment), key="")


def test_a_refusal_clears_the_ok_note_and_a_working_webhook_clears_the_error(client):
    actor, lead = customer()
    payment = stored_payment(lead)
    assert post(client, webhook_body(payment, "Paying")).status_code == 200
    assert post(client, webhook_body(payment), key="wrong").status_code == 403
    assert "bad HMAC" in webhook_error()
    assert post(client, webhook_body(payment, "Paid")).status_code == 200
    assert webhook_error() is None


def test_the_ok_note_is_written_at_most_once_a_minute(client, monkeypatch):
    actor, lead = customer()
    payment = stored_payment(lead)
    notes = []
    monkeypatch.setattr(oxapay_hooks.channels, "record_ok", notes.append)
    for status in ("Paying", "Paying", "Paid", "Paid"):
        assert post(client, webhook_body(payment, status)).status_code == 200
    assert notes == [oxapay_hooks.WEBHOOKS]


# ------------------------------------------------------------------ bad requests


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[1, 2]", b'"track_id"', b"null", b"\xff\xfe\x00", b"{" * 5000,
    b"[" * 30000 + b"]" * 30000, b'{"status": "Paid"}', b'{"track_id": ""}',
    b'{"track_id": "   "}', b'{"track_id": null}', b'{"track_id": true}', b'{"track_id": -5}',
    b'{"track_id": 1.5}', b'{"track_id": ["1"]}', b'{"track_id": {"a": 1}}',
    b'{"track_id": "a\\u0000b"}', b'{"track_id": "line\\nbreak"}', b'{"track_id": "\\ud800"}',
    b'{"track_id": "' + b"9" * 101 + b'"}', '{"track_id": "тест"}'.encode()])
def test_signed_but_not_a_json_object_with_a_track_id_is_a_bad_request(client, body):
    before = snapshot()
    response = post(client, body)
    assert response.status_code == 400, text(response)
    assert response.mimetype == "text/plain" and "track_id" in text(response)
    assert snapshot() == before


def test_a_track_id_written_as_a_number_is_read(client):
    actor, lead = customer()
    payment = stored_payment(lead, track_id="184747701")
    body = dict(webhook_body(payment, "Paid"), track_id=184747701)
    assert text(post(client, body)) == "ok"
    assert reload(payment).status == "paid"


def test_an_unknown_track_id_is_answered_ok_and_changes_nothing(client, caplog):
    actor, lead = customer()
    payment = stored_payment(lead)
    before = snapshot()
    body = dict(webhook_body(payment, "Paid"), track_id="999999", order_id="LG-unknown")
    with caplog.at_level(logging.WARNING):
        response = post(client, body)
    assert (response.status_code, text(response)) == (200, "ok")
    assert snapshot() == before
    assert "999999" in caplog.text


def test_a_body_over_64_kb_is_refused_before_it_is_read(client):
    actor, lead = customer()
    payment = stored_payment(lead)
    body = webhook_body(payment, "Paid", note="x" * (64 * 1024))
    response = post(client, body)
    assert response.status_code == 413 and response.mimetype == "text/plain"
    assert balance(lead) == 0
    # Right at the limit is read (and applied).
    small = raw(webhook_body(payment, "Paid"))
    padded = small[:-1] + b', "note": "' + b"y" * (64 * 1024 - len(small) - 12) + b'"}'
    assert len(padded) == 64 * 1024
    assert text(post(client, padded)) == "ok" and balance(lead) == 250


def chunked(url, data, signature):
    """POST `data` over real HTTP in chunks, with no Content-Length."""
    pieces = (data[i:i + 8192] for i in range(0, len(data), 8192))
    return requests.post(url, data=pieces, timeout=10, headers={
        "HMAC": signature, "Content-Type": "application/json"})


def test_a_chunked_body_over_64_kb_is_refused(stand):
    """No Content-Length: the limit holds while reading; a small chunked body is read."""
    actor, lead = customer()
    payment = topups.create(actor, lead.id, 100)
    big = raw(webhook_body(payment, "Paid", note="x" * (70 * 1024)))
    answer = chunked(stand.url, big, sign(big, KEY))
    assert answer.request.headers.get("Transfer-Encoding") == "chunked"
    assert answer.status_code == 413 and balance(lead) == 0
    small = raw(webhook_body(payment, "Paid"))
    answer = chunked(stand.url, small, sign(small, KEY))
    assert (answer.status_code, answer.text) == (200, "ok") and balance(lead) == 100


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
def test_only_post(client, method):
    response = client.open(HOOK, method=method)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


# ------------------------------------------------------------------ the database down


def dead_database():
    """A database of the same kind that cannot be reached."""
    if isinstance(models.db.obj, PostgresqlDatabase):
        return PostgresqlDatabase("test", host="127.0.0.1", port=1, user="postgres",
                                  connect_timeout=2)
    return SqliteDatabase("/nonexistent-leadgram-dir/leadgram.db")


@pytest.fixture
def database_down():
    """models.db pointed at an unreachable database for the duration of the block."""
    live = models.db.obj

    class Down:
        def __enter__(self):
            models.db.obj.close()
            models.db.initialize(dead_database())

        def __exit__(self, *exc):
            models.db.initialize(live)
    return Down()


def test_the_database_down_is_a_503_and_oxapay_retries(client, database_down, caplog):
    actor, lead = customer()
    body = webhook_body(stored_payment(lead), "Paid")
    with caplog.at_level(logging.ERROR), database_down:
        response = post(client, body)
    assert response.status_code == 503 and response.mimetype == "text/plain"
    assert "could not apply OxaPay's webhook" in caplog.text
    assert balance(lead) == 0
    assert text(post(client, body)) == "ok" and balance(lead) == 250   # the retry


def test_a_refusal_with_the_database_down_is_still_a_403(client, database_down, caplog):
    actor, lead = customer()
    body = webhook_body(stored_payment(lead), "Paid")
    with caplog.at_level(logging.ERROR), database_down:
        assert post(client, body, key="wrong").status_code == 403
    assert "could not note the refused OxaPay webhook" in caplog.text


# ------------------------------------------------------------------ what the news means


def test_a_different_amount_is_not_credited_and_says_why(client):
    actor, lead = customer()
    payment = stored_payment(lead)
    assert text(post(client, webhook_body(payment, "Paid", amount="2.50"))) == "ok"
    kept = reload(payment)
    assert kept.status == "waiting" and kept.provider_status == "paid"
    assert "2.5" in kept.last_error and "25" in kept.last_error
    assert balance(lead) == 0 and credits(payment) == []
    # Another currency: the same.
    assert text(post(client, webhook_body(payment, "Paid", currency="EUR"))) == "ok"
    assert "EUR" in reload(payment).last_error and balance(lead) == 0


def test_underpaid_credits_nothing(stand):
    actor, lead = customer()
    payment = topups.create(actor, lead.id, 250)
    stand.fake.pay(payment.track_id, amount="20")
    assert [h.status for h in stand.fake.wait_for_webhooks()] == ["Paying", "Underpaid"]
    kept = reload(payment)
    assert (kept.status, kept.paid_amount, kept.next_check_at) == ("underpaid", "20.0", None)
    assert balance(lead) == 0 and credits(payment) == []


def test_expired_credits_nothing_and_a_late_paid_credits_once(stand):
    actor, lead = customer()
    payment = topups.create(actor, lead.id, 100)
    stand.fake.expire(payment.track_id, webhook=True)
    stand.fake.wait_for_webhooks()
    assert reload(payment).status == "expired" and balance(lead) == 0
    stand.fake.pay(payment.track_id, statuses=("paid",))
    stand.fake.wait_for_webhooks()
    stand.fake.deliver_again(payment.track_id)
    assert reload(payment).status == "paid"
    assert balance(lead) == 100 and len(credits(payment)) == 1


def test_a_signed_refund_after_paid_is_recorded_and_credits_nothing_more(client):
    actor, lead = customer()
    payment = stored_payment(lead)
    for status in ("Paid", "Refunding", "Refunded", "Paying"):
        assert text(post(client, webhook_body(payment, status))) == "ok"
    kept = reload(payment)
    assert (kept.status, kept.provider_status) == ("paid", "paying")
    assert balance(lead) == 250 and len(credits(payment)) == 1


def test_the_full_panel_serves_the_webhook_without_a_login_or_csrf(make_app):
    """admin.py's panel: the blueprint is registered, exempt from CSRF and the login."""
    app = make_app(csrf=True, OXAPAY_MERCHANT_API_KEY=KEY)
    actor, lead = customer()
    payment = stored_payment(lead)
    client = app.test_client()
    assert text(post(client, webhook_body(payment, "Paid"))) == "ok"
    assert balance(lead) == 250
    assert post(client, webhook_body(payment, "Paid"), key="wrong").status_code == 403
    assert client.get(HOOK).status_code == 405
    assert "Location" not in client.get(HOOK).headers


def test_the_full_panel_without_oxapay_refuses(make_app):
    client = make_app().test_client()
    actor, lead = customer()
    response = post(client, webhook_body(stored_payment(lead), "Paid"))
    assert response.status_code == 403 and "not set up" in text(response)
