"""Activities in the panel: every call, meeting and note, filterable, read-only here.

Logging and completing happen on each lead's pipeline page, through
services.crm.activities, so the follow-up rules see them.
"""
from flask_admin import expose
from flask_admin.contrib.peewee.filters import FilterEqual
from peewee import JOIN

from models import ACTIVITY_TYPES, OUTCOMES, Activity, FollowUpRule, Lead, User, utcnow
from panel.base import NOBODY, MemberFilter, PanelModelView, lead_link

STATES = [("open", "open"), ("overdue", "overdue"), ("done", "done")]
Assignee = User.alias()


class StateFilter(FilterEqual):
    def apply(self, query, value):
        if value == "done":
            return query.where(Activity.completed_at.is_null(False))
        query = query.where(Activity.completed_at.is_null())
        return query.where(Activity.due_at < utcnow()) if value == "overdue" else query

    def validate(self, value):
        return value in dict(STATES)


class ActivityView(PanelModelView):
    can_create = can_edit = can_delete = False  # logged and completed on the lead's page
    simple_list_pager = True  # a busy team makes many; counting them all costs more than the page
    list_template = "activity_list.html"
    column_list = ["id", "lead", "type", "subject", "assigned_to", "due_at", "completed_at",
                   "outcome", "rule"]
    # A phone: which lead, what, when.
    column_screens = {"id": "sm", "type": "md", "assigned_to": "md", "completed_at": "lg",
                      "outcome": "lg", "rule": "xl"}
    column_details_list = ["id", "lead", "type", "subject", "description", "assigned_to",
                           "created_by", "rule", "scheduled_at", "due_at", "completed_at",
                           "completed_by", "outcome", "reminded_at", "overdue_notified_at",
                           "created_at"]
    column_labels = {"id": "#", "assigned_to": "Assigned to", "due_at": "Due",
                     "completed_at": "Completed", "rule": "Created by rule",
                     "reminded_at": "Reminder sent", "overdue_notified_at": "Overdue notice sent"}
    column_default_sort = ("id", True)
    column_sortable_list = ["id", "type", "due_at", "completed_at", "outcome"]
    column_searchable_list = ["subject"]
    column_filters = [
        FilterEqual(Activity.type, "Type", options=[(t, t.replace("_", " ")) for t in ACTIVITY_TYPES]),
        FilterEqual(Activity.outcome, "Outcome", options=[(o, o.replace("_", " ")) for o in OUTCOMES]),
        MemberFilter(Activity.assigned_to, "Assigned to", empty=(NOBODY, "Nobody")),
        StateFilter(Activity.completed_at, "State", options=STATES),
    ]
    column_formatters = {
        "lead": lead_link,
        "assigned_to": lambda v, c, m, n: m.assigned_to.display_name if m.assigned_to_id else "—",
        "rule": lambda v, c, m, n: m.rule.name if m.rule_id else "",
        "type": lambda v, c, m, n: m.type.replace("_", " "),
        "outcome": lambda v, c, m, n: (m.outcome or "").replace("_", " "),
    }
    column_formatters_detail = {
        **column_formatters,
        "created_by": lambda v, c, m, n: (m.created_by.display_name if m.created_by_id
                                          else "admin panel or a rule"),
        "completed_by": lambda v, c, m, n: m.completed_by.display_name if m.completed_by_id else "",
    }

    def get_query(self):
        # Lead, assignee and rule in the same query: no query per row.
        return (Activity.select(Activity, Lead, Assignee, FollowUpRule)
                .join(Lead, on=(Activity.lead == Lead.id)).switch(Activity)
                .join(Assignee, JOIN.LEFT_OUTER, on=(Activity.assigned_to == Assignee.id)).switch(Activity)
                .join(FollowUpRule, JOIN.LEFT_OUTER, on=(Activity.rule == FollowUpRule.id)))

    @expose("/")
    def index_view(self):
        self._refresh_filters_cache()  # the team as of now, not as at start
        return super().index_view()
