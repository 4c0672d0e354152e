"""The words of the follow-up rules: the events a rule may name, the fields its conditions
may test (and for which events), the operators, the actions and the notification
templates, and the limits on each. services/followups/rules.py reads and writes rules
in these words; the panel's rule reference lists them."""
from dataclasses import dataclass

from models import (
    ACTIVITY_TYPES,
    LEAD_STAGES,
    ORDER_STATUSES,
    OUTCOMES,
    PRIORITIES,
    SALES_STAGES,
    SOURCES,
)

EVENTS = {
    "lead.created": "a lead is added (chat, admin panel)",
    "lead.stage_changed": "a lead or sale moves to another stage",
    "activity.completed": "an activity is marked done",
    "quote.sent": "a quote_sent activity is done (logged as done, or marked done)",
    "lead.stale": "a lead has had no activity for STALE_DAYS days",
    "message.received": "a client writes to the team (their message is in the conversation)",
    "order.created": "a customer orders a package (the shop; the lead is the customer)",
    "order.status_changed": "an order moves to another status (the shop)",
}
ALL_EVENTS = frozenset(EVENTS)
_ORDER_EVENTS = frozenset({"order.created", "order.status_changed"})


@dataclass(frozen=True)
class Field:
    label: str
    kind: str                    # choice, text, number or member
    choices: tuple = ()
    events: frozenset = ALL_EVENTS


FIELDS = {
    "source": Field("Lead source", "choice", SOURCES),
    "stage": Field("Lead stage (now)", "choice", LEAD_STAGES),
    "sales_stage": Field("Sales stage (now; empty before transfer)", "choice", SALES_STAGES),
    "priority": Field("Lead priority", "choice", PRIORITIES),
    "business_domain": Field("Business domain", "text"),
    "country": Field("Country code", "text"),
    "value": Field("Deal value", "number"),
    "score": Field("Latest advisory score (0-1)", "number"),
    "days_since_created": Field("Days since the lead was added", "number"),
    "owner": Field("Lead owner (member id)", "member"),
    "activities_done_since_event": Field(
        "Activities completed on the lead since the event", "number"),
    "messages_received_since_event": Field(
        "Messages the client wrote since the event", "number"),
    "message_text": Field("What the client wrote", "text", events=frozenset({"message.received"})),
    "pipeline": Field("Which pipeline changed: lead or sales", "choice", ("lead", "sales"),
                      frozenset({"lead.stage_changed"})),
    "from_stage": Field("Stage before the change", "choice",
                        tuple(dict.fromkeys(LEAD_STAGES + SALES_STAGES)),
                        frozenset({"lead.stage_changed"})),
    "to_stage": Field("Stage after the change", "choice",
                      tuple(dict.fromkeys(LEAD_STAGES + SALES_STAGES)),
                      frozenset({"lead.stage_changed"})),
    "activity_type": Field("Type of the activity", "choice", ACTIVITY_TYPES,
                           frozenset({"activity.completed", "quote.sent"})),
    "outcome": Field("Outcome of the activity", "choice", OUTCOMES,
                     frozenset({"activity.completed"})),
    "days_without_activity": Field("Days without any activity", "number",
                                   events=frozenset({"lead.stale"})),
    "order_status": Field("The order's status (after the change)", "choice", ORDER_STATUSES,
                          _ORDER_EVENTS),
    "from_order_status": Field("The order's status before the change", "choice", ORDER_STATUSES,
                               frozenset({"order.status_changed"})),
    "order_package": Field("Sites in the ordered package", "number", events=_ORDER_EVENTS),
    "order_price": Field("Tokens the order cost", "number", events=_ORDER_EVENTS),
}

# operator: the field kinds it applies to, and what its value is
OPERATORS = {
    "equals": ("choice text number member", "one"),
    "not_equals": ("choice text number member", "one"),
    "contains": ("text", "one"),
    "greater_than": ("number", "one"),
    "less_than": ("number", "one"),
    "in": ("choice text member", "list"),
    "not_in": ("choice text member", "list"),
    "is_present": ("choice text number member", "none"),
    "is_not_present": ("choice text number member", "none"),
}

ACTIONS = {
    "create_activity": 'create_activity <type> "<subject>" [assign lead_owner|round_robin|member:<id>]',
    "send_notification": "send_notification <template> [to lead_owner|team|admins|member:<id>]",
    "update_stage": "update_stage lead|sales <stage>",
    "assign": "assign round_robin|round_robin_if_unowned|member:<id>",
    "send_template": "send_template <message template> to client",
}
TEMPLATES = {
    "deal_won": "🎉 Deal won: lead #{lead_id} {lead_name} is paid (owner: {owner}).",
    "urgent_lead": "🚨 Urgent lead #{lead_id} {lead_name}, {lead_phone}: call now (owner: {owner}).",
    "referral_lead": "Referral lead #{lead_id} {lead_name} is yours: call them and thank "
                     "whoever referred them.",
    "lead_lost": "Lead #{lead_id} {lead_name} was lost.",
    "stale_lead": "Lead #{lead_id} {lead_name} has had no activity for a while (owner: {owner}).",
    "stage_changed": "Lead #{lead_id} {lead_name} is now at stage {stage}.",
}
ACTIVITY_ASSIGNEES = ("lead_owner", "round_robin")
RECIPIENTS = ("lead_owner", "team", "admins")
ASSIGN_TARGETS = ("round_robin", "round_robin_if_unowned")
RULE_ACTIVITY_TYPES = tuple(t for t in ACTIVITY_TYPES if t != "status_change")
MAX_CONDITIONS, MAX_ACTIONS = 20, 10
MAX_DELAY_MINUTES = 366 * 24 * 60
MAX_SUBJECT = 200
MAX_NUMBER = 10**12
MIN_PRIORITY, MAX_PRIORITY = -1000, 1000
