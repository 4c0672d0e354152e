"""Orders (services/shop/orders.py): placing and paying, the status rules, who may do
what, the queue, reruns, notes and passwords; on SQLite and Postgres."""
import datetime
import json

import pytest

from models import ORDER_STATUSES, CustomerProfile, LedgerEntry, Order, Package, User
from services.core import audit, events
from services.core.actors import Actor
from services.shop import catalogue, orders, wallet
from tests.shop.conftest import NOW, PANEL

LATER = NOW + datetime.timedelta(minutes=5)


@pytest.fixture
def events_seen():
    seen = []
    for name in ("order.created", "order.status_changed"):
        events.subscribe(name, seen.append)
    yield seen
    for name in ("order.created", "order.status_changed"):
        events.unsubscribe(name, seen.append)


def order_in(status, customer, package, staff, price=100):
    """An order put straight into `status` (assigned ones to Olga)."""
    actor, lead, profile = customer(tokens=price)
    order = orders.place(actor, lead.id, profile.id, package.id, now=NOW)
    operator = staff["olga"].user.id if status in ("assigned", "completed") else None
    Order.update(status=status, operator=operator).where(Order.id == order.id).execute()
    return Order.get_by_id(order.id)


def test_placing_an_order_pays_for_it_in_the_same_transaction(customer, package, events_seen):
    actor, lead, profile = customer(tokens=250)
    order = orders.place(actor, lead.id, profile.id, package.id, email_confirmation=True,
                         expected_price=150, now=NOW)
    assert (order.status, order.price, order.package_name, order.sites, order.email_confirmation) == (
        "pending", 150, "100 sites", 100, True)
    assert (order.priority, order.subscriber_price, order.created_by_kind) == (False, False, "client")
    assert order.queue_rank == NOW.replace(tzinfo=datetime.timezone.utc).timestamp()
    debit = LedgerEntry.get(LedgerEntry.kind == "order")
    assert (debit.amount, debit.balance_after, debit.order_id, debit.reference) == (
        -150, 100, order.id, f"order #{order.id}")
    assert wallet.balance(lead.id) == 100
    event = events_seen[0]
    assert (event.name, event.entity_id, event.data["lead"].id, event.data["now"]) == (
        "order.created", order.id, lead.id, NOW)
    assert event.data["fields"] == {"order_status": "pending", "order_package": 100, "order_price": 150}
    entry = audit.entries(entity="order", entity_id=order.id).get()
    assert entry.event == "order.created" and json.loads(entry.changes)["price"] == [None, 150]


def test_a_subscriber_pays_less_and_is_queued_first(customer, package):
    regular_actor, regular, regular_profile = customer(tokens=100)
    actor, lead, profile = customer(tokens=100)
    first = orders.place(regular_actor, regular.id, regular_profile.id, package.id, now=NOW)
    wallet.set_premium(PANEL, lead.id, NOW + datetime.timedelta(days=30), now=NOW)
    second = orders.place(actor, lead.id, profile.id, package.id, expected_price=60, now=LATER)
    assert (second.price, second.priority, second.subscriber_price) == (60, True, True)
    assert [o.id for o in orders.queue()] == [second.id, first.id]
    assert (orders.position(second), orders.position(first)) == (1, 2)


def test_a_changed_price_is_refused_with_the_new_quote_and_nothing_written(customer, package):
    actor, lead, profile = customer(tokens=500)
    Package.update(price=120).where(Package.id == package.id).execute()
    with pytest.raises(orders.PriceChanged) as refused:
        orders.place(actor, lead.id, profile.id, package.id, expected_price=100, now=NOW)
    assert refused.value.quote.price == 120 and "now 120 tokens (it was 100)" in str(refused.value)
    assert Order.select().count() == 0 and wallet.balance(lead.id) == 500


def test_a_confirmation_places_one_order_however_often_it_comes(customer, package, staff):
    actor, lead, profile = customer(tokens=500)
    order = orders.place(actor, lead.id, profile.id, package.id, now=NOW, request_key="tg:1:7")
    with pytest.raises(orders.AlreadyPlaced) as again:
        orders.place(actor, lead.id, profile.id, package.id, now=NOW, request_key="tg:1:7")
    assert again.value.order.id == order.id and f"order #{order.id}" in str(again.value)
    assert Order.select().count() == 1 and wallet.balance(lead.id) == 400
    orders.take(staff["olga"], order.id, now=NOW)
    orders.complete(staff["olga"], order.id, now=NOW)
    rerun = orders.rerun(actor, order.id, now=NOW, expected_price=100, request_key="tg:1:8")
    with pytest.raises(orders.AlreadyPlaced):
        orders.rerun(actor, order.id, now=NOW, expected_price=100, request_key="tg:1:8")
    with pytest.raises(orders.PriceChanged):
        orders.rerun(actor, order.id, now=NOW, expected_price=90, request_key="tg:1:9")
    assert Order.select().count() == 2 and rerun.rerun_of_id == order.id
    assert wallet.balance(lead.id) == 300 and wallet.problems() == []


