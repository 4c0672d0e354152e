"""The payments reconciliation page in the panel (issue 15): the payments by status, the
lists agreeing (green) or showing each constructed mismatch (red), the CSV with every row
and cells safe from spreadsheets, and how OxaPay's webhook is doing; on SQLite and
Postgres."""
import re

import pytest

from models import Payment, Wallet
from services.shop import wallet
from tests.panel.conftest import log_in, text_of
from tests.panel.payment_helpers import (
    NOW,
    credited,
    csv_rows,
    customer,
    listed,
    page,
    payment,
)
from tests.panel.shop_helpers import PANEL


@pytest.fixture
def shop(make_app):
    client = make_app(SHOP="1").test_client()
    log_in(client)
    return client


# The reconciliation ----------------------------------------------------------------------

def test_an_empty_reconciliation_agrees(shop):
    text = page(shop.get("/payments/reconciliation/"))
    assert "All agree" in text and "Every balance equals its ledger." in text
    assert re.search(r'id="status-total">.*?0</th>.*?\$0\.00', text, re.S)
    rows = csv_rows(shop.get("/payments/reconciliation/csv/"))
    assert rows == []


def test_the_reconciliation_agrees_when_every_payment_is_settled_right(shop):
    ann, bob = customer("Ann", "Lee"), customer("Bob", "Ray")
    credited(ann, tokens=250, cents=2500)
    credited(bob, tokens=500, cents=5000)
    payment(ann, "waiting", tokens=100, cents=1000)
    payment(bob, "expired", tokens=100, cents=1000)
    wallet.adjust(PANEL, ann.id, 5, "Goodwill")   # not a purchase: no payment needed
    response = shop.get("/payments/reconciliation/")
    text = page(response)
    assert 'class="alert alert-success" id="agreement"' in text_of(response)
    assert "All agree" in text and "disagree" not in text
    assert re.search(r'id="status-paid">.*?2</td><td class="text-right">\$75\.00', text, re.S)
    assert re.search(r'id="status-waiting">.*?1</td><td class="text-right">\$10\.00', text, re.S)
    assert re.search(r'id="status-total">.*?4</th>.*?\$95\.00', text, re.S)
    assert "Paid without a ledger credit (0)" in text and "Pending, no longer checked (0)" in text
    assert 'href="/payments/?flt0_0=paid"' in text_of(response)
    assert listed(shop.get("/payments/?flt0_0=paid")) != []   # that link filters the list
    assert csv_rows(shop.get("/payments/reconciliation/csv/")) == []


def test_each_constructed_mismatch_is_listed_in_red_and_in_the_csv(shop):
    ann, bob = customer("Ann", "Lee"), customer("Bob", "Ray")
    credited(ann)
    lost = payment(ann, "paid", tokens=300, cents=3000, last_error="not credited: too large")
    bare = wallet.move(PANEL, bob.id, "purchase", 40, reference="hand-made purchase")
    waiting = payment(bob, "waiting", tokens=70, cents=700)
    early = wallet.move(PANEL, bob.id, "purchase", 70, reference="credited early", payment=waiting.id)
    payment(bob, "paying", next_check_at=None, track_id="TRK-STUCK")
    broken = Wallet.get(Wallet.lead == bob.id)
    Wallet.update(balance=broken.balance + 1).where(Wallet.id == broken.id).execute()

    response = shop.get("/payments/reconciliation/")
    text = page(response)
    assert 'class="alert alert-danger" id="agreement"' in text_of(response)
    assert "1 paid without a ledger credit, 2 ledger purchases without a paid payment" in text
    paid_card = re.search(r'id="paid-without-credit">(.*?)id="credits-without-payment"', text, re.S).group(1)
    assert lost.reference in paid_card and "not credited: too large" in paid_card
    assert "Ann Lee" in paid_card and paid_card.count("<tr>") == 2   # the header and one row
    credits_card = re.search(r'id="credits-without-payment">(.*?)id="unchecked"', text, re.S).group(1)
    assert "hand-made purchase" in credits_card and "+40" in credits_card and "none" in credits_card
    assert f"#{waiting.id}</a> waiting" in credits_card and "Bob Ray" in credits_card
    unchecked_card = re.search(r'id="unchecked">(.*?)id="ledger-problems"', text, re.S).group(1)
    assert "TRK-STUCK" in unchecked_card and "Pending, no longer checked (1)" in unchecked_card
    ledger_card = text.split('id="ledger-problems"')[1]
    assert "Balances and their ledgers (1)" in ledger_card and f"(customer #{bob.id})" in ledger_card

    rows = csv_rows(shop.get("/payments/reconciliation/csv/"))
    assert [row["Problem"] for row in rows] == [
        "Paid without a ledger credit", "Pending, no longer checked",
        "Ledger purchase without a paid payment", "Ledger purchase without a paid payment",
        "Balance differs from its ledger"]
    lost_row, stuck_row, bare_row, early_row, ledger_row = rows
    assert lost_row["Payment #"] == str(lost.id) and lost_row["Reference"] == lost.reference
    assert lost_row["Customer"] == "Ann Lee" and lost_row["Amount"] == "30.00"
    assert lost_row["Tokens"] == "300" and lost_row["Payment status"] == "paid"
    assert "no ledger credit; last error: not credited: too large" in lost_row["Detail"]
    assert stuck_row["OxaPay track id"] == "TRK-STUCK" and stuck_row["Payment status"] == "paying"
    assert bare_row["Ledger entry #"] == str(bare.id) and bare_row["Payment #"] == ""
    assert bare_row["Ledger tokens"] == "40" and bare_row["Detail"] == "names no payment"
    assert bare_row["Customer #"] == str(bob.id) and bare_row["Customer"] == "Bob Ray"
    assert early_row["Ledger entry #"] == str(early.id)
    assert early_row["Detail"] == f"payment #{waiting.id} is waiting"
    assert ledger_row["Detail"] == wallet.problems()[0]


