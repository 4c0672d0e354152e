"""The order queue: orders waiting for an operator (QUEUED_ORDER_STATUSES), a Premium
subscriber's first, then by `queue_rank` (the epoch seconds of creation; admins move
an order by swapping ranks with its neighbour), then by id. services/shop/orders.move
checks who may move and audits it; this is the ordering itself.
"""
import math

from models import QUEUED_ORDER_STATUSES, Order, for_change


def queue(limit=10, offset=0):
    return list(_queued().order_by(Order.priority.desc(), Order.queue_rank, Order.id)
                .limit(limit).offset(offset))


def taken_by(user_id):
    """The orders an operator is working on, the longest-held first."""
    return list(Order.select().where(Order.operator == user_id, Order.status == "assigned")
                .order_by(Order.assigned_at, Order.id))


def position(order):
    """The order's place in the whole queue, from 1; None when it is not queued."""
    if order.status not in QUEUED_ORDER_STATUSES:
        return None
    return _queued().where(_ahead_of(order)).count() + 1


def swap(order, direction):
    """Swap the ranks of `order` and its neighbour ("up": the one before it, "down": after)
    in its priority class; returns [(row as it was, its new rank)], empty without one."""
    neighbour = _neighbour(order, direction)
    if neighbour is None:
        return []
    if neighbour.queue_rank == order.queue_rank:
        # Orders made in the same instant tie on rank (the id orders them): give them
        # distinct ranks first, or swapping would change nothing.
        _spread(order.priority, order.queue_rank)
        order, neighbour = (for_change(Order.select().where(Order.id == row.id)).get()
                            for row in (order, neighbour))
    for row, rank in ((order, neighbour.queue_rank), (neighbour, order.queue_rank)):
        Order.update(queue_rank=rank).where(Order.id == row.id).execute()
    return [(order, neighbour.queue_rank), (neighbour, order.queue_rank)]


def _queued():
    return Order.select().where(Order.status.in_(QUEUED_ORDER_STATUSES))


def _ahead_of(order):
    """Queued orders before `order`: every priority one for a regular order, and within
    its class those of a lower rank, or the same rank and a lower id."""
    same_class = (Order.priority == order.priority) & (
        (Order.queue_rank < order.queue_rank)
        | ((Order.queue_rank == order.queue_rank) & (Order.id < order.id)))
    if order.priority:
        return same_class
    return same_class | (Order.priority == True)  # noqa: E712


def _neighbour(order, direction):
    rank, ident = Order.queue_rank, Order.id
    same_class = _queued().where(Order.priority == order.priority, Order.id != order.id)
    if direction == "up":
        query = same_class.where(_ahead_of(order)).order_by(rank.desc(), ident.desc())
    else:
        after = (rank > order.queue_rank) | ((rank == order.queue_rank) & (ident > order.id))
        query = same_class.where(after).order_by(rank, ident)
    return for_change(query.limit(1)).first()


def _spread(priority, rank):
    """Give the queued orders of a class tied on `rank` the next distinct floats after it,
    in id order, so they keep their order and no two tie."""
    tied = (_queued().where(Order.priority == priority, Order.queue_rank == rank)
            .order_by(Order.id))
    value = rank
    for row in for_change(tied):
        Order.update(queue_rank=value).where(Order.id == row.id).execute()
        value = math.nextafter(value, math.inf)