def test_too_few_tokens_leave_no_order_no_ledger_row_and_no_audit(customer, package):
    actor, lead, profile = customer(tokens=99)
    with pytest.raises(wallet.InsufficientTokens) as refused:
        orders.place(actor, lead.id, profile.id, package.id, now=NOW)
    assert refused.value.shortfall == 1
    assert Order.select().count() == 0 and LedgerEntry.select().count() == 1
    assert audit.entries(entity="order").count() == 0


def test_orders_are_for_the_customers_own_live_profiles(customer, package, staff):
    actor, lead, profile = customer(tokens=500)
    other_actor, other, other_profile = customer(tokens=500)
    with pytest.raises(orders.OrderNotAllowed, match="only for yourself"):
        orders.place(actor, other.id, other_profile.id, package.id)
    with pytest.raises(orders.OrderNotAllowed, match="not one of this customer's"):
        orders.place(actor, lead.id, other_profile.id, package.id)
    for who in ("sales", "olga", "dispatcher"):
        with pytest.raises(orders.OrderNotAllowed, match="by the customer, or by an admin"):
            orders.place(staff[who], lead.id, profile.id, package.id)
    CustomerProfile.update(deleted_at=NOW).where(CustomerProfile.id == profile.id).execute()
    with pytest.raises(orders.OrderNotAllowed):
        orders.place(actor, lead.id, profile.id, package.id)
    with pytest.raises(catalogue.NoSuchPackage):
        orders.place(other_actor, other.id, other_profile.id, catalogue.addon().id)
    # An admin may order for a customer (paid from the customer's wallet).
    order = orders.place(PANEL, other.id, other_profile.id, package.id, now=NOW)
    assert order.created_by_kind == "panel" and wallet.balance(other.id) == 400
    assert Order.select().count() == 1


@pytest.mark.parametrize("before", ORDER_STATUSES)
@pytest.mark.parametrize("after", ["pending", "processing"])
def test_queue_moves_follow_the_transitions(customer, package, staff, before, after):
    order = order_in(before, customer, package, staff)
    if after in orders.TRANSITIONS[before]:
        changed = orders.change_status(staff["olga"], order.id, after, note="checked", now=LATER)
        assert changed.status == after and "Olga (operator): checked" in changed.notes
        if before == "assigned":   # released: back in the queue with nobody on it
            assert (changed.operator_id, changed.assigned_at) == (None, None)
    else:
        with pytest.raises(orders.OrderNotAllowed):
            orders.change_status(PANEL, order.id, after)
        assert Order.get_by_id(order.id).status == before


@pytest.mark.parametrize("before", ORDER_STATUSES)
def test_completing_and_cancelling_follow_the_transitions(customer, package, staff, before):
    for after, act in (("completed", orders.complete), ("cancelled", orders.cancel)):
        order = order_in(before, customer, package, staff)
        if after in orders.TRANSITIONS[before]:
            assert act(PANEL, order.id, now=LATER).status == after
        else:
            with pytest.raises(orders.OrderNotAllowed):
                act(PANEL, order.id)
            assert Order.get_by_id(order.id).status == before
    assert all(s in orders.TRANSITIONS for s in ORDER_STATUSES) and orders.FINAL == ("completed",
                                                                                    "cancelled")


def test_assigned_is_reached_only_by_taking_or_assigning(customer, package, staff):
    order = order_in("pending", customer, package, staff)
    with pytest.raises(orders.OrderNotAllowed, match="taking it"):
        orders.change_status(PANEL, order.id, "assigned")


