"""Premium: 30 days of subscriber prices and the front of the queue (services/shop/
catalogue.quote and orders.place read Wallet.premium_until), bought from the balance by
the customer or granted by an admin; and the alerts before and at its end.

A purchase is one transaction: the wallet row is locked first, so a repeated
confirmation finds the purchase it made, and two purchases at once extend one after the
other (each from the end the other left) and never overdraw. The debit, the new end and
the audited event go together.

The alerts are the scheduler's (send_alerts): each period is warned of once and its end
announced once, by recording on the wallet the premium_until each alert was sent for, in
the transaction of the event the customer's notice hangs on (services/chat/
balance_alerts.py). A renewal moves premium_until, so the next period is warned of again.
"""
import datetime
import hashlib
import logging
from dataclasses import dataclass

from models import Lead, LedgerEntry, Wallet, db, for_change, utcnow
from services.core import events, policy
from services.core.actors import Actor
from services.shop import messages, wallet
from services.shop.access import client_lead_id, is_admin

log = logging.getLogger("leadgram.shop")
DAYS = 30                                   # a purchase, and an admin's grant by default
PERIOD = datetime.timedelta(days=DAYS)
MAX_GRANT_DAYS = 3660                       # ten years: a typo of a year, not of a century
WARN_BEFORE = datetime.timedelta(days=3)
# An end further back than this when the scheduler first sees it (the first run after an
# upgrade, or after a long outage) is recorded without telling the customer: news of a
# Premium that ended last month is noise.
STALE_END = datetime.timedelta(days=2)
BATCH = 500                                 # wallets a send_alerts run looks at, each kind
ALERTS = Actor.system("premium")


class PremiumError(ValueError):
    """A Premium request refused; the message says why in plain English."""


class PremiumNotAllowed(PremiumError):
    pass


class PriceChanged(PremiumError):
    """Premium no longer costs what the customer confirmed; `price` is today's."""

    def __init__(self, price, expected):
        super().__init__(messages.PREMIUM_PRICE_CHANGED.format(price=price, expected=expected))
        self.price, self.expected = price, expected


@dataclass(frozen=True)
class Purchase:
    entry: LedgerEntry          # the subscription's debit
    until: datetime.datetime    # Premium's end now
    repeated: bool = False      # the confirmation had bought it already: nothing charged now


def price():
    """What 30 days cost, in tokens (SUBSCRIPTION_PRICE_TOKENS)."""
    return policy.current().subscription_price_tokens


def until(lead_id, now=None):
    """The end of the customer's Premium, or None when they have none now."""
    end = Wallet.select(Wallet.premium_until).where(Wallet.lead == lead_id).scalar()
    return end if end is not None and end > (now or utcnow()) else None


def buy(actor, lead_id, expected_price, request_key=None, now=None):
    """30 days of Premium for the customer, paid from their balance, added to the end of
    the Premium they have (from now, without one). PriceChanged when the price is not
    `expected_price` (None: not checked), InsufficientTokens when the balance does not
    cover it (nothing changes then). The same `request_key` (a pressed confirmation)
    buys once: again, it returns that purchase, `repeated`."""
    if actor.kind == "client":
        if client_lead_id(actor) != lead_id:
            raise PremiumNotAllowed(messages.NOT_YOUR_PREMIUM)
    elif not is_admin(actor):
        raise PremiumNotAllowed(messages.ONLY_CUSTOMERS_BUY_PREMIUM)
    now = now or utcnow()
    reference = _reference(request_key)
    with db.atomic():
        lead, account = _locked(lead_id)
        if request_key is not None:
            # The lock above makes a concurrent press with the same key wait for ours and
            # then see its ledger row (Postgres reads what committed; SQLite serialises).
            bought = (LedgerEntry.select()
                      .where(LedgerEntry.wallet == account.id, LedgerEntry.kind == "subscription",
                             LedgerEntry.reference == reference)
                      .order_by(LedgerEntry.id).first())
            if bought is not None:   # before the price: it was bought at the price then
                return Purchase(bought, account.premium_until, repeated=True)
        cost = price()
        if expected_price is not None and expected_price != cost:
            raise PriceChanged(cost, expected_price)
        entry = wallet.move(actor, lead.id, "subscription", -cost, reference=reference, now=now)
        after = _extend(actor, lead, account, DAYS, now, "premium.bought", entry=entry, price=cost)
    return Purchase(entry, after)


def grant(actor, lead_id, days=DAYS, now=None):
    """An admin gives the customer `days` of Premium free of charge, added to the end of
    the Premium they have (from now, without one); returns its new end."""
    if not is_admin(actor):
        raise PremiumNotAllowed(messages.ONLY_ADMINS_PREMIUM)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_GRANT_DAYS:
        raise PremiumError(messages.BAD_PREMIUM_DAYS.format(limit=MAX_GRANT_DAYS))
    now = now or utcnow()
    with db.atomic():
        lead, account = _locked(lead_id)
        return _extend(actor, lead, account, days, now, "premium.granted", days=days)