def test_long_lists_show_their_first_hundred_and_the_csv_has_them_all(shop):
    lead = customer()
    Payment.insert_many([{"lead": lead.id, "reference": f"LG-bulk{n:05d}", "tokens": 100,
                          "amount_cents": 1000, "status": "paid", "expires_at": NOW,
                          "paid_at": NOW, "created_at": NOW, "updated_at": NOW}
                         for n in range(101)]).execute()
    text = page(shop.get("/payments/reconciliation/"))
    assert "Paid without a ledger credit (101)" in text
    assert "The first 100 of 101; the CSV has them all." in text
    assert "LG-bulk00099" in text and "LG-bulk00100" not in text   # oldest first
    rows = csv_rows(shop.get("/payments/reconciliation/csv/"))
    assert len(rows) == 101 and {row["Customer"] for row in rows} == {"Jane Roe"}


def test_the_reconciliation_csv_is_safe_from_spreadsheets(shop):
    lead = customer("=cmd|' /C calc'!A0", "@Lee")
    payment(lead, "paid", reference="=HYPERLINK(\"http://x\")", track_id="-1+1",
            last_error="+SUM(A1)")
    wallet.move(PANEL, lead.id, "purchase", 10, reference="=1+1")
    wallet.move(PANEL, lead.id, "purchase", -5, reference="\tTAB")   # a negative number stays one
    rows = csv_rows(shop.get("/payments/reconciliation/csv/"))
    formula = ("=", "+", "-", "@", "\t", "\r")
    cells = [(row["Problem"], name, value) for row in rows for name, value in row.items()
             if value.startswith(formula) and not re.fullmatch(r"-\d+", value)]
    assert cells == []
    paid_row, plus_row, minus_row = rows
    assert paid_row["Reference"] == "'=HYPERLINK(\"http://x\")" and paid_row["OxaPay track id"] == "'-1+1"
    assert paid_row["Customer"] == "'=cmd|' /C calc'!A0 @Lee"
    assert paid_row["Detail"].startswith("paid") and "+SUM(A1)" in paid_row["Detail"]
    assert plus_row["Ledger reference"] == "'=1+1" and plus_row["Ledger tokens"] == "10"
    assert minus_row["Ledger tokens"] == "-5" and minus_row["Ledger reference"] == "'\tTAB"


def test_the_reconciliation_page_says_how_oxapay_s_webhook_is_doing(make_app):
    off = make_app(SHOP="1").test_client()
    log_in(off)
    assert "Crypto top-ups are off" in page(off.get("/payments/reconciliation/"))

    key = "panel-test-merchant-key"
    client = make_app(SHOP="1", OXAPAY_MERCHANT_API_KEY=key,
                      PUBLIC_BASE_URL="https://crm.example.com").test_client()
    log_in(client)
    text = page(client.get("/payments/reconciliation/"))
    assert "https://crm.example.com/hooks/oxapay" in text and "Last accepted: never" in text
    forged = client.post("/hooks/oxapay", data=b'{"track_id": "<b>1</b>"}',
                         headers={"HMAC": "<script>alert(1)</script>"})
    assert forged.status_code == 403
    shown = client.get("/payments/reconciliation/").get_data(as_text=True)
    refused = re.search(r'id="oxapay-webhook-refused">(.*?)</span>', shown, re.S).group(1)
    assert "bad HMAC signature" in refused and "<script>" not in shown
