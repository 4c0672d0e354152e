"""What every Flask-Admin view of the panel shares, including the checks that
keep odd query strings and form posts from ever reaching the database."""
import datetime
import re

from flask import (
    current_app,
    flash,
    g,
    has_app_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_admin.contrib.peewee import ModelView
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_admin.model import typefmt
from flask_login import current_user
from flask_wtf import FlaskForm
from markupsafe import Markup

from models import User
from services.core import clock
from services.core.actors import Actor
from services.core.inputs import MAX_PAGE, parse_bounded_int, parse_id, plain_text
from services.delivery.channels import LABELS
from services.inbox.destinations import CHANNEL_OF_KIND

MAX_SEARCH_LENGTH = 200
NOBODY = "none"  # the option for no one: no owner, no assignee
SHOWN_CHARACTERS = 30  # of a bad value, in the message that refuses it
# Screen widths in CSS pixels: Bootstrap 4's breakpoints, and "xxl" for the widest lists.
SCREENS = {"sm": 576, "md": 768, "lg": 992, "xl": 1200, "xxl": 1600}
# Flask-Admin redirects to a form's `url` (where to go back to) when it passes
# is_safe_url, which ignores whitespace: "\n" passes, and then cannot be a header.
# The panel's own links always carry a path on this site.
RETURN_PATH = re.compile(r"/(?![/\\])[^\s\x00-\x1f\x7f\\]*")
# The list's numeric query arguments, which Flask-Admin reads with int() (so "٣" is 3
# and a 25-digit page overflows OFFSET): (argument, ViewArgs attribute, then
# query_number's default, largest, what and instead).
LIST_NUMBERS = (
    ("page", "page", 0, MAX_PAGE, "a page number", "showing the first page"),
    ("page_size", "page_size", 0, MAX_PAGE, "a page size", "showing the usual number of rows"),
    ("sort", "sort", None, MAX_PAGE, "a column number", "keeping the usual order"),
    ("desc", "sort_desc", False, 1, "0 or 1", "keeping the usual order"),
)


def query_number(name, default, largest, what, instead):
    """The whole number 0..`largest` in the query argument `name`, else `default`; a value
    that is there but no such number is named in a message saying what happens `instead`."""
    text = request.args.get(name)
    if not text:
        return default
    number = parse_bounded_int(text, 0, largest)
    if number is None:
        flash(f"{shown(text)} is not {what}; {instead}.", "error")
        return default
    return number


def record_ids(values):
    """The record ids among `values` (a form's or URL's list), skipping anything else."""
    return [i for i in map(parse_id, values) if i is not None]


def for_each_record(ids, act, skipped=(), refused=()):
    """A bulk action: `act(record_id)` for each record id among `ids`, each its own service
    call. Returns (how many it was done for, the messages of those refused): an exception
    of a `skipped` type (the record is gone) is passed over quietly, one of a `refused`
    type is kept to show."""
    done, refusals = 0, []
    for record_id in record_ids(ids):
        try:
            act(record_id)
            done += 1
        except skipped:
            pass
        except refused as exc:
            refusals.append(str(exc))
    return done, refusals


def shown(value):
    """A refused value as a message may quote it."""
    return plain_text(str(value))[:SHOWN_CHARACTERS]


def local_time(value):
    """A stored (naive UTC) time as the team reads it: in TZ, to the minute."""
    if value is None:
        return ""  # an empty cell, where the bot writes "—"
    return clock.local_time(value, current_app.extensions["leadgram"].settings.timezone)


def consent_note(contact):
    """"Opted out of SMS on 2026-03-01 14:05", or "" for a contact that did not opt out
    (services/inbox/consent.py)."""
    if contact.opted_out_at is None:
        return ""
    channel = LABELS.get(CHANNEL_OF_KIND.get(contact.kind), contact.kind)
    return f"Opted out of {channel} on {local_time(contact.opted_out_at)}"


class IdFilter(FilterEqual):
    """Equals, for id columns: a value that is not an id is refused with a message."""

    def validate(self, value):
        return parse_id(value) is not None

    def clean(self, value):
        return parse_id(value)


def login_required_view(view_class):
    """A Flask-Admin view class that only a logged-in deployer may open."""
    class LoginRequired(view_class):
        def is_accessible(self):
            return current_user.is_authenticated

        def inaccessible_callback(self, name, **kwargs):
            return redirect(url_for("auth.login", next=request.full_path))
    return LoginRequired


class PanelModelView(login_required_view(ModelView)):
    # Flask-WTF's CSRF on every form, including delete and bulk-action forms.
    form_base_class = FlaskForm
    page_size = 20
    can_set_page_size = True
    can_view_details = True
    column_type_formatters = {**typefmt.BASE_FORMATTERS,
                              datetime.datetime: lambda view, value, name: local_time(value)}
    column_type_formatters_detail = column_type_formatters
    # The list's columns that only a wider screen has room for: {column: the narrowest
    # screen that shows it, a key of SCREENS}. The others always show, so list the most
    # useful first. panel_master.html turns this into the page's CSS.
    column_screens = {}

    def hidden_columns(self):
        """[(screen width in px, the columns hidden below it)], narrowest first."""
        below = {}
        for column, screen in self.column_screens.items():
            below.setdefault(SCREENS[screen], []).append(column)
        return sorted(below.items())

    def search_placeholder(self):
        names = [self.get_column_name(field.name).lower() for field in self._search_fields]
        return "Search " + ", ".join(names) if names else None

    def _get_list_extra_args(self):
        args = super()._get_list_extra_args()
        for name, attribute, *number in LIST_NUMBERS:
            setattr(args, attribute, query_number(name, *number))
        if args.sort is not None and not self._sortable(args.sort):
            flash(f"Column {args.sort} cannot be sorted; keeping the usual order.", "error")
            args.sort = None
        if args.search:
            args.search = plain_text(args.search)[:MAX_SEARCH_LENGTH] or None
        if args.filters:
            args.filters = [(index, name, plain_text(value)) for index, name, value in args.filters]
        return args

    def _sortable(self, index):
        """Flask-Admin sorts by the list column at `index` without asking whether it is
        sortable, and fails on one that is not (the member list's "name")."""
        column = self._get_column_by_idx(index)
        return column is not None and column[0] in self._sortable_columns

    def _handle_view(self, name, **kwargs):
        """Before every view: the login check, then the return address (`url`) a link or
        form carries, which Flask-Admin would redirect to."""
        refused = super()._handle_view(name, **kwargs)
        return_url = request.values.get("url")
        if refused is None and return_url and not RETURN_PATH.fullmatch(return_url):
            return render_template("error.html", title="Bad link", message=(
                "This link's return address (url=…) is not a page of this panel. "
                "Open the page from the menu instead.")), 400
        return refused

    def get_one(self, id):
        """The record an `id` from a URL or form names, or None (Flask-Admin then says
        "Record does not exist.") for one that names none: "²", -1, 2**63."""
        key = parse_id(id)
        return None if key is None else self.one_query().where(
            self.model._meta.primary_key == key).first()

    def one_query(self):
        """What get_one reads a record with: a view joins in what its pages show."""
        return self.get_query()

    def handle_action(self, return_view=None):
        """A bulk action acts on the rows named by record ids (record_ids skips the rest),
        and says which selections it skipped: a forged rowid such as "²" or 2**63."""
        skipped = [shown(raw) for raw in request.form.getlist("rowid") if parse_id(raw) is None]
        if skipped:
            flash(f"Skipped what is not a record number: {', '.join(skipped[:3])}"
                  f"{', …' * (len(skipped) > 3)}.", "error")
        return super().handle_action(return_view)

    def field_error(self, form, field, message):
        """Show a service's refusal under the field it concerns."""
        target = getattr(form, field, None)
        if target is None:
            flash(message, "error")
        else:
            target.errors = [*target.errors, message]
        return False


def team_members():
    """The team, read once per request however many lists and filters need it."""
    if not has_app_context():  # filter options are also read when the app starts
        return list(User.team())
    if "team_members" not in g:
        g.team_members = list(User.team())
    return g.team_members


def member_options(first=None):
    """(value, label) for each team member, after `first` (e.g. (NOBODY, "Nobody")) if given."""
    return ([first] if first else []) + [(str(u.id), u.display_name) for u in team_members()]


def panel_actor():
    """The deployer, as the audit log names them."""
    return Actor.panel(current_user.id)


def lead_link(view, context, model, name):
    """A list cell naming a row's lead, linked to its pipeline page."""
    if not model.lead_id:
        return ""
    return Markup('<a href="{}">#{} {}</a>').format(
        url_for("lead_pipeline.page", lead_id=model.lead_id), model.lead_id, model.lead.full_name)


class MemberFilter(FilterEqual):
    """A person column (owner, assignee, creator) equal to one team member, or empty.

    `empty` is the (value, label) option that stands for no one there: (NOBODY, "Nobody")
    for an owner or assignee, ("panel", "Admin panel") for a lead added in the panel.
    The options are the team as of each list page (see team_members).
    """

    def __init__(self, column, name, empty, **kwargs):
        self.empty_value = empty[0]
        super().__init__(column, name, options=lambda: member_options(empty), **kwargs)

    def apply(self, query, value):
        if value == self.empty_value:
            return query.where(self.column.is_null())
        return query.where(self.column == parse_id(value))

    def validate(self, value):
        return value == self.empty_value or parse_id(value) is not None