def test_a_status_change_is_one_event_with_its_changes_and_is_audited(customer, package, staff,
                                                                     events_seen):
    order = order_in("pending", customer, package, staff)
    taken = orders.take(staff["olga"], order.id, now=LATER)
    event = events_seen[-1]
    assert event.changes == {"status": ("pending", "assigned"),
                             "operator": (None, staff["olga"].user.id), "assigned_at": (None, LATER)}
    assert event.data["fields"] == {"order_status": "assigned", "from_order_status": "pending",
                                    "order_package": 100, "order_price": 100}
    assert (event.data["lead"].id, event.data["order"].id) == (order.lead_id, taken.id)
    done = orders.complete(staff["olga"], order.id, note="all <done>", now=LATER)
    assert done.completed_at == LATER and done.notes.endswith("Olga (operator): all <done>\n")
    entry = audit.entries(entity="order", entity_id=order.id).first()
    assert (entry.event, entry.actor_label) == ("order.status_changed", "Olga (operator)")
    assert json.loads(entry.changes)["status"] == ["assigned", "completed"]


def test_cancelling_refunds_in_the_same_transaction_once(customer, package, staff):
    order = order_in("processing", customer, package, staff)
    for who in ("olga", "dispatcher", "sales"):
        with pytest.raises(orders.OrderNotAllowed, match="Only admins can cancel"):
            orders.cancel(staff[who], order.id)
    cancelled = orders.cancel(staff["admin"], order.id, reason="customer asked", now=LATER)
    assert cancelled.cancelled_at == LATER and "Admin (admin): customer asked" in cancelled.notes
    refund = LedgerEntry.get(LedgerEntry.kind == "refund")
    assert (refund.amount, refund.balance_after, refund.order_id) == (100, 100, order.id)
    with pytest.raises(orders.OrderNotAllowed, match="final"):
        orders.cancel(PANEL, order.id)
    assert wallet.balance(order.lead_id) == 100 and wallet.problems() == []


def test_a_refund_that_fails_keeps_the_order_open(customer, package, staff, monkeypatch):
    order = order_in("pending", customer, package, staff)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(wallet, "move", broken)
    with pytest.raises(RuntimeError):
        orders.cancel(PANEL, order.id)
    assert Order.get_by_id(order.id).status == "pending"
    assert audit.entries(entity="order", entity_id=order.id).count() == 1   # only its creation


def test_take_assign_release_and_complete_belong_to_the_right_people(customer, package, staff):
    order = order_in("pending", customer, package, staff)
    for who in ("sales", "dispatcher"):
        with pytest.raises(orders.OrderNotAllowed, match="Only operators"):
            orders.take(staff[who], order.id)
    with pytest.raises(orders.OrderNotAllowed, match="Only operators"):
        orders.take(PANEL, order.id)   # the panel gives orders to operators: assign()
    for act in (orders.release, orders.complete):
        with pytest.raises(orders.OrderNotAllowed, match="is pending; only an order being worked on"):
            act(staff["olga"], order.id)
    orders.take(staff["olga"], order.id, now=NOW)
    with pytest.raises(orders.AlreadyTaken) as lost:
        orders.take(staff["oscar"], order.id)
    assert lost.value.operator.id == staff["olga"].user.id and "taken by Olga" in str(lost.value)
    for act in (orders.release, orders.complete):
        with pytest.raises(orders.NoSuchOrder):   # Oscar does not even see Olga's order
            act(staff["oscar"], order.id)
    released = orders.release(staff["olga"], order.id, now=LATER)
    assert (released.status, released.operator_id) == ("processing", None)
    with pytest.raises(orders.OrderNotAllowed, match="Only admins can give"):
        orders.assign(staff["olga"], order.id, staff["oscar"].user.id)
    with pytest.raises(orders.OrderNotAllowed, match="not an operator"):
        orders.assign(PANEL, order.id, staff["sales"].user.id)
    assigned = orders.assign(PANEL, order.id, staff["oscar"].user.id, now=LATER)
    assert (assigned.status, assigned.operator_id) == ("assigned", staff["oscar"].user.id)
    with pytest.raises(orders.OrderNotAllowed, match="assigned to Oscar"):
        orders.complete(staff["dispatcher"], order.id)
    assert orders.complete(staff["admin"], order.id).status == "completed"   # admins may finish it
    with pytest.raises(orders.OrderNotAllowed, match="not waiting in the queue"):
        orders.take(staff["olga"], order.id)


