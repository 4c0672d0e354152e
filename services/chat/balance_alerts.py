"""Tells customers, in their conversation, that their Premium is about to end or has
ended (services/shop/premium.send_alerts), that an admin gave, bought or ended it, and
that their balance fell below LOW_BALANCE_TOKENS (services/shop/wallet.move), each with
the button that helps: Renew Premium, or Top up.

Each notice is queued in the transaction of the event (a system message of the
conversation, delivered by the outbox), and the services emit each event once (a period
is warned of once, a balance crossing the threshold once), so each notice goes once. A
customer who cannot be reached (no Telegram chat, blocked the bot, /stop) misses it.
"""
from models import Lead
from services.chat import buttons, replies
from services.core import clock, events, policy
from services.core.actors import Actor
from services.inbox import sending
from services.shop import messages

SENDER = Actor.system("shop")
RENEW = ("⭐ Renew Premium", buttons.encode("premium"))
TOP_UP = ("🪙 Top up", buttons.encode("menu", item="topup"))
MY_TOKENS = ("🪙 My tokens", buttons.encode("menu", item="tokens"))


def when(moment):
    """A naive-UTC time as the customer reads it: "2026-06-03 10:00 (Europe/Kyiv)"."""
    zone = policy.current().timezone
    return f"{clock.local_time(moment, zone)} ({zone})"


def on_expiring(event):
    _tell(event.data["lead"], messages.premium_expiring(when(event.data["until"]),
                                                        event.data["price"]),
          [[RENEW]], event.data.get("now"))


def on_expired(event):
    _tell(event.data["lead"], messages.premium_expired(event.data["price"]), [[RENEW]],
          event.data.get("now"))


def on_granted(event):
    _tell(event.data["lead"], messages.premium_granted(event.data["days"], when(event.data["until"])),
          [], event.data.get("now"))


def on_bought(event):
    # The customer's own purchase is confirmed by the chat that took it.
    if event.actor.kind == "client":
        return
    _tell(event.data["lead"], messages.premium_bought_for_you(event.data["price"],
                                                              when(event.data["until"])),
          [], event.data.get("now"))


def on_ended(event):
    _tell(event.data["lead"], messages.premium_ended(), [[RENEW]], event.data.get("now"))


def on_low_balance(event):
    lead = Lead.get_or_none(Lead.id == event.data["lead_id"])
    if lead is None:
        return
    _tell(lead, messages.low_balance(event.data["balance"], event.data["threshold"]),
          [[TOP_UP, MY_TOKENS]], event.data.get("now"))


HANDLERS = {"premium.expiring": on_expiring, "premium.expired": on_expired,
            "premium.granted": on_granted, "premium.bought": on_bought,
            "premium.ended": on_ended, "wallet.low_balance": on_low_balance}


def register():
    for name, handler in HANDLERS.items():
        events.subscribe(name, handler)


def _tell(lead, html_text, rows, now):
    sending.tell(SENDER, lead, html_text, now, replies.keyboard(rows))
