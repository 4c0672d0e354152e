"""What every Flask-Admin view of the panel shares, including the checks that
keep odd query strings and form posts from ever reaching the database."""
import datetime
from zoneinfo import ZoneInfo

from flask import current_app, flash, redirect, request, url_for
from flask_admin.contrib.peewee import ModelView
from flask_admin.model import typefmt
from flask_admin.contrib.peewee.filters import FilterEqual
from flask_login import current_user
from flask_wtf import FlaskForm

MAX_ID_DIGITS = 18     # anything longer overflows a 64-bit id column
MAX_SEARCH_LENGTH = 200


def record_id(value):
    """The int a URL or form names, or None for anything that is not an id."""
    text = str(value).strip()
    return int(text) if text.isdigit() and len(text) <= MAX_ID_DIGITS else None


def record_ids(values):
    return [i for i in map(record_id, values) if i is not None]


def plain_text(value):
    """Postgres refuses NUL characters in text; nobody types them on purpose."""
    return value.replace("\x00", "")


def local_time(value):
    """A stored (naive UTC) time as the team reads it: in TZ, to the minute."""
    if value is None:
        return ""
    zone = ZoneInfo(current_app.extensions["leadgram"].settings.timezone)
    return value.replace(tzinfo=datetime.timezone.utc).astimezone(zone).strftime("%Y-%m-%d %H:%M")


class IdFilter(FilterEqual):
    """Equals, for id columns: a value that is not an id is refused with a message."""

    def validate(self, value):
        return record_id(value) is not None

    def clean(self, value):
        return record_id(value)


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

    def search_placeholder(self):
        names = [self.get_column_name(field.name).lower() for field in self._search_fields]
        return "Search " + ", ".join(names) if names else None

    def _get_list_extra_args(self):
        args = super()._get_list_extra_args()
        args.page = max(args.page or 0, 0)
        if args.search:
            args.search = plain_text(args.search)[:MAX_SEARCH_LENGTH] or None
        if args.filters:
            args.filters = [(index, name, plain_text(value)) for index, name, value in args.filters]
        return args

    def get_one(self, id):
        return super().get_one(record_id(id)) if record_id(id) is not None else None

    def field_error(self, form, field, message):
        """Show a service's refusal under the field it concerns."""
        target = getattr(form, field, None)
        if target is None:
            flash(message, "error")
        else:
            target.errors = [*target.errors, message]
        return False
