"""Customers' token wallets and their ledger.

`move` is the only way a balance changes: one conditional UPDATE that cannot take the
balance below zero, and the LedgerEntry holding the balance it left, in one transaction.
The UPDATE itself is the lock (Postgres locks the row until commit and re-checks the
WHERE against a concurrent writer's result; SQLite's writer lock is held from BEGIN
IMMEDIATE), so two debits at once never overdraw and the ledger's running balance is
the wallet's. A move that takes the balance below LOW_BALANCE_TOKENS emits
wallet.low_balance in its transaction (services/chat/balance_alerts.py tells the customer).
"""
from peewee import fn

from models import LEDGER_KINDS, Lead, LedgerEntry, Wallet, db, utcnow
from services.core import events, policy
from services.core.inputs import parse_bounded_int, plain_text
from services.shop import messages
from services.shop.access import is_admin

ADJUSTMENT_KINDS = ("adjustment", "bonus")
MAX_REASON = 200
MAX_AMOUNT = 10_000_000
# The balance is an INTEGER column, which Postgres keeps to 2**31 - 1 (SQLite further).
MAX_BALANCE = 2**31 - 1


class WalletError(ValueError):
    """A wallet request refused; the message says why in plain English."""


class InsufficientTokens(WalletError):
    def __init__(self, balance, needed):
        self.balance, self.needed = balance, needed
        self.shortfall = needed - balance
        super().__init__(messages.INSUFFICIENT.format(balance=balance, needed=needed,
                                                      shortfall=self.shortfall))


class BalanceTooLarge(WalletError):
    def __init__(self, balance):
        super().__init__(messages.BALANCE_TOO_LARGE.format(balance=balance, limit=MAX_BALANCE))


class WalletNotAllowed(WalletError):
    pass


class InvalidAdjustment(WalletError):
    pass


def wallet_of(lead_id):
    """The lead's wallet, made empty on first use (by whoever gets there first)."""
    wallet = Wallet.get_or_none(Wallet.lead == lead_id)
    if wallet is None:
        now = utcnow()
        Wallet.insert(lead=lead_id, balance=0, created_at=now, updated_at=now) \
            .on_conflict_ignore().execute()
        wallet = Wallet.get(Wallet.lead == lead_id)
    return wallet


def balance(lead_id):
    return Wallet.select(Wallet.balance).where(Wallet.lead == lead_id).scalar() or 0


def is_subscriber(lead_id, now=None):
    until = Wallet.select(Wallet.premium_until).where(Wallet.lead == lead_id).scalar()
    return until is not None and until > (now or utcnow())


def move(actor, lead_id, kind, amount, reference="", order=None, now=None, payment=None):
    """Add `amount` tokens (negative: take them) to the lead's wallet and write the ledger
    row (naming the order or the top-up `payment` it is for); InsufficientTokens, changing
    nothing, when the balance would go below zero, and BalanceTooLarge when it would go
    past MAX_BALANCE."""
    if kind not in LEDGER_KINDS:
        raise InvalidAdjustment(messages.BAD_LEDGER_KIND.format(kind=kind))
    if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
        raise InvalidAdjustment(messages.BAD_AMOUNT.format(limit=MAX_AMOUNT))
    now = now or utcnow()
    with db.atomic():
        wallet = wallet_of(lead_id)
        # The bounds compare the balance as it is: Postgres would fail computing a sum
        # past MAX_BALANCE in the WHERE, with "integer out of range".
        moved = list(Wallet.update(balance=Wallet.balance + amount, updated_at=now)
                     .where(Wallet.id == wallet.id, Wallet.balance >= -amount,
                            Wallet.balance <= MAX_BALANCE - amount)
                     .returning(Wallet.balance).tuples().execute())
        if not moved:
            current = Wallet.select(Wallet.balance).where(Wallet.id == wallet.id).scalar()
            if current + amount > MAX_BALANCE:
                raise BalanceTooLarge(current)
            raise InsufficientTokens(current, -amount)
        after = moved[0][0]
        entry = LedgerEntry.create(
            wallet=wallet.id, kind=kind, amount=amount, balance_after=after,
            order=order, payment=payment, reference=plain_text(reference or "")[:255],
            actor_kind=actor.kind,
            actor_label=actor.label or actor.kind, created_at=now)
        low = policy.current().low_balance_tokens
        # Only the step from at least LOW_BALANCE_TOKENS to below it: a customer who stays
        # low hears nothing more until a top-up takes them above it and they fall again.
        if low and after - amount >= low > after:
            events.emit("wallet.low_balance", actor, lead_id=lead_id, wallet_id=wallet.id,
                        balance=after, threshold=low, entry=entry, now=now)
        return entry


