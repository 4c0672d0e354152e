"""What the payments panel tests share (test_payments_panel.py,
test_reconciliation_panel.py): payment rows written as the services leave them, and
reading the pages and their CSV."""
import csv
import datetime
import html
import io
import itertools
import re

from models import AuditEntry, Lead, LedgerEntry, Payment, Wallet
from services.core import search
from services.payments import settlement
from services.shop import wallet
from tests.panel.conftest import text_of

NOW = datetime.datetime(2026, 3, 10, 12, 0)
XSS = "<script>{}</script>"
ESCAPED = "&lt;script&gt;{}&lt;/script&gt;"
LIST_COLUMNS = ["id", "created_at", "customer", "reference", "track_id", "tokens",
                "amount_cents", "status", "provider_status", "paid_at", "expires_at", "last_error"]
# Every page of the payments view a GET opens (the list's export named by its type).
PAGES = ["/payments/", "/payments/details/", "/payments/export/csv/", "/payments/reconciliation/",
         "/payments/reconciliation/csv/"]


def customer(first="Jane", last="Roe"):
    return Lead.create(first_name=first, last_name=last, search_name=search.name_key(first, last))


_numbers = itertools.count(1)


def payment(lead, status="waiting", tokens=250, cents=2500, **fields):
    """A payment row as the services leave one, written directly (any status, any text)."""
    number = next(_numbers)
    created = fields.pop("created_at", NOW)
    values = {"reference": f"LG-{number:012x}", "track_id": f"TRK{number:06d}",
              "provider_status": status if status in ("paying", "paid", "expired") else None,
              "expires_at": created + datetime.timedelta(minutes=60),
              "next_check_at": None if status in ("paid", "underpaid", "expired", "failed")
              else created + datetime.timedelta(minutes=2),
              "paid_at": created + datetime.timedelta(minutes=10) if status == "paid" else None,
              "pay_url": f"https://pay.example/{number}", "created_at": created, "updated_at": created}
    values.update(fields)
    return Payment.create(lead=lead, tokens=tokens, amount_cents=cents, status=status, **values)


def credited(lead, **fields):
    """A paid payment with its ledger credit, as settlement leaves one."""
    paid = payment(lead, "paid", **fields)
    wallet.move(settlement.OXAPAY, lead.id, "purchase", paid.tokens,
                reference=f"top-up {paid.reference}", payment=paid.id, now=paid.paid_at)
    return paid


def page(response):
    """A page's text as people read it (entities decoded)."""
    return html.unescape(text_of(response))


def listed(response):
    """The payment ids on a list page, in their order."""
    return [int(i) for i in re.findall(r'<td class="col-id">\s*(\d+)\s*</td>', text_of(response))]


def filter_arg(client, name):
    view = next(v for v in client.application.extensions["admin"][0]._views if v.endpoint == "payments")
    return next(view.get_filter_arg(i, f) for i, f in enumerate(view._filters) if f.name == name)


def csv_rows(response):
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def everything():
    """What a payments page could change, to compare before and after."""
    return [list(model.select().order_by(model.id).tuples())
            for model in (Payment, LedgerEntry, Wallet, AuditEntry)]
