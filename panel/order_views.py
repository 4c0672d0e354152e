"""The shop's orders in the panel: a list to read like a spreadsheet (filters, search by
customer or profile, sorting, CSV), each order's page (its profile with the password
masked until revealed, notes, ledger rows), and the buttons that work them.

Every change goes through services.shop.orders as the logged-in deployer (an admin
there): a status change after a confirmation page, cancelling (which refunds), giving
orders to an operator, moving them in the queue, running a completed one again. Nothing
writes an order through a model form; refusals come back as flash messages.
"""
from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from peewee import JOIN

from models import QUEUED_ORDER_STATUSES, CustomerProfile, Lead, LedgerEntry, Order, User
from panel import order_list
from panel.base import NOBODY, IdFilter, MemberFilter, panel_actor, record_ids
from panel.shop_base import (
    CreatedBetweenFilter,
    ShopListView,
    back,
    form_id,
    form_text,
    not_found,
    nulls_first,
    operators,
    refused,
    zone,
)
from services.shop import messages as shop_messages, orders, profiles, wallet

# Refusals of these are messages to show, never server errors.
REFUSALS = (orders.OrderError, wallet.WalletError, profiles.NoSuchProfile)


class OrderView(ShopListView):
    narrow = True
    joined_sorts = ("customer", "profile", "operator")   # by the joined tables' names
    can_create = can_edit = can_delete = False
    can_export = True
    export_types = ["csv"]
    details_template = "shop/order_details.html"
    column_list = ["id", "created_at", "customer", "profile", "package_name", "email_confirmation",
                   "price", "status", "priority", "position", "operator"]
    # A phone: which order, whose, what and how far.
    column_screens = {"created_at": "lg", "profile": "md", "email_confirmation": "lg",
                      "price": "md", "priority": "lg", "position": "md", "operator": "md"}
    column_labels = {"id": "#", "created_at": "Created", "package_name": "Package",
                     "email_confirmation": "Add-on", "priority": "Premium", "position": "Queue",
                     "lead": "Customer #", "profile_email": "Profile email", "rerun_of": "Rerun of #"}
    column_sortable_list = [
        "id", "created_at", ("customer", (Lead.first_name, Lead.last_name, Order.id)),
        ("profile", (CustomerProfile.first_name, CustomerProfile.last_name, Order.id)),
        "package_name", "email_confirmation", "price", "status", "priority",
        ("position", order_list.QUEUE_ORDER),
        ("operator", (nulls_first(User.id), User.first_name, User.last_name, Order.id))]
    column_default_sort = ("id", True)
    column_filters = [
        order_list.StatusFilter(Order.status, "Status", options=order_list.STATUS_OPTIONS),
        IdFilter(Order.package, "Package", options=order_list.package_options),
        MemberFilter(Order.operator, "Operator", empty=(NOBODY, "Nobody")),
        CreatedBetweenFilter(Order.created_at),
    ]
    column_formatters = order_list.CELLS
    column_export_list = ["id", "created_at", "lead", "customer", "profile", "profile_email",
                          "package_name", "sites", "email_confirmation", "price", "status",
                          "priority", "position", "operator", "rerun_of", "assigned_at",
                          "completed_at", "cancelled_at"]
    column_formatters_export = order_list.EXPORTED

    @expose("/")
    def index_view(self):
        self._refresh_filters_cache()  # packages and team as of now, not as at start
        return super().index_view()

    def search_placeholder(self):
        return "Search customer (name, contact) or profile (name, email)"

    matching = staticmethod(order_list.matching)   # customers and profiles

    def get_query(self):
        return (Order.select(Order, Lead.id, Lead.first_name, Lead.last_name,
                             *order_list.PROFILE_COLUMNS, User)
                .join(Lead, on=(Order.lead == Lead.id)).switch(Order)
                .join(CustomerProfile, on=(Order.profile == CustomerProfile.id)).switch(Order)
                .join(User, JOIN.LEFT_OUTER, on=(Order.operator == User.id)))

    @staticmethod
    def _details(order, revealed=None):
        """What an order's page shows besides the order."""
        profile = CustomerProfile.get_by_id(order.profile_id)
        return {"profile": profile, "profile_lines": [
                    (label, profiles.shown(field, getattr(profile, field)))
                    for field, (label, _optional) in profiles.FIELDS.items() if field != "password"],
                "has_password": bool(profiles.masked(profile)), "revealed": revealed,
                "customer": order_list.customer_name(order), "position": order_list.position(order),
                "targets": order_list.targets(order),
                "queued": order.status in QUEUED_ORDER_STATUSES,
                "operators": operators(), "notes": order.notes,
                "ledger": list(LedgerEntry.select().where(LedgerEntry.order == order.id)
                               .order_by(LedgerEntry.id)),
                "reruns": list(Order.select(Order.id).where(Order.rerun_of == order.id)),
                "timezone": zone()}

    # Changing -------------------------------------------------------------------------

    def _chosen(self):
        """The order the form or link names (`id`), or None."""
        key = form_id()
        return self.get_one(key) if key is not None else None

    @expose("/status/", methods=["GET", "POST"])
    def status_view(self):
        """GET: what the change does, to confirm; POST: the change."""
        order = self._chosen()
        if order is None:
            return not_found("order", request.values.get("id", ""))
        to = form_text("to").strip()[:20]
        details = url_for(".details_view", id=order.id)
        if request.method == "GET":
            allowed = order_list.targets(order)
            if to not in allowed:
                flash(f"Order #{order.id} is {order.status}; here it can become "
                      f"{' or '.join(allowed) or 'nothing else'} (to give it to an operator, "
                      "use Assign).", "error")
                return redirect(details)
            return self.render("shop/order_status.html", order=order, to=to,
                               customer=order_list.customer_name(order),
                               return_url=request.values.get("url", ""))
        try:
            changed = orders.change_status(panel_actor(), order.id, to, note=form_text("note"))
        except REFUSALS as exc:
            refused(exc)
            return redirect(details)
        refund = (f" {order.price} tokens went back to the customer's balance."
                  if to == "cancelled" and order.price else "")
        flash(f"Order #{order.id}: {order.status} → {changed.status}.{refund}", "success")
        return back(details)

    @expose("/assign/", methods=["GET", "POST"])
    def assign_view(self):
        """Give the orders named by `ids` to one operator: GET asks whom, POST gives."""
        ids = list(dict.fromkeys(record_ids(request.values.getlist("ids"))))
        if len(ids) > orders.MAX_BULK:
            flash(shop_messages.TOO_MANY_AT_ONCE.format(limit=orders.MAX_BULK), "error")
            return redirect(url_for(".index_view"))
        chosen = list(self.get_query().where(Order.id.in_(ids)).order_by(Order.id)) if ids else []
        if not ids or not chosen:
            flash("Choose the orders to assign first.", "error")
            return redirect(url_for(".index_view"))
        if request.method == "GET":
            return self.render("shop/order_assign.html", chosen=chosen, operators=operators(),
                               return_url=request.values.get("url", ""))
        operator_id = form_id("operator_id")
        if operator_id is None:
            flash("Choose an operator.", "error")
            return redirect(url_for(".assign_view", ids=ids))
        done, refusals = orders.bulk(panel_actor(), ids, "assign", operator_id=operator_id)
        self._bulk_report(done, refusals, "Assigned")
        return back(url_for(".index_view"))

    @expose("/move/", methods=["POST"])
    def move_view(self):
        order = self._chosen()
        if order is None:
            return not_found("order", request.values.get("id", ""))
        direction = form_text("direction")
        try:
            moved = orders.move(panel_actor(), order.id, direction)
        except REFUSALS as exc:
            refused(exc)
        else:
            flash(f"Order #{order.id} moved {direction}." if moved else
                  f"Order #{order.id} is already the {'first' if direction == 'up' else 'last'} "
                  f"of its kind ({'Premium' if order.priority else 'regular'}) in the queue.",
                  "success" if moved else "info")
        return back(url_for(".details_view", id=order.id))

    @expose("/rerun/", methods=["POST"])
    def rerun_view(self):
        order = self._chosen()
        if order is None:
            return not_found("order", request.values.get("id", ""))
        free = request.form.get("free") in ("1", "y", "on")
        try:
            new = orders.rerun(panel_actor(), order.id, free=free)
        except REFUSALS as exc:
            refused(exc)
            return redirect(url_for(".details_view", id=order.id))
        flash(f"Order #{new.id} runs order #{order.id} again, "
              + ("free of charge." if free else f"for {new.price} tokens."), "success")
        return redirect(url_for(".details_view", id=new.id))

    @expose("/note/", methods=["POST"])
    def note_view(self):
        order = self._chosen()
        if order is None:
            return not_found("order", request.values.get("id", ""))
        try:
            orders.add_note(panel_actor(), order.id, form_text("text"))
        except REFUSALS as exc:
            refused(exc)
        else:
            flash("Note added.", "success")
        return redirect(url_for(".details_view", id=order.id, _anchor="notes"))

    @expose("/reveal/", methods=["POST"])
    def reveal_view(self):
        """The page again with the profile's password shown: rendered, never flashed,
        so it stays out of the session cookie; audited by orders.reveal_password."""
        order = self._chosen()
        if order is None:
            return not_found("order", request.values.get("id", ""))
        try:
            password = orders.reveal_password(panel_actor(), order.id)
        except REFUSALS as exc:
            refused(exc)
            return redirect(url_for(".details_view", id=order.id))
        order = self.get_one(order.id)
        page = super().render(self.details_template, model=order,
                              return_url=url_for(".index_view"),
                              **self._details(order, revealed=password or ""))
        return page, 200, {"Cache-Control": "no-store"}

    # Bulk actions -------------------------------------------------------------------------

    @staticmethod
    def _bulk_report(done, refusals, verb):
        numbers = ", ".join(f"#{i}" for i in done)
        flash(f"{verb} {len(done)} order{'s' * (len(done) != 1)}"
              + (f" ({numbers})." if done else "."), "success")
        for order_id, reason in refusals.items():
            flash(f"Order #{order_id} was not changed: {reason}", "error")

    @action("assign", "Assign to operator…")
    def action_assign(self, ids):
        return redirect(url_for(".assign_view", ids=record_ids(ids)))

    @action("cancel", "Cancel", "Cancel the selected orders? Each customer gets the price back "
                                "as a refund in their ledger, and is told.")
    def action_cancel(self, ids):
        try:
            done, refusals = orders.bulk(panel_actor(), record_ids(ids), "cancel")
        except REFUSALS as exc:
            refused(exc)
            return None
        self._bulk_report(done, refusals, "Cancelled")
        if done:
            flash("Their prices went back to the customers' balances.", "info")
