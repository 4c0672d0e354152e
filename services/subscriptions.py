"""Who listens to which domain events. Every process (bot, scheduler, panel) and the
tests call `register()` once at start; a new capability that reacts to events adds
its line here instead of being called from the code that emits them."""
from services.chat import balance_alerts, inbox_alerts, lead_alerts, menus, payment_notices
from services.core import audit
from services.followups import automation, rulebook
from services.inbox import email_in, twilio_in
from services.shop import notifications as shop_notifications


def register():
    audit.register()        # first, so the change is recorded before what it causes
    automation.register()
    rulebook.register()     # rules keep the message templates they send
    lead_alerts.register()  # after the rules: a new lead's card names the owner they gave it
    inbox_alerts.register()  # a client's message tells the team
    menus.register()        # a member's command menu follows their role
    shop_notifications.register()  # customers hear of their orders and balance changes
    email_in.register()     # mails the scheduler took from the mailbox (inbound events)
    twilio_in.register()    # SMS, WhatsApp and delivery reports Twilio posted
    payment_notices.register()  # customers hear of their top-ups' payments
    balance_alerts.register()   # …of Premium ending and of a low balance
