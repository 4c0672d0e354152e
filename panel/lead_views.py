"""Leads (the client records) in the panel: list, search, filters, CSV export, and edits
through services.crm.leads (add_lead; edit_lead: contact and profile fields, details and
owner at once). Passport numbers and tax PINs are masked everywhere but the edit form.
The details page lists every contact with its consent: a client opts out per channel."""
from flask import current_app, flash, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.peewee.filters import BasePeeweeFilter, FilterEqual
from flask_admin.model.filters import BaseDateBetweenFilter
from flask_admin.model.template import EndpointLinkRowAction
from markupsafe import Markup
from peewee import JOIN
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired
from wtforms.widgets import DateInput

from models import GENDERS, LEAD_STAGES, PRIORITIES, SALES_STAGES, SOURCES, Lead, User, utcnow
from panel.base import (
    NOBODY,
    MemberFilter,
    PanelModelView,
    consent_note,
    local_time,
    member_options,
    panel_actor,
    record_ids,
)
from services.core.inputs import parse_id
from services.crm import board, contacts, leads, pipeline, profile
from services.crm.access import AccessDenied
from services.crm.validation import country_name, display_phone
from services.ops import dashboard

MIN_YEAR, MAX_YEAR = 1970, 9000  # dates a lead can have, far from datetime's limits
SUBJECT_SHOWN = 60  # characters of the next activity's subject in the list (all on hover)
# Spreadsheets run cells starting with these as formulas (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

DETAIL_FIELDS = ("source", "business_domain", "priority", "value")
LISTED_CONTACTS = ("email", "phone")   # the first of each kind, in the list and export
NO_OWNER = (NOBODY, "Nobody")
NO_COUNTRY = (NOBODY, "Not known")
NO_GENDER = ""
Owner = User.alias()  # a lead's owner, next to its creator in one query


def name_link(view, context, model, name):
    return Markup('<a href="{}">{}</a>').format(
        url_for("lead_pipeline.page", lead_id=model.id), model.full_name)


def _next_activity_cell(view, context, model, name):
    """The open activity due first (get_list reads the page's at once); red when overdue."""
    activity = getattr(model, "_next_activity", None)
    if activity is None:
        return "—"
    late = activity.due_at is not None and activity.due_at < utcnow()
    subject = activity.subject if len(activity.subject) <= SUBJECT_SHOWN else \
        activity.subject[:SUBJECT_SHOWN - 1] + "…"
    return Markup('<span title="{}">{}: {}</span><small class="d-block {}">{}</small>').format(
        activity.subject, activity.type.replace("_", " "), subject,
        "text-danger" if late else "text-muted", local_time(activity.due_at))


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
    codes = [code for (code,) in Lead.select(Lead.country).distinct().order_by(Lead.country)
             .tuples()]
    return ([(code, f"{country_name(code)} ({code})") for code in codes if code]
            + [NO_COUNTRY] * ("" in codes))


class CountryFilter(FilterEqual):
    """A country, or none known yet (a client needs only a first name)."""

    def apply(self, query, value):
        return query.where(Lead.country == ("" if value == NO_COUNTRY[0] else value))


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
    """The fields people type; services.crm.leads (contact fields) and
    services.crm.profile (the profile) validate and normalise them. Only the first name
    is required."""
    class LeadForm(base):
        first_name = StringField("First name", validators=[InputRequired()])
        middle_name = StringField("Middle name")
        last_name = StringField("Last name")
        email = StringField("Email")
        phone = StringField("Phone", description="International format, e.g. +44 20 7946 0958")
        country = StringField("Country", description="Name or code, e.g. Germany or DE")
        gender = SelectField("Gender", default=NO_GENDER, choices=[
            SelectChoice(NO_GENDER, "—"), *(SelectChoice(g, g.capitalize()) for g in GENDERS)])
        date_of_birth = StringField("Date of birth", widget=DateInput(),
                                    description="YYYY-MM-DD")
        address = TextAreaField("Address")
        passport_number = StringField("Passport number", description=(
            "Kept encrypted; lists and exports show only its last characters"))
        tax_pin = StringField("Tax PIN", description=(
            "Kept encrypted; lists and exports show only its last characters"))
        comments = TextAreaField("Comments")
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


