"""The audit log in the panel: every write, who made it and what changed; newest first,
filtered by record, actor and day, exported as CSV."""
import datetime

from flask import current_app
from flask_admin.contrib.peewee.filters import FilterEqual, FilterGreater, FilterLike
from markupsafe import Markup, escape

from models import AuditEntry
from panel.base import IdFilter, PanelModelView
from services.core import audit, clock

ENTITIES = ("lead", "activity", "lead_score", "user", "invite", "follow_up_rule", "broadcast",
            "outbox", "rule_action", "conversation", "template", "panel_session", "order",
            "customer_profile", "package", "wallet", "payment")
ACTOR_KINDS = (("member", "Team member"), ("client", "Client"), ("panel", "Admin panel"),
               ("rule", "Rule"),
               ("job", "Scheduled job"), ("system", "Leadgram"))


class LocalDayFilter(FilterGreater):
    """From (or, with `before`, up to) the start of a day typed as YYYY-MM-DD in the
    team's zone; anything else is refused with a message, as Flask-Admin does."""

    def __init__(self, column, name, before=False):
        super().__init__(column, name)
        self.before = before

    def validate(self, value):
        try:
            datetime.date.fromisoformat(value.strip())
        except ValueError:
            return False
        return True

    def clean(self, value):
        day = datetime.date.fromisoformat(value.strip())
        zone = current_app.extensions["leadgram"].settings.timezone
        return clock.utc_midnight(day, zone, days_later=1 if self.before else 0)

    def apply(self, query, value):
        return query.where(self.column < value if self.before else self.column >= value)

    def operation(self):
        return "up to and including (YYYY-MM-DD)" if self.before else "from (YYYY-MM-DD)"


def _changes_html(view, context, model, name):
    rows = [Markup("<li><code>{}</code>: {} → {}</li>").format(
                field, audit.shown_value(before), audit.shown_value(after))
            for field, (before, after) in audit.changes_of(model).items()]
    return Markup('<ul class="list-unstyled mb-0">{}</ul>').format(Markup("").join(rows))


def _record(view, context, model, name):
    if model.entity_id is None:
        return model.entity
    return Markup("{} #{}").format(model.entity, model.entity_id)


class AuditView(PanelModelView):
    can_create = can_edit = can_delete = False
    can_export = True
    export_types = ["csv"]
    simple_list_pager = True  # no count of a table that only grows
    column_list = ["at", "actor_label", "event", "entity", "changes"]
    column_screens = {"entity": "md", "changes": "md"}  # a phone: when, who, what
    column_labels = {"at": "When", "actor_label": "Who", "event": "What", "entity": "Record",
                     "changes": "Changes (before → after)", "actor_kind": "Who (kind)",
                     "actor_ref": "Who (member id, login, rule id or job)",
                     "entity_id": "Record #"}
    column_formatters = {"changes": _changes_html, "entity": _record,
                         "event": lambda v, c, m, n: escape(m.event.replace("_", " "))}
    column_export_list = ["at", "actor_kind", "actor_ref", "actor_label", "event", "entity",
                          "entity_id", "changes"]
    column_formatters_export = {"changes": lambda v, c, m, n: audit.described(m),
                                "at": lambda v, c, m, n: m.at.isoformat(sep=" ")}
    column_default_sort = [("at", True), ("id", True)]
    column_sortable_list = ["at"]
    column_filters = [
        FilterEqual(AuditEntry.entity, "Record type", options=[(e, e) for e in ENTITIES]),
        IdFilter(AuditEntry.entity_id, "Record #"),
        FilterEqual(AuditEntry.actor_kind, "Who (kind)", options=ACTOR_KINDS),
        FilterLike(AuditEntry.actor_label, "Who (name)"),
        FilterEqual(AuditEntry.event, "What"),
        LocalDayFilter(AuditEntry.at, "Day"),
        LocalDayFilter(AuditEntry.at, "Day", before=True),
    ]
    column_details_list = ["id", "at", "actor_kind", "actor_ref", "actor_label", "event",
                           "entity", "entity_id", "changes"]
    column_formatters_detail = {"changes": _changes_html}
