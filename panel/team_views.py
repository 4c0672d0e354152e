"""People who started the bot, and the team among them: role, notifications,
reachability. Changes go through services.crm.team, which keeps the last admin."""
from flask import current_app, flash
from flask_admin.actions import action
from flask_admin.contrib.peewee.filters import FilterEqual
from wtforms import BooleanField, SelectChoice, SelectField

from models import ROLES, User
from panel.base import PanelModelView, for_each_record, panel_actor
from services.crm import team

NOT_ON_TEAM = ""


class RoleFilter(FilterEqual):
    def apply(self, query, value):
        return query.where(User.role.is_null() if value == NOT_ON_TEAM else User.role == value)


def member_form(base):
    class MemberForm(base):
        role = SelectField("Role", choices=[SelectChoice(r) for r in ROLES]
                           + [SelectChoice(NOT_ON_TEAM, "Not on the team")],
                           description="Who is on the team, and what they may do in the bot")
        notify = BooleanField("Gets lead notifications")
    return MemberForm


class MemberView(PanelModelView):
    can_create = False   # people join by starting the bot
    can_delete = False   # take them off the team instead; their history stays
    column_list = ["id", "name", "username", "telegram_id", "role", "notify", "unreachable",
                   "unreachable_reason", "joined_at", "created_at"]
    column_screens = {"id": "sm", "username": "md", "telegram_id": "lg", "notify": "md",
                      "unreachable": "md", "unreachable_reason": "lg", "joined_at": "xl",
                      "created_at": "xl"}  # a phone: who and their role
    column_labels = {"notify": "Notifications", "unreachable_reason": "Why unreachable",
                     "created_at": "First /start", "joined_at": "Joined team"}
    column_formatters = {"name": lambda v, c, m, n: m.display_name,
                         "role": lambda v, c, m, n: m.role or "—"}
    column_default_sort = [("role", False), ("id", False)]
    column_sortable_list = ["id", "role", "telegram_id", "joined_at", "created_at"]
    column_searchable_list = ["first_name", "last_name", "username"]
    column_filters = [
        RoleFilter(User.role, "Role", options=[(r, r) for r in ROLES] + [(NOT_ON_TEAM, "not on team")]),
        "notify", "unreachable",
    ]

    def scaffold_form(self):
        return member_form(self.form_base_class)

    def on_form_prefill(self, form, id):
        form.role.data = form.role.data or NOT_ON_TEAM

    def update_model(self, form, model):
        admin_ids = current_app.extensions["leadgram"].settings.admin_telegram_ids
        try:  # role and notifications: one service call, all or nothing
            team.edit_member(panel_actor(), model.id, form.role.data or None, form.notify.data,
                             admin_ids=admin_ids)
        except team.TeamError as exc:
            return self.field_error(form, "role", str(exc))
        return True

    @action("deactivate", "Take off the team",
            "Take the selected people off the team? Their open leads and activities are shared "
            "out among the salespeople (round robin), who are told; they keep their history and "
            "can be invited again.")
    def action_deactivate(self, ids):
        admin_ids = current_app.extensions["leadgram"].settings.admin_telegram_ids
        done, refused = for_each_record(
            ids, lambda member_id: team.change_role(panel_actor(), member_id, None, admin_ids),
            refused=team.TeamError)
        for message in refused:
            flash(message, "error")
        flash(f"Took {done} {'person' if done == 1 else 'people'} off the team.", "success")

    @action("reachable", "Mark reachable",
            "Try messaging the selected people again? (Leadgram also does this when they write to the bot.)")
    def action_reachable(self, ids):
        marked, _ = for_each_record(ids, lambda member_id: team.mark_reachable(panel_actor(), member_id),
                                    skipped=team.TeamError)  # removed meanwhile, or a forged id
        flash(f"Marked {marked} reachable.", "success")