def end(actor, lead_id, now=None):
    """An admin ends the customer's Premium now; they pay the regular prices from then on.
    The end is recorded as announced: the customer is told it was ended, not that it ran
    out."""
    if not is_admin(actor):
        raise PremiumNotAllowed(messages.ONLY_ADMINS_PREMIUM)
    now = now or utcnow()
    with db.atomic():
        lead, account = _locked(lead_id)
        before = account.premium_until
        if before is None or before <= now:
            raise PremiumError(messages.NO_PREMIUM_TO_END.format(id=lead.id))
        Wallet.update(premium_until=now, premium_ended_for=now, updated_at=now) \
            .where(Wallet.id == account.id).execute()
        events.emit("premium.ended", actor, "wallet", account.id,
                    {"premium_until": (before, now), "premium_ended_for": (account.premium_ended_for, now)},
                    lead=lead, now=now)
    return now


def _locked(lead_id):
    """(lead, its wallet row locked until the transaction ends); PremiumError without one."""
    lead = Lead.get_or_none(Lead.id == lead_id)
    if lead is None:
        raise PremiumError(messages.NO_SUCH_CUSTOMER.format(id=lead_id))
    wallet.wallet_of(lead.id)
    return lead, for_change(Wallet.select().where(Wallet.lead == lead.id)).get()


def _extend(actor, lead, account, length, now, event, **data):
    """`length` days more of Premium, from its end (or now), audited as `event`."""
    before = account.premium_until
    after = max(now, before or now) + datetime.timedelta(days=length)
    Wallet.update(premium_until=after, updated_at=now).where(Wallet.id == account.id).execute()
    events.emit(event, actor, "wallet", account.id, {"premium_until": (before, after)},
                lead=lead, until=after, now=now, **data)
    return after


def _reference(request_key):
    """The ledger reference of a purchase: with a confirmation, a receipt number derived
    from it, which is how a repeated confirmation finds the purchase it made."""
    if request_key is None:
        return messages.PREMIUM_REFERENCE.format(days=DAYS)
    receipt = hashlib.sha256(str(request_key).encode()).hexdigest()[:12]
    return messages.PREMIUM_RECEIPT.format(days=DAYS, receipt=receipt)


# The alerts ------------------------------------------------------------------------------

def send_alerts(now=None, limit=BATCH):
    """Warn of the Premium periods ending within WARN_BEFORE and announce those that
    ended, each once (services/chat/balance_alerts.py tells the customer); ends older than
    STALE_END are recorded without a word. Returns the counts."""
    now = now or utcnow()
    counts = {"expiring": 0, "expired": 0, "quiet": 0, "failed": 0}
    expiring = (Wallet.premium_until > now) & (Wallet.premium_until <= now + WARN_BEFORE) & (
        Wallet.premium_warned_for.is_null() | (Wallet.premium_warned_for != Wallet.premium_until))
    ended = (Wallet.premium_until <= now) & (
        Wallet.premium_ended_for.is_null() | (Wallet.premium_ended_for != Wallet.premium_until))
    for condition, step in ((expiring, _warn), (ended, _announce_end)):
        ids = [row_id for row_id, in Wallet.select(Wallet.id).where(condition)
               .order_by(Wallet.premium_until, Wallet.id).limit(limit).tuples()]
        for wallet_id in ids:
            try:
                with db.atomic():
                    done = step(wallet_id, now)
            except Exception:  # noqa: BLE001 - one customer's failure must not stop the others'
                log.exception("the Premium alert for wallet #%s failed", wallet_id)
                counts["failed"] += 1
                continue
            if done:
                counts[done] += 1
    return counts


def _warn(wallet_id, now):
    # Locked and looked at again: a renewal or another scheduler may have come first.
    account = for_change(Wallet.select().where(Wallet.id == wallet_id)).get()
    end = account.premium_until
    if end is None or not now < end <= now + WARN_BEFORE or account.premium_warned_for == end:
        return None
    Wallet.update(premium_warned_for=end).where(Wallet.id == wallet_id).execute()
    events.emit("premium.expiring", ALERTS, "wallet", wallet_id,
                {"premium_warned_for": (account.premium_warned_for, end)},
                lead=account.lead, until=end, price=price(), now=now)
    return "expiring"


def _announce_end(wallet_id, now):
    account = for_change(Wallet.select().where(Wallet.id == wallet_id)).get()
    end = account.premium_until
    if end is None or end > now or account.premium_ended_for == end:
        return None
    Wallet.update(premium_ended_for=end).where(Wallet.id == wallet_id).execute()
    if end < now - STALE_END:
        return "quiet"
    events.emit("premium.expired", ALERTS, "wallet", wallet_id,
                {"premium_ended_for": (account.premium_ended_for, end)},
                lead=account.lead, until=end, price=price(), now=now)
    return "expired"
