"""The outbox in the panel: what is waiting, what went out, what failed and why, on every
channel (a Telegram chat, an email address, a phone number for SMS or WhatsApp)."""
from flask import flash
from flask_admin.actions import action
from flask_admin.contrib.peewee.filters import FilterEqual
from peewee import JOIN

from models import OutboxMessage, User
from panel.base import IdFilter, PanelModelView, local_time, panel_actor, record_ids
from services.crm.validation import display_phone
from services.delivery import outbox
from services.delivery.channels import EMAIL, LABELS, TELEGRAM
from services.delivery.html import visible_text

PREVIEW_CHARS = 80


def _preview(view, context, model, name):
    if model.commands is not None:  # services/chat/menus.py: no text, a menu update
        return "(their command menu, for their new role)"
    text = visible_text(model.text) if model.parse_mode == "HTML" else model.text
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def _recipient(view, context, model, name):
    """The Telegram user a row goes to; an email, SMS or WhatsApp row has none."""
    return model.recipient.display_name if model.recipient_id else ""


def _recipient_detail(view, context, model, name):
    if not model.recipient_id:
        return ""
    return f"{model.recipient.display_name} (Telegram id {model.recipient.telegram_id})"


def _address(view, context, model, name):
    if model.channel in (TELEGRAM, EMAIL) or not model.address:
        return model.address or ""
    return display_phone(model.address)


def _channel(view, context, model, name):
    return LABELS.get(model.channel, model.channel)


def _provider_status(view, context, model, name):
    if not model.provider_status:
        return ""
    return f"{model.provider_status} ({local_time(model.provider_status_at)})" \
        if model.provider_status_at else model.provider_status


class OutboxView(PanelModelView):
    can_create = can_edit = can_delete = False
    simple_list_pager = True  # counting a million rows for a page number costs more than the page
    column_list = ["id", "recipient", "channel", "address", "status", "text", "attempts",
                   "last_error", "broadcast", "next_attempt_at", "sent_at", "created_at"]
    # A phone: to whom, how it went, what.
    column_screens = {"id": "sm", "channel": "sm", "address": "md", "last_error": "md",
                      "attempts": "lg", "next_attempt_at": "lg", "sent_at": "lg",
                      "broadcast": "xl", "created_at": "xl"}
    column_labels = {"text": "Message", "last_error": "Error", "broadcast": "Broadcast #",
                     "next_attempt_at": "Next try", "sent_at": "Sent",
                     "created_at": "Queued", "provider_id": "Provider's id",
                     "provider_status": "Provider's report"}
    column_formatters = {
        "text": _preview,
        "recipient": _recipient,
        "channel": _channel,
        "address": _address,
        "broadcast": lambda v, c, m, n: m.broadcast_id or "",
    }
    column_default_sort = ("id", True)
    column_sortable_list = ["id", "status", "attempts", "next_attempt_at", "created_at"]
    column_filters = [FilterEqual(OutboxMessage.status, "Status",
                                  options=[(s, s) for s in outbox.STATUSES]),
                      IdFilter(OutboxMessage.broadcast, "Broadcast #"),
                      # Last: links and bookmarks name filters by their place.
                      FilterEqual(OutboxMessage.channel, "Channel", options=list(LABELS.items()))]
    column_details_list = ["id", "recipient", "channel", "address", "status", "text",
                           "parse_mode", "attempts", "parts_sent", "last_error", "provider_id",
                           "provider_status", "broadcast", "key", "claimed_by", "claimed_at",
                           "next_attempt_at", "sent_at", "created_at"]
    column_formatters_detail = {
        "recipient": _recipient_detail,
        "channel": _channel,
        "address": _address,
        "provider_status": _provider_status,
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
