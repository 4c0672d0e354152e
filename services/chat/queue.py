"""The operators' order queue in chat (SHOP on): /queue with Take buttons and the orders
an operator has taken, and an order's card: the customer's profile (password masked),
Show password, Complete, Add note and Release.

Complete and Add note ask for the note in a one-step dialogue (flow "order_note"): the
next message is the note, /skip completes without one.
"""
from models import QUEUED_ORDER_STATUSES, db
from services.chat import buttons, dialogues
from services.chat.replies import Reply
from services.core.actors import Actor
from services.core.clock import local_time
from services.core.markup import h
from services.core.policy import current as policy
from services.crm.access import AccessDenied
from services.shop import messages as shop_messages, orders, profiles

OPERATE_ROLES = ("operator", "admin")
QUEUE_SIZE = 10
NOTES_SHOWN = 1500        # characters of the newest notes on a card: it stays one message
QUEUE_BUTTON = ("◀ Queue", buttons.encode("op", action="queue"))
NOT_WRITING = Reply("You are not writing an order note. /queue shows the orders.")
NOTE = dialogues.Dialogue(
    flow="order_note", steps=("writing",),
    ask=lambda step, values, note="": _ask(values, note),
    inactive=NOT_WRITING, cancelled="Cancelled. The order is as it was.",
    doing="writing an order note")


def require_operator(user):
    if user.role not in OPERATE_ROLES:
        raise AccessDenied(shop_messages.ONLY_OPERATORS)


def _extra(order):
    return " + email confirmation" if order.email_confirmation else ""


def _when(moment):
    return local_time(moment, policy().timezone)


def show(ctx, user, replace=False):
    """/queue: the next orders waiting, each with Take, then the ones the operator has."""
    require_operator(user)
    waiting = orders.queue(limit=QUEUE_SIZE)
    lines = ["📋 <b>Order queue</b>" + (f" (the next {len(waiting)})" if waiting else "")]
    rows = []
    for place, order in enumerate(waiting, 1):
        star = "⭐ " if order.priority else ""
        lines.append(f"{place}. {star}#{order.id} {h(order.package_name)}{_extra(order)} · "
                     f"{h(order.lead.full_name)} · since {_when(order.created_at)}")
        rows.append([(f"✋ Take #{order.id}", buttons.encode("op", action="take", order_id=order.id)),
                     (f"📂 #{order.id}", buttons.encode("op", action="open", order_id=order.id))])
    if not waiting:
        lines.append("Nothing is waiting.")
    mine = orders.taken_by(user.id)
    if mine:
        lines += ["", "<b>Your orders</b>"]
    for order in mine:
        lines.append(f"#{order.id} {h(order.package_name)}{_extra(order)} · "
                     f"{h(order.lead.full_name)} · taken {_when(order.assigned_at)}")
        rows.append([(f"📂 Your #{order.id}", buttons.encode("op", action="open", order_id=order.id))])
    rows.append([("🔄 Refresh", buttons.encode("op", action="queue"))])
    return Reply("\n".join(lines), rows, replace=replace)


def pressed(ctx, user, action, order_id=None):
    """An op:<action>:<order> button (on_button has checked the role)."""
    if action == "queue":
        return show(ctx, user, replace=True)
    actor = Actor.member(user)
    try:
        if action == "take":
            return _take(ctx, user, actor, order_id)
        if action == "open":
            return card(user, orders.require(actor, order_id))
        if action == "reveal":
            password = orders.reveal_password(actor, order_id)
            shown = (f"🔑 Password: <code>{h(password)}</code> (seeing it is logged)"
                     if password else "This profile has no password.")
            return card(user, orders.require(actor, order_id), shown)
        if action == "release":
            order = orders.release(actor, order_id, now=ctx.clock())
            return Reply(f"↩️ Order #{order.id} is back in the queue.", [[QUEUE_BUTTON]], replace=True)
        order = orders.require(actor, order_id)
        if order.status != "assigned":
            return card(user, order, f"Order #{order.id} is {order.status}: nothing to "
                                     f"{'complete' if action == 'complete' else 'note'} now.")
        values = {"order_id": order.id, "action": action}
        NOTE.go(user, "writing", values)
        return _ask(values)
    except orders.OrderError as exc:
        return Reply(h(str(exc)), [[QUEUE_BUTTON]], replace=True)


