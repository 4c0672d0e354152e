"""Leads in the panel: list, search, filters, CSV export, and edits through
services.crm.leads (add_lead; edit_lead: contact fields, details and owner at once)."""
from flask import current_app, flash, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.peewee.filters import BasePeeweeFilter, FilterEqual
from flask_admin.model.filters import BaseDateBetweenFilter
from flask_admin.model.template import EndpointLinkRowAction
from markupsafe import Markup
from peewee import JOIN
from wtforms import SelectChoice, SelectField, StringField
from wtforms.validators import InputRequired

from models import LEAD_STAGES, PRIORITIES, SALES_STAGES, SOURCES, Lead, User
from panel.base import (
    NOBODY,
    MemberFilter,
    PanelModelView,
    member_options,
    panel_actor,
    record_ids,
)
from services.core.inputs import parse_id
from services.crm import leads, pipeline
from services.crm.access import AccessDenied
from services.crm.validation import country_name
from services.ops import dashboard

MIN_YEAR, MAX_YEAR = 1970, 9000  # dates a lead can have, far from datetime's limits
# Spreadsheets run cells starting with these as formulas (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

DETAIL_FIELDS = ("source", "business_domain", "priority", "value")
NO_OWNER = (NOBODY, "Nobody")
Owner = User.alias()  # a lead's owner, next to its creator in one query


def stage_link(view, context, model, name):
    return Markup('<a href="{}" title="Stage, score, activities: the lead\'s pipeline page">{}</a>').format(
        url_for("lead_pipeline.page", lead_id=model.id), model.stage_label)


STAGE_OPTIONS = ([(f"lead:{s}", s) for s in LEAD_STAGES]
                 + [(f"sales:{s}", f"sales: {s}") for s in SALES_STAGES])


class StageFilter(FilterEqual):
    """A lead stage, or a sales stage (which means: transferred, and now there)."""

    def apply(self, query, value):
        pipeline_name, _, stage = value.partition(":")
        if pipeline_name == "sales":
            return query.where(Lead.stage == "transferred", Lead.sales_stage == stage)
        return query.where(Lead.stage == stage)

    def validate(self, value):
        return value in dict(STAGE_OPTIONS)


def _country_options():
    codes = Lead.select(Lead.country).distinct().order_by(Lead.country).tuples()
    return [(code, f"{country_name(code)} ({code})") for (code,) in codes]


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


def _with_people(query):
    """`query` with each lead's creator and owner joined in."""
    return (query.select_extend(User, Owner)
            .join(User, JOIN.LEFT_OUTER, on=(Lead.created_by == User.id)).switch(Lead)
            .join(Owner, JOIN.LEFT_OUTER, on=(Lead.owner == Owner.id)))


def _spreadsheet_safe(value):
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def lead_form(base):
    """The fields people type; services.crm.leads validates and normalises them."""
    class LeadForm(base):
        email = StringField("Email", validators=[InputRequired()])
        phone = StringField("Phone", validators=[InputRequired()],
                            description="International format, e.g. +44 20 7946 0958")
        first_name = StringField("First name", validators=[InputRequired()])
        last_name = StringField("Last name", validators=[InputRequired()])
        country = StringField("Country", validators=[InputRequired()],
                              description="Name or code, e.g. Germany or DE")
        source = SelectField("Source", choices=[SelectChoice(s) for s in SOURCES], default="other")
        business_domain = StringField("Business domain", description=(
            "What the customer's business does; needed before a transfer to sales"))
        priority = SelectField("Priority", choices=[SelectChoice(p) for p in PRIORITIES],
                               default="normal")
        value = StringField("Value", default="0", description="Expected deal value, e.g. 1500.50")
        owner_id = SelectField("Owner", choices=[], default=NOBODY, description=(
            "The team member who works the lead"))
    return LeadForm


def _owner_name(model):
    return model.owner.display_name if model.owner_id else ""