def test_who_sees_which_order(customer, package, staff):
    mine = order_in("pending", customer, package, staff)
    theirs = order_in("assigned", customer, package, staff)
    done = order_in("completed", customer, package, staff)
    owner = orders.require(PANEL, mine.id).lead
    client = Actor.client(User.get(User.telegram_id == int(owner.contact("telegram"))))
    assert orders.require(client, mine.id).id == mine.id
    for hidden in (theirs, done):
        with pytest.raises(orders.NoSuchOrder):
            orders.require(client, hidden.id)
    assert orders.require(staff["oscar"], mine.id).id == mine.id         # queued: any operator
    assert orders.require(staff["olga"], theirs.id).id == theirs.id      # hers
    for hidden in (theirs, done):
        with pytest.raises(orders.NoSuchOrder):
            orders.require(staff["oscar"], hidden.id)
    for order in (mine, theirs, done):
        with pytest.raises(orders.NoSuchOrder):
            orders.require(staff["sales"], order.id)
        for who in (staff["admin"], staff["dispatcher"], PANEL):
            assert orders.require(who, order.id).id == order.id
    with pytest.raises(orders.NoSuchOrder, match="no order #999"):
        orders.require(PANEL, 999)


def test_a_rerun_is_a_new_order_at_todays_price(customer, package, staff):
    actor, lead, profile = customer(tokens=400)
    first = orders.place(actor, lead.id, profile.id, package.id, email_confirmation=True, now=NOW)
    with pytest.raises(orders.OrderNotAllowed, match="Only a completed order"):
        orders.rerun(actor, first.id)
    orders.take(staff["olga"], first.id, now=NOW)
    orders.complete(staff["olga"], first.id, now=NOW)
    Package.update(price=130).where(Package.id == package.id).execute()
    with pytest.raises(orders.OrderNotAllowed, match="Only admins can rerun an order free"):
        orders.rerun(actor, first.id, free=True)
    for who in ("olga", "sales"):
        with pytest.raises(orders.OrderNotAllowed):
            orders.rerun(staff[who], first.id)
    again = orders.rerun(actor, first.id, now=LATER)
    assert (again.rerun_of_id, again.profile_id, again.package_id, again.email_confirmation) == (
        first.id, profile.id, package.id, True)
    assert (again.price, again.status, wallet.balance(lead.id)) == (180, "pending", 70)
    free = orders.rerun(PANEL, first.id, free=True, now=LATER)
    assert (free.price, free.created_by_kind, wallet.balance(lead.id)) == (0, "panel", 70)
    assert LedgerEntry.select().where(LedgerEntry.order == free.id).count() == 0
    # Cancelling a free rerun refunds nothing.
    orders.cancel(PANEL, free.id)
    assert wallet.balance(lead.id) == 70 and wallet.problems() == []
    # Someone else's completed order is not theirs to rerun.
    other_actor, _, _ = customer(tokens=400)
    with pytest.raises(orders.NoSuchOrder):
        orders.rerun(other_actor, first.id)


def test_the_queue_position_and_moving_orders(customer, package, staff):
    placed = [order_in("pending", customer, package, staff) for _ in range(4)]   # tied on rank
    ids = [o.id for o in placed]
    assert [o.id for o in orders.queue()] == ids
    assert [orders.position(o) for o in placed] == [1, 2, 3, 4]
    for who in ("olga", "dispatcher"):
        with pytest.raises(orders.OrderNotAllowed):
            orders.move(staff[who], ids[2], "up")
    with pytest.raises(orders.OrderError):
        orders.move(PANEL, ids[2], "sideways")
    assert orders.move(PANEL, ids[2], "up") is True
    assert [o.id for o in orders.queue()] == [ids[0], ids[2], ids[1], ids[3]]
    assert orders.move(PANEL, ids[0], "down") is True
    assert [o.id for o in orders.queue()] == [ids[2], ids[0], ids[1], ids[3]]
    assert orders.move(PANEL, ids[2], "up") is False
    assert orders.move(PANEL, ids[3], "down") is False
    assert [o.id for o in orders.queue(limit=2, offset=1)] == [ids[0], ids[1]]
    entry = audit.entries(entity="order", entity_id=ids[0]).first()
    assert entry.event == "order.updated" and "queue_rank" in json.loads(entry.changes)
    # A subscriber's order is a class of its own: first, and moves only among them.
    vip = order_in("processing", customer, package, staff)
    Order.update(priority=True).where(Order.id == vip.id).execute()
    assert orders.move(PANEL, vip.id, "down") is False
    assert [orders.position(Order.get_by_id(i)) for i in (vip.id, ids[2])] == [1, 2]
    assert orders.position(orders.take(staff["olga"], ids[2])) is None
    with pytest.raises(orders.OrderNotAllowed, match="not waiting in the queue"):
        orders.move(PANEL, ids[2], "up")


