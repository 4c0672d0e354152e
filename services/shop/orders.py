"""Orders: a customer orders a package for one of their profiles, paid in tokens, and
operators fulfil it from the queue.

    pending    -> processing | assigned (an operator takes it) | cancelled
    processing -> assigned | pending | cancelled
    assigned   -> completed | processing (released to the queue) | cancelled
    completed, cancelled: final

Placing an order debits the wallet and cancelling refunds it, each in the transaction
of the order's change. Every change of status is one conditional UPDATE on the status
it had (as services/crm/pipeline.change_stage does), so two people pressing at once
change it once, and emits order.status_changed (the audit log, the rules, the
customer's notice). The queue itself (order, position, moving) is services/shop/queue.py.
"""
import datetime

from models import QUEUED_ORDER_STATUSES, CustomerProfile, Lead, Order, User, db, utcnow
from services.core import events
from services.core.inputs import plain_text
from services.delivery.channels import TELEGRAM
from services.inbox import consent
from services.shop import catalogue, messages, wallet
from services.shop.access import client_lead_id, is_admin, is_operator
from services.shop.queue import position, queue, swap, taken_by  # noqa: F401 - this API too

TRANSITIONS = {
    "pending": ("processing", "assigned", "cancelled"),
    "processing": ("assigned", "pending", "cancelled"),
    "assigned": ("completed", "processing", "cancelled"),
    "completed": (),
    "cancelled": (),
}
FINAL = ("completed", "cancelled")
MAX_NOTE = 2000
BULK_ACTIONS = ("assign", "cancel")
MAX_BULK = 500
DIRECTIONS = ("up", "down")


class OrderError(ValueError):
    """An order request refused; the message says why in plain English."""


class NoSuchOrder(OrderError):
    def __init__(self, order_id):
        super().__init__(messages.NO_SUCH_ORDER.format(id=order_id))
        self.order_id = order_id


class OrderNotAllowed(OrderError):
    pass


class PriceChanged(OrderError):
    """The price is not the one the customer confirmed; `quote` is today's."""

    def __init__(self, quote, expected):
        super().__init__(messages.PRICE_CHANGED.format(price=quote.price, expected=expected))
        self.quote, self.expected = quote, expected


class AlreadyPlaced(OrderError):
    """The confirmation was pressed before and placed `order`."""

    def __init__(self, order):
        super().__init__(messages.ALREADY_PLACED.format(id=order.id))
        self.order = order


class AlreadyTaken(OrderError):
    """Another operator took the order first: `operator` (a User)."""

    def __init__(self, order_id, operator):
        super().__init__(messages.ALREADY_TAKEN.format(id=order_id, operator=operator.display_name))
        self.order_id, self.operator = order_id, operator


def place(actor, lead_id, profile_id, package_id, email_confirmation=False, expected_price=None,
          now=None, request_key=None):
    """Order a package for one of the customer's profiles and pay for it: PriceChanged
    when the price is no longer the one the customer confirmed, InsufficientTokens when
    the balance does not cover it (then no order is made), AlreadyPlaced when the
    confirmation `request_key` names placed one already."""
    if actor.kind == "client":
        if client_lead_id(actor) != lead_id:
            raise OrderNotAllowed(messages.NOT_YOUR_CUSTOMER)
    elif not is_admin(actor):
        raise OrderNotAllowed(messages.ONLY_CUSTOMERS_ORDER)
    with db.atomic():
        return _place(actor, lead_id, profile_id, package_id, email_confirmation, expected_price,
                      now or utcnow(), request_key=request_key)


def rerun(actor, order_id, free=False, now=None, expected_price=None, request_key=None):
    """A completed order again, as a new order at today's price (free of charge only when
    an admin says so); PriceChanged and AlreadyPlaced as place() has them."""
    if free and not is_admin(actor):
        raise OrderNotAllowed(messages.ONLY_ADMINS_FREE)
    if actor.kind != "client" and not is_admin(actor):
        raise OrderNotAllowed(messages.ONLY_CUSTOMERS_ORDER)
    with db.atomic():
        original = require(actor, order_id)
        if original.status != "completed":
            raise OrderNotAllowed(messages.RERUN_NOT_COMPLETED.format(id=original.id,
                                                                      status=original.status))
        return _place(actor, original.lead_id, original.profile_id, original.package_id,
                      original.email_confirmation, expected_price, now or utcnow(),
                      rerun_of=original, request_key=request_key,
                      free=free)


