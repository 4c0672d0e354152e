"""The order list's pieces (panel/order_views.py): its query's columns, the status
filter, the search over customers and profiles, and the cells of the list and the CSV."""
from flask import request, url_for
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup
from peewee import Case

from models import ORDER_STATUSES, QUEUED_ORDER_STATUSES, CustomerProfile, Lead, Order
from panel.shop_base import exported, spreadsheet_safe
from services.core import search
from services.crm import leads
from services.shop import catalogue, orders

QUEUED = "queued"
STATUS_OPTIONS = [(QUEUED, "queued (pending or processing)")] + [(s, s) for s in ORDER_STATUSES]
# What the list reads of a profile: never its password, which would be decrypted per row.
PROFILE_COLUMNS = (CustomerProfile.id, CustomerProfile.first_name, CustomerProfile.middle_name,
                   CustomerProfile.last_name, CustomerProfile.email, CustomerProfile.deleted_at)
# The queue's order (orders.queue), queued orders first; the list sorts by it as one column.
QUEUE_ORDER = (Case(None, [(Order.status.in_(QUEUED_ORDER_STATUSES), 0)], 1),
               Case(None, [(Order.priority == True, 0)], 1),  # noqa: E712
               Order.queue_rank, Order.id)


def package_options():
    return [(str(p.id), p.name) for p in catalogue.packages(active_only=False)]


class StatusFilter(FilterEqual):
    """A status, or "queued": waiting for an operator."""

    def apply(self, query, value):
        if value == QUEUED:
            return query.where(Order.status.in_(QUEUED_ORDER_STATUSES))
        return query.where(Order.status == value)

    def validate(self, value):
        return value in dict(STATUS_OPTIONS)


def matching(text):
    """Orders whose customer (name or any contact) or profile (name or email) has every
    word of `text`, whatever the case and accents (services/core/search.py)."""
    condition = None
    for word in search.fold(text).split():
        profile_ids = CustomerProfile.select(CustomerProfile.id).where(
            CustomerProfile.search_name.contains(word) | CustomerProfile.email.contains(word))
        match = (Order.lead.in_(Lead.select(Lead.id).where(leads.matching(word)))
                 | Order.profile.in_(profile_ids))
        condition = match if condition is None else condition & match
    return condition


def targets(order):
    """The statuses a button takes the order to; "assigned" names an operator instead."""
    return [to for to in orders.TRANSITIONS.get(order.status, ()) if to != "assigned"]


def customer_name(model):
    return model.lead.full_name or f"customer #{model.lead_id}"


def customer_cell(view, context, model, name):
    return Markup('<a href="{}">{}</a>').format(
        url_for("customers.details_view", id=model.lead_id), customer_name(model))


def profile_name(model):
    deleted = " (deleted)" if model.profile.deleted_at else ""
    return f"{model.profile.full_name}{deleted}"


def status_cell(view, context, model, name):
    links = [Markup('<a class="small ml-1" href="{}">→&nbsp;{}</a>').format(
        url_for("orders.status_view", id=model.id, to=to, url=request.full_path), to)
        for to in targets(model)]
    # Spaces between the links: a narrow screen wraps them onto lines of their own.
    return Markup('<span class="badge badge-light">{}</span> {}').format(model.status, Markup(" ").join(links))


def position(model):
    return orders.position(model) if model.status in QUEUED_ORDER_STATUSES else None


def position_cell(view, context, model, name):
    place = position(model)
    if place is None:
        return ""
    buttons = [Markup(
        '<form method="post" action="{}" class="d-inline"><input type="hidden" name="csrf_token" value="{}">'
        '<input type="hidden" name="id" value="{}"><input type="hidden" name="direction" value="{}">'
        '<input type="hidden" name="url" value="{}"><button class="btn btn-link btn-sm p-0 ml-1" '
        'type="submit" title="Move {}">{}</button></form>').format(
        url_for("orders.move_view"), generate_csrf(), model.id, direction,
        request.full_path, direction, arrow) for direction, arrow in (("up", "▲"), ("down", "▼"))]
    return Markup("{}{}").format(place, Markup("").join(buttons))


def operator_name(model):
    return model.operator.display_name if model.operator_id else ""


# The list's cells, and the CSV's (spreadsheet-safe, no secrets: no password column).
CELLS = {
    "customer": customer_cell,
    "profile": lambda v, c, m, n: profile_name(m),
    "email_confirmation": lambda v, c, m, n: "email confirmation" if m.email_confirmation else "",
    "price": lambda v, c, m, n: m.price if m.price else "free",
    "status": status_cell,
    "priority": lambda v, c, m, n: "Premium" if m.priority else "",
    "position": position_cell,
    "operator": lambda v, c, m, n: operator_name(m) or "—",
}
EXPORTED = {
    "lead": lambda v, c, m, n: m.lead_id,
    "customer": lambda v, c, m, n: spreadsheet_safe(customer_name(m)),
    "profile": lambda v, c, m, n: spreadsheet_safe(profile_name(m)),
    "profile_email": lambda v, c, m, n: spreadsheet_safe(m.profile.email),
    "package_name": exported("package_name"),
    "email_confirmation": lambda v, c, m, n: "yes" if m.email_confirmation else "no",
    "priority": lambda v, c, m, n: "yes" if m.priority else "no",
    "position": lambda v, c, m, n: position(m) or "",
    "operator": lambda v, c, m, n: spreadsheet_safe(operator_name(m)),
    "rerun_of": lambda v, c, m, n: m.rerun_of_id or "",
}
