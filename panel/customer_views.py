"""The shop's customers in the panel: the leads that hold a wallet or profiles, with
their balance, Premium and how many profiles and orders they have; each customer's page
with their profiles (passwords masked), orders and ledger, and the forms that change
them: adjust the balance or give a bonus (services.shop.wallet.adjust: the customer is
told), grant 30 days of Premium or end it now (services.shop.premium: audited, the customer
is told), set or clear its date, edit or delete a profile (services.shop.profiles).
"""
from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.peewee.filters import FilterEqual
from markupsafe import Markup
from peewee import JOIN, SQL, fn

from models import CustomerProfile, Lead, LedgerEntry, Order, Wallet, utcnow
from panel.base import panel_actor, query_number
from panel.shop_base import (
    ShopListView,
    form_day,
    form_id,
    form_number,
    form_text,
    not_found,
    nulls_first,
    refused,
    zone,
)
from services.core import clock
from services.core.inputs import MAX_PAGE, plain_text
from services.crm import leads
from services.shop import orders, premium, profiles, wallet

PER_PAGE = 20
MAX_FIELD = 400  # a profile field as typed; profile_fields refuses past 320
REFUSALS = (wallet.WalletError, orders.OrderError, premium.PremiumError,
            profiles.InvalidProfile, profiles.NoSuchProfile, profiles.TooManyProfiles)


def _counted(model, *conditions):
    """A correlated count of a customer's rows, as a column of the list."""
    return model.select(fn.COUNT(model.id)).where(model.lead == Lead.id, *conditions)


PROFILE_COUNT = _counted(CustomerProfile, CustomerProfile.deleted_at.is_null())
ORDER_COUNT = _counted(Order)


class PremiumFilter(FilterEqual):
    """Premium now ("yes"), or not (never, or ended)."""

    def apply(self, query, value):
        premium = Wallet.premium_until > utcnow()
        return query.where(premium if value == "yes" else (Wallet.premium_until.is_null() | ~premium))

    def validate(self, value):
        return value in ("yes", "no")


def _name_cell(view, context, model, name):
    return Markup('<a href="{}">{}</a>').format(url_for(".details_view", id=model.id),
                                                model.full_name or f"customer #{model.id}")


def _premium_cell(view, context, model, name):
    until = model.wallet.premium_until if model.wallet else None  # a left join: None without one
    return clock.local_time(until, zone())