def _place(actor, lead_id, profile_id, package_id, email_confirmation, expected_price, now,
           rerun_of=None, free=False, request_key=None):
    if request_key is not None:
        placed = Order.get_or_none(Order.request_key == request_key)
        if placed is not None:
            raise AlreadyPlaced(placed)
    lead = Lead.get_or_none(Lead.id == lead_id)
    if lead is None:
        raise OrderError(messages.NO_SUCH_CUSTOMER.format(id=lead_id))
    profile = CustomerProfile.get_or_none(CustomerProfile.id == profile_id,
                                          CustomerProfile.lead == lead.id,
                                          CustomerProfile.deleted_at.is_null())
    if profile is None:
        raise OrderNotAllowed(messages.NO_SUCH_PROFILE)
    quote = catalogue.quote(lead.id, package_id, email_confirmation, now)
    price = 0 if free else quote.price
    if expected_price is not None and expected_price != price:
        raise PriceChanged(quote, expected_price)
    order = Order.create(
        lead=lead, profile=profile, package=quote.package, package_name=quote.package.name,
        sites=quote.package.sites, email_confirmation=quote.email_confirmation, price=price,
        subscriber_price=quote.subscriber and not free, status="pending",
        priority=quote.subscriber, queue_rank=now.replace(tzinfo=datetime.timezone.utc).timestamp(),
        rerun_of=rerun_of, created_by_kind=actor.kind, request_key=request_key, created_at=now,
        updated_at=now)
    if actor.kind == "client":  # ordering is writing to us again after a /stop: they hear of it
        consent.opt_in(actor, lead, TELEGRAM, actor.user.telegram_id)
    if price:
        wallet.move(actor, lead.id, "order", -price,
                    reference=messages.ORDER_REFERENCE.format(id=order.id), order=order, now=now)
    events.emit("order.created", actor, "order", order.id, events.created(order), lead=lead,
                order=order, now=now, fields={"order_status": "pending", "order_package": order.sites,
                                              "order_price": price})
    return order


def require(actor, order_id):
    """The order, if `actor` may see it: a client their own, an operator the queued ones
    and theirs, everyone else who sees all leads any; else NoSuchOrder."""
    order = Order.get_or_none(Order.id == order_id)
    if order is None:
        raise NoSuchOrder(order_id)
    if actor.kind == "client":
        visible = order.lead_id == client_lead_id(actor)
    elif actor.sees_all:
        visible = True
    else:
        visible = is_operator(actor) and (order.status in QUEUED_ORDER_STATUSES
                                          or order.operator_id == actor.user_id)
    if not visible:
        raise NoSuchOrder(order_id)
    return order


def change_status(actor, order_id, to_status, note="", now=None):
    """Move an order one allowed step; taking and giving orders to operators is take()
    and assign(), as they name the operator."""
    if to_status == "cancelled":
        return cancel(actor, order_id, note, now)
    if to_status == "completed":
        return complete(actor, order_id, note, now)
    if to_status == "assigned":
        raise OrderNotAllowed(messages.USE_TAKE)
    now = now or utcnow()
    with db.atomic():
        order = require(actor, order_id)
        if order.status == "assigned" and to_status == "processing":
            return _release(actor, order, note, now)
        if not is_operator(actor):
            raise OrderNotAllowed(messages.ONLY_OPERATORS)
        return _transition(actor, order, to_status, {}, note, now)


def take(actor, order_id, now=None):
    """An operator claims a queued order; whoever was first keeps it (AlreadyTaken names them)."""
    if not is_operator(actor) or actor.user is None:
        raise OrderNotAllowed(messages.ONLY_OPERATORS)
    return _claim(actor, order_id, actor.user, now or utcnow())


