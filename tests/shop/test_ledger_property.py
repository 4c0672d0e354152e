"""The ledger's invariant under random use (services/shop/wallet.py, orders.py): after
every step each wallet's balance equals the sum of its ledger amounts and the balance
its newest ledger row left, is never negative, and is what the steps that succeeded
add up to (orders, reruns, cancellations, adjustments and Premium bought from the
balance, a confirmation pressed again buying once). A Hypothesis state machine drives
one customer at a time; threads then do the same at once. On SQLite and Postgres."""
import datetime
import itertools
import random
import threading
from decimal import Decimal

from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from peewee import fn

import models
from models import LedgerEntry, Order, Payment, User, Wallet
from services.core.actors import Actor
from services.payments import oxapay, reconciliation, settlement
from services.shop import catalogue, orders, premium, wallet
from tests.shop.conftest import PANEL, new_customer

CUSTOMERS = 3
START = 300
EXAMPLES = {"sqlite": 40, "postgres": 30}
_operator_ids = itertools.count(900_000)
# What a step may be refused with, and nothing else: an unfunded order, a final order, a
# race lost, an order nobody may take any more.
REFUSALS = (wallet.InsufficientTokens, orders.OrderError)
_request_keys = itertools.count()
_track_ids = itertools.count(1)
# What OxaPay may say of a top-up, in any order, any number of times (retried webhooks,
# duplicates, the scheduler's polling).
NEWS = ("waiting", "paying", "paid", "underpaid", "expired")


def top_up(lead_id, tokens, news):
    """A top-up of `tokens` for the lead and OxaPay's `news` of it applied in turn; returns
    the tokens it credited (all of them once some news said paid, else none)."""
    number = next(_track_ids)
    now = models.utcnow()
    payment = Payment.create(lead=lead_id, reference=f"LG-prop-{number}", track_id=f"prop-{number}",
                             tokens=tokens, amount_cents=tokens * 10, status="waiting",
                             expires_at=now + datetime.timedelta(hours=1), created_at=now,
                             updated_at=now)
    for status in news:
        settlement.apply(payment.track_id, oxapay.Information(
            status, Decimal(tokens) / 10, "USD", payment.reference, ""), "webhook")
    return tokens if "paid" in news else 0


def make_operator():
    return Actor.member(User.create(telegram_id=next(_operator_ids), first_name="Op", role="operator"))


def ledger_of(lead_id):
    """(balance, sum of the ledger, last balance_after) of the lead's wallet."""
    held = wallet.balance(lead_id)
    rows = LedgerEntry.select().join(Wallet).where(Wallet.lead == lead_id)
    total = rows.select(fn.COALESCE(fn.SUM(LedgerEntry.amount), 0)).scalar()
    last = rows.order_by(LedgerEntry.id.desc()).first()
    return held, total, last.balance_after if last else 0


def assert_consistent(expected):
    for lead_id, balance in expected.items():
        assert ledger_of(lead_id) == (balance, balance, balance)
        assert balance >= 0
    assert wallet.problems() == []
    assert reconciliation.summary().problems == 0


