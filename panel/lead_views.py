"""Leads in the panel: list, search, filters, CSV export, and edits through services.leads."""
from flask import current_app, flash
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.peewee.filters import BasePeeweeFilter, FilterEqual
from flask_admin.model.filters import BaseDateBetweenFilter
from markupsafe import Markup
from peewee import JOIN
from wtforms import StringField
from wtforms.validators import InputRequired

from models import Lead, User
from panel.base import PanelModelView, record_id, record_ids
from services import dashboard, leads
from services.validation import country_name

MIN_YEAR, MAX_YEAR = 1970, 9000  # dates a lead can have, far from datetime's limits
# Spreadsheets run cells starting with these as formulas (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _team_options():
    return [("panel", "Admin panel")] + [(str(u.id), u.display_name) for u in User.team()]


def _country_options():
    codes = Lead.select(Lead.country).distinct().order_by(Lead.country).tuples()
    return [(code, f"{country_name(code)} ({code})") for (code,) in codes]


class CreatorFilter(FilterEqual):
    def apply(self, query, value):
        if value == "panel":
            return query.where(Lead.created_by.is_null())
        return query.where(Lead.created_by == record_id(value))

    def validate(self, value):
        return value == "panel" or record_id(value) is not None


class CreatedBetweenFilter(BasePeeweeFilter, BaseDateBetweenFilter):
    """Whole local days (TZ), both ends included."""

    def __init__(self):
        super().__init__(Lead.created_at, "Created", data_type="daterangepicker")

    def validate(self, value):
        return super().validate(value) and all(
            MIN_YEAR <= day.year <= MAX_YEAR for day in self.clean(value))

    def apply(self, query, value):
        start, end = value
        zone = current_app.extensions["leadgram"].settings.timezone
        return query.where(Lead.created_at >= dashboard.utc_midnight(start, zone),
                           Lead.created_at < dashboard.utc_midnight(end, zone, days_later=1))


def _spreadsheet_safe(value):
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def lead_form(base):
    """The fields people type; services.leads validates and normalises them."""
    class LeadForm(base):
        email = StringField("Email", validators=[InputRequired()])
        phone = StringField("Phone", validators=[InputRequired()],
                            description="International format, e.g. +44 20 7946 0958")
        first_name = StringField("First name", validators=[InputRequired()])
        last_name = StringField("Last name", validators=[InputRequired()])
        country = StringField("Country", validators=[InputRequired()],
                              description="Name or code, e.g. Germany or DE")
    return LeadForm


class LeadView(PanelModelView):
    column_list = ["id", "first_name", "last_name", "email", "phone", "country",
                   "created_by", "created_at"]
    column_labels = {"id": "#", "created_by": "Added by", "created_at": "Created"}
    column_default_sort = ("id", True)
    column_sortable_list = ["id", "first_name", "last_name", "email", "country", "created_at"]
    column_searchable_list = ["email", "phone", "first_name", "last_name"]
    column_filters = [
        FilterEqual(Lead.country, "Country", options=_country_options),
        CreatorFilter(Lead.created_by, "Added by", options=_team_options),
        CreatedBetweenFilter(),
    ]
    column_formatters = {
        "created_by": lambda v, c, m, n: m.created_by.display_name if m.created_by_id else "Admin panel",
        "country": lambda v, c, m, n: Markup('<span title="{}">{}</span>').format(
            country_name(m.country), m.country),
    }
    column_formatters_export = {
        "created_by": lambda v, c, m, n: _spreadsheet_safe(
            m.created_by.display_name if m.created_by_id else "Admin panel"),
        **{name: (lambda v, c, m, n: _spreadsheet_safe(getattr(m, n)))
           for name in ("first_name", "last_name", "email")},  # phones are E.164: +digits
    }
    can_export = True
    export_types = ["csv"]

    @expose("/")
    def index_view(self):
        self._refresh_filters_cache()  # countries and team as of now, not as at start
        return super().index_view()

    def get_query(self):
        # The creator comes in the same query: no query per row.
        return Lead.select(Lead, User).join(User, JOIN.LEFT_OUTER)

    def scaffold_form(self):
        return lead_form(self.form_base_class)

    def validate_form(self, form):
        ok = super().validate_form(form)
        if not ok or not hasattr(form, "email"):  # the delete form has no fields of ours
            return ok
        for field in leads.FIELDS:
            try:
                leads.clean_field(field, getattr(form, field).data)
            except leads.InvalidLead as exc:
                ok = self.field_error(form, field, exc.reason)
        return ok

    def create_model(self, form):
        try:
            return leads.add_lead(form.data)
        except (leads.InvalidLead, leads.DuplicateLead) as exc:
            return self.field_error(form, exc.field, str(exc))

    def update_model(self, form, model):
        try:
            leads.update_lead(model.id, form.data)
        except (leads.InvalidLead, leads.DuplicateLead) as exc:
            return self.field_error(form, exc.field, str(exc))
        except LookupError as exc:
            flash(str(exc), "error")
            return False
        return True

    def delete_model(self, model):
        leads.delete_leads([model.id])
        return True

    @action("delete", "Delete", "Delete the selected leads? This cannot be undone.")
    def action_delete(self, ids):
        count = leads.delete_leads(record_ids(ids))
        flash(f"Deleted {count} lead{'s' * (count != 1)}.", "success")