def _take(ctx, user, actor, order_id):
    try:
        order = orders.take(actor, order_id, now=ctx.clock())
    except orders.AlreadyTaken as exc:
        if exc.operator.id == user.id:
            return card(user, orders.require(actor, order_id), f"Order #{order_id} is already yours.")
        return Reply(f"Too late: {h(exc.operator.display_name)} already took order #{order_id}.",
                     [[QUEUE_BUTTON]], replace=True)
    return card(user, order, f"✋ Order #{order.id} is yours now.")


def card(user, order, note=""):
    """The order for the operator doing it (or an admin): the profile with the password
    masked, the notes, and what may be done with it now."""
    lines = ([note, ""] if note else []) + [
        f"📂 <b>Order #{order.id}</b> · {order.status}" + (" · ⭐ priority" if order.priority else ""),
        f"{h(order.package_name)}{_extra(order)} · {order.price} tokens",
        f"Customer: {h(order.lead.full_name)} (client #{order.lead_id})",
        f"Ordered: {_when(order.created_at)}",
        "", "<b>Profile</b>",
        *(h(line) for line in profiles.summary_lines(order.profile))]
    notes = order.notes.strip()
    if notes:
        shown = notes if len(notes) <= NOTES_SHOWN else "…" + notes[-NOTES_SHOWN:]
        lines += ["", "<b>Notes</b>", h(shown)]
    rows = []
    if order.status == "assigned" and (order.operator_id == user.id or user.role == "admin"):
        rows += [[("🔑 Show password", _op("reveal", order)), ("✅ Complete", _op("complete", order))],
                 [("📝 Add note", _op("note", order)), ("↩️ Release", _op("release", order))]]
    elif order.status in QUEUED_ORDER_STATUSES:
        rows.append([("✋ Take", _op("take", order))])
    rows.append([QUEUE_BUTTON])
    return Reply("\n".join(lines), rows, replace=True)


def _op(action, order):
    return buttons.encode("op", action=action, order_id=order.id)


# The note dialogue --------------------------------------------------------------------

def _ask(values, note=""):
    prefix = f"{note}\n\n" if note else ""
    if values["action"] == "complete":
        return Reply(f"{prefix}✅ Completing order #{values['order_id']}: send a note to keep "
                     f"with it (what was done), or /skip for none. /cancel stops.")
    return Reply(f"{prefix}📝 Send the note for order #{values['order_id']}. /cancel stops.")


def answer(ctx, user, text):
    """The note being asked for; None when no order note is being written."""
    state = NOTE.get(user)
    if state is None:
        return None
    values = dialogues.data(state)
    text = text.strip()
    if not 1 <= len(text) <= orders.MAX_NOTE:
        return _ask(values, h(shop_messages.BAD_NOTE.format(limit=orders.MAX_NOTE)))
    return _finish(ctx, user, values, text)


def skip(ctx, user, args):
    """/skip: complete without a note (an Add note is simply dropped)."""
    require_operator(user)
    state = NOTE.get(user)
    if state is None:
        return [Reply("There is nothing to skip.")]
    values = dialogues.data(state)
    if values["action"] != "complete":
        NOTE.end(user)
        return [Reply("No note was added.", [[QUEUE_BUTTON]])]
    return [_finish(ctx, user, values, "")]


def _finish(ctx, user, values, text):
    """Complete the order or add the note, and end the dialogue with it; an order that
    moved on meanwhile ends it too, saying why."""
    actor, order_id = Actor.member(user), values["order_id"]
    try:
        with db.atomic():
            if values["action"] == "complete":
                order = orders.complete(actor, order_id, note=text, now=ctx.clock())
                done = f"✅ Order #{order.id} is complete; the customer is told."
            else:
                order = orders.add_note(actor, order_id, text, now=ctx.clock())
                done = "📝 Note added."
            NOTE.end(user)
    except orders.OrderError as exc:
        NOTE.end(user)
        return Reply(f"{h(str(exc))} Nothing was saved.", [[QUEUE_BUTTON]])
    if order.status == "completed":
        return Reply(done, [[QUEUE_BUTTON]])
    return card(user, order, done)