class Shop(RuleBasedStateMachine):
    placed = Bundle("orders")

    def __init__(self):
        super().__init__()
        self.customers = [new_customer(tokens=START)[:3] for _ in range(CUSTOMERS)]
        self.expected = {lead.id: START for _, lead, _ in self.customers}
        self.operator = make_operator()
        self.packages = catalogue.packages()[:3]
        self.keys = {}   # customer -> their last Premium confirmation

    @rule(target=placed, who=st.integers(0, CUSTOMERS - 1), which=st.integers(0, 2),
          addon=st.booleans(), by_admin=st.booleans())
    def place(self, who, which, addon, by_admin):
        actor, lead, profile = self.customers[who]
        try:
            order = orders.place(PANEL if by_admin else actor, lead.id, profile.id,
                                 self.packages[which].id, email_confirmation=addon)
        except wallet.InsufficientTokens as refused:
            assert refused.needed > self.expected[lead.id]
            return multiple()
        self.expected[lead.id] -= order.price
        return order.id

    @rule(order_id=placed)
    def cancel(self, order_id):
        order = Order.get_by_id(order_id)
        try:
            orders.cancel(PANEL, order_id)
        except orders.OrderNotAllowed:
            assert order.status in orders.FINAL
            return
        self.expected[order.lead_id] += order.price

    @rule(order_id=placed, finish=st.booleans())
    def work(self, order_id, finish):
        try:
            orders.take(self.operator, order_id)
            if finish:
                orders.complete(self.operator, order_id)
            else:
                orders.release(self.operator, order_id)
        except orders.OrderNotAllowed:
            assert Order.get_by_id(order_id).status in orders.FINAL

    @rule(target=placed, order_id=placed, free=st.booleans())
    def rerun(self, order_id, free):
        original = Order.get_by_id(order_id)
        actor = PANEL if free else next(a for a, lead, _ in self.customers if lead.id == original.lead_id)
        try:
            order = orders.rerun(actor, order_id, free=free)
        except (orders.OrderNotAllowed, wallet.InsufficientTokens):
            return multiple()
        self.expected[order.lead_id] -= order.price
        return order.id

    @rule(who=st.integers(0, CUSTOMERS - 1),
          amount=st.integers(-400, 400).filter(bool), bonus=st.booleans())
    def adjust(self, who, amount, bonus):
        lead = self.customers[who][1]
        kind = "bonus" if bonus and amount > 0 else "adjustment"
        try:
            wallet.adjust(PANEL, lead.id, amount, "random step", kind=kind)
        except wallet.InsufficientTokens:
            assert self.expected[lead.id] + amount < 0
            return
        self.expected[lead.id] += amount

    @rule(who=st.integers(0, CUSTOMERS - 1), again=st.booleans())
    def buy_premium(self, who, again):
        """Premium from the balance; `again` presses the last confirmation once more."""
        actor, lead, _ = self.customers[who]
        if not again or who not in self.keys:
            self.keys[who] = f"premium-{next(_request_keys)}"
        try:
            bought = premium.buy(actor, lead.id, premium.price(), request_key=self.keys[who])
        except wallet.InsufficientTokens as refused:
            assert refused.needed > self.expected[lead.id]
            return
        if not bought.repeated:
            self.expected[lead.id] -= premium.price()

    @rule(who=st.integers(0, CUSTOMERS - 1), tokens=st.integers(1, 500),
          news=st.lists(st.sampled_from(NEWS), min_size=1, max_size=6))
    def top_up(self, who, tokens, news):
        lead = self.customers[who][1]
        self.expected[lead.id] += top_up(lead.id, tokens, news)

    @rule(who=st.integers(0, CUSTOMERS - 1), premium=st.booleans())
    def premium(self, who, premium):
        until = models.utcnow() + datetime.timedelta(days=1) if premium else None
        wallet.set_premium(PANEL, self.customers[who][1].id, until)

    @invariant()
    def ledger_agrees(self):
        assert_consistent(self.expected)


def test_random_steps_keep_every_wallet_equal_to_its_ledger(any_db, request):
    run_state_machine_as_test(Shop, settings=settings(
        max_examples=EXAMPLES[request.node.callspec.params["any_db"]], stateful_step_count=20,
        deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]))


def test_random_steps_at_once_keep_every_wallet_equal_to_its_ledger(any_db):
    customers = [new_customer(tokens=START)[:3] for _ in range(CUSTOMERS)]
    package_ids = [p.id for p in catalogue.packages()[:3]]
    moved, failures = [], []   # (lead id, tokens) of every step that went through
    start = threading.Barrier(4)

    def shopper(seed):
        chance = random.Random(seed)
        operator = make_operator()
        start.wait()
        try:
            for _ in range(40):
                actor, lead, profile = chance.choice(customers)
                step = chance.choice(("place", "place", "cancel", "work", "adjust", "rerun",
                                      "premium", "topup"))
                try:
                    moved.extend(_step(step, chance, actor, lead, profile, operator, package_ids))
                except REFUSALS:
                    pass
        except Exception as exc:  # noqa: BLE001 - reported by the test below
            failures.append(repr(exc))
        finally:
            models.db.close()

    threads = [threading.Thread(target=shopper, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == [] and not any(t.is_alive() for t in threads)
    expected = {lead.id: START + sum(t for who, t in moved if who == lead.id) for _, lead, _ in customers}
    assert_consistent(expected)


def _step(step, chance, actor, lead, profile, operator, package_ids):
    """Do one random step for `lead`; returns the [(lead id, tokens moved)] it made."""
    existing = [o.id for o in Order.select(Order.id).where(Order.lead == lead.id)]
    if step == "place":
        order = orders.place(actor, lead.id, profile.id, chance.choice(package_ids),
                             email_confirmation=chance.random() < 0.3)
        return [(lead.id, -order.price)]
    if step == "premium":
        bought = premium.buy(actor, lead.id, premium.price(),
                             request_key=f"{lead.id}-{chance.randrange(3)}")
        return [] if bought.repeated else [(lead.id, -premium.price())]
    if step == "topup":
        news = chance.choices(NEWS, k=chance.randint(1, 5))
        return [(lead.id, top_up(lead.id, chance.choice((100, 250)), news))]
    if step == "adjust":
        amount = chance.choice((-150, -50, 40, 200))
        wallet.adjust(PANEL, lead.id, amount, "random step")
        return [(lead.id, amount)]
    if not existing:
        return []
    order_id = chance.choice(existing)
    if step == "cancel":
        return [(lead.id, orders.cancel(PANEL, order_id).price)]
    if step == "rerun":
        return [(lead.id, -orders.rerun(actor, order_id).price)]
    orders.take(operator, order_id)
    orders.complete(operator, order_id)
    return []
