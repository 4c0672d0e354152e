"""The outbox in the panel: what is waiting, what went out, what failed and why."""
from flask import flash
from flask_admin.actions import action
from flask_admin.contrib.peewee.filters import FilterEqual
from peewee import JOIN

from models import OutboxMessage, User
from panel.base import IdFilter, PanelModelView, panel_actor, record_ids
from services.delivery import outbox
from services.delivery.html import visible_text

PREVIEW_CHARS = 80


def _preview(view, context, model, name):
    if model.commands is not None:  # services/chat/menus.py: no text, a menu update
        return "(their command menu, for their new role)"
    text = visible_text(model.text) if model.parse_mode == "HTML" else model.text
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


class OutboxView(PanelModelView):
    can_create = can_edit = can_delete = False
    simple_list_pager = True  # counting a million rows for a page number costs more than the page
    column_list = ["id", "recipient", "status", "text", "attempts", "last_error", "broadcast",
                   "next_attempt_at", "sent_at", "created_at"]
    # A phone: to whom, how it went, what.
    column_screens = {"id": "sm", "last_error": "md", "attempts": "lg", "next_attempt_at": "lg",
                      "sent_at": "lg", "broadcast": "xl", "created_at": "xl"}
    column_labels = {"text": "Message", "last_error": "Error", "broadcast": "Broadcast #",
                     "next_attempt_at": "Next try", "sent_at": "Sent",
                     "created_at": "Queued"}
    column_formatters = {
        "text": _preview,
        "recipient": lambda v, c, m, n: m.recipient.display_name,
        "broadcast": lambda v, c, m, n: m.broadcast_id or "",
    }
    column_default_sort = ("id", True)
    column_sortable_list = ["id", "status", "attempts", "next_attempt_at", "created_at"]
    column_filters = [FilterEqual(OutboxMessage.status, "Status",
                                  options=[(s, s) for s in outbox.STATUSES]),
                      IdFilter(OutboxMessage.broadcast, "Broadcast #")]
    column_details_list = ["id", "recipient", "status", "text", "parse_mode", "attempts",
                           "parts_sent", "last_error", "broadcast", "key", "claimed_by",
                           "claimed_at", "next_attempt_at", "sent_at", "created_at"]
    column_formatters_detail = {
        "recipient": lambda v, c, m, n: f"{m.recipient.display_name} (Telegram id {m.recipient.telegram_id})",
        "broadcast": lambda v, c, m, n: m.broadcast_id or "",
    }

    def get_query(self):
        return (OutboxMessage.select(OutboxMessage, User)
                .join(User, JOIN.LEFT_OUTER, on=OutboxMessage.recipient == User.id))

    @action("retry", "Retry", "Send the selected failed messages again?")
    def action_retry(self, ids):
        count = outbox.retry(panel_actor(), record_ids(ids))
        flash(f"{count} failed message{'s' * (count != 1)} will be sent again "
              "(only failed messages can be retried).", "success")

    @action("cancel", "Cancel", "Cancel the selected messages? They will not be sent.")
    def action_cancel(self, ids):
        count = outbox.cancel(panel_actor(), record_ids(ids))
        flash(f"Cancelled {count} message{'s' * (count != 1)} "
              "(only messages still waiting can be cancelled).", "success")
