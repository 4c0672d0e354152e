"""The follow-up rules see the shop's order events (issue 12): "completed → after 3 days
send review_request to the client", and conditions on the order's own fields."""
import datetime

from models import Activity, Message, OutboxMessage, Package, RuleAction
from services.core.actors import Actor
from services.followups import automation, rule_lines, rulebook
from services.shop import orders
from tests.shop.conftest import NOW, PANEL


def review_rule():
    return rulebook.create_rule(
        Actor.panel(), "Ask for a review", "order.status_changed",
        rule_lines.parse_conditions("order_status equals completed", "order.status_changed"),
        rule_lines.parse_actions("send_template review_request to client after 3d"))


def test_a_completed_order_asks_the_customer_for_a_review_three_days_later(customer, package,
                                                                          staff):
    rule = review_rule()
    actor, lead, profile = customer(tokens=300)
    order = orders.place(actor, lead.id, profile.id, package.id, now=NOW)
    orders.take(staff["olga"], order.id, now=NOW)
    assert not RuleAction.select().exists()   # assigned is no completion
    orders.complete(staff["olga"], order.id, now=NOW)
    action = RuleAction.get(RuleAction.rule == rule.id)
    assert action.due_at == NOW + datetime.timedelta(days=3) and action.lead_id == lead.id
    automation.run_due(now=NOW + datetime.timedelta(days=2))
    assert RuleAction.get_by_id(action.id).status == "pending"
    automation.run_due(now=NOW + datetime.timedelta(days=3, minutes=1))
    assert RuleAction.get_by_id(action.id).status == "done"
    asked = (Message.select().join(OutboxMessage)
             .where(Message.sender_kind == "rule").get())
    assert asked.text.startswith("Hi Zoë, your order with") and "How did it go?" in asked.text


def test_order_fields_in_conditions(customer, package, staff):
    rulebook.create_rule(
        Actor.panel(), "Big first orders", "order.created",
        rule_lines.parse_conditions("order_package greater_than 500\norder_price greater_than 400",
                               "order.created"),
        rule_lines.parse_actions('create_activity call "Thank them for a big order" assign round_robin'))
    rulebook.create_rule(
        Actor.panel(), "Cancelled while queued", "order.status_changed",
        rule_lines.parse_conditions("order_status equals cancelled\nfrom_order_status in pending, processing",
                               "order.status_changed"),
        rule_lines.parse_actions('create_activity call "Ask why they cancelled"'))
    actor, lead, profile = customer(tokens=5000)
    small = orders.place(actor, lead.id, profile.id, package.id, now=NOW)
    big = orders.place(PANEL, lead.id, profile.id,
                       Package.get(Package.code == "sites_850").id, now=NOW)
    orders.cancel(PANEL, small.id, now=NOW)
    orders.take(staff["olga"], big.id, now=NOW)
    orders.cancel(PANEL, big.id, now=NOW)            # from assigned: not the second rule's
    assert sorted(a.subject for a in Activity.select()) == [
        "Ask why they cancelled", "Thank them for a big order"]