class CustomerView(ShopListView):
    can_create = can_edit = can_delete = False
    details_template = "shop/customer_details.html"
    column_list = ["id", "name", "balance", "premium_until", "profile_count", "order_count",
                   "created_at"]
    column_screens = {"id": "sm", "premium_until": "md", "profile_count": "md",
                      "created_at": "lg"}  # a phone: who, balance, orders
    column_labels = {"id": "#", "premium_until": "Premium until", "profile_count": "Profiles",
                     "order_count": "Orders", "created_at": "Lead since"}
    column_sortable_list = ["id", ("name", (Lead.first_name, Lead.last_name, Lead.id)),
                            ("balance", (fn.COALESCE(Wallet.balance, 0), Lead.id)),
                            ("premium_until", (nulls_first(Wallet.premium_until), Wallet.premium_until,
                                               Lead.id)),
                            ("profile_count", (SQL("profile_count"), Lead.id)),
                            ("order_count", (SQL("order_count"), Lead.id)), "created_at"]
    column_default_sort = ("id", True)
    column_filters = [PremiumFilter(Wallet.premium_until, "Premium",
                                    options=[("yes", "Premium now"), ("no", "not Premium")])]
    column_formatters = {
        "name": _name_cell,
        "balance": lambda v, c, m, n: m.wallet.balance if m.wallet else 0,
        "premium_until": _premium_cell,
    }

    def search_placeholder(self):
        return "Search name, email, phone or any contact"

    matching = staticmethod(leads.matching)   # names and contacts

    def one_query(self):
        """Any lead opens as a customer: its page is where it gets its first tokens."""
        return (Lead.select(Lead, Wallet)
                .join(Wallet, JOIN.LEFT_OUTER, on=(Wallet.lead == Lead.id), attr="wallet"))

    def get_query(self):
        return (Lead.select(Lead.id, Lead.first_name, Lead.last_name, Lead.created_at, Wallet,
                            PROFILE_COUNT.alias("profile_count"), ORDER_COUNT.alias("order_count"))
                .join(Wallet, JOIN.LEFT_OUTER, on=(Wallet.lead == Lead.id), attr="wallet")
                .where(Wallet.id.is_null(False)
                       | Lead.id.in_(CustomerProfile.select(CustomerProfile.lead))))

    @staticmethod
    def _details(lead, revealed=None):
        """What a customer's page shows: `revealed` is (profile id, password) once asked."""
        orders_page = query_number("orders_page", 0, MAX_PAGE, "a page number", "showing the newest orders")
        ledger_page = query_number("ledger_page", 0, MAX_PAGE, "a page number", "showing the newest entries")
        ledger = (LedgerEntry.select().join(Wallet).where(Wallet.lead == lead.id)
                  .order_by(LedgerEntry.id.desc()))
        return {
            "wallet": lead.wallet,
            "subscriber": wallet.is_subscriber(lead.id), "problems": wallet.problems(lead.id),
            "profiles": [{"row": p,
                          "lines": [(field, label, profiles.shown(field, getattr(p, field)))
                                    for field, (label, _optional) in profiles.FIELDS.items()]}
                         for p in profiles.of_customer(lead.id)],
            "revealed": revealed,
            "orders": orders.of_customer(lead.id, PER_PAGE, orders_page * PER_PAGE),
            "order_count": orders.count_of_customer(lead.id), "orders_page": orders_page,
            "ledger": list(ledger.limit(PER_PAGE).offset(ledger_page * PER_PAGE)),
            "ledger_count": ledger.count(), "ledger_page": ledger_page, "per_page": PER_PAGE,
            "kinds": wallet.ADJUSTMENT_KINDS, "timezone": zone(), "premium_days": premium.DAYS,
        }

    # Changing -------------------------------------------------------------------------

    def _customer(self):
        key = form_id()
        return self.get_one(key) if key is not None else None

    def _page(self, lead_id, anchor=None):
        return redirect(url_for(".details_view", id=lead_id, _anchor=anchor))

    @expose("/adjust/", methods=["POST"])
    def adjust_view(self):
        lead = self._customer()
        if lead is None:
            return not_found("customer", request.values.get("id", ""))
        amount = form_number("amount", wallet.MAX_AMOUNT)
        if amount is None:
            flash(f"The amount must be a whole number of tokens written with the digits 0-9, "
                  f"e.g. 100 or -50, at most {wallet.MAX_AMOUNT:,} either way.", "error")
            return self._page(lead.id, "adjust")
        try:
            entry = wallet.adjust(panel_actor(), lead.id, amount, form_text("reason"),
                                  kind=form_text("kind") or "adjustment")
        except REFUSALS as exc:
            refused(exc)
        else:
            flash(f"{entry.kind.capitalize()} of {amount:+d} tokens: the balance is now "
                  f"{entry.balance_after}. The customer is told.", "success")
        return self._page(lead.id, "adjust")

    @expose("/premium/", methods=["POST"])
    def premium_view(self):
        lead = self._customer()
        if lead is None:
            return not_found("customer", request.values.get("id", ""))
        if request.form.get("clear"):
            until = None
        else:
            day = form_day("until")
            if day is None:
                flash("Write the last day of Premium as YYYY-MM-DD.", "error")
                return self._page(lead.id, "premium")
            until = clock.utc_midnight(day, zone(), days_later=1)  # to the end of that day
        try:
            wallet.set_premium(panel_actor(), lead.id, until)
        except REFUSALS as exc:
            refused(exc)
        else:
            flash(f"Premium until the end of {day:%Y-%m-%d} ({zone()})." if until else
                  "Premium cleared: the customer pays regular prices from now on.", "success")
        return self._page(lead.id, "premium")

    @expose("/premium/grant/", methods=["POST"])
    def premium_grant_view(self):
        """30 more days of Premium, free of charge (services.shop.premium.grant: audited,
        the customer is told)."""
        lead = self._customer()
        if lead is None:
            return not_found("customer", request.values.get("id", ""))
        try:
            ends = premium.grant(panel_actor(), lead.id, premium.DAYS)
        except REFUSALS as exc:
            refused(exc)
        else:
            flash(f"Premium granted: {premium.DAYS} days more, until {clock.local_time(ends, zone())} "
                  f"({zone()}). The customer is told.", "success")
        return self._page(lead.id, "premium")

    @expose("/premium/end/", methods=["POST"])
    def premium_end_view(self):
        """Premium ended now (services.shop.premium.end: audited, the customer is told)."""
        lead = self._customer()
        if lead is None:
            return not_found("customer", request.values.get("id", ""))
        try:
            premium.end(panel_actor(), lead.id)
        except REFUSALS as exc:
            refused(exc)
        else:
            flash("Premium ended: the customer pays regular prices from now on, and is told.",
                  "success")
        return self._page(lead.id, "premium")

    def _profile(self):
        key = form_id()
        return (CustomerProfile.get_or_none(CustomerProfile.id == key, CustomerProfile.deleted_at.is_null())
                if key is not None else None)

    @expose("/profile/", methods=["GET", "POST"])
    def profile_view(self):
        """Edit a profile; each field checked by services.shop.profiles."""
        profile = self._profile()
        if profile is None:
            return not_found("profile", request.values.get("id", ""))
        values = {field: getattr(profile, field) for field in profiles.FIELDS if field != "password"}
        values["date_of_birth"] = profile.date_of_birth.isoformat() if profile.date_of_birth else ""
        errors = {}
        if request.method == "POST":
            typed = {field: plain_text(request.form.get(field, ""))[:MAX_FIELD] for field in profiles.FIELDS}
            if not typed["password"]:
                del typed["password"]  # left empty: kept as it is
            values.update({k: v for k, v in typed.items() if k != "password"})
            try:
                profiles.save(panel_actor(), profile.lead_id, typed, profile_id=profile.id)
            except profiles.InvalidProfile as exc:
                errors[exc.field] = exc.reason
                flash(f"The profile was not saved: {exc}", "error")
            except REFUSALS as exc:
                refused(exc)
            else:
                flash(f"Profile #{profile.id} saved.", "success")
                return self._page(profile.lead_id, "profiles")
        return self.render("shop/profile_edit.html", profile=profile, fields=profiles.FIELDS,
                           values={k: "" if v is None else v for k, v in values.items()},
                           errors=errors, has_password=bool(profiles.masked(profile)))

    @expose("/profile/delete/", methods=["POST"])
    def profile_delete_view(self):
        profile = self._profile()
        if profile is None:
            return not_found("profile", request.values.get("id", ""))
        try:
            profiles.delete(panel_actor(), profile.id)
        except REFUSALS as exc:
            refused(exc)
        else:
            flash(f"Profile #{profile.id} deleted; its orders keep it.", "success")
        return self._page(profile.lead_id, "profiles")

    @expose("/profile/reveal/", methods=["POST"])
    def profile_reveal_view(self):
        """The customer's page with one profile's password shown (rendered, never flashed:
        it stays out of the session cookie), audited."""
        profile = self._profile()
        if profile is None:
            return not_found("profile", request.values.get("id", ""))
        try:
            password = profiles.reveal_password(panel_actor(), profile.id)
        except REFUSALS as exc:
            refused(exc)
            return self._page(profile.lead_id, "profiles")
        lead = self.get_one(profile.lead_id)
        page = super().render(self.details_template, model=lead,
                              **self._details(lead, revealed=(profile.id, password or "")))
        return page, 200, {"Cache-Control": "no-store"}