def adjust(actor, lead_id, amount, reason, now=None, kind="adjustment"):
    """An admin's correction (or bonus) of a balance, with the reason the ledger keeps."""
    if not is_admin(actor):
        raise WalletNotAllowed(messages.ONLY_ADMINS_ADJUST)
    if kind not in ADJUSTMENT_KINDS:
        raise InvalidAdjustment(messages.BAD_ADJUSTMENT_KIND.format(
            choices=" or ".join(ADJUSTMENT_KINDS)))
    amount = parse_bounded_int(amount, -MAX_AMOUNT, MAX_AMOUNT)
    if not amount:
        raise InvalidAdjustment(messages.BAD_AMOUNT.format(limit=MAX_AMOUNT))
    if kind == "bonus" and amount < 0:
        raise InvalidAdjustment(messages.NEGATIVE_BONUS)
    reason = " ".join(plain_text(str(reason or "")).split())
    if not 1 <= len(reason) <= MAX_REASON:
        raise InvalidAdjustment(messages.BAD_REASON.format(limit=MAX_REASON))
    now = now or utcnow()
    with db.atomic():
        lead = Lead.get_or_none(Lead.id == lead_id)
        if lead is None:
            raise InvalidAdjustment(messages.NO_SUCH_CUSTOMER.format(id=lead_id))
        entry = move(actor, lead.id, kind, amount, reference=reason, now=now)
        events.emit("wallet.adjusted", actor, "wallet", entry.wallet_id,
                    {"balance": (entry.balance_after - amount, entry.balance_after)},
                    lead=lead, amount=amount, reason=reason, kind=kind, entry=entry, now=now)
    return entry


def history(lead_id, limit=10):
    """The lead's newest ledger rows, newest first."""
    return list(LedgerEntry.select().join(Wallet).where(Wallet.lead == lead_id)
                .order_by(LedgerEntry.id.desc()).limit(limit))


def problems(lead_id=None):
    """Wallets whose balance is not what their ledger says (the sum of its amounts, and
    the balance its newest row left) or is negative; empty when every one agrees."""
    total = (LedgerEntry.select(fn.COALESCE(fn.SUM(LedgerEntry.amount), 0))
             .where(LedgerEntry.wallet == Wallet.id))
    last = (LedgerEntry.select(LedgerEntry.balance_after)
            .where(LedgerEntry.wallet == Wallet.id).order_by(LedgerEntry.id.desc()).limit(1))
    query = Wallet.select(Wallet.id, Wallet.lead, Wallet.balance, total.alias("total"),
                          last.alias("last"))
    if lead_id is not None:
        query = query.where(Wallet.lead == lead_id)
    found = []
    for wallet_id, owner, held, summed, after in query.order_by(Wallet.id).tuples():
        if held != summed or held != (after or 0) or held < 0:
            found.append(messages.WALLET_PROBLEM.format(
                wallet=wallet_id, lead=owner, balance=held, total=summed,
                last="none" if after is None else after))
    return found


def set_premium(actor, lead_id, until, now=None):
    """Make the customer a Premium subscriber until `until` (None: no longer one)."""
    if not is_admin(actor):
        raise WalletNotAllowed(messages.ONLY_ADMINS_PREMIUM)
    now = now or utcnow()
    with db.atomic():
        lead = Lead.get_or_none(Lead.id == lead_id)
        if lead is None:
            raise InvalidAdjustment(messages.NO_SUCH_CUSTOMER.format(id=lead_id))
        wallet = wallet_of(lead.id)
        values = {"premium_until": until}
        changes = events.changed(wallet, values)
        if changes:
            Wallet.update(premium_until=until, updated_at=now).where(Wallet.id == wallet.id).execute()
            events.emit("wallet.updated", actor, "wallet", wallet.id, changes, lead=lead, now=now)
    return Wallet.get_by_id(wallet.id)
