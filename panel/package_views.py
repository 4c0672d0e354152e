"""The shop's catalogue in the panel: packages of sites and the email-confirmation
add-on, created, edited and deleted through services.shop.catalogue, which checks every
value (its refusals show under their fields). A package someone ordered is deactivated
instead of deleted, so its orders keep their history."""
from flask import flash
from flask_admin.actions import action
from flask_admin.contrib.peewee.filters import FilterEqual
from markupsafe import Markup
from wtforms import BooleanField, SelectChoice, SelectField, StringField
from wtforms.widgets import NumberInput

from models import Package
from panel.base import PanelModelView, for_each_record, panel_actor
from services.core.inputs import parse_bounded_int
from services.shop import catalogue

NUMBERS = ("sites", "price", "subscriber_price", "position")
LARGEST = 10**9  # a number past this is refused by the catalogue's own range check
KIND_LABELS = {"package": "package of sites", "addon": "add-on"}


def package_form(base):
    # Numbers as text, read with parse_bounded_int: wtforms' IntegerField takes "٣" as 3.
    class PackageForm(base):
        name = StringField("Name", description="As customers read it, e.g. “100 sites”")
        code = StringField("Code", description=(
            "Lowercase letters, digits, _ or -; empty: made from the name. The add-on's code "
            "is email_confirmation"))
        kind = SelectField("Kind", choices=[SelectChoice(k, label) for k, label in KIND_LABELS.items()])
        sites = StringField("Sites", widget=NumberInput(), description="Packages only")
        price = StringField("Price", widget=NumberInput(), description="Tokens, regular customers")
        subscriber_price = StringField("Subscriber price", widget=NumberInput(),
                                       description="Tokens, Premium subscribers; at most the price")
        position = StringField("Position", widget=NumberInput(), default="0",
                               description="The catalogue lists smaller first")
        active = BooleanField("On offer", default=True)
    return PackageForm


def _typed(form, name):
    """A number field's text; a field the post left out still holds the stored int."""
    value = getattr(form, name).data
    return "" if value is None else str(value).strip()


def _price_cell(view, context, model, name):
    return Markup("{} <small class=\"text-muted\">/ {}</small>").format(
        model.price, model.subscriber_price)


class PackageView(PanelModelView):
    column_list = ["position", "name", "code", "kind", "sites", "price", "active", "updated_at"]
    column_labels = {"price": "Price / subscriber", "subscriber_price": "Subscriber price",
                     "active": "On offer", "updated_at": "Changed", "created_at": "Added"}
    column_default_sort = [("kind", True), ("position", False), ("id", False)]
    column_sortable_list = ["position", "name", "code", "kind", "sites", "price", "active",
                            "updated_at"]
    column_searchable_list = ["name", "code"]
    column_filters = [FilterEqual(Package.kind, "Kind", options=list(KIND_LABELS.items())),
                      "active"]
    column_formatters = {"price": _price_cell,
                         "kind": lambda v, c, m, n: KIND_LABELS.get(m.kind, m.kind)}
    column_details_list = ["id", "name", "code", "kind", "sites", "price", "subscriber_price",
                           "position", "active", "created_at", "updated_at"]
    column_formatters_detail = {"kind": column_formatters["kind"]}

    def scaffold_form(self):
        return package_form(self.form_base_class)

    def on_form_prefill(self, form, id):
        for name in NUMBERS:  # stored ints as the text fields show them; None as empty
            value = getattr(form, name).data
            getattr(form, name).data = "" if value is None else str(value)

    def validate_form(self, form):
        ok = super().validate_form(form)
        if not ok or not hasattr(form, "price"):  # the delete form has no fields of ours
            return ok
        for name in NUMBERS:
            text = _typed(form, name)
            if text and parse_bounded_int(text, -LARGEST, LARGEST) is None:
                ok = self.field_error(form, name, "Write a whole number with the digits 0-9.")
        return ok

    @staticmethod
    def _values(form):
        values = {name: getattr(form, name).data for name in ("name", "code", "kind", "active")}
        for name in NUMBERS:
            text = _typed(form, name)
            values[name] = parse_bounded_int(text, -LARGEST, LARGEST) if text else None
        if values["position"] is None:
            values["position"] = 0  # empty: first among equals
        return values

    def _save(self, form, package_id=None):
        try:
            return catalogue.save_package(panel_actor(), package_id, **self._values(form))
        except catalogue.InvalidPackage as exc:
            return self.field_error(form, exc.field, exc.reason)
        except catalogue.CatalogueError as exc:  # deleted meanwhile
            flash(str(exc), "error")
            return False

    def create_model(self, form):
        return self._save(form)

    def update_model(self, form, model):
        return bool(self._save(form, model.id))

    def delete_model(self, model):
        try:
            outcome = catalogue.delete_package(panel_actor(), model.id)
        except catalogue.CatalogueError as exc:
            flash(str(exc), "error")
            return False
        if outcome == "deactivated":  # no "deleted" message from Flask-Admin: it was not
            flash(f"{model.name} has orders, so it was taken off offer instead of deleted.", "success")
            return False
        return True

    @action("delete", "Delete", "Delete the selected packages? Those with orders are taken "
                                "off offer instead.")
    def action_delete(self, ids):
        outcomes = []
        done, refusals = for_each_record(
            ids, lambda package_id: outcomes.append(catalogue.delete_package(panel_actor(), package_id)),
            skipped=catalogue.NoSuchPackage, refused=catalogue.CatalogueError)
        deleted = outcomes.count("deleted")
        flash(f"Deleted {deleted} package{'s' * (deleted != 1)}; took {done - deleted} with "
              "orders off offer.", "success")
        for message in refusals:
            flash(message, "error")
