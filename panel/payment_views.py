"""The shop's crypto top-ups in the panel (issue 15): every payment like a spreadsheet
(customer, our reference, OxaPay's track id, tokens, amount, status, times, last error;
filters, search, CSV of the filtered list), each payment's page with the ledger row that
credited it and its history, and the reconciliation page: payments by status and whether
the payments and the ledger agree (services.payments.reconciliation), with its CSV, and
how OxaPay's webhook is doing (its URL, its last refusal and success).

Read-only: a payment changes only through what OxaPay reports (the webhook and the
scheduler's checks, services.payments.settlement); nothing here writes.
"""
import csv
import io
import time
from decimal import Decimal
from types import SimpleNamespace

from flask import Response, current_app, stream_with_context, url_for
from flask_admin import expose
from flask_admin.contrib.peewee.filters import FilterEqual
from markupsafe import Markup

from models import (
    PAYMENT_STATUSES,
    PENDING_PAYMENT_STATUSES,
    AuditEntry,
    Lead,
    LedgerEntry,
    Payment,
)
from panel.base import IdFilter
from panel.shop_base import CreatedBetweenFilter, ShopListView, exported, nulls_first, spreadsheet_safe, zone
from services.core import audit, search
from services.core.markup import usd
from services.crm import leads
from services.delivery import channels
from services.payments import reconciliation, topups
from services.shop import wallet

PENDING = "pending"
STATUS_OPTIONS = [(PENDING, "pending (new, waiting or paying)")] + [(s, s) for s in PAYMENT_STATUSES]
BADGES = {"new": "light", "waiting": "info", "paying": "primary", "paid": "success",
          "underpaid": "warning", "expired": "secondary", "failed": "danger"}
ERROR_CELL = 80     # characters of the last error the list shows; its title has the rest
SHOWN_ROWS = 100    # of each reconciliation list on the page; the CSV has every row
CHUNK = 500         # rows whose customers' names are read at once
HISTORY = 50        # audit entries shown on a payment's page
# The reconciliation's lists, as its page and its CSV name them.
PAID_WITHOUT_CREDIT = "Paid without a ledger credit"
CREDIT_WITHOUT_PAYMENT = "Ledger purchase without a paid payment"
UNCHECKED = "Pending, no longer checked"
LEDGER_PROBLEM = "Balance differs from its ledger"
CSV_COLUMNS = ("Problem", "Payment #", "Reference", "OxaPay track id", "Customer #", "Customer",
               "Tokens", "Amount", "Currency", "Payment status", "Ledger entry #",
               "Ledger tokens", "Ledger reference", "Created (UTC)", "Detail")


def money(cents, currency="USD"):
    """"$12.50" (other currencies: "12.50 EUR")."""
    if currency == "USD":
        return usd(cents or 0)
    return f"{Decimal(cents or 0) / 100:,.2f} {currency}"


def decimal_amount(cents):
    """"12.50": what a spreadsheet adds up."""
    return f"{Decimal(cents or 0) / 100:.2f}"


def customer_name(lead, lead_id):
    return (lead.full_name if lead is not None else "") or f"customer #{lead_id}"


class StatusFilter(FilterEqual):
    """A status, or "pending": not settled yet (new, waiting or paying)."""

    def apply(self, query, value):
        if value == PENDING:
            return query.where(Payment.status.in_(PENDING_PAYMENT_STATUSES))
        return query.where(Payment.status == value)

    def validate(self, value):
        return value in dict(STATUS_OPTIONS)


def matching(text):
    """Payments whose reference or OxaPay track id holds a word of `text`, or whose
    customer's name or a contact does, for every word, whatever the case."""
    condition = None
    for word in search.fold(text).split():
        match = Payment.reference.contains(word) | Payment.track_id.contains(word)
        customers = leads.matching(word)
        if customers is not None:
            match |= Payment.lead.in_(Lead.select(Lead.id).where(customers))
        condition = match if condition is None else condition & match
    return condition


def _customer_cell(view, context, model, name):
    return Markup('<a href="{}">{}</a>').format(
        url_for("customers.details_view", id=model.lead_id), customer_name(model.lead, model.lead_id))


def _status_cell(view, context, model, name):
    return Markup('<span class="badge badge-{}">{}</span>').format(
        BADGES.get(model.status, "light"), model.status)


def _error_cell(view, context, model, name):
    error = model.last_error or ""
    if len(error) <= ERROR_CELL:
        return error
    return Markup('<span title="{}">{}…</span>').format(error, error[:ERROR_CELL])


