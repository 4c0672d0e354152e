"""Hypothesis against OxaPay's webhook (panel/oxapay_hooks.py): any body, any HMAC header,
signed or not, answers 200 "ok", 400, 403 or 413 — never a 500 — and the ledger still
agrees with the payments (each credited at most once). The signed bodies matter most:
once the signature holds, every field reaches settlement (NUL characters Postgres
refuses, lone surrogates, numbers of any size, lists where text was expected)."""
import json

from hypothesis import HealthCheck, event, given, settings as hypothesis_settings, strategies as st

from devtools.fake_oxapay import sign
from models import LedgerEntry, Payment
from services.payments import reconciliation
from services.shop import wallet
from tests.fuzz_values import ODD_VALUES
from tests.payments.conftest import KEY, customer, post, stored_payment, text, webhook_body

FIELDS = ["track_id", "status", "amount", "value", "currency", "order_id", "txs", "type",
          "date", "note", "sent_value", "under_paid_coverage"]
STATUSES = ["Paying", "Paid", "paid", "Underpaid", "Expired", "Manual_Accept", "Refunded",
            "New", "Waiting", "", "PAID\x00", "Ρaid"]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**80, 2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(ODD_VALUES + STATUSES + ["1e999999999", "-0", "25", "25.00", "sNaN",
                                             "1e-999999999", "\ud800", "\udfff"]),
    st.text(max_size=20))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=5),
                                                 inner, max_size=4)), max_leaves=12)
tx = st.fixed_dictionaries({}, optional={"value": json_values, "status": json_values,
                                         "received_amount": json_values})
changes = st.dictionaries(st.sampled_from(FIELDS), st.one_of(
    json_values, st.lists(tx, max_size=3), st.sampled_from(STATUSES)), max_size=5)
HEADERS = ["valid", "none", "wrong key", "garbage", "upper", "spaced"]


def signature_for(kind, data, garbage):
    return {"valid": sign(data, KEY), "none": "", "wrong key": sign(data, "not-the-key"),
            "garbage": garbage or "x", "upper": sign(data, KEY).upper(),
            "spaced": f"  {sign(data, KEY)}\t"}[kind]


def as_bytes(body):
    if isinstance(body, bytes):
        return body
    return json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")


@hypothesis_settings(max_examples=120, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture,
                                            HealthCheck.too_slow])
@given(data=st.data(), header=st.sampled_from(HEADERS),
       garbage=st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=140),
       content_type=st.sampled_from(["application/json", "text/plain", "", "multipart/form-data",
                                     "application/x-www-form-urlencoded"]))
def test_any_webhook_is_answered_never_with_a_500(client, data, header, garbage, content_type):
    if not hasattr(client, "payment"):   # one customer and payment for all the examples
        client.lead = customer()[1]
        client.payment = stored_payment(client.lead, tokens=100, cents=1000)
    payment = Payment.get_by_id(client.payment.id)
    body = data.draw(st.one_of(
        st.binary(max_size=300),
        json_values,
        changes.map(lambda changed: {**webhook_body(payment, "Paid"), **changed}),
        st.sampled_from(STATUSES).map(lambda status: webhook_body(payment, status))),
        label="body")
    raw = as_bytes(body)
    response = post(client, raw, signature=signature_for(header, raw, garbage) or "",
                    headers={"Content-Type": content_type} if content_type else None)
    assert response.status_code in (200, 400, 403, 413), (response.status_code, text(response))
    event(f"answered {response.status_code}")   # --hypothesis-show-statistics: what was reached
    if response.status_code == 200:
        assert text(response) == "ok"
    if header in ("none", "wrong key"):
        assert response.status_code in (403, 413)
    credited = LedgerEntry.select().where(LedgerEntry.payment == payment.id).count()
    assert credited <= 1 and wallet.balance(client.lead.id) == 100 * credited
    assert wallet.problems() == []
    assert reconciliation.summary().credits_without_payment == 0
