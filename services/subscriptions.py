"""Who listens to which domain events. Every process (bot, scheduler, panel) and the
tests call `register()` once at start; a new capability that reacts to events adds
its line here instead of being called from the code that emits them."""
from services.chat import inbox_alerts
from services.core import audit
from services.followups import automation, rulebook
from services.shop import notifications as shop_notifications


def register():
    audit.register()        # first, so the change is recorded before what it causes
    automation.register()
    rulebook.register()     # rules keep the message templates they send
    inbox_alerts.register()  # a client's message tells the team
    shop_notifications.register()  # customers hear of their orders and balance changes