class LeadView(PanelModelView):
    column_list = ["id", "first_name", "last_name", "email", "phone", "country", "stage",
                   "source", "owner", "priority", "value", "created_by", "created_at"]
    column_export_list = ["id", "first_name", "last_name", "email", "phone", "country",
                          "created_by", "created_at", "stage", "sales_stage", "source",
                          "business_domain", "owner", "priority", "value"]
    column_details_list = ["id", "first_name", "last_name", "email", "phone", "country", "stage",
                           "source", "business_domain", "priority", "value", "owner",
                           "assigned_at", "last_activity_at", "created_by", "created_at"]
    column_labels = {"id": "#", "created_by": "Added by", "created_at": "Created",
                     "assigned_at": "Assigned", "last_activity_at": "Last activity"}
    column_default_sort = ("id", True)
    column_sortable_list = ["id", "first_name", "last_name", "email", "country", "stage",
                            "source", "priority", "value", "created_at"]
    column_searchable_list = ["email", "phone", "first_name", "last_name"]
    column_filters = [
        FilterEqual(Lead.country, "Country", options=_country_options),
        StageFilter(Lead.stage, "Stage", options=STAGE_OPTIONS),
        FilterEqual(Lead.source, "Source", options=[(s, s) for s in SOURCES]),
        MemberFilter(Lead.owner, "Owner", empty=NO_OWNER),
        MemberFilter(Lead.created_by, "Added by", empty=("panel", "Admin panel")),
        CreatedBetweenFilter(),
    ]
    column_formatters = {
        "created_by": lambda v, c, m, n: m.created_by.display_name if m.created_by_id else "Admin panel",
        "country": lambda v, c, m, n: Markup('<span title="{}">{}</span>').format(
            country_name(m.country), m.country),
        "stage": stage_link,
        "owner": lambda v, c, m, n: _owner_name(m) or "—",
        "value": lambda v, c, m, n: f"{m.value or 0:,.2f}",
    }
    column_formatters_export = {
        "created_by": lambda v, c, m, n: _spreadsheet_safe(
            m.created_by.display_name if m.created_by_id else "Admin panel"),
        "owner": lambda v, c, m, n: _spreadsheet_safe(_owner_name(m)),
        **{name: (lambda v, c, m, n: _spreadsheet_safe(getattr(m, n)))
           for name in ("first_name", "last_name", "email", "business_domain")},  # phones are E.164: +digits
    }
    column_extra_row_actions = [EndpointLinkRowAction(
        "fa fa-road", "lead_pipeline.page", title="Pipeline: stage, score, activities", id_arg="lead_id")]
    can_export = True
    export_types = ["csv"]

    @expose("/")
    def index_view(self):
        self._refresh_filters_cache()  # countries and team as of now, not as at start
        return super().index_view()

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True,
                 page_size=None):
        # Flask-Admin counts the same query it pages; the creator and the owner are
        # joined into the page only (no query per row), because counting through two
        # outer joins costs SQLite ~17 ms at 100,000 leads.
        count, query = super().get_list(page, sort_column, sort_desc, search, filters,
                                        execute=False, page_size=page_size)
        query = _with_people(query)
        return count, (list(query) if execute else query)

    def one_query(self):
        return _with_people(Lead.select())

    def scaffold_form(self):
        return lead_form(self.form_base_class)

    def create_form(self, obj=None):
        return self._with_owner_choices(super().create_form(obj))

    def edit_form(self, obj=None):
        return self._with_owner_choices(super().edit_form(obj))

    @staticmethod
    def _with_owner_choices(form):
        form.owner_id.choices = [SelectChoice(value, label) for value, label in member_options(NO_OWNER)]
        if form.owner_id.data is None:  # a lead without an owner
            form.owner_id.data = NOBODY
        return form

    def validate_form(self, form):
        ok = super().validate_form(form)
        if not ok or not hasattr(form, "email"):  # the delete form has no fields of ours
            return ok
        for field in leads.FIELDS:
            try:
                leads.clean_field(field, getattr(form, field).data)
            except leads.InvalidLead as exc:
                ok = self.field_error(form, field, exc.reason)
        for field in DETAIL_FIELDS:
            try:
                pipeline.clean_details({field: getattr(form, field).data})
            except ValueError as exc:
                ok = self.field_error(form, field, str(exc))
        return ok

    @staticmethod
    def _details(form):
        return {field: getattr(form, field).data for field in DETAIL_FIELDS}

    @staticmethod
    def _owner_id(form):
        return parse_id(form.owner_id.data) if form.owner_id.data != NOBODY else None

    def create_model(self, form):
        owner_id = self._owner_id(form)
        owner = User.get_or_none(User.id == owner_id) if owner_id else None
        try:
            return leads.add_lead(form.data, details=self._details(form), owner=owner,
                                  actor=panel_actor())
        except (leads.InvalidLead, leads.DuplicateLead) as exc:
            return self.field_error(form, exc.field, str(exc))
        except ValueError as exc:
            flash(str(exc), "error")
            return False

    def update_model(self, form, model):
        try:  # contact fields, details and owner: one service call, all or nothing
            leads.edit_lead(panel_actor(), model.id, form.data, self._details(form),
                            self._owner_id(form))
        except (leads.InvalidLead, leads.DuplicateLead) as exc:
            return self.field_error(form, exc.field, str(exc))
        except (leads.OwnerKept, AccessDenied) as exc:
            return self.field_error(form, "owner_id", str(exc))
        except (LookupError, ValueError) as exc:
            flash(str(exc), "error")
            return False
        return True

    def delete_model(self, model):
        leads.delete_leads(panel_actor(), [model.id])
        return True

    @action("delete", "Delete", "Delete the selected leads? This cannot be undone.")
    def action_delete(self, ids):
        count = leads.delete_leads(panel_actor(), record_ids(ids))
        flash(f"Deleted {count} lead{'s' * (count != 1)}.", "success")
