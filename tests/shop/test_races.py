"""Two people pressing at once (services/shop/wallet.py, orders.py): two confirmations
for a balance that covers one make exactly one order, two operators taking one order
leave it with one of them, two cancellations refund once. Threads on both databases,
and two separate processes (each its own connection and interpreter, as the bot and the
panel are) released together by a barrier file. On SQLite and Postgres."""
import functools
import json
import subprocess
import sys
import time

from models import LedgerEntry, Order, Wallet
from services.shop import orders, wallet
from tests.conftest import ROOT
from tests.shop.conftest import NOW, PANEL, new_customer
from tests.threads import at_once

# A child process: bind to the test's database, say it is ready, wait for "go", then
# confirm the order as the customer; prints what happened as JSON.
CHILD = """
import json, pathlib, sys, time
sys.path.insert(0, sys.argv[1])
import models
from models import User
from services import subscriptions
from services.core.actors import Actor
from services.shop import orders, wallet

root, url, folder, name, user_id, lead_id, profile_id, package_id = sys.argv[1:]
models.bind(url)
subscriptions.register()
actor, folder = Actor.client(User.get_by_id(int(user_id))), pathlib.Path(folder)
(folder / f"ready-{name}").touch()
while not (folder / "go").exists():
    time.sleep(0.0005)
try:
    order = orders.place(actor, int(lead_id), int(profile_id), int(package_id), expected_price=100)
    print(json.dumps({"order": order.id}))
except wallet.InsufficientTokens as refused:
    print(json.dumps({"refused": refused.shortfall}))
"""


def assert_one_order_paid(lead, results):
    made = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if isinstance(r, wallet.InsufficientTokens)]
    assert (len(made), len(refused)) == (1, 1), results
    assert refused[0].balance == 0 and refused[0].shortfall == 100
    assert Order.select().where(Order.lead == lead.id).count() == 1
    assert wallet.balance(lead.id) == 0 and wallet.problems() == []


def test_two_confirmations_at_once_in_threads_make_one_order(any_db, package):
    for _ in range(5):
        actor, lead, profile = new_customer(tokens=100)
        confirm = functools.partial(orders.place, actor, lead.id, profile.id, package.id,
                                    expected_price=100, now=NOW)
        results = at_once(confirm, confirm)
        assert_one_order_paid(lead, results)


def test_two_confirmations_at_once_in_two_processes_make_one_order(any_db, package, request, tmp_path):
    if request.node.callspec.params["any_db"] == "postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{any_db.database}"
    actor, lead, profile = new_customer(tokens=100)
    ids = [str(i) for i in (actor.user.id, lead.id, profile.id, package.id)]
    children = [subprocess.Popen([sys.executable, "-c", CHILD, str(ROOT), url, str(tmp_path), name, *ids],
                                 cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for name in ("a", "b")]
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{name}").exists() for name in ("a", "b")):
            assert time.monotonic() < deadline and all(c.poll() is None for c in children), \
                [c.communicate() for c in children if c.poll() is not None]
            time.sleep(0.01)
        (tmp_path / "go").touch()
        outputs = [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert [child.returncode for child in children] == [0, 0], outputs
    said = sorted((json.loads(out.strip().splitlines()[-1]) for out, _ in outputs), key=json.dumps)
    assert said == [{"order": Order.get().id}, {"refused": 100}]
    assert wallet.balance(lead.id) == 0 and wallet.problems() == []
    assert [e.kind for e in LedgerEntry.select().join(Wallet).where(Wallet.lead == lead.id)] == [
        "bonus", "order"]


def test_two_operators_take_one_order_and_one_of_them_gets_it(any_db, package, staff):
    olga, oscar = staff["olga"], staff["oscar"]
    for _ in range(5):
        actor, lead, profile = new_customer(tokens=100)
        order = orders.place(actor, lead.id, profile.id, package.id, now=NOW)
        results = at_once(functools.partial(orders.take, olga, order.id),
                          functools.partial(orders.take, oscar, order.id))
        won = [r for r in results if isinstance(r, Order)]
        lost = [r for r in results if isinstance(r, orders.AlreadyTaken)]
        assert (len(won), len(lost)) == (1, 1), results
        assert lost[0].operator.id == won[0].operator_id == Order.get_by_id(order.id).operator_id
        assert lost[0].operator.display_name in str(lost[0])
        assert Order.get_by_id(order.id).status == "assigned"


def test_two_cancellations_at_once_refund_once(any_db, package):
    for _ in range(3):
        actor, lead, profile = new_customer(tokens=100)
        order = orders.place(actor, lead.id, profile.id, package.id, now=NOW)
        cancel = functools.partial(orders.cancel, PANEL, order.id)
        results = at_once(cancel, cancel)
        assert sum(isinstance(r, Order) for r in results) == 1, results
        assert all(isinstance(r, (Order, orders.OrderError)) for r in results), results
        assert wallet.balance(lead.id) == 100 and wallet.problems() == []
        assert LedgerEntry.select().where(LedgerEntry.kind == "refund",
                                          LedgerEntry.order == order.id).count() == 1


def test_the_first_use_of_a_wallet_at_once_makes_one(any_db, make_lead):
    lead = make_lead()
    results = at_once(*[lambda: wallet.wallet_of(lead.id).id] * 3)
    assert len(set(results)) == 1 and Wallet.select().count() == 1, results