def assign(actor, order_id, operator_id, now=None):
    """An admin gives a queued order to an operator."""
    if not is_admin(actor):
        raise OrderNotAllowed(messages.ONLY_ADMINS_ASSIGN)
    operator = User.get_or_none(User.id == operator_id)
    if operator is None or operator.role not in ("operator", "admin"):
        raise OrderNotAllowed(messages.NOT_AN_OPERATOR)
    return _claim(actor, order_id, operator, now or utcnow())


def _claim(actor, order_id, operator, now):
    with db.atomic():
        # Not require(): whoever lost the race must hear who won, not "no such order".
        order = Order.get_or_none(Order.id == order_id)
        if order is None:
            raise NoSuchOrder(order_id)
        values = {"status": "assigned", "operator": operator.id, "assigned_at": now}
        won = (Order.update(values, updated_at=now)
               .where(Order.id == order.id, Order.status.in_(QUEUED_ORDER_STATUSES),
                      Order.operator.is_null()).execute())
        if not won:
            current = Order.get_by_id(order.id)
            if current.status == "assigned" and current.operator_id is not None:
                raise AlreadyTaken(current.id, current.operator)
            raise OrderNotAllowed(messages.NOT_QUEUED.format(id=current.id, status=current.status))
        return _changed(actor, order, values, now)


def release(actor, order_id, now=None):
    """An assigned order goes back to the queue (processing) with no operator."""
    now = now or utcnow()
    with db.atomic():
        return _release(actor, require(actor, order_id), "", now)


def _release(actor, order, note, now):
    _may_finish(actor, order)
    return _transition(actor, order, "processing", {"operator": None, "assigned_at": None}, note, now)


def complete(actor, order_id, note="", now=None):
    """The assigned operator (or an admin) has done the order."""
    now = now or utcnow()
    with db.atomic():
        order = require(actor, order_id)
        _may_finish(actor, order)
        return _transition(actor, order, "completed", {"completed_at": now}, note, now)


def cancel(actor, order_id, reason="", now=None):
    """An admin cancels an open order; what the customer paid goes back to their wallet."""
    if not is_admin(actor):
        raise OrderNotAllowed(messages.ONLY_ADMINS_CANCEL)
    now = now or utcnow()
    with db.atomic():
        order = require(actor, order_id)
        return _transition(actor, order, "cancelled", {"cancelled_at": now}, reason, now)


def _may_finish(actor, order):
    """Completing or releasing an assigned order is for its operator, or an admin."""
    if order.status != "assigned":
        raise OrderNotAllowed(messages.NOT_ASSIGNED.format(id=order.id, status=order.status))
    if is_admin(actor) or (order.operator_id == actor.user_id and is_operator(actor)):
        return
    name = order.operator.display_name if order.operator_id else messages.NOBODY
    raise OrderNotAllowed(messages.NOT_YOUR_ORDER.format(id=order.id, operator=name))


def _transition(actor, order, to_status, values, note, now):
    before = order.status
    allowed = TRANSITIONS[before]
    if to_status not in allowed:
        if not allowed:
            raise OrderNotAllowed(messages.STATUS_FINAL.format(id=order.id, status=before))
        raise OrderNotAllowed(messages.STATUS_NOT_NEXT.format(
            id=order.id, status=before, allowed=" or ".join(allowed), to=to_status))
    values = {"status": to_status, **values}
    update = dict(values, updated_at=now)
    if note:
        update[Order.notes] = Order.notes.concat(_note_line(actor, note, now))
    # The operator in the WHERE too: a release must not clear an operator assigned meanwhile.
    same_operator = (Order.operator.is_null() if order.operator_id is None
                     else Order.operator == order.operator_id)
    if not Order.update(update).where(Order.id == order.id, Order.status == before,
                                      same_operator).execute():
        raise OrderError(messages.STATUS_CHANGED_MEANWHILE.format(id=order.id))
    refunded = 0
    if to_status == "cancelled" and order.price > 0:
        wallet.move(actor, order.lead_id, "refund", order.price, order=order, now=now,
                    reference=messages.REFUND_REFERENCE.format(id=order.id))
        refunded = order.price
    return _changed(actor, order, values, now, refunded=refunded)


