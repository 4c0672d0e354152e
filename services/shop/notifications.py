"""Tells customers in their conversation what happened to their orders and wallet: an
order someone on the team placed for them, each change of an order's status, and an
admin's change of their balance. An order the customer placed themselves is confirmed
by the chat that took it, so it is not announced twice.

The notices are queued in the transaction of the change (as a system message of the
conversation, delivered by the outbox), so a change rolled back tells nobody. A customer
who cannot be reached (no Telegram chat, blocked the bot, /stop) misses the notice;
the order goes ahead.
"""
import uuid

from models import User
from services.core import events
from services.core.actors import Actor
from services.delivery import outbox
from services.inbox import sending
from services.shop import messages, queue

SENDER = Actor.system("shop")


def on_order_created(event):
    order = event.data["order"]
    # Operators who want them hear of every new order (the outbox's batch sends it).
    operators = User.team().where(User.role == "operator", User.notify == True,  # noqa: E712
                                  User.unreachable == False)  # noqa: E712
    outbox.enqueue_for(operators, f"order:{order.id}:to:", messages.new_order_alert(order))
    if event.actor.kind != "client":
        sending.tell(SENDER, event.data["lead"], messages.order_created(order, queue.position(order)),
              event.data.get("now"))
    return None


def on_status_changed(event):
    order = event.data["order"]
    text = messages.status_changed(order, order.status, position=queue.position(order),
                                   refunded=event.data.get("refunded", 0))
    sending.tell(SENDER, event.data["lead"], text, event.data.get("now"))
    if order.status == "assigned" and order.operator_id != event.actor.user_id:
        # Given to an operator by someone else (an admin, the panel): they must hear of it.
        outbox.enqueue(f"order:{order.id}:given:{uuid.uuid4().hex}", order.operator_id,
                       messages.order_given(order, event.actor.label))
    return None


def on_wallet_adjusted(event):
    sending.tell(SENDER, event.data["lead"], messages.wallet_adjusted(
        event.data["amount"], event.data["reason"], event.changes["balance"][1]),
        event.data.get("now"))
    return None


HANDLERS = {"order.created": on_order_created, "order.status_changed": on_status_changed,
            "wallet.adjusted": on_wallet_adjusted}


def register():
    for name, handler in HANDLERS.items():
        events.subscribe(name, handler)