def _first_contact(model, kind):
    """The lead's first contact of `kind`: from what get_list read for the whole page, or
    (a details page) asked of the database."""
    page = getattr(model, "_first_contacts", None)
    return page.get(kind) if page is not None else model.contact(kind)


def _masked(view, context, model, name):
    return profile.masked(getattr(model, name))


def _first_contact_cell(view, context, model, name):
    return _first_contact(model, name) or ""


def _phone_cell(view, context, model, name):
    return display_phone(_first_contact(model, name)) or ""


def _contacts_detail(view, context, model, name):
    """Every contact of the lead, kind by kind, each with its consent."""
    rows = contacts.of(model.id)
    if not rows:
        return "—"
    items = Markup("").join(
        Markup('<li><span class="badge badge-light mr-1">{}</span>{}{}</li>').format(
            row.kind, contacts.shown(row),
            Markup(' <small class="text-danger contact-consent">{}</small>').format(consent_note(row))
            if row.opted_out_at else "")
        for row in rows)
    return Markup('<ul class="list-unstyled mb-0 lead-contacts">{}</ul>').format(items)


def _exported_text(view, context, model, name):
    return _spreadsheet_safe(getattr(model, name))


class LeadView(PanelModelView):
    # Who, where they are and what is next first: a phone shows those four.
    column_list = ["id", "name", "stage", "owner", "next_activity", "email", "phone", "country",
                   "source", "priority", "value", "created_at", "created_by", "passport_number",
                   "tax_pin"]
    column_screens = {"id": "sm", "email": "lg", "country": "lg", "phone": "xl", "source": "xl",
                      "value": "xl", "created_at": "xl", "priority": "xxl", "created_by": "xxl",
                      "passport_number": "xxl", "tax_pin": "xxl"}
    # The columns of before issue 11 keep their places (whoever reads the CSV by position);
    # the profile follows them.
    column_export_list = ["id", "first_name", "last_name", "email", "phone", "country",
                          "created_by", "created_at", "stage", "sales_stage", "source",
                          "business_domain", "owner", "priority", "value", "middle_name",
                          "gender", "date_of_birth", "address", "passport_number", "tax_pin",
                          "comments"]
    column_details_list = ["id", "first_name", "middle_name", "last_name", "email", "phone",
                           "country", "gender", "date_of_birth", "address", "passport_number",
                           "tax_pin", "comments", "stage", "source", "business_domain",
                           "priority", "value", "owner", "assigned_at", "last_activity_at",
                           "contacts", "created_by", "created_at"]
    column_labels = {"id": "#", "created_by": "Added by", "created_at": "Created",
                     "assigned_at": "Assigned", "last_activity_at": "Last activity",
                     "tax_pin": "Tax PIN", "contacts": "Contacts and consent",
                     "next_activity": "Next activity"}
    column_default_sort = ("id", True)
    # Not email or phone: a lead's first contact would be a subquery per row to sort by.
    column_sortable_list = ["id", ("name", "first_name"), "country", "stage",
                            "source", "priority", "value", "created_at"]
    # The names here; get_list searches contacts too (leads.matching).
    column_searchable_list = ["first_name", "last_name"]
    column_filters = [
        CountryFilter(Lead.country, "Country", options=_country_options),
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
        "name": name_link,
        "next_activity": _next_activity_cell,
        "stage": stage_link,
        "owner": lambda v, c, m, n: _owner_name(m) or "—",
        "value": lambda v, c, m, n: f"{m.value or 0:,.2f}",
        "email": _first_contact_cell,
        "phone": _phone_cell,
        **dict.fromkeys(profile.SECRET_FIELDS, _masked),
    }
    column_formatters_detail = {**column_formatters, "contacts": _contacts_detail}
    column_formatters_export = {
        "created_by": lambda v, c, m, n: _spreadsheet_safe(
            m.created_by.display_name if m.created_by_id else "Admin panel"),
        "owner": lambda v, c, m, n: _spreadsheet_safe(_owner_name(m)),
        # Phones as stored, E.164 (+digits): what a machine reads, and safe as they are.
        "phone": _first_contact_cell,
        "email": lambda v, c, m, n: _spreadsheet_safe(_first_contact(m, "email")),
        **dict.fromkeys(("first_name", "last_name", "middle_name", "business_domain", "address",
                         "comments"), _exported_text),
        **dict.fromkeys(profile.SECRET_FIELDS, _masked),
    }
    column_extra_row_actions = [EndpointLinkRowAction(
        "fa fa-road", "lead_pipeline.page", title="Pipeline: stage, score, activities", id_arg="lead_id")]
    can_export = True
    export_types = ["csv"]

    @expose("/")
    def index_view(self):
        self._refresh_filters_cache()  # countries and team as of now, not as at start
        return super().index_view()

    def search_placeholder(self):
        return "Search name, email, phone or any contact"

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True,
                 page_size=None):
        """Flask-Admin's list query, with the search box reading names and every contact
        (leads.matching). The count reads the lead table alone; the creator and the
        owner are joined into the page only (no query per row), because counting through
        two outer joins costs SQLite ~17 ms at 100,000 leads, and the page's first email
        and phone come in one more query."""
        query = self.get_query()
        condition = leads.matching(search) if search else None
        if condition is not None:
            query = query.where(condition)
        for index, _name, value in filters or ():
            chosen = self._filters[index]
            query = chosen.apply(query, chosen.clean(value))
        count = query.count()
        if sort_column is not None:
            order = [(self._sortable_columns[sort_column], sort_desc)]
        else:
            order = self._get_default_order()
        if order:
            query, _joins = self._order_by(query, set(), order)
        page_size = self.page_size if page_size is None else page_size
        if page_size:
            query = query.limit(page_size)
            if page:
                query = query.offset(page * page_size)
        query = _with_people(query)
        if not execute:
            return count, query
        rows = list(query)
        ids = [row.id for row in rows]
        found, upcoming = contacts.firsts(ids, LISTED_CONTACTS), board.next_activities(ids)
        for row in rows:
            row._first_contacts = found.get(row.id, {})
            row._next_activity = upcoming.get(row.id)
        return count, rows

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
        if form.gender.data is None:
            form.gender.data = NO_GENDER
        return form

    def validate_form(self, form):
        ok = super().validate_form(form)
        if not ok or not hasattr(form, "email"):  # the delete form has no fields of ours
            return ok
        for field in leads.FIELDS:
            text = getattr(form, field).data
            if field not in leads.REQUIRED_FIELDS and not (text or "").strip():
                continue  # optional, left empty
            try:
                leads.clean_field(field, text)
            except leads.InvalidLead as exc:
                ok = self.field_error(form, field, exc.reason)
        for field in profile.FIELDS:
            try:
                profile.clean_profile({field: getattr(form, field).data})
            except profile.InvalidProfile as exc:
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
    def _profile(form):
        return {field: getattr(form, field).data for field in profile.FIELDS}

    @staticmethod
    def _owner_id(form):
        return parse_id(form.owner_id.data) if form.owner_id.data != NOBODY else None

    def create_model(self, form):
        owner_id = self._owner_id(form)
        owner = User.get_or_none(User.id == owner_id) if owner_id else None
        try:
            return leads.add_lead(form.data, details=self._details(form), owner=owner,
                                  actor=panel_actor(), profile=self._profile(form))
        except (leads.InvalidLead, leads.DuplicateLead, profile.InvalidProfile) as exc:
            return self.field_error(form, exc.field, str(exc))
        except ValueError as exc:  # a bad detail; models.MissingDataKey
            flash(str(exc), "error")
            return False

    def update_model(self, form, model):
        try:  # contact and profile fields, details, owner: one call, all or nothing
            leads.edit_lead(panel_actor(), model.id, form.data, self._details(form),
                            self._owner_id(form), profile=self._profile(form))
        except (leads.InvalidLead, leads.DuplicateLead, profile.InvalidProfile) as exc:
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