def _changed(actor, order, values, now, refunded=0):
    """Emit order.status_changed for `order` (as it was) given the `values` written."""
    changes = events.changed(order, values)
    after = Order.get_by_id(order.id)
    if after.notes != order.notes:
        changes["notes"] = (order.notes, after.notes)
    events.emit("order.status_changed", actor, "order", order.id, changes, lead=after.lead,
                order=after, now=now, refunded=refunded,
                fields={"order_status": after.status, "from_order_status": order.status,
                        "order_package": after.sites, "order_price": after.price})
    return after


def add_note(actor, order_id, text, now=None):
    """Append a dated, signed line to the order's notes (the team's, never the customer's)."""
    text = plain_text(str(text or "")).strip()
    if not 1 <= len(text) <= MAX_NOTE:
        raise OrderError(messages.BAD_NOTE.format(limit=MAX_NOTE))
    if actor.kind == "client":
        raise NoSuchOrder(order_id)
    now = now or utcnow()
    with db.atomic():
        order = require(actor, order_id)
        Order.update({Order.notes: Order.notes.concat(_note_line(actor, text, now)),
                      Order.updated_at: now}).where(Order.id == order.id).execute()
        after = Order.get_by_id(order.id)
        events.emit("order.updated", actor, "order", order.id, {"notes": (order.notes, after.notes)},
                    lead=after.lead, order=after, now=now)
    return after


def _note_line(actor, text, now):
    return f"{now:%Y-%m-%d %H:%M} {actor.label or actor.kind}: {plain_text(text).strip()}\n"


def reveal_password(actor, order_id, now=None):
    """The profile's password for the operator doing the order (or an admin); the audit
    log records who saw it."""
    with db.atomic():
        order = require(actor, order_id)
        if not is_admin(actor) and not (order.operator_id is not None
                                        and order.operator_id == actor.user_id):
            raise OrderNotAllowed(messages.ONLY_ASSIGNED_SEE_PASSWORD)
        profile = CustomerProfile.get_by_id(order.profile_id)
        events.emit("customer_profile.password_revealed", actor, "customer_profile", profile.id, {},
                    order_id=order.id, lead=order.lead, now=now or utcnow())
        return profile.password


def move(actor, order_id, direction):
    """An admin moves a queued order one place up or down within its priority class;
    False when it is already first (or last) there."""
    if not is_admin(actor):
        raise OrderNotAllowed(messages.ONLY_ADMINS_MOVE)
    if direction not in DIRECTIONS:
        raise OrderError(messages.BAD_DIRECTION)
    with db.atomic():
        order = require(actor, order_id)
        if order.status not in QUEUED_ORDER_STATUSES:
            raise OrderNotAllowed(messages.NOT_QUEUED.format(id=order.id, status=order.status))
        swapped = swap(order, direction)
        for before, rank in swapped:
            events.emit("order.updated", actor, "order", before.id,
                        {"queue_rank": (before.queue_rank, rank)}, lead=before.lead, now=utcnow())
    return bool(swapped)


def of_customer(lead_id, limit=10, offset=0):
    return list(Order.select().where(Order.lead == lead_id)
                .order_by(Order.id.desc()).limit(limit).offset(offset))


def count_of_customer(lead_id):
    return Order.select().where(Order.lead == lead_id).count()


def bulk(actor, order_ids, action, operator_id=None, now=None):
    """Assign or cancel several orders, each on its own: (done ids, {id: why not})."""
    if action not in BULK_ACTIONS:
        raise OrderError(messages.BAD_BULK_ACTION)
    order_ids = list(dict.fromkeys(order_ids))
    if len(order_ids) > MAX_BULK:  # each is a transaction of its own: a huge list ties up a worker
        raise OrderError(messages.TOO_MANY_AT_ONCE.format(limit=MAX_BULK))
    done, refused = [], {}
    for order_id in order_ids:
        try:
            if action == "assign":
                assign(actor, order_id, operator_id, now)
            else:
                cancel(actor, order_id, now=now)
        except (OrderError, wallet.WalletError) as exc:
            refused[order_id] = str(exc)
        else:
            done.append(order_id)
    return done, refused
