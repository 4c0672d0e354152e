"""What the shop's panel views (orders, customers, packages) share: their list query with
sorting and paging, the created-between filter, CSV safety, the operator choices, the
return address of a button, and how a service's refusal reaches the page."""
import datetime

from flask import current_app, flash, redirect, render_template, request
from flask_admin.contrib.peewee.filters import BasePeeweeFilter
from flask_admin.model.filters import BaseDateBetweenFilter
from peewee import Case

from models import User
from panel.base import RETURN_PATH, PanelModelView, shown
from services.core import clock
from services.core.inputs import parse_bounded_int, parse_id, plain_text

MIN_YEAR, MAX_YEAR = 1970, 9000  # days a record can have, far from datetime's limits
# Spreadsheets run cells starting with these as formulas (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_TEXT = 2000  # a note or reason as typed; the services say what is too long
OPERATOR_ROLES = ("operator", "admin")


def zone():
    return current_app.extensions["leadgram"].settings.timezone


def spreadsheet_safe(value):
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def exported(attribute):
    """An export formatter: the model's `attribute`, spreadsheet-safe."""
    return lambda view, context, model, name: spreadsheet_safe(getattr(model, attribute))


class CreatedBetweenFilter(BasePeeweeFilter, BaseDateBetweenFilter):
    """Whole local days (TZ), both ends included."""

    def __init__(self, column, name="Created"):
        super().__init__(column, name, data_type="daterangepicker")

    def validate(self, value):
        return super().validate(value) and all(
            MIN_YEAR <= day.year <= MAX_YEAR for day in self.clean(value))

    def apply(self, query, value):
        start, end = value
        return query.where(self.column >= clock.utc_midnight(start, zone()),
                           self.column < clock.utc_midnight(end, zone(), days_later=1))


def nulls_first(column):
    """A sort key putting rows without `column` first, as SQLite does and Postgres does not."""
    return Case(None, [(column.is_null(), 0)], 1)


def page_of(view, query, page, sort_keys, sort_desc, filters, page_size, execute,
            narrow=None, narrow_sort=False):
    """Flask-Admin's (count, rows) for `query`: the list's filters applied, ordered by
    `sort_keys` (each ascending, all reversed by `sort_desc`), one page of it.

    `narrow`: the same rows from the list's own table without the joins that only add
    columns to show (the filters then apply to its columns alone). It is what is counted,
    and with `narrow_sort` (the sort keys are its own columns) what is paged: at 100,000
    orders the joins were most of the cost of both (bench/shop_speed.py)."""
    query = _filtered(view, query, filters)
    order = [key.desc() if sort_desc else key.asc() for key in sort_keys]
    page_size = view.page_size if page_size is None else page_size
    if narrow is None:
        count = query.count()
    else:
        narrow = _filtered(view, narrow, filters)
        count = narrow.count()
    query = query.order_by(*order)
    if page_size and narrow is not None and narrow_sort:
        model = narrow.model
        ids = [row_id for row_id, in narrow.select(model.id).order_by(*order)
               .limit(page_size).offset((page or 0) * page_size).tuples()]
        query = query.where(model.id.in_(ids))
    elif page_size:
        query = query.limit(page_size).offset((page or 0) * page_size)
    return count, (list(query) if execute else query)


class ShopListView(PanelModelView):
    """A shop list searched by `matching(text)` (a condition on its query) and sorted by
    its sortable columns, ties broken by id, newest first by default; its details page
    also gets what `_details(model)` returns. With `narrow`, the list's own table is
    counted and paged alone (page_of) unless a sort in `joined_sorts` needs the joins."""
    matching = None       # text -> a condition on the list's query; each list sets it
    narrow = False
    joined_sorts = ()

    def init_search(self):
        return True  # get_list searches with matching()

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True,
                 page_size=None):
        model, query = self.model, self.get_query()
        narrow = model.select() if self.narrow else None
        condition = self.matching(search) if search else None
        if condition is not None:
            query = query.where(condition)
            narrow = narrow.where(condition) if narrow is not None else None
        if sort_column is None:
            keys, sort_desc = (model.id,), True
        else:
            keys = self._sortable_columns[sort_column]
            keys = keys if isinstance(keys, tuple) else (getattr(model, keys), model.id)
        return page_of(self, query, page, keys, sort_desc, filters, page_size, execute,
                       narrow=narrow, narrow_sort=sort_column not in self.joined_sorts)

    def render(self, template, **kwargs):
        # A reveal view renders the details itself, with the password in `revealed`.
        if template == self.details_template and "model" in kwargs and "revealed" not in kwargs:
            kwargs.update(self._details(kwargs["model"]))
        return super().render(template, **kwargs)


def _filtered(view, query, filters):
    for index, _name, value in filters or ():
        chosen = view._filters[index]
        query = chosen.apply(query, chosen.clean(value))
    return query


def operators():
    """The team members an order can be given to."""
    return list(User.team().where(User.role.in_(OPERATOR_ROLES)))


def form_id(name="id"):
    """The record id a form or link names, or None."""
    return parse_id(request.values.get(name, ""))


def form_text(name):
    return plain_text(request.values.get(name, ""))[:MAX_TEXT]


def form_number(name, limit):
    """A whole number typed in ASCII digits, -limit..limit, else None."""
    return parse_bounded_int(request.values.get(name, ""), -limit, limit)


def form_day(name):
    """A date typed as YYYY-MM-DD (what a date input sends), or None."""
    text = request.values.get(name, "").strip()
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        return None
    return day if MIN_YEAR <= day.year <= MAX_YEAR else None


def back(default):
    """Back where the button was pressed (its form's `url`, a page of this panel), else
    `default`."""
    target = request.values.get("url", "")
    return redirect(target if RETURN_PATH.fullmatch(target) else default)


def refused(exc):
    flash(str(exc), "error")


def not_found(what, raw):
    """A bad or unknown id, answered with a page saying so (never a server error)."""
    return render_template("error.html", title=f"No such {what}", message=(
        f"There is no {what} {shown(raw)!r}. Open it from its list instead.")), 404