def _pay_link(url):
    """OxaPay's payment page, if it is a web address (never a javascript: link)."""
    return url if url and url.startswith(("https://", "http://")) else None


class PaymentView(ShopListView):
    narrow = True
    joined_sorts = ("customer",)
    can_create = can_edit = can_delete = False
    can_export = True
    export_types = ["csv"]
    list_template = "shop/payments_list.html"
    details_template = "shop/payments_details.html"
    column_list = ["id", "created_at", "customer", "reference", "track_id", "tokens",
                   "amount_cents", "status", "provider_status", "paid_at", "expires_at",
                   "last_error"]
    # A phone: whose, how much and where it stands.
    column_screens = {"id": "sm", "created_at": "md", "reference": "lg", "track_id": "lg",
                      "provider_status": "xl", "paid_at": "md", "expires_at": "xl",
                      "last_error": "lg"}
    column_labels = {"id": "#", "created_at": "Created", "track_id": "OxaPay track id",
                     "amount_cents": "Amount", "provider_status": "OxaPay status",
                     "paid_at": "Paid", "expires_at": "Expires", "last_error": "Last error",
                     "lead": "Customer #", "paid_amount": "Paid (OxaPay)", "checks": "Checks",
                     "next_check_at": "Next check", "updated_at": "Changed"}
    column_sortable_list = [
        "id", "created_at", ("customer", (Lead.first_name, Lead.last_name, Payment.id)),
        "tokens", "amount_cents", "status",
        ("paid_at", (nulls_first(Payment.paid_at), Payment.paid_at, Payment.id)), "expires_at"]
    column_default_sort = ("id", True)
    column_filters = [
        StatusFilter(Payment.status, "Status", options=STATUS_OPTIONS),
        CreatedBetweenFilter(Payment.created_at),
        IdFilter(Payment.lead, "Customer #"),
    ]
    column_formatters = {
        "customer": _customer_cell,
        "amount_cents": lambda v, c, m, n: money(m.amount_cents, m.currency),
        "status": _status_cell,
        "last_error": _error_cell,
    }
    column_export_list = ["id", "created_at", "lead", "customer", "reference", "track_id",
                          "tokens", "amount_cents", "currency", "status", "provider_status",
                          "paid_amount", "paid_at", "expires_at", "checks", "next_check_at",
                          "last_error"]
    column_formatters_export = {
        "lead": lambda v, c, m, n: m.lead_id,
        "customer": lambda v, c, m, n: spreadsheet_safe(customer_name(m.lead, m.lead_id)),
        "reference": exported("reference"),
        "track_id": exported("track_id"),
        "amount_cents": lambda v, c, m, n: decimal_amount(m.amount_cents),
        "currency": exported("currency"),
        "provider_status": exported("provider_status"),
        "paid_amount": exported("paid_amount"),
        "last_error": exported("last_error"),
    }

    def search_placeholder(self):
        return "Search reference, OxaPay track id or customer"

    matching = staticmethod(matching)

    @staticmethod
    def zone():
        return zone()

    def get_query(self):
        return (Payment.select(Payment, Lead.id, Lead.first_name, Lead.last_name)
                .join(Lead, on=(Payment.lead == Lead.id)))

    @staticmethod
    def _details(payment):
        """What a payment's page shows besides the payment."""
        credit = LedgerEntry.get_or_none(LedgerEntry.payment == payment.id)
        problems = []
        if payment.status == "paid" and credit is None:
            problems.append(f"{PAID_WITHOUT_CREDIT}: OxaPay says it is paid, but no ledger "
                            "row gave the customer its tokens.")
        if credit is not None and payment.status != "paid":
            problems.append(f"A ledger row credits it, but it is {payment.status}, not paid.")
        if payment.status in PENDING_PAYMENT_STATUSES and payment.next_check_at is None:
            problems.append(f"{UNCHECKED}: the scheduler has stopped asking OxaPay about it; "
                            "look it up in OxaPay's dashboard by its track id.")
        history = (AuditEntry.select().where(AuditEntry.entity == "payment",
                                             AuditEntry.entity_id == payment.id)
                   .order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(HISTORY))
        return {"customer": customer_name(payment.lead, payment.lead_id),
                "amount": money(payment.amount_cents, payment.currency),
                "badge": BADGES.get(payment.status, "light"), "credit": credit,
                "problems": problems, "pay_link": _pay_link(payment.pay_url),
                "history": [(entry, audit.described(entry)) for entry in history],
                "timezone": zone()}

    # Reconciliation -------------------------------------------------------------------

    @expose("/reconciliation/")
    def reconciliation_view(self):
        """Payments by status, and whether payments and the ledger agree (read-only)."""
        counted = reconciliation.by_status()
        statuses = [(status, count, money(cents)) for status, (count, cents) in counted.items()]
        lists = {}
        for key, query, lead_of in (("paid_without_credit", reconciliation.paid_without_credit(), _lead_id),
                                    ("credits_without_payment", reconciliation.credits_without_payment(), _owner),
                                    ("unchecked", reconciliation.unchecked(), _lead_id)):
            rows = list(query.limit(SHOWN_ROWS))
            names = _names({lead_of(row) for row in rows})
            lists[key] = {"count": query.count() if len(rows) == SHOWN_ROWS else len(rows),
                          "rows": [(row, customer_name(names.get(lead_of(row)), lead_of(row)))
                                   for row in rows]}
        return self.render(
            "shop/payments_reconciliation.html", statuses=statuses,
            total=(sum(c for c, _ in counted.values()), money(sum(s for _, s in counted.values()))),
            lists=lists, ledger_problems=wallet.problems(), money=money, badges=BADGES,
            shown_rows=SHOWN_ROWS, timezone=zone(), hook=_webhook())

    @expose("/reconciliation/csv/")
    def reconciliation_csv_view(self):
        """Every row of the reconciliation's lists, one problem a line, spreadsheet-safe."""
        filename = f"reconciliation_{time.strftime('%Y-%m-%d_%H-%M-%S')}.csv"
        return Response(stream_with_context(_csv_lines()), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _webhook():
    """OxaPay's webhook: on or off, the URL invoices name, its last refusal and success."""
    settings = current_app.extensions["leadgram"].settings
    state = channels.states().get(channels.OXAPAY_WEBHOOKS)
    base = settings.public_base_url.rstrip("/")
    return SimpleNamespace(on=settings.payments_on, url=base + topups.HOOK_PATH if base else "",
                           state=state, failing=channels.failing(state))


def _lead_id(payment):
    return payment.lead_id


def _owner(entry):
    return entry.owner


def _names(lead_ids):
    """{lead id: Lead} with just their names, for the customers `lead_ids` name."""
    ids = [i for i in lead_ids if i is not None]
    if not ids:
        return {}
    return {lead.id: lead for lead in
            Lead.select(Lead.id, Lead.first_name, Lead.last_name).where(Lead.id.in_(ids))}


def _chunks(query):
    """The query's rows, CHUNK at a time (each chunk's customers are named in one query)."""
    chunk = []
    for row in query.iterator():
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _utc(moment):
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else ""


def _cell(value):
    """A whole number as it is (no formula starts with a digit or is a bare -5), anything
    else spreadsheet-safe."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return spreadsheet_safe(value)


def _payment_row(problem, payment, names, detail):
    return [problem, payment.id, payment.reference, payment.track_id, payment.lead_id,
            customer_name(names.get(payment.lead_id), payment.lead_id), payment.tokens,
            decimal_amount(payment.amount_cents), payment.currency, payment.status, "", "", "",
            _utc(payment.created_at), detail]


def _rows():
    """The reconciliation's problems as CSV rows (CSV_COLUMNS)."""
    for problem, query in ((PAID_WITHOUT_CREDIT, reconciliation.paid_without_credit()),
                           (UNCHECKED, reconciliation.unchecked())):
        for chunk in _chunks(query):
            names = _names({payment.lead_id for payment in chunk})
            for payment in chunk:
                detail = (f"paid {_utc(payment.paid_at)} UTC, no ledger credit"
                          if problem == PAID_WITHOUT_CREDIT else
                          f"expires {_utc(payment.expires_at)} UTC; the scheduler no longer asks OxaPay")
                if payment.last_error:
                    detail += f"; last error: {payment.last_error}"
                yield _payment_row(problem, payment, names, detail)
    for chunk in _chunks(reconciliation.credits_without_payment()):
        names = _names({entry.owner for entry in chunk})
        for entry in chunk:
            detail = ("names no payment" if entry.payment_id is None else
                      f"payment #{entry.payment_id} is {entry.payment_status}")
            yield [CREDIT_WITHOUT_PAYMENT, entry.payment_id or "", "", "", entry.owner,
                   customer_name(names.get(entry.owner), entry.owner), "", "", "",
                   entry.payment_status or "", entry.id, entry.amount, entry.reference,
                   _utc(entry.created_at), detail]
    for problem in wallet.problems():
        yield [LEDGER_PROBLEM, *[""] * (len(CSV_COLUMNS) - 2), problem]


def _csv_lines():
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    for row in _rows():
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_cell(value) for value in row])
        yield buffer.getvalue()