def test_moving_swaps_ranks_of_orders_made_at_different_times(customer, package, staff):
    placed = []
    for minutes in (0, 1, 2):
        actor, lead, profile = customer(tokens=100)
        placed.append(orders.place(actor, lead.id, profile.id, package.id,
                                   now=NOW + datetime.timedelta(minutes=minutes)))
    assert orders.move(PANEL, placed[2].id, "up")
    ranks = {o.id: o.queue_rank for o in Order.select()}
    assert ranks[placed[2].id] == placed[1].queue_rank and ranks[placed[1].id] == placed[2].queue_rank
    assert [o.id for o in orders.queue()] == [placed[0].id, placed[2].id, placed[1].id]


def test_notes_are_dated_and_signed(customer, package, staff):
    order = order_in("pending", customer, package, staff)
    noted = orders.add_note(staff["olga"], order.id, "  called <them>\x00 ", now=NOW)
    assert noted.notes == "2026-05-04 10:00 Olga (operator): called <them>\n"
    noted = orders.add_note(PANEL, order.id, "ok", now=LATER)
    assert noted.notes.endswith("2026-05-04 10:05 admin panel (admin): ok\n")
    for text in ("", "   ", "x" * 2001):
        with pytest.raises(orders.OrderError, match="1 to 2000"):
            orders.add_note(PANEL, order.id, text)
    with pytest.raises(orders.NoSuchOrder):
        orders.add_note(staff["sales"], order.id, "hi")
    entry = audit.entries(entity="order", entity_id=order.id).first()
    assert entry.event == "order.updated" and list(json.loads(entry.changes)) == ["notes"]


def test_the_password_is_for_the_operator_doing_the_order(customer, package, staff, data_key):
    order = order_in("assigned", customer, package, staff)
    CustomerProfile.update(password="s3cret&<pw>").where(CustomerProfile.id == order.profile_id).execute()
    assert orders.reveal_password(staff["olga"], order.id) == "s3cret&<pw>"
    assert orders.reveal_password(PANEL, order.id) == "s3cret&<pw>"
    for who in ("oscar", "sales"):
        with pytest.raises(orders.NoSuchOrder):
            orders.reveal_password(staff[who], order.id)
    with pytest.raises(orders.OrderNotAllowed, match="Only the operator doing the order"):
        orders.reveal_password(staff["dispatcher"], order.id)
    seen = list(audit.entries(entity="customer_profile", entity_id=order.profile_id))
    assert [(e.event, e.actor_kind) for e in seen] == [("customer_profile.password_revealed", "panel"),
                                                       ("customer_profile.password_revealed", "member")]


def test_bulk_assigns_or_cancels_each_order_on_its_own(customer, package, staff):
    queued = [order_in("pending", customer, package, staff) for _ in range(2)]
    taken = order_in("assigned", customer, package, staff)
    ids = [o.id for o in queued] + [taken.id, 999]
    done, refused = orders.bulk(PANEL, ids, "assign", operator_id=staff["oscar"].user.id, now=LATER)
    assert done == ids[:2] and set(refused) == {taken.id, 999}
    assert "already taken by Olga" in refused[taken.id] and "no order #999" in refused[999]
    done, refused = orders.bulk(PANEL, ids[:3], "cancel", now=LATER)
    assert done == ids[:3] and refused == {}
    assert wallet.problems() == [] and all(wallet.balance(o.lead_id) == 100 for o in queued + [taken])
    done, refused = orders.bulk(staff["olga"], ids[:1], "cancel")
    assert done == [] and "Only admins" in refused[ids[0]]
    with pytest.raises(orders.OrderError):
        orders.bulk(PANEL, ids, "delete")
    # The same id twice is one change; more than MAX_BULK ids is refused before any.
    assert orders.bulk(PANEL, [ids[0], ids[0]], "cancel")[1] == {ids[0]: refused_again(ids[0])}
    with pytest.raises(orders.OrderError, match="At most 500 orders"):
        orders.bulk(PANEL, list(range(1, orders.MAX_BULK + 2)), "cancel")


def refused_again(order_id):
    return orders.bulk(PANEL, [order_id], "cancel")[1][order_id]


def test_a_customers_orders_newest_first(customer, package):
    actor, lead, profile = customer(tokens=1000)
    placed = [orders.place(actor, lead.id, profile.id, package.id, now=NOW).id for _ in range(3)]
    customer(tokens=100)
    assert [o.id for o in orders.of_customer(lead.id)] == placed[::-1]
    assert [o.id for o in orders.of_customer(lead.id, limit=1, offset=1)] == [placed[1]]
    assert orders.count_of_customer(lead.id) == 3
