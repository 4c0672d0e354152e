"""Token wallets and their ledger (services/shop/wallet.py), on SQLite and Postgres."""
import datetime
import json

import pytest

from models import LedgerEntry, Wallet
from services.core import audit, events
from services.core.actors import Actor
from services.shop import wallet
from tests.shop.conftest import FUNDER, NOW, PANEL


def test_a_wallet_is_made_once_and_starts_empty(customer):
    _, lead, _ = customer()
    assert wallet.balance(lead.id) == 0
    assert Wallet.select().count() == 0   # reading makes nothing
    first, again = wallet.wallet_of(lead.id), wallet.wallet_of(lead.id)
    assert first.id == again.id and first.balance == 0
    assert Wallet.select().count() == 1


def test_moves_credit_and_debit_and_the_ledger_keeps_the_running_balance(customer):
    _, lead, _ = customer()
    credit = wallet.move(FUNDER, lead.id, "purchase", 250, reference="payment 7", now=NOW)
    debit = wallet.move(FUNDER, lead.id, "order", -100, reference="order #1", now=NOW)
    assert (credit.amount, credit.balance_after, credit.reference) == (250, 250, "payment 7")
    assert (debit.amount, debit.balance_after, debit.kind) == (-100, 150, "order")
    assert (debit.actor_kind, debit.actor_label) == ("system", "Leadgram (test)")
    assert wallet.balance(lead.id) == 150
    assert [e.id for e in wallet.history(lead.id)] == [debit.id, credit.id]
    assert [e.id for e in wallet.history(lead.id, limit=1)] == [debit.id]
    assert wallet.problems() == []


def test_a_debit_beyond_the_balance_changes_nothing(customer):
    _, lead, _ = customer(tokens=90)
    with pytest.raises(wallet.InsufficientTokens) as refused:
        wallet.move(FUNDER, lead.id, "order", -100, now=NOW)
    assert (refused.value.balance, refused.value.needed, refused.value.shortfall) == (90, 100, 10)
    assert "10 more tokens" in str(refused.value)
    assert wallet.balance(lead.id) == 90 and LedgerEntry.select().count() == 1
    # Exactly the balance is fine: it reaches zero, never below.
    assert wallet.move(FUNDER, lead.id, "order", -90, now=NOW).balance_after == 0


@pytest.mark.parametrize("kind, amount", [("gift", 5), ("order", 0), ("order", 1.5), ("bonus", True)])
def test_a_move_needs_a_ledger_kind_and_a_whole_nonzero_amount(customer, kind, amount):
    _, lead, _ = customer(tokens=10)
    with pytest.raises(wallet.InvalidAdjustment):
        wallet.move(FUNDER, lead.id, kind, amount)
    assert wallet.balance(lead.id) == 10 and LedgerEntry.select().count() == 1


def test_an_admin_adjusts_a_balance_with_a_reason_and_it_is_audited(customer, staff):
    _, lead, _ = customer(tokens=40)
    seen = []
    events.subscribe("wallet.adjusted", seen.append)
    try:
        entry = wallet.adjust(staff["admin"], lead.id, "-15", "  duplicate\x00 payment ", now=NOW)
        bonus = wallet.adjust(PANEL, lead.id, 100, "welcome", kind="bonus", now=NOW)
    finally:
        events.unsubscribe("wallet.adjusted", seen.append)
    assert (entry.kind, entry.amount, entry.balance_after, entry.reference) == (
        "adjustment", -15, 25, "duplicate payment")
    assert (bonus.kind, bonus.balance_after, bonus.actor_label) == ("bonus", 125, "admin panel (admin)")
    assert [(e.data["lead"].id, e.data["amount"], e.changes) for e in seen] == [
        (lead.id, -15, {"balance": (40, 25)}), (lead.id, 100, {"balance": (25, 125)})]
    rows = list(audit.entries(entity="wallet"))
    assert [json.loads(r.changes) for r in rows] == [{"balance": [25, 125]}, {"balance": [40, 25]}]
    with pytest.raises(wallet.InsufficientTokens):
        wallet.adjust(PANEL, lead.id, -126, "too much", now=NOW)
    assert wallet.balance(lead.id) == 125 and wallet.problems() == []


@pytest.mark.parametrize("who", ["sales", "olga", "dispatcher", "client"])
def test_only_admins_adjust_balances(customer, staff, who):
    actor, lead, _ = customer(tokens=5)
    with pytest.raises(wallet.WalletNotAllowed):
        wallet.adjust(actor if who == "client" else staff[who], lead.id, 10, "because")
    assert wallet.balance(lead.id) == 5


@pytest.mark.parametrize("amount, reason, kind", [
    (0, "nothing", "adjustment"), ("ten", "typo", "adjustment"), (5, "   ", "adjustment"),
    (5, "x" * 201, "adjustment"), (-5, "a negative bonus", "bonus"), (5, "why", "refund"),
    (10_000_001, "too many", "adjustment"), ("٣", "Arabic-Indic digits", "adjustment"),
    ("1_0", "an underscore", "adjustment"), (True, "a checkbox", "adjustment")])
def test_an_adjustment_needs_an_amount_and_a_reason(customer, amount, reason, kind):
    _, lead, _ = customer()
    with pytest.raises(wallet.InvalidAdjustment):
        wallet.adjust(PANEL, lead.id, amount, reason, kind=kind)
    assert LedgerEntry.select().count() == 0


def test_adjusting_no_customer_is_refused(any_db):
    with pytest.raises(wallet.InvalidAdjustment, match="no customer #999"):
        wallet.adjust(PANEL, 999, 10, "ghost")


def test_problems_finds_a_balance_the_ledger_does_not_explain(customer):
    _, first, _ = customer(tokens=100)
    _, second, _ = customer(tokens=50)
    assert wallet.problems() == []
    Wallet.update(balance=Wallet.balance + 1).where(Wallet.lead == first.id).execute()
    LedgerEntry.create(wallet=wallet.wallet_of(second.id), kind="bonus", amount=5, balance_after=50,
                       actor_kind="system", actor_label="a bug")
    found = wallet.problems()
    assert len(found) == 2
    assert f"(customer #{first.id}): balance 101, ledger total 100, last ledger balance 100" in found[0]
    assert f"(customer #{second.id}): balance 50, ledger total 55, last ledger balance 50" in found[1]
    assert wallet.problems(second.id) == found[1:]
    _, third, _ = customer()
    wallet.wallet_of(third.id)   # an empty wallet with no ledger agrees with it
    assert wallet.problems(third.id) == []


def test_premium_is_set_by_admins_until_a_moment(customer, staff):
    _, lead, _ = customer()
    assert not wallet.is_subscriber(lead.id, NOW)
    until = NOW + datetime.timedelta(days=30)
    with pytest.raises(wallet.WalletNotAllowed):
        wallet.set_premium(staff["olga"], lead.id, until)
    wallet.set_premium(PANEL, lead.id, until, now=NOW)
    assert wallet.is_subscriber(lead.id, NOW)
    assert not wallet.is_subscriber(lead.id, until)
    entry = audit.entries(entity="wallet").get()
    assert (entry.event, entry.actor_kind) == ("wallet.updated", "panel")
    assert json.loads(entry.changes) == {"premium_until": [None, "2026-06-03 10:00:00"]}
    wallet.set_premium(Actor.panel(), lead.id, None, now=NOW)
    assert not wallet.is_subscriber(lead.id, NOW)
